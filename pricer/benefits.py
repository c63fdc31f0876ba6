"""Member cost share from benefit plans: the order of accumulation, balances in and out.

The model layer between the engine and ``benefits_nb``: it turns encoded lines, plans and
starting balances into the integer arrays the accumulator kernel walks, and the kernel's
per-line accumulators back into ending balances (docs/cost_share.md).
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from pricer.benefits_nb import (BLOCK, accumulate_nb, family_groups_nb, in_claim_line_order_nb,
                                member_codes_nb, plan_years_nb, sort_key_bounds_nb, sort_key_nb)
from pricer.claims import InputError, money_cents
from pricer.vocabulary import LOBS, MEDICARE_LOBS, PRICED

BALANCE_COLUMNS = ("member_id", "subscriber_id", "plan_id", "plan_year", "deductible_met",
                   "out_of_pocket_met")
_MONEY = pl.Decimal(18, 2)
# per LOB: a Medicare LOB (its Part B drugs take the ASP file's co-insurance)
MEDICARE_BY_LOB = np.array([lob in MEDICARE_LOBS for lob in LOBS], np.bool_)


@dataclass
class BenefitLines:
    """What the accumulator kernel reads, per line (entries of lines without a plan unused)."""

    plans: object               # pricer.plans.Plans
    order: np.ndarray           # int64: plan lines in accumulation order
    fam_starts: np.ndarray      # int64: where each group of families starts in ``order``, then
                                # its end (benefits_nb.family_groups_nb)
    member: np.ndarray          # int32 member number
    family: np.ndarray          # int32 family number
    year: np.ndarray            # int32 plan year
    claim: np.ndarray           # int64 claim rank (claim_id order)
    start_ded: np.ndarray       # int64 cents: the member's starting balances for the line's key
    start_oop: np.ndarray       # (each of the four empty when no line's key has a balance)
    fstart_ded: np.ndarray      # the family's
    fstart_oop: np.ndarray
    numbers: np.ndarray         # int64: member and family codes -> the ID as a number
    balances: pl.DataFrame | None  # the starting balances as given (checked)
    slot_line: np.ndarray = None   # kernel outputs: ending balance rows packed per block
    ded_after: np.ndarray = None   # (accumulate_nb): the member's last line, its balances
    oop_after: np.ndarray = None
    block_rows: np.ndarray = None  # rows of each block


def plan_years(dos: np.ndarray, plan: np.ndarray, plans) -> np.ndarray:
    """The plan year of each line (0 without a plan): the year its plan year started in."""
    arr = plans.arrays
    return plan_years_nb(dos, plan, arr.start_month, arr.start_day)


def _claim_ranks(table: pa.Table, enc) -> np.ndarray:
    """Each line's claim rank in claim_id order (-1 where the ID is null)."""
    n = enc.n
    if n == 0:
        return np.zeros(0, np.int64)
    if enc.claims_ranked:  # IDs came in increasing runs: claim numbers are the ranks
        return enc.claim.astype(np.int64)
    lines = enc.claim_order if len(enc.claim_order) else np.arange(n)
    first = lines[enc.claim_starts[:-1]]
    group = enc.claim[first]
    keep = group >= 0
    first, group = first[keep], group[keep]
    ids = table.column("claim_id").take(pa.array(first))
    if pa.types.is_dictionary(ids.type):
        ids = ids.cast(ids.type.value_type)
    if len(ids) < 2 or pc.all(pc.less(ids[:-1], ids[1:])).as_py():
        # claims appear in claim_id order (as extracts deliver them): no sort needed
        return np.where(enc.claim >= 0, enc.claim, -1).astype(np.int64)
    order = np.asarray(pc.sort_indices(ids).to_numpy(), np.int64)
    rank_of_group = np.full(int(enc.claim.max()) + 1 if n else 0, -1, np.int64)
    rank_of_group[group[order]] = np.arange(len(order))
    return np.where(enc.claim >= 0, rank_of_group[np.maximum(enc.claim, 0)], -1)


def _accumulation_order(sel, family, dos, claim, line) -> np.ndarray:
    """``sel`` sorted stably by family, date of service, claim rank, line number."""
    lows, highs = sort_key_bounds_nb(sel, family, dos, claim, line)
    bits = np.array([int(h - lo).bit_length() for lo, h in zip(lows, highs)], np.int64)
    at = int(max(len(sel) - 1, 0)).bit_length()  # bits of a position in sel
    if bits.sum() + at > 63:
        if bits[:2].sum() + at > 63 or not in_claim_line_order_nb(sel, claim, line):
            keys = [family[sel], dos[sel].astype(np.int64), claim[sel], line[sel]]
            return sel[np.lexsort(keys[::-1])]
        # claims and their lines come in storage order (as extracts deliver them): the
        # position then breaks ties as claim rank and line number would
        bits[2:] = -1
    # one integer of the keys and the position: a plain sort (vectorised; 10 M random keys
    # 0.12 s against 1.44 s for a stable argsort) gives the stable order
    packed = sort_key_nb(sel, family, dos, claim, line, lows, bits, at)
    packed.sort()
    return sel[packed & ((1 << at) - 1)]


def prepare(table: pa.Table, enc, plans, balances: pl.DataFrame | None = None):
    """BenefitLines for the lines with a plan, or None when no line names one; ``balances``
    the starting balances as :func:`read_balances` checked them."""
    if not (enc.plan >= 0).any() and balances is None:
        return None
    # lines rejected or denied before pricing never take part: they are left out of the walk
    sel = np.flatnonzero((enc.plan >= 0) & (enc.reason == 0))
    return walk(sel, enc.member_number, enc.subscriber_number, enc.subscriber_given, enc.dos,
                enc.plan, _claim_ranks(table, enc),
                _line_numbers(table.column("line_number")).to_numpy(), plans, balances)


def prepare_in_background(table: pa.Table, enc, plans, balances=None,
                          source: str = "accumulators") -> Future:
    """:func:`prepare` on a background thread, while the pricing kernels run (the walk
    needs only the encoded lines, not their prices; both are compiled without the GIL, and
    the kernels wait mostly on memory). :func:`walked` waits for it.

    Starting balances are read and checked first, here: a bad file is refused at once. A
    thread per call, not a pool kept between calls: a kept pool's thread would be missing
    in a process forked from this one.
    """
    if balances is not None:
        balances = read_balances(balances, plans, source)
    pool = ThreadPoolExecutor(1, thread_name_prefix="pricer-walk")
    walk = pool.submit(prepare, table, enc, plans, balances)
    pool.shutdown(wait=False)  # the thread ends with the walk
    return walk


def walked(enc):
    """The lines' BenefitLines (None: no line names a plan), once the walk started by
    ``encode_claims`` is done."""
    if isinstance(enc.benefits, Future):
        enc.benefits = enc.benefits.result()
    return enc.benefits


def _line_numbers(col) -> pl.Series:
    """Line numbers as Int64 for the accumulation order (0 where not a number: such a line
    is rejected and takes no part)."""
    if len(col) == 0:
        return pl.Series("line_number", [], pl.Int64)
    return pl.from_arrow(col).cast(pl.Int64, strict=False).fill_null(0)


def walk(sel, members, subscribers, subscriber_given, dos, plan, claim, line, plans,
         balances: pl.DataFrame | None = None) -> BenefitLines:
    """The accumulation order of lines ``sel`` (those with a plan) and their keys: members
    and families coded, plan years, groups of linked families, starting balances.

    ``claim`` ranks the lines' claims in claim_id order and ``line`` is their line number;
    ``members`` and ``subscribers`` (or None) are the IDs as numbers (int32, -1 not valid);
    ``balances`` the starting balances as :func:`read_balances` checked them.
    """
    family = members if subscribers is None else \
        np.where(subscriber_given & (subscribers >= 0), subscribers, members)
    member, family, numbers = member_codes_nb(sel, members, family)
    year = plan_years(dos, plan, plans)
    # groups: members linked through the families their lines name (usually one family)
    group = family_groups_nb(member, family, sel, len(numbers))
    order = _accumulation_order(sel, group, dos, claim, line)
    fam = group[order]
    fam_starts = np.concatenate([[0], np.flatnonzero(fam[1:] != fam[:-1]) + 1, [len(order)]]) \
        if len(order) else np.zeros(1, np.int64)
    zeros = np.zeros(0, np.int64)  # no starting balances: the kernel reads none
    b = BenefitLines(plans=plans, order=order.astype(np.int64, copy=False),
                     fam_starts=fam_starts.astype(np.int64), member=member, family=family,
                     year=year, claim=claim, start_ded=zeros, start_oop=zeros,
                     fstart_ded=zeros, fstart_oop=zeros, numbers=numbers, balances=None)
    if balances is not None:
        _starting_balances(b, balances, plan)
    m = len(order)  # room for a row per line; only the rows are touched (accumulate_nb)
    b.slot_line = np.empty(m, np.int64)
    b.ded_after = np.empty(m, np.int64)
    b.oop_after = np.empty(m, np.int64)
    b.block_rows = np.zeros((len(fam_starts) - 1 + BLOCK - 1) // BLOCK, np.int64)
    return b


def _starting_balances(b: BenefitLines, start: pl.DataFrame, plan: np.ndarray) -> None:
    """Per-line starting balances of each line's member and family key."""
    b.balances = start
    if start.is_empty():
        return
    n_plans = len(b.plans)
    by_number = np.argsort(b.numbers)

    def codes(ids: pl.Series) -> np.ndarray:  # normalised IDs -> member codes (-1: none)
        if len(by_number) == 0:
            return np.full(len(ids), -1, np.int64)
        num = ids.cast(pl.Int64).to_numpy()
        at = by_number[np.minimum(np.searchsorted(b.numbers, num, sorter=by_number),
                                  len(by_number) - 1)]
        return np.where(b.numbers[at] == num, at, -1)

    def keys(who, p, y):
        return (who.astype(np.int64) * n_plans + p) * 10_000 + y

    pid = {p: i for i, p in enumerate(b.plans.ids)}
    p = np.array([pid[x] for x in start["plan_id"].to_list()], np.int64)
    y = start["plan_year"].to_numpy().astype(np.int64)
    ded = money_cents(start["deductible_met"].to_arrow(), start.height)[0]
    oop = money_cents(start["out_of_pocket_met"].to_arrow(), start.height)[0]
    mem = codes(start["member_id"])
    fam = codes(start["subscriber_id"])
    line_p = np.maximum(plan, 0).astype(np.int64)
    for who, line_who, out_ded, out_oop in ((mem, b.member, "start_ded", "start_oop"),
                                              (fam, b.family, "fstart_ded", "fstart_oop")):
        ok = who >= 0
        if not ok.any():  # nobody of these balances is in the lines: all start from zero
            continue
        uk, inverse = np.unique(keys(who[ok], p[ok], y[ok]), return_inverse=True)
        # bincount works in float64: exact for cents below 2**53 ($90 trillion)
        sd = np.bincount(inverse, ded[ok], len(uk)).astype(np.int64)
        so = np.bincount(inverse, oop[ok], len(uk)).astype(np.int64)
        lk = keys(line_who, line_p, b.year)
        pos = np.minimum(np.searchsorted(uk, lk), len(uk) - 1)
        hit = uk[pos] == lk
        setattr(b, out_ded, np.where(hit, sd[pos], 0))
        setattr(b, out_oop, np.where(hit, so[pos], 0))


def read_balances(balances, plans, source: str = "accumulators") -> pl.DataFrame:
    """Starting balances checked and normalised, as ``result.accumulators`` writes them.

    Accepts a polars or pandas frame, an Arrow table, or a Parquet/CSV path. A bad row is an
    ``InputError`` naming the row and column: balances are never partly used.
    """
    if isinstance(balances, (str, Path)):
        source = str(balances)
        path = Path(balances)
        if not path.exists():
            raise InputError(source, ["file not found"])
        frame = (pl.read_csv(path, infer_schema=False) if path.suffix.lower() == ".csv"
                 else pl.read_parquet(path))
    elif isinstance(balances, pl.DataFrame):
        frame = balances
    elif isinstance(balances, pa.Table):
        frame = pl.from_arrow(balances)
    else:
        frame = pl.from_pandas(balances)
    problems = [f"column {c}: missing" for c in BALANCE_COLUMNS
                if c not in frame.columns and c != "subscriber_id"]
    if problems:
        raise InputError(source, problems)
    text = frame.select(
        pl.col("member_id").cast(pl.String).str.strip_chars().alias("member_id"),
        (pl.col("subscriber_id") if "subscriber_id" in frame.columns else pl.lit(None))
        .cast(pl.String).str.strip_chars().alias("subscriber_id"),
        pl.col("plan_id").cast(pl.String).str.strip_chars().alias("plan_id"),
        pl.col("plan_year").cast(pl.String).str.strip_chars().alias("plan_year"),
        pl.col("deductible_met").cast(pl.String).str.strip_chars().alias("deductible_met"),
        pl.col("out_of_pocket_met").cast(pl.String).str.strip_chars().alias("out_of_pocket_met"),
    )
    # each distinct plan ID as the plans file spells it (lines match without regard to case)
    named = {v: plans.lookup(v) for v in text["plan_id"].unique().to_list() if v is not None}
    ok_id = r"^\d{1,8}$"
    money = r"^\d{1,13}(\.\d{1,2})?$"
    checks = [
        ("member_id", ~pl.col("member_id").fill_null("").str.contains(ok_id),
         "must be 1-8 digits"),
        ("subscriber_id", pl.col("subscriber_id").is_not_null()
         & (pl.col("subscriber_id") != "") & ~pl.col("subscriber_id").fill_null("").str.contains(ok_id),
         "must be 1-8 digits"),
        ("plan_id", pl.col("plan_id").replace_strict(named, default=None).is_null(),
         "is not a plan of the plans file"),
        ("plan_year", ~pl.col("plan_year").fill_null("").str.contains(r"^\d{4}$"),
         "must be a year (4 digits)"),
        ("deductible_met", ~pl.col("deductible_met").fill_null("").str.contains(money),
         "must be an amount >= 0 in whole cents"),
        ("out_of_pocket_met", ~pl.col("out_of_pocket_met").fill_null("").str.contains(money),
         "must be an amount >= 0 in whole cents"),
    ]
    for column, bad, what in checks:
        rows = text.with_row_index("row").filter(bad)
        for row, value in rows.select("row", column).head(5).iter_rows():
            problems.append(f"row {row + 1}, column {column}: {value!r} {what}")
        if len(rows) > 5:
            problems.append(f"column {column}: {len(rows) - 5} more rows like these")
    if problems:
        raise InputError(source, problems)
    out = text.with_columns(
        pl.col("member_id").str.zfill(8),
        pl.col("plan_id").replace_strict(named, default=None),
        pl.when(pl.col("subscriber_id").is_null() | (pl.col("subscriber_id") == ""))
        .then(pl.col("member_id").str.zfill(8))
        .otherwise(pl.col("subscriber_id").str.zfill(8)).alias("subscriber_id"),
        pl.col("plan_year").cast(pl.Int32),
        pl.col("deductible_met").cast(_MONEY),
        pl.col("out_of_pocket_met").cast(_MONEY),
    ).select(BALANCE_COLUMNS)
    dup = out.filter(pl.struct("member_id", "plan_id", "plan_year").is_duplicated())
    if not dup.is_empty():
        m, p, y = dup.row(0)[0], dup.row(0)[2], dup.row(0)[3]
        raise InputError(source, [f"member {m}, plan {p}, plan year {y}: given more than once"])
    return out


def ending_rows(b: BenefitLines, enc) -> SimpleNamespace:
    """What :func:`ending_frame` needs of a run: one entry per member, plan and plan year
    touched (a few per member). Taken at once, so that a result keeps these and not every
    line's walk and encoding until its accumulators are asked for."""
    firsts = b.fam_starts[:-1][::BLOCK]  # where each block's rows begin
    packed = np.concatenate([np.arange(a, a + k) for a, k in zip(firsts, b.block_rows)]) \
        if len(b.block_rows) else np.zeros(0, np.int64)
    rows = b.slot_line[packed]
    return SimpleNamespace(member=b.numbers[b.member[rows]], family=b.numbers[b.family[rows]],
                           plan=enc.plan[rows], year=b.year[rows], ded=b.ded_after[packed],
                           oop=b.oop_after[packed], plan_ids=b.plans.ids, balances=b.balances)


def ending_frame(e: SimpleNamespace) -> pl.DataFrame:
    """Accumulators after the run (from :func:`ending_rows`): one row per member, plan and plan
    year touched or given."""
    from pricer.result import decimal_array

    def text(numbers):  # IDs as the lines give them, normalised
        return pl.Series(numbers).cast(pl.String).str.zfill(8)
    touched = pl.DataFrame({
        "member_id": text(e.member),
        "subscriber_id": text(e.family),
        "plan_id": pl.Series(e.plan_ids, dtype=pl.String).gather(e.plan),
        "plan_year": pl.Series(e.year, dtype=pl.Int32),
        "deductible_met": pl.from_arrow(decimal_array(e.ded, 2)),
        "out_of_pocket_met": pl.from_arrow(decimal_array(e.oop, 2)),
    })
    if e.balances is not None and not e.balances.is_empty():
        kept = e.balances.join(touched, on=["member_id", "plan_id", "plan_year"], how="anti")
        touched = pl.concat([touched, kept.select(touched.columns)])
    return touched.sort("member_id", "plan_id", "plan_year")


def accumulate(enc, out) -> None:
    """Cost shares of the lines with a plan, on lines already priced into ``out``."""
    b = walked(enc)
    p = b.plans.arrays
    accumulate_nb(b.fam_starts, b.order, b.member, b.family, enc.plan, b.year, enc.dos,
                  b.claim, enc.category, enc.provider, enc.lob, MEDICARE_BY_LOB, enc.qmb,
                  enc.shares_given, b.start_ded, b.start_oop, b.fstart_ded, b.fstart_oop,
                  p.deductible, p.family_deductible, p.coinsurance, p.oop, p.family_oop,
                  p.preventive_full, p.copay, out, b.slot_line, b.ded_after, b.oop_after,
                  b.block_rows)


# ---------------------------------------------------------------------------------------------
# the streamed batch: lines priced part by part, accumulated over the whole input at once

# what the accumulation reads of a priced line with a plan (one row per such line)
_LINE_INPUTS = {"subscriber_given": np.bool_, "plan": np.int16, "dos": np.int32,
                "category": np.int8, "provider": np.int8, "lob": np.int8, "qmb": np.bool_,
                "shares_given": np.bool_}
_LINE_OUTPUTS = {"status": np.uint8, "method": np.uint8, "flags": np.uint32}
_WIDE_OUTPUTS = ("allowed", "deductible", "copay", "coinsurance", "paid", "liability",
                 "drug_coins")
SHARE_COLUMNS = ("row", "deductible", "copay", "coinsurance", "paid", "liability", "flags")


def plan_line_table(table: pa.Table, enc, out, first_row: int = 0) -> pa.Table:
    """The lines of ``table`` that name a plan, priced (``out``) but without plan cost shares:
    what :func:`accumulate_plan_lines` needs of them. ``row`` is the line's position plus
    ``first_row``."""
    sel = np.flatnonzero(enc.plan >= 0)
    take = pa.array(sel, pa.int64())
    claim_id = table.column("claim_id").take(take)
    if pa.types.is_dictionary(claim_id.type):
        claim_id = claim_id.cast(claim_id.type.value_type)
    line = _line_numbers(table.column("line_number").take(take)).to_arrow()
    none = np.full(len(sel), -1, np.int32)
    numbers = {k: pa.array(none if v is None else v[sel]) for k, v in
               (("member", enc.member_number), ("subscriber", enc.subscriber_number))}
    cols = {"row": pa.array(sel + first_row, pa.int64()), **numbers, "claim_id": claim_id,
            "line_number": line}
    cols.update({k: pa.array(getattr(enc, k)[sel].astype(t, copy=False))
                 for k, t in _LINE_INPUTS.items()})
    cols.update({k: pa.array(getattr(out, k)[sel].astype(t, copy=False))
                 for k, t in _LINE_OUTPUTS.items()})
    cols.update({k: pa.array(getattr(out, k)[sel, 0]) for k in _WIDE_OUTPUTS})
    return pa.table(cols)


def no_plan_lines() -> pa.Table:
    """A ``plan_line_table`` of no line (an input where no line names a plan)."""
    from pricer.pricing_nb import allocate_out
    z = np.zeros(0, np.int64)
    enc = SimpleNamespace(plan=z, member_number=None, subscriber_number=None,
                          **{k: z for k in _LINE_INPUTS if k != "plan"})
    empty = pa.table({"claim_id": pa.array([], pa.string()),
                      "line_number": pa.array([], pa.int64())})
    return plan_line_table(empty, enc, allocate_out(0))


def _numpy(col: pa.ChunkedArray, dtype) -> np.ndarray:
    """A column as a writable numpy array of ``dtype``, copied once at most (the kernels are
    compiled for writable arrays; a one-chunk column's view is read-only)."""
    a = col.to_numpy().astype(dtype, copy=False)
    return a if a.flags.writeable else a.copy()


def _claim_id_ranks(col: pa.ChunkedArray) -> np.ndarray:
    """Dense ranks (from 0) of claim IDs in sort order. IDs that come in runs of increasing
    value (as extracts sorted by claim deliver them) are ranked by one pass over the text
    (claims.claim_groups); others are sorted."""
    from pricer.claims import claim_groups
    if len(col) == 0:
        return np.zeros(0, np.int64)
    groups, _, in_order = claim_groups(col, ranked=True)
    if in_order:
        return groups.astype(np.int64)
    return np.asarray(pc.rank(col, sort_keys="ascending", tiebreaker="dense").to_numpy(),
                      np.int64) - 1


def accumulate_plan_lines(lines: pa.Table, plans, balances: pl.DataFrame | None = None
                          ) -> tuple[pa.Table, pl.DataFrame]:
    """Accumulate the plan lines of a whole input at once (``plan_line_table`` of every part,
    in input order): (their cost shares, row for row: ``SHARE_COLUMNS``; ending balances).
    ``balances``: the starting balances as :func:`read_balances` checked them.

    The same walk as :func:`prepare` on one table: claims are ranked by claim_id over the whole
    input, so the order of accumulation is the one ``pricer.price`` uses on all the lines.
    """
    from pricer.pricing_nb import allocate_out
    from pricer.result import decimal_words
    arr = {k: _numpy(lines.column(k), t) for k, t in {**_LINE_INPUTS, **_LINE_OUTPUTS}.items()}
    claim = _claim_id_ranks(lines.column("claim_id"))
    line = _numpy(lines.column("line_number"), np.int64)
    taking_part = (arr["status"] == PRICED) & (lines.column("allowed").to_numpy() > 0)
    members, subscribers = (_numpy(lines.column(k), np.int32) for k in ("member", "subscriber"))
    b = walk(np.flatnonzero(taking_part), members, subscribers, arr["subscriber_given"],
             arr["dos"], arr["plan"], claim, line, plans, balances)
    enc = SimpleNamespace(benefits=b, **{k: arr[k] for k in _LINE_INPUTS})
    # the kernel's output record, only the fields the accumulator reads or writes filled
    out = allocate_out(0)._replace(
        status=arr["status"], method=arr["method"], flags=arr["flags"].copy(),
        **{k: decimal_words(lines.column(k).to_numpy()) for k in _WIDE_OUTPUTS})
    accumulate(enc, out)
    shares = pa.table({"row": lines.column("row"),
                       **{k: pa.array(getattr(out, k)[:, 0]) for k in SHARE_COLUMNS[1:-1]},
                       "flags": pa.array(out.flags)})
    return shares, ending_frame(ending_rows(b, enc))


def apply_shares(out, shares: pa.Table, first_row: int, n: int) -> None:
    """Write the accumulated cost shares of lines ``first_row .. first_row + n`` (rows of
    ``shares``, sorted) into a block's kernel outputs, where ``prepare`` + ``accumulate``
    would have put them."""
    rows = shares.column("row").to_numpy()
    lo, hi = np.searchsorted(rows, [first_row, first_row + n])
    at = rows[lo:hi] - first_row
    for k in SHARE_COLUMNS[1:-1]:
        values = shares.column(k).to_numpy()[lo:hi]
        getattr(out, k)[at, 0] = values
        getattr(out, k)[at, 1] = np.where(values < 0, -1, 0)
    out.flags[at] = shares.column("flags").to_numpy()[lo:hi]


def cob_methods(enc, arrays) -> np.ndarray:
    """Per line: the COB method (index in COB_METHODS): the plan's, else the LOB's."""
    lob_method = arrays.cob_method[enc.lob]
    if enc.plans is None:
        return lob_method.astype(np.int8)
    plan_method = enc.plans.arrays.cob[np.maximum(enc.plan, 0)]
    return np.where((enc.plan >= 0) & (plan_method >= 0), plan_method, lob_method).astype(np.int8)

