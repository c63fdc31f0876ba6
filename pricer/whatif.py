"""Contract modelling: several contracts priced on the same claim lines, in one pass.

The claim lines are read, validated and encoded once; each scenario then runs only the
kernels (into output arrays reused from one scenario to the next) and sums its amounts by
group. No per-scenario frame of lines is built, which is what makes twenty scenarios cost far
less than twenty ``pricer.price`` runs. The amounts are the engine's own: a scenario's totals
equal ``pricer.price`` with that contract, summed (tests/test_whatif.py).

``compare`` answers "what does the proposed contract cost, by category", ``sweep`` "what
does each value of this term cost", ``percent_of_medicare`` "what is this contract as a
percent of Medicare". Choices are documented in docs/whatif.md.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import numpy as np
import polars as pl
import pyarrow as pa

from pricer import columns_nb as cnb
from pricer.claims import check_columns, encode_claims, read_claims
from pricer.contract import LOBS, MEDICARE_REFERENCE_LOB, Contract, ContractError
from pricer.pricing_nb import allocate_out
from pricer.result import MONEY
from pricer.tables import reference_arrays
from pricer.vocabulary import M_ANESTHESIA, M_DRUG, M_RBRVS, PRICED

SERVICE_CATEGORIES = ("E&M", "surgery", "radiology", "pathology/lab", "medicine",
                      "anesthesia", "drugs", "DME/other HCPCS", "other CPT")
SERVICE_CATEGORY = pl.Enum(SERVICE_CATEGORIES)

# CPT sections by numeric code (AMA CPT section ranges; docs/whatif.md)
_CPT_RANGES = (
    (100, 1999, "anesthesia"),
    (10004, 69990, "surgery"),
    (70010, 79999, "radiology"),
    (80047, 89398, "pathology/lab"),
    (90281, 99199, "medicine"),
    (99202, 99499, "E&M"),
    (99500, 99607, "medicine"),
)
# Medicare fee schedules: a line Medicare prices by one of these has a Medicare amount
_MEDICARE_SCHEDULE_METHODS = (M_RBRVS, M_ANESTHESIA, M_DRUG)


def category_of(code: str | None) -> str:
    """The service category of one HCPCS code (trimmed, upper-cased).

    Examples
    --------
    >>> [category_of(c) for c in ("99213", "27447", "J9035", "E0114", "0042T", "0001U")]
    ['E&M', 'surgery', 'drugs', 'DME/other HCPCS', 'other CPT', 'pathology/lab']
    """
    c = (code or "").strip().upper()
    if len(c) != 5 or not c.isascii() or not c.isalnum():
        return "other CPT"
    if c.isdigit():
        n = int(c)
        for lo, hi, name in _CPT_RANGES:
            if lo <= n <= hi:
                return name
        return "other CPT"
    if c[:4].isdigit():  # Category II (F), III (T), PLA (U), MAAA (M)
        return "pathology/lab" if c[4] in "UM" else "other CPT"
    if c[0] == "J" or ("Q5101" <= c <= "Q5199"):  # drugs; Q5101-Q5199 biosimilars
        return "drugs"
    return "DME/other HCPCS"


def service_category(codes) -> pl.Series:
    """``service_category`` of every code (a polars/pyarrow column of HCPCS), as an Enum.

    Computed once per distinct code.
    """
    s = codes if isinstance(codes, pl.Series) else pl.Series(pl.from_arrow(codes))
    s = s.cast(pl.String)
    distinct = s.unique().drop_nulls().to_list()
    mapping = {c: category_of(c) for c in distinct}
    out = s.replace_strict(mapping, default="other CPT", return_dtype=pl.String)
    return out.fill_null("other CPT").cast(SERVICE_CATEGORY).alias("service_category")


class _Lines:
    """Claim lines read and grouped once; encoded once per distinct encoding of the contracts.

    Encoding depends on a contract only through its default locality, timely-filing days and
    benefit plans (claims.encode_claims); what-if contracts that share them share one encoding.
    """

    def __init__(self, claims, contracts: Sequence[Contract], schedules, by):
        from pricer.engine import _defaults
        _, self.schedules = _defaults(contracts[0], schedules)
        self.table, source, is_text = read_claims(claims)
        check_columns(self.table, source, is_text)
        self.contracts = list(contracts)
        self._enc = {}
        self._out = None
        self.keys, self.groups = _groups(self.table, by)
        self.n_groups = self.keys.height if self.keys.width else 1

    def arrays(self, contract):
        return reference_arrays(self.schedules, contract, shared=self.contracts)

    def encoded(self, contract):
        key = (contract.default_locality,
               tuple(contract.terms(x).timely_filing_days for x in LOBS),
               contract.plans.sha256() if contract.plans is not None else None)
        if key not in self._enc:
            self._enc[key] = encode_claims(self.table, self.arrays(contract), contract)
        return self._enc[key]

    def run(self, contract, lob=None):
        """The kernel outputs of every line under ``contract`` (arrays reused between runs).

        ``lob``: price every line as this line of business would (percent of Medicare).
        """
        from pricer.engine import run_kernel
        enc = self.encoded(contract)
        if lob is not None:
            enc = _with_lob(enc, LOBS.index(lob))
        if self._out is None:
            self._out = allocate_out(enc.n)
        return enc, run_kernel(enc, self.arrays(contract), self._out)

    def sums(self, values, ok) -> np.ndarray:
        return cnb.group_sums(self.groups, np.ascontiguousarray(values), ok, self.n_groups)

    def billed(self) -> np.ndarray:
        enc = self.encoded(self.contracts[0])
        return self.sums(enc.billed, enc.billed_ok)

    def counts(self, ok=None) -> np.ndarray:
        ok = np.ones(self.table.num_rows, bool) if ok is None else ok
        return self.sums(np.ones(self.table.num_rows, np.int64), ok)


def _with_lob(enc, lob: int):
    import copy
    other = copy.copy(enc)
    other.lob = np.full(enc.n, lob, np.int8)
    return other


def _groups(table: pa.Table, by) -> tuple[pl.DataFrame, np.ndarray]:
    """The distinct values of the ``by`` columns (sorted) and each line's group number."""
    by = [by] if isinstance(by, str) else list(by or [])
    n = table.num_rows
    if not by:  # one group: the totals
        return pl.DataFrame(), np.zeros(n, np.int64)
    cols = {}
    for name in by:
        if name == "service_category":
            cols[name] = service_category(table.column("hcpcs"))
        elif name == "line_of_business" and name in table.column_names:
            cols[name] = (pl.Series(pl.from_arrow(table.column(name))).cast(pl.String)
                          .str.strip_chars().str.to_lowercase().alias(name))
        elif name in table.column_names:
            col = pl.Series(pl.from_arrow(table.column(name))).alias(name)
            if col.dtype == pl.Categorical:
                col = col.cast(pl.String)
            cols[name] = col
        else:
            raise ValueError(f"by: {name!r} is not a column of the claims (nor "
                             f"service_category)")
    if len(set(by)) != len(by):
        raise ValueError(f"by: a column is named twice in {by}")
    frame = pl.DataFrame(cols)
    keys = frame.unique().sort(by, nulls_last=True).with_row_index("_g")
    gid = frame.join(keys, on=by, how="left", nulls_equal=True, maintain_order="left")["_g"]
    return keys.drop("_g"), gid.to_numpy().astype(np.int64)


def rollup(frame: pl.DataFrame, by=()) -> pl.DataFrame:
    """A ``compare`` or ``percent_of_medicare`` frame summed up to fewer groups.

    Counts and money are summed exactly; the percentages are taken again from the sums, as
    the function that made the frame takes them. Without ``by``: one row of totals.

    Examples
    --------
    >>> import pricer
    >>> from pricer.cli import SAMPLE
    >>> c = pricer.default_contract()
    >>> p = pricer.percent_of_medicare(SAMPLE, c, by=["line_of_business", "service_category"])
    >>> total = pricer.percent_of_medicare(SAMPLE, c)
    >>> rollup(p).equals(total) and rollup(p).schema == total.schema
    True
    """
    by = [by] if isinstance(by, str) else list(by)
    summed = [c for c in frame.columns[frame.columns.index("lines"):]
              if frame.schema[c] != pl.Float64]
    out = (frame.group_by(by, maintain_order=True).agg(pl.col(summed).sum()) if by
           else frame.select(pl.col(summed).sum()))
    cents = lambda c: (pl.col(c) * 100).cast(pl.Int64).cast(pl.Float64)  # noqa: E731
    pct = []
    for c in frame.columns:
        if frame.schema[c] != pl.Float64:
            continue
        if c == "percent_of_medicare":
            num, den = "allowed", "medicare_allowed"
        else:  # <measure>_change_pct_<name>: against the baseline, the first scenario
            measure, name = c.split("_change_pct_", 1)
            base = next(x for x in frame.columns
                        if x.startswith(measure + "_") and "_change_" not in x)
            num, den = f"{measure}_change_{name}", base
        # as _pct computes it, from cents, so that a rolled-up frame equals a direct one
        pct.append(pl.when(pl.col(den) != 0).then(100.0 * cents(num) / cents(den))
                   .otherwise(None).alias(c))
    measures = frame.columns[frame.columns.index("lines"):]
    return (out.cast({c: frame.schema[c] for c in summed}).with_columns(pct)
            .select(*by, *measures))


def _money(cents: np.ndarray) -> pl.Series:
    return pl.Series(values=[Decimal(int(c)).scaleb(-2) for c in cents], dtype=MONEY)


def _pct(num: np.ndarray, den: np.ndarray) -> pl.Series:
    """100 x num / den, a statistic (Float64), null where den is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(den != 0, 100.0 * num / np.where(den != 0, den, 1), np.nan)
    return pl.Series(values=value).fill_nan(None)


def _scenario_sums(lines: _Lines, contract) -> tuple[np.ndarray, np.ndarray]:
    enc, out = lines.run(contract)
    every = np.ones(enc.n, bool)
    return lines.sums(out.allowed[:, 0], every), lines.sums(out.paid[:, 0], every)


def compare(claims, contracts: Mapping[str, Contract], by=None, schedules=None) -> pl.DataFrame:
    """Price the same claim lines under several contracts and compare the totals.

    Parameters
    ----------
    claims : polars.DataFrame, pandas.DataFrame, pyarrow.Table, or path to Parquet/CSV
        Claim lines as for :func:`pricer.price`.
    contracts : mapping of str to Contract
        Scenario name -> contract, e.g. ``{"current": c1, "proposed": c2}``. The first is the
        baseline the changes are measured from.
    by : str or list of str, optional
        Group by these claim columns; ``service_category`` (derived from the code: E&M,
        surgery, radiology, pathology/lab, medicine, anesthesia, drugs, DME/other HCPCS,
        other CPT) and ``line_of_business`` (trimmed, lower-case) are also accepted.
        Without ``by`` one row of totals.
    schedules : Schedules, optional
        Defaults to the bundled CMS tables.

    Returns
    -------
    polars.DataFrame
        One row per group, sorted: the ``by`` columns, ``lines``, ``billed``, then
        ``allowed_<name>`` and ``paid_<name>`` of every scenario, and for every scenario
        after the first ``allowed_change_<name>``, ``allowed_change_pct_<name>``,
        ``paid_change_<name>``, ``paid_change_pct_<name>`` against the first. Money columns
        are Decimal(18, 2); the percentages are Float64 (100 = double), null where the
        baseline is 0.

    Examples
    --------
    >>> import pricer
    >>> from pricer.cli import SAMPLE  # the bundled sample claims
    >>> current = pricer.default_contract()
    >>> proposed = current.replace_lob("commercial", conversion_factor="59.74")
    >>> t = pricer.compare(SAMPLE, {"current": current, "proposed": proposed})
    >>> t.columns[:5]
    ['lines', 'billed', 'allowed_current', 'paid_current', 'allowed_proposed']
    >>> t["allowed_change_proposed"][0] > 0
    True
    """
    names = list(contracts)
    bad = [n for n in names if not isinstance(n, str) or not n.strip()]
    if bad:
        raise ValueError(f"contracts: scenario names must be non-empty text, got {bad!r}")
    if not names:
        raise ValueError("contracts: give at least one scenario")
    for name, c in contracts.items():
        if not isinstance(c, Contract):
            raise TypeError(f"contracts[{name!r}]: a Contract is needed, got {type(c).__name__}")
    lines = _Lines(claims, list(contracts.values()), schedules, by)
    allowed, paid = {}, {}
    for name in names:
        allowed[name], paid[name] = _scenario_sums(lines, contracts[name])
    columns = [pl.Series("lines", lines.counts(), pl.Int64),
               _money(lines.billed()).alias("billed")]
    for name in names:
        columns += [_money(allowed[name]).alias(f"allowed_{name}"),
                    _money(paid[name]).alias(f"paid_{name}")]
    base = names[0]
    for name in names[1:]:
        for measure, sums in (("allowed", allowed), ("paid", paid)):
            change = sums[name] - sums[base]
            columns += [_money(change).alias(f"{measure}_change_{name}"),
                        _pct(change, sums[base]).alias(f"{measure}_change_pct_{name}")]
    return lines.keys.with_columns(columns) if lines.keys.width else pl.DataFrame(columns)


def sweep(claims, contract: Contract, term: str, values, schedules=None) -> pl.DataFrame:
    """Total allowed and paid for each value of one contract term.

    Parameters
    ----------
    claims : frame, table or path
        Claim lines as for :func:`pricer.price`.
    contract : Contract
        The contract the term is changed in.
    term : str
        ``"lob.<line of business>.<key>"``, e.g. ``"lob.commercial.conversion_factor"``: any
        key of a ``[lob.X]`` table (docs/contract.md). Dated periods that set the same key
        keep their own value from their date on.
    values : sequence
        The values, as a contract file would give them (numbers, ``"cms"``, ...).

    Returns
    -------
    polars.DataFrame
        ``value`` (the values as given: Decimal when every value is a number, else text),
        ``lines``, ``billed``, ``allowed``, ``paid``; one row per value, in the order given.

    Examples
    --------
    >>> import pricer
    >>> from pricer.cli import SAMPLE
    >>> s = pricer.sweep(SAMPLE, pricer.default_contract(), "lob.commercial.conversion_factor",
    ...                  [56, 58, 60])
    >>> s.columns
    ['value', 'lines', 'billed', 'allowed', 'paid']
    >>> bool(s["allowed"].is_sorted())
    True
    """
    values = list(values)
    if not values:
        raise ValueError("values: give at least one value")
    parts = term.split(".")
    if len(parts) != 3 or parts[0] != "lob":
        raise ValueError(f"term: {term!r} is not \"lob.<line of business>.<key>\", e.g. "
                         f"\"lob.commercial.conversion_factor\"")
    _, lob, key = parts
    contracts = []
    for v in values:
        try:
            contracts.append(contract.replace_lob(lob, **{key: v}))
        except ContractError as exc:
            raise ContractError(f"sweep value {v!r}: {exc}") from None
    lines = _Lines(claims, contracts, schedules, None)
    rows = [_scenario_sums(lines, c) for c in contracts]
    numeric = [_as_decimal(v) for v in values]
    value = (pl.Series("value", numeric) if None not in numeric
             else pl.Series("value", [str(v) for v in values], pl.String))
    k = len(values)
    return pl.DataFrame([
        value,
        pl.Series("lines", np.repeat(lines.counts(), k), pl.Int64),
        _money(np.repeat(lines.billed(), k)).alias("billed"),
        _money(np.array([a[0] for a, _ in rows])).alias("allowed"),
        _money(np.array([p[0] for _, p in rows])).alias("paid"),
    ])


def _as_decimal(v) -> Decimal | None:
    from pricer.contract import _to_decimal
    return _to_decimal(v)


def percent_of_medicare(claims, contract: Contract, by=None, schedules=None) -> pl.DataFrame:
    """The contract's allowed amounts as a percent of Medicare's, on the same lines.

    Every line is priced twice: under the contract, and as the contract's Medicare LOB would
    price it (at CMS parity in the default contract), whatever its own line of business.
    The percent is taken over the *comparable* lines: priced under the contract, and priced
    by Medicare from a Medicare fee schedule (RBRVS, anesthesia, Part B drug). Lines
    Medicare gives no value (gap fill, percent of charges, carve-outs) or denies are counted
    apart, so the ratio is not diluted by amounts Medicare does not set.

    Parameters
    ----------
    claims : frame, table or path
        Claim lines as for :func:`pricer.price`.
    contract : Contract
    by : str or list of str, optional
        As for :func:`compare`.

    Returns
    -------
    polars.DataFrame
        The ``by`` columns, ``lines``, ``comparable_lines``, ``billed``, ``allowed`` and
        ``medicare_allowed`` (comparable lines), ``percent_of_medicare`` (Float64,
        100 x allowed / medicare_allowed, null where Medicare allows 0), and
        ``allowed_not_comparable`` (the contract's allowed on the other lines).

    Examples
    --------
    >>> import pricer
    >>> from pricer.cli import SAMPLE
    >>> p = pricer.percent_of_medicare(SAMPLE, pricer.default_contract())
    >>> 100 < p["percent_of_medicare"][0] < 300
    True
    """
    lines = _Lines(claims, [contract], schedules, by)
    enc, out = lines.run(contract)
    priced = out.status == PRICED
    allowed = np.ascontiguousarray(out.allowed[:, 0])
    _, med = lines.run(contract, lob=MEDICARE_REFERENCE_LOB)
    comparable = priced & (med.status == PRICED) & np.isin(med.method, _MEDICARE_SCHEDULE_METHODS)
    contract_allowed = lines.sums(allowed, comparable)
    medicare_allowed = lines.sums(med.allowed[:, 0], comparable)
    columns = [
        pl.Series("lines", lines.counts(), pl.Int64),
        pl.Series("comparable_lines", lines.counts(comparable), pl.Int64),
        _money(lines.sums(enc.billed, enc.billed_ok & comparable)).alias("billed"),
        _money(contract_allowed).alias("allowed"),
        _money(medicare_allowed).alias("medicare_allowed"),
        _pct(contract_allowed, medicare_allowed).alias("percent_of_medicare"),
        _money(lines.sums(allowed, ~comparable)).alias("allowed_not_comparable"),
    ]
    return lines.keys.with_columns(columns) if lines.keys.width else pl.DataFrame(columns)
