"""Replacement and void claims (frequency codes 7 and 8) against previously priced lines (§11).

A replacement (7) reverses every line of the claim it replaces and is priced as a new claim;
a void (8) reverses only. The claim replaced is looked up in ``prior``, the lines in effect as
an earlier :func:`pricer.price` returned them, by the claim's ``original_claim_id`` (the
payer claim number of the 837's REF*F8), or by the claim's own ``claim_id`` when that column
is absent or blank (a resubmission under the same number). Nothing is guessed: a 7 or 8 whose
original is not in ``prior``, is already void, or is referenced by two claims of the input is
rejected with that reason.

A reversal row is the original line as it was priced, every amount negated (X12 835: claim
status 22, "reversal of previous payment"); its adjustments are the original's, negated, so
reversal rows balance like any line. Reversals are their own output
(``result.reversals``, ``result.reversal_adjustments``), never mixed into the input's rows;
``result.claim_changes`` nets them against the new pricing claim by claim.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from pricer.vocabulary import R

MONEY = pl.Decimal(18, 2)
# amounts of a priced line that a reversal negates
AMOUNTS = ("billed_charge", "fee_schedule_amount", "allowed_amount", "deductible_applied",
           "copay_applied", "coinsurance_applied", "paid_amount", "member_liability")
PRIOR_LINE_COLUMNS = ("claim_id", "line_number", "line_status") + AMOUNTS
PRIOR_ADJUSTMENT_COLUMNS = ("claim_id", "line_number", "group_code", "carc", "amount", "step")
# claim frequency type codes (837 CLM05-3); blank means an original claim
FREQUENCIES = {"": 1, "1": 1, "7": 7, "8": 8}


@dataclass
class Prior:
    """Previously priced lines in effect and their adjustments, keyed for matching."""
    lines: pl.DataFrame        # with "_key" (claim_id as text) and "_row" (position in prior)
    adjustments: pl.DataFrame  # with "_key"
    claims: pl.DataFrame       # _key, voided: the claims prior holds
    source: str


def _error(source, problems):
    from pricer.claims import InputError
    return InputError(source, problems)


def _frame(obj, source: str) -> pl.DataFrame:
    """A polars frame from a frame, an Arrow table, or a Parquet/CSV path (CSV read as text)."""
    if isinstance(obj, pl.DataFrame):
        return obj
    if isinstance(obj, pa.Table):
        return pl.from_arrow(obj)
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if not path.exists():
            raise _error(str(path), ["file not found"])
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path, infer_schema=False)  # exact money: parsed below, not floats
        return pl.read_parquet(path)
    if type(obj).__module__.startswith("pandas"):
        return pl.from_pandas(obj)
    raise _error(source, [f"cannot read a {type(obj).__name__}"])


def _money(frame: pl.DataFrame, column: str, source: str) -> pl.DataFrame:
    """``column`` as Decimal(18, 2), exactly; a float or an unparseable value is refused."""
    dtype = frame.schema[column]
    if isinstance(dtype, pl.Decimal):
        return frame.with_columns(pl.col(column).cast(MONEY))
    if dtype in (pl.Float32, pl.Float64):
        raise _error(source, [f"column {column!r} is floating point: pass exact amounts "
                              "(Decimal or text), as `pricer.price` writes them"])
    text = pl.col(column).cast(pl.String).str.strip_chars()
    parsed = frame.select(text.alias("t"), text.cast(MONEY, strict=False).alias("v"))
    bad = parsed.with_row_index("row").filter(
        pl.col("v").is_null() & pl.col("t").is_not_null() & (pl.col("t") != ""))
    if bad.height:
        r = bad.row(0, named=True)
        raise _error(source, [f"column {column!r}, row {r['row'] + 1}: {r['t']!r} is not an "
                              "amount"])
    return frame.with_columns(parsed["v"].alias(column))


def read_prior(prior) -> Prior | None:
    """The ``prior`` argument of :func:`pricer.price` as a :class:`Prior`.

    ``prior`` is the :class:`~pricer.result.PricingResult` of the earlier run, or a pair
    ``(lines, adjustments)`` of frames, Arrow tables or Parquet/CSV paths as ``pricer reprice
    -o LINES --adjustments ADJUSTMENTS`` writes them.
    """
    from pricer.result import PricingResult
    if prior is None:
        return None
    if isinstance(prior, Prior):
        return prior
    if isinstance(prior, PricingResult):
        lines, adjustments, source = prior.lines, prior.adjustments, "prior"
        adj_source = "prior adjustments"
    elif isinstance(prior, (tuple, list)) and len(prior) == 2:
        source = str(prior[0]) if isinstance(prior[0], (str, Path)) else "prior lines"
        adj_source = str(prior[1]) if isinstance(prior[1], (str, Path)) else "prior adjustments"
        lines, adjustments = _frame(prior[0], source), _frame(prior[1], adj_source)
    else:
        raise _error("prior", ["pass the PricingResult of the earlier run, or (lines, "
                               "adjustments) as `pricer reprice -o ... --adjustments ...` "
                               "writes them: reversals need both"])
    for frame, columns, name in ((lines, PRIOR_LINE_COLUMNS, source),
                                 (adjustments, PRIOR_ADJUSTMENT_COLUMNS, adj_source)):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise _error(name, [f"missing column {c!r} (needed to reverse a prior claim)"
                                for c in missing])
    for c in AMOUNTS:
        lines = _money(lines, c, source)
    adjustments = _money(adjustments, "amount", adj_source)
    key = pl.col("claim_id").cast(pl.String)
    lines = lines.with_columns(key.alias("_key"), pl.int_range(pl.len()).alias("_row"))
    twice = lines.filter(pl.struct("_key", "line_number").is_duplicated())
    if twice.height:
        r = twice.row(0, named=True)
        raise _error(source, [f"claim {r['_key']!r} line {r['line_number']} appears more than "
                              "once: prior must hold the lines in effect, one version of each "
                              "claim"])
    adjustments = adjustments.with_columns(key.alias("_key"))
    claims = lines.group_by("_key").agg(
        (pl.col("line_status").cast(pl.String) == "void").any().alias("voided"))
    return Prior(lines, adjustments, claims, source)


def _frequency(value) -> int:
    """1, 7 or 8 for a claim frequency code; 0 when it is none of them."""
    return FREQUENCIES.get("" if value is None else str(value).strip(), 0)


def link_claims(table: pa.Table, claim: np.ndarray, prior: Prior | None
                ) -> tuple[np.ndarray | None, pl.DataFrame | None]:
    """Rejection reasons of the lines of 7/8 claims that cannot be linked, and the links.

    Returns ``(reason, links)``: ``reason`` is a uint8 per line (0 where none), ``links`` has
    one row per replacement or void claim whose original was found: ``claim_id``,
    ``frequency_code``, ``original_claim_id`` (text). Both are None when every line is an
    original claim, the usual case, which costs one pass over the dictionary of the column.
    """
    from pricer.claims import _lookup, _present, _text_dict
    col = _present(table, "frequency_code")
    if col is None or table.num_rows == 0:
        return None, None
    idx, values = _text_dict(col)
    freq = _lookup(idx, [_frequency(v) for v in values], 1, np.int8)
    if (freq == 1).all():
        return None, None
    n = len(freq)
    reason = np.zeros(n, np.uint8)
    reason[freq == 0] = R["frequency_code_invalid"]
    # every line of each claim with a line that is not an original
    known = claim >= 0
    special = np.zeros(int(claim.max()) + 1 if known.any() else 1, bool)
    special[claim[known & (freq != 1)]] = True
    rows = np.flatnonzero(known & special[np.maximum(claim, 0)])
    take = pa.array(rows)
    ids = pl.from_arrow(table.column("claim_id").take(take).cast(pa.string()))
    orig_col = _present(table, "original_claim_id")
    if orig_col is None:
        orig = pl.Series([None] * len(rows), dtype=pl.String)
    else:
        orig = pl.from_arrow(orig_col.take(take).cast(pa.string())).str.strip_chars()
        orig = pl.when(orig == "").then(None).otherwise(orig)
        orig = pl.select(orig).to_series()
    lines = pl.DataFrame({"claim": claim[rows], "freq": freq[rows], "claim_id": ids,
                          "orig": orig})
    per = (lines.group_by("claim", maintain_order=True)
           .agg(pl.col("freq").n_unique().alias("n_freq"), pl.col("orig").n_unique().alias("n_orig"),
                pl.col("freq").first(), pl.col("orig").first(), pl.col("claim_id").first())
           .with_columns(pl.coalesce("orig", "claim_id").alias("ref")))
    prior_claims = prior.claims if prior is not None else pl.DataFrame(
        {"_key": [], "voided": []}, schema={"_key": pl.String, "voided": pl.Boolean})
    per = per.join(prior_claims, left_on="ref", right_on="_key", how="left",
                   maintain_order="left")
    inconsistent = (pl.col("n_freq") > 1) | (pl.col("n_orig") > 1)
    linking = ~inconsistent & pl.col("freq").is_in([7, 8])
    found = linking & pl.col("voided").is_not_null() & ~pl.col("voided").fill_null(False)
    twice = found & (pl.col("ref").count().over(pl.when(found).then(pl.col("ref"))) > 1)
    per = per.with_columns(
        pl.when(inconsistent).then(R["claim_frequency_inconsistent"])
        .when(linking & pl.col("voided").is_null()).then(R["original_claim_not_found"])
        .when(linking & pl.col("voided")).then(R["original_claim_voided"])
        .when(twice).then(R["original_claim_referenced_twice"])
        .when(found & (pl.col("freq") == 8)).then(R["void_request"])
        .otherwise(0).cast(pl.UInt8).alias("reason"),
        (found & ~twice).alias("linked"))
    claim_reason = np.zeros(len(special), np.uint8)
    claim_reason[per["claim"].to_numpy()] = per["reason"].to_numpy()
    line_reason = claim_reason[claim[rows]]
    current = reason[rows]
    reason[rows] = np.where(current == 0, line_reason, current)
    links = per.filter("linked").select(
        "claim_id", pl.col("freq").cast(pl.String).alias("frequency_code"),
        pl.col("ref").alias("original_claim_id"))
    return reason, links


def reversals(prior: Prior | None, links: pl.DataFrame | None
              ) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """The reversal rows of every linked claim's original, and their adjustments.

    Lines the earlier run rejected were never adjudicated (a front-end rejection has no 835):
    they are not reversed.
    """
    if prior is None or links is None or links.height == 0:
        return None, None
    key = links.select(pl.col("original_claim_id").alias("_key"),
                       pl.col("claim_id").alias("reversed_by_claim_id"))
    lines = (prior.lines.join(key, on="_key", how="inner")
             .filter(pl.col("line_status").cast(pl.String) != "rejected")
             .sort("_row"))
    adjustments = (prior.adjustments
                   .join(lines.select("_key", "line_number", "_row", "reversed_by_claim_id"),
                         on=["_key", "line_number"], how="inner", maintain_order="left")
                   .sort("_row", maintain_order=True)
                   .with_columns(-pl.col("amount"))
                   .drop("_key", "_row", "line_index", strict=False))
    lines = lines.with_columns(
        [-pl.col(c) for c in AMOUNTS]
        + [pl.lit("reversed").alias("line_status")]).drop("_key", "_row")
    return lines, adjustments


def claim_changes(lines: pl.DataFrame, links: pl.DataFrame | None,
                  reversal_lines: pl.DataFrame | None) -> pl.DataFrame:
    """Net change per claim of the input: the new pricing plus the reversal of its original."""
    key = pl.col("claim_id").cast(pl.String)
    freq = (pl.col("frequency_code").cast(pl.String).str.strip_chars().first()
            if "frequency_code" in lines.columns else pl.lit(None, pl.String))
    new = (lines.group_by(key.alias("claim_id"), maintain_order=True)
           .agg(pl.len().alias("lines"), freq.alias("_freq"),
                pl.col("allowed_amount").sum().cast(MONEY).alias("allowed"),
                pl.col("paid_amount").sum().cast(MONEY).alias("paid"),
                pl.col("member_liability").sum().cast(MONEY).alias("member_liability")))
    if links is None:
        links = pl.DataFrame(schema={"claim_id": pl.String, "frequency_code": pl.String,
                                     "original_claim_id": pl.String})
    if reversal_lines is None or reversal_lines.height == 0:
        reversed_ = pl.DataFrame(schema={"claim_id": pl.String, "reversed_lines": pl.UInt32,
                                         "reversed_allowed": MONEY, "reversed_paid": MONEY,
                                         "reversed_member_liability": MONEY})
    else:
        reversed_ = reversal_lines.group_by(
            pl.col("reversed_by_claim_id").cast(pl.String).alias("claim_id")).agg(
            pl.len().alias("reversed_lines"),
            pl.col("allowed_amount").sum().cast(MONEY).alias("reversed_allowed"),
            pl.col("paid_amount").sum().cast(MONEY).alias("reversed_paid"),
            pl.col("member_liability").sum().cast(MONEY).alias("reversed_member_liability"))
    zero = pl.lit(0, MONEY)
    out = (new.join(links.with_columns(pl.col("claim_id").cast(pl.String)), on="claim_id",
                    how="left", maintain_order="left")
           .join(reversed_, on="claim_id", how="left", maintain_order="left")
           .with_columns(
               pl.coalesce("frequency_code", pl.when(pl.col("_freq").fill_null("") == "")
                           .then(pl.lit("1")).otherwise("_freq")).alias("frequency_code"),
               pl.col("reversed_lines").fill_null(0),
               *[pl.col(f"reversed_{c}").fill_null(zero).cast(MONEY)
                 for c in ("allowed", "paid", "member_liability")]))
    return out.select(
        "claim_id", "frequency_code", "original_claim_id", "lines", "allowed", "paid",
        "member_liability", "reversed_lines", "reversed_allowed", "reversed_paid",
        "reversed_member_liability",
        (pl.col("allowed") + pl.col("reversed_allowed")).cast(MONEY).alias("net_allowed"),
        (pl.col("paid") + pl.col("reversed_paid")).cast(MONEY).alias("net_paid"),
        (pl.col("member_liability") + pl.col("reversed_member_liability")).cast(MONEY)
        .alias("net_member_liability"))
