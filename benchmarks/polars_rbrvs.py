"""A polars-only pricer for the RBRVS part and percent of charges (rule book §5, §6, §10).

This is what an analyst would write in polars without pricer's numba kernel: the reference
tables become small frames, each claim line is joined to them (lazy joins and column
expressions, no Python loop over lines) and priced in exact Int64 scaled units with half-up
rounding ``(2*n + d) // (2*d)`` (rule book §1, ``docs/decisions.md``).

Scope. Every valid line walks the method chain of §5 far enough to know its method:

- ``rbrvs`` (§6) is priced for lines that give a ``locality`` (MAC-LOC): 26/TC/53 row
  selection, facility PE for the facility POS list, GPCI work floor by date of service, both
  ``rounding`` modes, CMS or contract conversion factor, then lower of charges.
- ``percent_of_charges`` (§10) is priced for every line that reaches it, with or without a
  locality: ``round_half_up(billed * pct, 2)``, lower of charges.
- Lines that end in another method (``rejected``, ``carve_out``, ``anesthesia``, ``drug``,
  ``gap_fill``, ``denied``/``bundled``) get that method name and a null amount; lines whose
  method depends on a location the implementation does not resolve (no ``locality`` column
  value: the engine resolves state/county/ZIP through LOCCO) are ``unresolved_location``.

The implementation reads the schedules' polars tables and the contract's terms, and does not
use any pricer internals (kernel, encoders, dense tables), so that it is an independent check.
Cost share (§12) is out of its scope, and so are the §11 payment policies: a line that one of
them may touch (modifier 50, 62, 66, 80, 81, 82, AS, RT or LT; 2 units (bilateral); received
later than the shortest timely-filing limit of the contract; an institutional claim form; a
MULT PROC 2-7 code on a claim of several lines, or a MULT PROC 5 line of several units; status T; a Medicare non-facility line of an
OPPSCAP code) is ``policy_out_of_scope`` with a null amount.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

__all__ = ["price_polars", "reference_frames", "FACILITY_POS"]

LOBS = ("commercial", "medicare", "medicare_cost", "medicaid", "other")
MEDICARE_LOBS = ("medicare", "medicare_cost")
# §6: POS priced with the facility PE RVU
FACILITY_POS = (2, 19, 21, 22, 23, 24, 26, 31, 34, 41, 42, 51, 52, 53, 56, 61)
STATUS_LETTERS = "ABCDEFGHIJMNPRTX"
# §5 default status policy; Medicare LOBs deny N and I
DEFAULT_POLICY = {"A": "rbrvs", "R": "rbrvs", "T": "rbrvs", "N": "rbrvs", "I": "gap_fill",
                  "C": "by_report", "B": "bundled", "P": "bundled", "M": "bundled"}
MEDICARE_POLICY = {"N": "deny", "I": "deny"}
RVU_ROWS = {"": "0", "26": "26", "TC": "tc", "53": "53"}
COST_SHARES = ("deductible", "copay", "coinsurance", "other_payer_paid")
REQUIRED = ("claim_id", "line_number", "member_id", "line_of_business", "date_of_service",
            "hcpcs", "units", "billed_charge", "place_of_service")
OPTIONAL_TEXT = ("modifier_1", "modifier_2", "modifier_3", "modifier_4", "locality", "claim_form")
POLICY_MODIFIERS = ("50", "62", "66", "80", "81", "82", "AS", "RT", "LT")  # §11: out of scope
OPTIONAL_OTHER = {"received_date": pl.Date, **{c: pl.Decimal(18, 2) for c in COST_SHARES}}


def _scaled(value, scale: int) -> int | None:
    """Exact integer of a Decimal contract value at ``scale``; None for "cms"."""
    if value is None or isinstance(value, str):
        return None
    from decimal import Decimal
    d = Decimal(str(value)) * scale
    if d != d.to_integral_value():
        raise ValueError(f"{value} has more decimals than 1/{scale}")
    return int(d)


def half_up(num: pl.Expr, den: int | pl.Expr) -> pl.Expr:
    """round(num / den) half-up for num >= 0, den > 0, in integers."""
    return (2 * num + den) // (2 * den)


# ---------------------------------------------------------------------------------------------
# reference frames (small; built once per schedules and contract)

class ReferenceFrames:
    def __init__(self, schedules, contract):
        self.rvu_vintages = [(v.effective_from, v.effective_to) for v in schedules.vintages("rvu")]
        self.gpci_vintages = [(v.effective_from, v.effective_to)
                              for v in schedules.vintages("gpci")]
        self.asp_vintages = [(v.effective_from, v.effective_to) for v in schedules.vintages("asp")]
        self.anes_vintages = [(v.effective_from, v.effective_to)
                              for v in schedules.vintages("anes_cf")]
        self.base_vintages = [(v.effective_from, None) for v in schedules.vintages("anes_base")]
        self.localities = pl.DataFrame({"locality": schedules.localities()})
        self.opps_codes = sorted({c for v in schedules.vintages("oppscap")
                                  for c in v.table["hcpcs"].to_list()})

        # RVU: one row per (vintage, hcpcs), the 4 rows (blank, 26, TC, 53) side by side
        parts = []
        self.rvu_cf: dict[int, int] = {}  # CMS CF of each RVU vintage (x10000)
        for vi, v in enumerate(schedules.vintages("rvu")):
            t = v.table
            cf = t["conversion_factor"].max()  # CMS prints one CF on every row
            aggs = []
            for mod, sfx in RVU_ROWS.items():
                sel = pl.col("modifier") == mod
                aggs += [
                    pl.col("status").filter(sel).last().alias(f"st_{sfx}"),
                    pl.col("work_rvu").filter(sel).last().fill_null(0).alias(f"w_{sfx}"),
                    pl.col("pe_nonfacility_rvu").filter(sel).last().fill_null(0).alias(f"penf_{sfx}"),
                    pl.col("pe_facility_rvu").filter(sel).last().fill_null(0).alias(f"pef_{sfx}"),
                    pl.col("mp_rvu").filter(sel).last().fill_null(0).alias(f"mp_{sfx}"),
                ]
            wide = (
                t.lazy()
                .with_columns(pl.col("status").str.strip_chars().str.slice(0, 1)
                              .replace("", None))
                .group_by("hcpcs").agg(*aggs,
                                       pl.col("mult_proc").is_between(2, 7).any().alias("mult2"),
                                       (pl.col("mult_proc") == 5).any().alias("therapy"))
                .with_columns(pl.lit(vi, pl.Int32).alias("rvu_v"))
            )
            parts.append(wide)
            self.rvu_cf[vi] = cf
        self.rvu = pl.concat(parts).collect() if parts else None

        # GPCI by (vintage, locality), with the date the work floor ends
        parts = []
        for gi, v in enumerate(schedules.vintages("gpci")):
            parts.append(v.table.select(
                pl.lit(gi, pl.Int32).alias("gpci_v"), "locality",
                pl.col("work_gpci").alias("g_work"),
                pl.col("work_gpci_no_floor").alias("g_work_nofloor"),
                pl.col("pe_gpci").alias("g_pe"), pl.col("mp_gpci").alias("g_mp"),
                pl.lit(v.work_floor_through, pl.Date).alias("g_floor_through"),
            ))
        self.gpci = pl.concat(parts).unique(["gpci_v", "locality"], keep="last") \
            if parts else None

        parts = []
        for ai, v in enumerate(schedules.vintages("anes_cf")):
            parts.append(v.table.select(pl.lit(ai, pl.Int32).alias("anes_v"), "locality",
                                        pl.col("anesthesia_cf").alias("anes_cf_cms")))
        self.anes_cf = pl.concat(parts).unique(["anes_v", "locality"], keep="last") \
            if parts else None

        parts = []
        for bi, v in enumerate(schedules.vintages("anes_base")):
            parts.append(v.table.select(pl.lit(bi, pl.Int32).alias("base_v"), "hcpcs",
                                        pl.lit(True).alias("is_anes_code")))
        self.anes_base = pl.concat(parts).unique(["base_v", "hcpcs"]) if parts else None

        parts = []
        for qi, v in enumerate(schedules.vintages("asp")):
            parts.append(v.table.filter(pl.col("payment_limit").is_not_null())
                         .select(pl.lit(qi, pl.Int32).alias("asp_v"), "hcpcs",
                                 pl.lit(True).alias("is_drug_code")))
        self.asp = pl.concat(parts).unique(["asp_v", "hcpcs"]) if parts else None

        # contract terms per LOB
        terms = {lob: contract.terms(lob) for lob in LOBS}
        self.lob_terms = lob_terms_frame(terms)
        self.carve = pl.DataFrame(
            [(lob, c.hcpcs) for lob, t in terms.items() for c in t.carve_outs],
            schema={"lob": pl.String, "hcpcs": pl.String}, orient="row",
        ).with_columns(pl.lit(True).alias("is_carve"))
        self.policy = policy_frame(terms)
        self.gap_fill = gap_fill_frame(terms)


def refuse_later_terms(contract) -> None:
    """The comparison implements the rule book's base contract terms; issue 5's modelling
    terms (methods, periods, CF by locality, carve-outs beyond one code) it refuses rather
    than price wrong."""
    for lob in LOBS:
        t = contract.terms(lob)
        beyond = [name for name, used in (
            ("method", t.method != "rbrvs"), ("periods", bool(t.periods)),
            ("conversion_factor_by_locality", bool(t.conversion_factor_by_locality)),
            ("anesthesia_conversion_factor_by_locality",
             bool(t.anesthesia_conversion_factor_by_locality)),
            ("carve_outs", any(c.hcpcs is None or c.modifier or c.effective_from
                               or c.effective_to or c.percent_of_medicare is not None
                               for c in t.carve_outs))) if used]
        if beyond:
            raise NotImplementedError(f"lob.{lob}: {', '.join(beyond)}: not implemented by the "
                                      f"comparison implementations (pricer prices them)")


def lob_terms_frame(terms: dict) -> pl.DataFrame:
    """Per LOB: CF, rounding, percent of charges and anesthesia CF (scaled; -1 for "cms")."""
    return pl.DataFrame({
        "lob": list(terms),
        "lob_cf": [_scaled(t.conversion_factor, 10_000) for t in terms.values()],
        "lob_rounding_cms": [t.rounding == "cms" for t in terms.values()],
        "lob_pct": [_scaled(t.percent_of_charges, 10_000) for t in terms.values()],
        "lob_anes_cf": [_scaled(t.anesthesia_conversion_factor, 10_000)
                        for t in terms.values()],
    }, schema={"lob": pl.String, "lob_cf": pl.Int64, "lob_rounding_cms": pl.Boolean,
               "lob_pct": pl.Int64, "lob_anes_cf": pl.Int64})


def policy_frame(terms: dict) -> pl.DataFrame:
    """lob, status letter, action: the §5 status policy of each LOB (contract overrides)."""
    rows = []
    for lob, t in terms.items():
        policy = dict(DEFAULT_POLICY)
        if lob in MEDICARE_LOBS:
            policy.update(MEDICARE_POLICY)
        policy.update({k: v.split(":")[0] for k, v in dict(t.status_policy).items()})
        rows += [(lob, letter, policy.get(letter, "gap_fill")) for letter in STATUS_LETTERS]
    return pl.DataFrame(rows, schema={"lob": pl.String, "status": pl.String,
                                      "action": pl.String}, orient="row")


def gap_fill_frame(terms: dict) -> pl.DataFrame | None:
    """The contract's gap-fill rows of every LOB, in file order (None when there are none)."""
    gf = []
    for lob, t in terms.items():
        if t.gap_fill is not None and t.gap_fill.height:
            gf.append(t.gap_fill.with_row_index("gf_order").select(
                pl.lit(lob).alias("lob"), "hcpcs",
                pl.col("modifier").fill_null("").alias("gf_mod"),
                pl.col("effective_from").alias("gf_from"),
                pl.col("effective_to").alias("gf_to"),
                pl.col("fee").cast(pl.Int64).alias("gf_fee"),
                pl.col("gf_order").cast(pl.Int64)))
    return pl.concat(gf) if gf else None


_CACHE: dict = {}


def reference_frames(schedules, contract) -> ReferenceFrames:
    key = (id(schedules), contract.sha256())
    refuse_later_terms(contract)
    ref = _CACHE.get(key)
    if ref is None or ref[0] is not schedules:
        _CACHE.clear()
        ref = (schedules, ReferenceFrames(schedules, contract))
        _CACHE[key] = ref
    return ref[1]


# ---------------------------------------------------------------------------------------------
# lines

def _vintage_expr(dos: pl.Expr, ranges: list[tuple[dt.date, dt.date | None]]) -> pl.Expr:
    """Index of the vintage whose dates hold the DOS (the latest-starting one), else null."""
    expr = None
    for i in sorted(range(len(ranges)), key=lambda i: ranges[i][0], reverse=True):
        f, t = ranges[i]
        cond = dos >= pl.lit(f) if t is None else dos.is_between(pl.lit(f), pl.lit(t))
        expr = pl.when(cond).then(pl.lit(i, pl.Int32)) if expr is None \
            else expr.when(cond).then(pl.lit(i, pl.Int32))
    return pl.lit(None, pl.Int32) if expr is None else expr.otherwise(pl.lit(None, pl.Int32))


def _text(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String).str.strip_chars()


def _cents(name: str, dtype) -> pl.Expr:
    """Exact cents of a money column (Decimal, integer or text)."""
    c = pl.col(name)
    if isinstance(dtype, pl.Decimal):
        scale = dtype.scale
        phys = c.to_physical()
        if scale <= 2:
            return (phys * 10 ** (2 - scale)).cast(pl.Int64)
        # more than 2 places: only whole cents are valid (others are rejected below)
        return pl.when(phys % 10 ** (scale - 2) == 0).then(
            (phys // 10 ** (scale - 2)).cast(pl.Int64))
    if dtype.is_integer():
        return c.cast(pl.Int64) * 100
    if dtype.is_float():
        return pl.when((c * 100).round(0) == c * 100).then((c * 100).round(0).cast(pl.Int64))
    return _cents_text(c)


def _cents_text(c: pl.Expr) -> pl.Expr:
    d = c.cast(pl.String).str.strip_chars().cast(pl.Decimal(38, 10), strict=False)
    return pl.when(d * 100 == (d * 100).cast(pl.Int64)).then((d * 100).cast(pl.Int64))


def _lines(frame: pl.LazyFrame, schema: pl.Schema, late_days: int) -> pl.LazyFrame:
    """Normalised claim lines with a validity mask (rule book §4, typed inputs)."""
    missing_text = [pl.lit(None, pl.String).alias(c) for c in OPTIONAL_TEXT if c not in schema]
    missing_other = [pl.lit(None, t).alias(c) for c, t in OPTIONAL_OTHER.items() if c not in schema]
    frame = frame.with_columns(*missing_text, *missing_other)
    schema = {**dict(schema), **{c: pl.String for c in OPTIONAL_TEXT if c not in schema},
              **{c: t for c, t in OPTIONAL_OTHER.items() if c not in schema}}

    units_t = schema["units"]
    if units_t.is_integer():
        units = pl.col("units").cast(pl.Int64)
    else:
        u = pl.col("units").cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
        units = pl.when(u == u.floor()).then(u.cast(pl.Int64))
    dos = pl.col("date_of_service")
    if schema["date_of_service"] != pl.Date:
        dos = _text("date_of_service").str.to_date("%Y-%m-%d", strict=False)
    rec = pl.col("received_date")
    if schema["received_date"] != pl.Date:
        rec = _text("received_date").str.to_date("%Y-%m-%d", strict=False)
    pos_t = schema["place_of_service"]
    pos = (pl.col("place_of_service").cast(pl.Int64) if pos_t.is_integer() else
           _text("place_of_service").str.replace(r"\.0*$", "").cast(pl.Int64, strict=False))
    if schema["member_id"].is_integer():
        member_ok = pl.col("member_id").is_between(0, 99_999_999)
    else:
        member_ok = _text("member_id").str.contains(r"^\d{1,8}$")

    lines = frame.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("line_index"),
        pl.col("claim_id"),
        _text("line_of_business").str.to_lowercase().alias("lob"),
        _text("hcpcs").str.to_uppercase().alias("hcpcs"),
        *[_text(f"modifier_{k}").str.to_uppercase().alias(f"m{k}") for k in range(1, 5)],
        units.alias("units"),
        _cents("billed_charge", schema["billed_charge"]).alias("billed"),
        dos.alias("dos"),
        rec.alias("received"),
        pos.alias("pos"),
        _text("locality").replace("", None).alias("locality"),
        member_ok.alias("member_ok"),
        (pl.any_horizontal([_text(f"modifier_{k}").str.to_uppercase().is_in(POLICY_MODIFIERS)
                            .fill_null(False) for k in range(1, 5)])
         | (units == 2).fill_null(False)
         | ((rec - dos).dt.total_days() > late_days).fill_null(False)
         | _text("claim_form").str.to_lowercase().is_in(["institutional", "ub-04", "ub04", "837i"])
         .fill_null(False)).alias("policy"),
        pl.all_horizontal(
            pl.col(c).is_not_null() for c in ("claim_id", "line_number", "member_id")
        ).alias("ids_ok"),
        pl.all_horizontal(
            (_cents(c, schema[c]) >= 0) | pl.col(c).is_null() for c in COST_SHARES
        ).alias("shares_ok"),
    )
    valid = (
        pl.col("ids_ok") & pl.col("member_ok").fill_null(False) & pl.col("shares_ok")
        & pl.col("hcpcs").str.contains(r"^[0-9A-Z]{5}$").fill_null(False)
        & (pl.col("units") >= 1).fill_null(False)
        & (pl.col("billed") >= 0).fill_null(False)
        & pl.col("dos").is_not_null()
        & (pl.col("received").is_null() | (pl.col("dos") <= pl.col("received")))
        & pl.col("pos").is_between(1, 99).fill_null(False)
        & pl.col("lob").is_in(list(LOBS)).fill_null(False)
    )
    return lines.with_columns(valid.alias("valid")).drop("ids_ok", "member_ok", "shares_ok")


def price_polars(claims, contract, schedules) -> pl.DataFrame:
    """Price claims (polars frame or Parquet path): line_index, pricing_method, amounts in cents.

    ``allowed_amount`` and ``fee_schedule_amount`` (Int64 cents) are set on ``rbrvs`` lines
    that give a locality and on ``percent_of_charges`` lines, null elsewhere.
    """
    ref = reference_frames(schedules, contract)
    if isinstance(claims, (str, Path)):
        frame = pl.scan_parquet(claims)
    elif isinstance(claims, pl.DataFrame):
        frame = claims.lazy()
    else:
        frame = claims
    late = min(contract.terms(lob).timely_filing_days for lob in LOBS)
    lines = _lines(frame, frame.collect_schema(), late)
    return _price(lines, ref).collect()


def _price(lines: pl.LazyFrame, ref: ReferenceFrames) -> pl.LazyFrame:
    dos = pl.col("dos")
    mods = [pl.col(f"m{k}") for k in range(1, 5)]
    on_line = lambda m: pl.any_horizontal([(c == m).fill_null(False) for c in mods])  # noqa: E731
    lf = lines.with_columns(
        on_line("26").alias("has26"), on_line("TC").alias("hastc"), on_line("53").alias("has53"),
        pl.col("pos").is_in(list(FACILITY_POS)).fill_null(False).alias("facility"),
        _vintage_expr(dos, ref.rvu_vintages).alias("rvu_v"),
        _vintage_expr(dos, ref.gpci_vintages).alias("gpci_v"),
        _vintage_expr(dos, ref.asp_vintages).alias("asp_v"),
        _vintage_expr(dos, ref.anes_vintages).alias("anes_v"),
        _vintage_expr(dos, ref.base_vintages).alias("base_v"),
        # a given locality that names no GPCI locality rejects the line (§2)
        (pl.col("locality").is_null()
         | pl.col("locality").is_in(ref.localities["locality"].to_list())).alias("loc_ok"),
    )
    lf = lf.join(ref.lob_terms.lazy(), on="lob", how="left")
    lf = lf.join(ref.carve.lazy(), on=["lob", "hcpcs"], how="left")
    if ref.anes_base is not None:
        lf = lf.join(ref.anes_base.lazy(), on=["base_v", "hcpcs"], how="left")
    else:
        lf = lf.with_columns(pl.lit(None, pl.Boolean).alias("is_anes_code"))
    if ref.anes_cf is not None:
        lf = lf.join(ref.anes_cf.lazy(), on=["anes_v", "locality"], how="left")
    else:
        lf = lf.with_columns(pl.lit(None, pl.Int64).alias("anes_cf_cms"))
    if ref.asp is not None:
        lf = lf.join(ref.asp.lazy(), on=["asp_v", "hcpcs"], how="left")
    else:
        lf = lf.with_columns(pl.lit(None, pl.Boolean).alias("is_drug_code"))
    lf = lf.join(ref.rvu.lazy(), on=["rvu_v", "hcpcs"], how="left")
    lf = lf.join(ref.gpci.lazy(), on=["gpci_v", "locality"], how="left")
    # §11 multiple procedures (out of scope): a MULT PROC 2-7 code on a claim of several lines,
    # a therapy (5) line of several units
    lf = lf.with_columns(pl.col("policy") | (pl.col("mult2").fill_null(False)
                                             & (pl.len().over("claim_id") > 1))
                         | (pl.col("therapy").fill_null(False) & (pl.col("units") > 1))
                         # the OPPS cap of Medicare non-facility imaging (out of scope)
                         | (pl.col("hcpcs").is_in(ref.opps_codes) & pl.col("lob").is_in(MEDICARE_LOBS)
                            & ~pl.col("facility")))

    # §5: status of the row the modifiers select, else the blank row, else any row
    status = pl.coalesce(
        pl.when(pl.col("has26")).then(pl.col("st_26"))
        .when(pl.col("hastc")).then(pl.col("st_tc"))
        .when(pl.col("has53")).then(pl.col("st_53"))
        .otherwise(pl.col("st_0")),
        pl.col("st_0"), pl.col("st_26"), pl.col("st_tc"), pl.col("st_53"),
    )
    lf = lf.with_columns(status.alias("status"))
    # §11 status T (payable only alone on the claim: out of scope)
    lf = lf.with_columns(pl.col("policy") | (pl.col("status") == "T").fill_null(False))
    lf = lf.join(ref.policy.lazy(), on=["lob", "status"], how="left")

    # §6 RVU row: 26/TC when among the modifiers, 53 where CMS has one, else blank
    row = (
        pl.when(pl.col("has26") & pl.col("hastc")).then(pl.lit(None, pl.String))
        .when(pl.col("has26")).then(pl.when(pl.col("st_26").is_not_null()).then(pl.lit("26")))
        .when(pl.col("hastc")).then(pl.when(pl.col("st_tc").is_not_null()).then(pl.lit("tc")))
        .when(pl.col("has53") & pl.col("st_53").is_not_null()).then(pl.lit("53"))
        .when(pl.col("st_0").is_not_null()).then(pl.lit("0"))
        .otherwise(pl.lit(None, pl.String))
    )
    lf = lf.with_columns(row.alias("row"))

    def pick(prefix: str) -> pl.Expr:
        r = pl.col("row")
        return (pl.when(r == "0").then(pl.col(f"{prefix}_0"))
                .when(r == "26").then(pl.col(f"{prefix}_26"))
                .when(r == "tc").then(pl.col(f"{prefix}_tc"))
                .when(r == "53").then(pl.col(f"{prefix}_53")))

    pe = pl.when(pl.col("facility")).then(pick("pef")).otherwise(pick("penf"))
    lf = lf.with_columns(pick("w").alias("w"), pe.alias("pe"), pick("mp").alias("mp"))

    # gap-fill rows matching a line: dates hold the DOS, modifier blank or on the line; a row
    # with a modifier beats a blank one, then the latest effective_from, then file order
    if ref.gap_fill is not None:
        gf = ref.gap_fill.lazy()
        cand = (
            lines.select("line_index", "lob", "hcpcs", "dos", *[f"m{k}" for k in range(1, 5)])
            .join(gf, on=["lob", "hcpcs"], how="inner")
            .filter(
                (pl.col("gf_from") <= dos) & (pl.col("gf_to").is_null() | (dos <= pl.col("gf_to")))
                & ((pl.col("gf_mod") == "")
                   | pl.any_horizontal([(c == pl.col("gf_mod")).fill_null(False) for c in mods]))
            )
            .sort("line_index", pl.col("gf_mod") != "", "gf_from", "gf_order",
                  descending=[False, True, True, False])
            .group_by("line_index", maintain_order=True)
            .agg(pl.col("gf_fee").first())
            .with_columns(pl.lit(True).alias("gf_match"))
        )
        lf = lf.join(cand, on="line_index", how="left")
    else:
        lf = lf.with_columns(pl.lit(None, pl.Boolean).alias("gf_match"),
                             pl.lit(None, pl.Int64).alias("gf_fee"))

    loc_given = pl.col("locality").is_not_null()
    rvu_cf = pl.col("rvu_v").replace_strict(ref.rvu_cf, default=None, return_dtype=pl.Int64)
    cf = pl.coalesce(pl.col("lob_cf"), rvu_cf)
    carve = pl.col("is_carve").fill_null(False)
    anes_code = pl.col("is_anes_code").fill_null(False)
    # §7: an anesthesia CF exists (contract number, or the ANES file for DOS and locality)
    anes_cf_known = pl.col("lob_anes_cf").is_not_null() | pl.col("anes_cf_cms").is_not_null()
    anes_cf_unknown = (pl.col("lob_anes_cf").is_null() & pl.col("anes_v").is_not_null()
                       & ~loc_given)
    drug = pl.col("is_drug_code").fill_null(False)
    action = pl.col("action").fill_null("gap_fill")
    gpci_v = pl.col("gpci_v").is_not_null()
    gpci_row = pl.col("g_work").is_not_null()
    # GPCI for the line's locality: known when the locality is given, else only "none" is sure
    gpci_missing = ~gpci_v | (loc_given & ~gpci_row)
    gpci_unknown = gpci_v & ~loc_given
    rbrvs_ok = (action == "rbrvs") & pl.col("row").is_not_null() \
        & ((pl.col("w") + pl.col("pe") + pl.col("mp")) > 0)
    # gap-fill RVU rows need a GPCI and a CF, else the line falls to percent of charges
    gf_rvu = pl.col("gf_match").fill_null(False) & pl.col("gf_fee").is_null()
    gf_priced = pl.col("gf_match").fill_null(False) & (
        pl.col("gf_fee").is_not_null() | (~gpci_missing & cf.is_not_null()))

    method = (
        pl.when(~pl.col("valid") | ~pl.col("loc_ok")).then(pl.lit("rejected"))
        .when(pl.col("policy")).then(pl.lit("policy_out_of_scope"))
        .when(carve).then(pl.lit("carve_out"))
        .when(anes_code & anes_cf_known).then(pl.lit("anesthesia"))
        .when(anes_code & anes_cf_unknown).then(pl.lit("unresolved_location"))
        .when(drug).then(pl.lit("drug"))
        .when(action.is_in(["bundled", "deny"])).then(pl.lit("denied"))
        .when((action == "rbrvs") & pl.col("row").is_null()).then(pl.lit("denied"))
        .when(rbrvs_ok & ~gpci_missing & gpci_unknown).then(pl.lit("unresolved_location"))
        .when(rbrvs_ok & ~gpci_missing).then(pl.lit("rbrvs"))
        # the gap-fill chain (§5.6)
        .when(gf_rvu & gpci_unknown & cf.is_not_null()).then(pl.lit("unresolved_location"))
        .when(gf_priced).then(pl.lit("gap_fill"))
        .otherwise(pl.lit("percent_of_charges"))
    )
    lf = lf.with_columns(method.alias("pricing_method"))

    # §6 amounts, exact: RVU x100, GPCI x1000, CF x10000
    g_work = (pl.when((dos > pl.col("g_floor_through")).fill_null(False)
                      & pl.col("g_work_nofloor").is_not_null())
              .then(pl.col("g_work_nofloor")).otherwise(pl.col("g_work")))
    adj = pl.col("w") * g_work + pl.col("pe") * pl.col("g_pe") + pl.col("mp") * pl.col("g_mp")
    total_rvu = half_up(adj, 1000)
    per_unit = (pl.when(pl.col("lob_rounding_cms"))
                .then(half_up(adj * cf, 10_000_000))
                .otherwise(half_up(total_rvu * cf, 10_000)))
    fee = (pl.when(pl.col("pricing_method") == "rbrvs").then(per_unit * pl.col("units"))
           .when(pl.col("pricing_method") == "percent_of_charges")
           .then(half_up(pl.col("billed") * pl.col("lob_pct"), 10_000)))
    return (
        lf.with_columns(fee.alias("fee_schedule_amount"))
        .select(
            "line_index", "pricing_method",
            pl.when(pl.col("pricing_method") == "rbrvs").then(total_rvu).alias("total_rvu"),
            "fee_schedule_amount",
            pl.when(pl.col("fee_schedule_amount").is_not_null())
            .then(pl.min_horizontal("fee_schedule_amount", "billed")).alias("allowed_amount"),
        )
        .sort("line_index")
    )
