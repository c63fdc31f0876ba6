"""A what-if report: several contracts on the same claims, as markdown tables and charts.

``whatif_report`` writes ``report.md`` (inputs, totals, the comparison by group, percent of
Medicare per contract) and the PNG charts it links to, into one folder that can be zipped,
attached or opened in any markdown viewer. ``pricer whatif`` on the command line writes it.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import polars as pl

from pricer.contract import Contract

REPORT = "report.md"
COMPARE_PAID, COMPARE_ALLOWED, PERCENT_OF_MEDICARE = (
    "compare_paid.png", "compare_allowed.png", "percent_of_medicare.png")


def money(value: Decimal | None, signed: bool = False) -> str:
    """A Decimal amount as ``1,234.56`` (``+1,234.56`` when signed), formatted exactly.

    Examples
    --------
    >>> money(Decimal("89932.96")), money(Decimal("-1425.9"), signed=True), money(None)
    ('89,932.96', '-1,425.90', '')
    """
    if value is None:
        return ""
    return f"{value:+,.2f}" if signed else f"{value:,.2f}"


def percent(value: float | None, places: int = 1, signed: bool = False) -> str:
    """A percentage (100 = 100 %) as text; ``n/a`` where there is none (a zero baseline).

    Examples
    --------
    >>> percent(172.4716), percent(1.6430, 2, signed=True), percent(None)
    ('172.5 %', '+1.64 %', 'n/a')
    """
    if value is None:
        return "n/a"
    return f"{value:{'+' if signed else ''}.{places}f} %"


def _cell(value) -> str:
    text = "(blank)" if value is None else str(value)
    return text.replace("|", "\\|")  # a pipe would end the markdown cell


def _table(header: Sequence[str], rows: Sequence[Sequence[str]],
           right: Sequence[bool] | None = None) -> str:
    right = right or [False] * len(header)
    rule = ["---:" if r else "---" for r in right]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def _source(claims) -> str:
    if isinstance(claims, (str, os.PathLike)):
        return f"`{claims}`"
    return f"a {type(claims).__module__.split('.')[0]} {type(claims).__name__} in memory"


def _contract_file(contract: Contract) -> str:
    """The contract's file, and whether its terms differ from the file's (``replace_lob``)."""
    if contract.source is None:
        return "(built in Python)"
    try:
        same = Contract.from_toml(contract.source).sha256() == contract.sha256()
    except ValueError:  # the file moved or changed into a bad one since: say only where it was
        return f"`{contract.source}` (not re-read)"
    return f"`{contract.source}`" + ("" if same else ", with terms changed since it was read")


def _totals_table(totals: pl.DataFrame, names: list[str]) -> str:
    row = totals.row(0, named=True)
    base = names[0]
    header = ["scenario", "allowed", "paid"]
    if len(names) > 1:
        header += ["allowed change", "allowed change %", "paid change", "paid change %"]
    rows = []
    for name in names:
        cells = [_cell(name), money(row[f"allowed_{name}"]), money(row[f"paid_{name}"])]
        if name == base and len(names) > 1:
            cells[0] += " (baseline)"
            cells += [""] * 4
        elif name != base:
            cells += [money(row[f"allowed_change_{name}"], signed=True),
                      percent(row[f"allowed_change_pct_{name}"], 2, signed=True),
                      money(row[f"paid_change_{name}"], signed=True),
                      percent(row[f"paid_change_pct_{name}"], 2, signed=True)]
        rows.append(cells)
    return _table(header, rows, [False] + [True] * (len(header) - 1))


def _compare_table(frame: pl.DataFrame, by: list[str], names: list[str]) -> str:
    header = [*by, "lines", "billed"]
    for name in names:
        header += [f"allowed {name}", f"paid {name}"]
    for name in names[1:]:
        header += [f"allowed change {name}", "%", f"paid change {name}", "%"]
    rows = []
    for r in frame.iter_rows(named=True):
        row = [_cell(r[c]) for c in by] + [f"{r['lines']:,}", money(r["billed"])]
        for name in names:
            row += [money(r[f"allowed_{name}"]), money(r[f"paid_{name}"])]
        for name in names[1:]:
            row += [money(r[f"allowed_change_{name}"], signed=True),
                    percent(r[f"allowed_change_pct_{name}"], 2, signed=True),
                    money(r[f"paid_change_{name}"], signed=True),
                    percent(r[f"paid_change_pct_{name}"], 2, signed=True)]
        rows.append(row)
    return _table([_cell(h) for h in header], rows,
                  [False] * len(by) + [True] * (len(header) - len(by)))


def _medicare_table(frame: pl.DataFrame, total: pl.DataFrame, by: list[str]) -> str:
    groups = by or [""]  # totals only: the one row is "total"
    header = [*groups, "lines", "comparable lines", "allowed", "Medicare allowed",
              "% of Medicare", "allowed, not comparable"]

    def cells(r) -> list[str]:
        return [f"{r['lines']:,}", f"{r['comparable_lines']:,}", money(r["allowed"]),
                money(r["medicare_allowed"]), percent(r["percent_of_medicare"]),
                money(r["allowed_not_comparable"])]

    rows = [[_cell(r[c]) for c in by] + cells(r) for r in frame.iter_rows(named=True)] if by else []
    t = total.row(0, named=True)
    rows.append(["**total**"] + [""] * (len(groups) - 1) + [f"**{c}**" for c in cells(t)])
    return _table(header, rows, [False] * len(groups) + [True] * 6)


def whatif_report(claims, contracts: Mapping[str, Contract], out_dir,
                  by: str | Sequence[str] = ("service_category",), schedules=None) -> Path:
    """Write a what-if report of several contracts on the same claims.

    Parameters
    ----------
    claims : frame, table or path
        Claim lines as for :func:`pricer.price`.
    contracts : mapping of str to Contract
        Scenario name -> contract; the first is the baseline. With one contract the report
        has its totals and its percent of Medicare, and no comparison or comparison charts.
    out_dir : str or PathLike
        Folder to write into (created if needed); files already there are replaced.
    by : str or sequence of str
        Groups of the comparison and percent-of-Medicare tables (as ``by`` of
        :func:`pricer.compare`); empty for totals only.
    schedules : Schedules, optional
        Defaults to the bundled CMS tables.

    Returns
    -------
    pathlib.Path
        ``out_dir/report.md``. Beside it: ``compare_paid.png`` and ``compare_allowed.png``
        (change of the second scenario against the first; with two contracts or more) and
        ``percent_of_medicare.png``.

    Examples
    --------
    >>> import pricer, tempfile
    >>> from pricer.cli import SAMPLE
    >>> from pricer.report import whatif_report
    >>> current = pricer.default_contract()
    >>> proposed = current.replace_lob("commercial", conversion_factor="59.74")
    >>> with tempfile.TemporaryDirectory() as out:
    ...     path = whatif_report(SAMPLE, {"current": current, "proposed": proposed}, out)
    ...     sorted(p.name for p in path.parent.iterdir())
    ['compare_allowed.png', 'compare_paid.png', 'percent_of_medicare.png', 'report.md']
    """
    from pricer.plots import plot_compare, plot_percent_of_medicare
    from pricer.whatif import compare, percent_of_medicare, rollup

    names = list(contracts)
    if not names:
        raise ValueError("contracts: give at least one contract")
    by = [by] if isinstance(by, str) else list(by or [])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # priced once per table; the totals are the groups summed up
    grouped = compare(claims, contracts, by=by, schedules=schedules)
    totals = rollup(grouped)
    medicare = {n: percent_of_medicare(claims, c, by=by, schedules=schedules)
                for n, c in contracts.items()}
    medicare_total = {n: rollup(f) for n, f in medicare.items()}

    charts = []
    if len(names) > 1:
        for measure, file in (("paid", COMPARE_PAID), ("allowed", COMPARE_ALLOWED)):
            plot_compare(grouped, measure).savefig(out / file, dpi=110)
            charts.append(file)
    plot_percent_of_medicare(medicare).savefig(out / PERCENT_OF_MEDICARE, dpi=110)

    first = totals.row(0, named=True)
    by_text = ", ".join(by) if by else "(totals only)"
    md = ["# What-if report", ""]
    md += ["## Inputs", "",
           f"- Claims: {_source(claims)}, {first['lines']:,} lines, billed "
           f"{money(first['billed'])}",
           f"- Grouped by: {by_text}"]
    if len(names) > 1:
        md += [f"- Baseline: {_cell(names[0])} (changes are measured from it)"]
    md += [""]
    md += [_table(["scenario", "contract", "sha256", "file"],
                  [[_cell(n), _cell(c.name), f"`{c.sha256()}`",
                    _contract_file(c)]
                   for n, c in contracts.items()]), ""]
    md += ["## Totals", "",
           f"All {first['lines']:,} lines, billed {money(first['billed'])}. Amounts in "
           f"dollars, exact to the cent" + ("; percentages of the baseline." if len(names) > 1
                                            else "."), "",
           _totals_table(totals, names), ""]
    if len(names) > 1:
        md += [f"![Paid change, {names[1]} vs {names[0]}]({COMPARE_PAID})", "",
               f"![Allowed change, {names[1]} vs {names[0]}]({COMPARE_ALLOWED})", ""]
        if len(names) > 2:
            md += [f"The charts show {names[1]}; the tables show every scenario.", ""]
    if by:
        md += [f"## By {by_text}", "", _compare_table(grouped, by, names), ""]
    md += ["## Percent of Medicare", "",
           "Each contract's allowed amount as a percent of what its Medicare line of business "
           "allows on the same lines, over the lines both price from a Medicare fee schedule "
           "(RBRVS, anesthesia, Part B drug); the contract's allowed on the other lines is "
           "apart, in the last column.", ""]
    for name in names:
        md += [f"### {_cell(name)}", "", _medicare_table(medicare[name], medicare_total[name], by),
               ""]
    md += [f"![Percent of Medicare]({PERCENT_OF_MEDICARE})", ""]
    path = out / REPORT
    path.write_text("\n".join(md), encoding="utf-8")
    return path
