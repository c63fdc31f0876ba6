"""The priced result: lines, 835-style adjustments and a summary, as polars frames.

Kernel outputs are integers; they become Arrow columns here without a per-line Python step:
money as ``Decimal(18, 2)`` straight from the cents buffer, names as dictionary columns.
"""
from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

from pricer.vocabulary import FLAGS, GROUPS, LINE_STATUSES, METHODS, REASONS, STEPS

MONEY = pl.Decimal(18, 2)

OUTPUT_COLUMNS = (
    "line_status", "pricing_method", "fee_schedule_amount", "allowed_amount",
    "deductible_applied", "copay_applied", "coinsurance_applied", "paid_amount",
    "member_liability", "locality", "schedule_version", "total_rvu", "conversion_factor",
    "anesthesia_base_units", "anesthesia_time_units", "drug_coinsurance_pct", "gap_fill_source",
    "flags", "reason",
)


def decimal_array(values: np.ndarray, scale: int, valid: np.ndarray | None = None,
                  precision: int = 18) -> pa.Array:
    """An Arrow decimal128 array whose unscaled integers are ``values`` (no rounding)."""
    values = np.ascontiguousarray(values, dtype=np.int64)
    n = len(values)
    words = np.empty((n, 2), np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63  # sign extension into the high word
    validity = None
    nulls = 0
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        nulls = int(n - valid.sum())
    return pa.Array.from_buffers(pa.decimal128(precision, scale), n,
                                 [validity, pa.py_buffer(words)], null_count=nulls)


def names_array(codes: np.ndarray, names, valid: np.ndarray | None = None) -> pa.Array:
    """A dictionary (categorical) array of ``names[codes]``; null where not ``valid``."""
    idx = pa.array(np.asarray(codes, np.int32), mask=None if valid is None else ~valid)
    return pa.DictionaryArray.from_arrays(idx, pa.array(list(names), pa.string()))


@njit(cache=True)
def _flag_lists(flags, n_flags):
    n = flags.shape[0]
    offsets = np.zeros(n + 1, np.int32)
    for i in range(n):
        f = flags[i]
        k = 0
        while f:
            k += f & 1
            f >>= 1
        offsets[i + 1] = offsets[i] + k
    values = np.empty(offsets[n], np.int32)
    for i in range(n):
        p = offsets[i]
        for b in range(n_flags):
            if flags[i] >> b & 1:
                values[p] = b
                p += 1
    return offsets, values


def flags_array(flags: np.ndarray) -> pa.Array:
    """list<string> of flag names, alphabetical (FLAGS is kept sorted)."""
    offsets, values = _flag_lists(flags.astype(np.uint32), len(FLAGS))
    names = pa.array(list(FLAGS), pa.string()).take(pa.array(values))
    return pa.ListArray.from_arrays(pa.array(offsets), names)


class PricingResult:
    """Every priced line, its adjustments, and summaries.

    Attributes
    ----------
    lines : polars.DataFrame
        Every input column plus the output columns of interfaces.md, in input order.
    adjustments : polars.DataFrame
        ``claim_id, line_number, group_code, carc, amount, step, line_index``: 835-style rows
        such that each line's billed charge = paid amount + its adjustments.
    """

    def __init__(self, lines: pl.DataFrame, adjustments: pl.DataFrame, contract=None,
                 schedules=None):
        self.lines = lines
        self.adjustments = adjustments
        self.contract = contract
        self.schedules = schedules

    def __repr__(self) -> str:
        return f"PricingResult({self.lines.height} lines, {self.adjustments.height} adjustments)"

    def summary(self) -> pl.DataFrame:
        """Totals by ``line_of_business`` and ``pricing_method``.

        Billed totals count lines whose billed charge is a valid amount.
        """
        return summarize(self.lines)


def summarize(lines: pl.DataFrame) -> pl.DataFrame:
    """Lines, billed, allowed, paid and member liability by LOB and pricing method."""
    billed = pl.col("billed_charge")
    if lines.schema.get("billed_charge") not in (MONEY,) and not isinstance(
            lines.schema.get("billed_charge"), pl.Decimal):
        billed = billed.cast(pl.String).str.strip_chars().cast(pl.Decimal(18, 2), strict=False)
    return (
        lines.group_by(pl.col("line_of_business").cast(pl.String),
                       pl.col("pricing_method").cast(pl.String))
        .agg(
            pl.len().alias("lines"),
            billed.cast(MONEY, strict=False).sum().alias("billed"),
            pl.col("allowed_amount").sum().alias("allowed"),
            pl.col("paid_amount").sum().alias("paid"),
            pl.col("member_liability").sum().alias("member_liability"),
        )
        .sort("line_of_business", "pricing_method")
    )


def adjustments_frame(claim_id: pa.ChunkedArray, line_number: pa.ChunkedArray, out) -> pl.DataFrame:
    """One row per non-empty adjustment slot, in line order."""
    rows, slots = np.nonzero(out.adj_group)
    table = pa.table({
        "claim_id": claim_id.take(pa.array(rows)),
        "line_number": line_number.take(pa.array(rows)),
        "group_code": names_array(out.adj_group[rows, slots], GROUPS),
        "carc": pa.array(out.adj_carc[rows, slots].astype(np.int32)),
        "amount": decimal_array(out.adj_amount[rows, slots], 2),
        "step": names_array(out.adj_step[rows, slots], STEPS),
        "line_index": pa.array(rows.astype(np.int64)),
    })
    return pl.from_arrow(table)


def output_columns(out, enc, arrays) -> dict[str, pa.Array]:
    """The output columns of interfaces.md from the kernel's arrays."""
    from pricer.pricing_nb import V_ANES, V_ASP, V_GAPFILL, V_RVU

    n = len(out.status)
    sched = arrays.sched
    versions = ["", *sched.rvu_release, *sched.anes_release, *sched.asp_release, "GAPFILL"]
    base = {V_RVU: 1, V_ANES: 1 + len(sched.rvu_release),
            V_ASP: 1 + len(sched.rvu_release) + len(sched.anes_release)}
    offset = np.zeros(5, np.int64)
    for kind, b in base.items():
        offset[kind] = b
    vcode = np.where(out.version_kind == V_GAPFILL, len(versions) - 1,
                     offset[out.version_kind] + out.version_idx)
    vvalid = out.version_kind != 0

    # the locality used; where a given one could not be resolved, the text as given, so the
    # analyst sees the bad value next to reason `locality_invalid`
    loc_names = list(sched.localities)
    resolved = enc.locality >= 0
    raw_idx, raw_values = enc.locality_given
    shown = np.where(resolved, enc.locality, np.where(raw_idx >= 0, len(loc_names) + raw_idx, -1))
    loc_col = names_array(np.maximum(shown, 0), loc_names + [str(v) for v in raw_values], shown >= 0)

    gsources = arrays.gap_fill_sources or [""]
    return {
        "line_status": names_array(out.status, LINE_STATUSES),
        "pricing_method": names_array(out.method, METHODS),
        "fee_schedule_amount": decimal_array(out.fee, 2, out.fee >= 0),
        "allowed_amount": decimal_array(out.allowed, 2),
        "deductible_applied": decimal_array(out.deductible, 2),
        "copay_applied": decimal_array(out.copay, 2),
        "coinsurance_applied": decimal_array(out.coinsurance, 2),
        "paid_amount": decimal_array(out.paid, 2),
        "member_liability": decimal_array(out.liability, 2),
        "locality": loc_col,
        "schedule_version": names_array(vcode, versions, vvalid),
        "total_rvu": decimal_array(out.total_rvu, 2, out.total_rvu >= 0),
        "conversion_factor": decimal_array(out.cf, 4, out.cf >= 0),
        "anesthesia_base_units": decimal_array(out.base_units, 1, out.base_units >= 0),
        "anesthesia_time_units": decimal_array(out.time_units, 1, out.time_units >= 0),
        "drug_coinsurance_pct": decimal_array(out.drug_coins, 3, out.drug_coins >= 0),
        "gap_fill_source": names_array(np.maximum(out.gap_source, 0), gsources, out.gap_source >= 0),
        "flags": flags_array(out.flags),
        "reason": names_array(out.reason, REASONS, out.reason != 0),
    }
