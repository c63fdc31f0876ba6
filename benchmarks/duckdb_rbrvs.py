"""A DuckDB SQL pricer for the RBRVS part and percent of charges (rule book §5, §6, §10).

The same scope and the same outputs as the polars-only implementation (``polars_rbrvs``),
written as SQL that DuckDB executes: the schedules' tables and the contract's terms are handed
to DuckDB as Arrow tables and turned into small reference tables by SQL (the RVU file pivoted
to one row per code with its blank/26/TC/53 rows side by side, GPCI by locality, ...); each
claim line is then normalised, joined with them (RVU and GPCI vintages chosen by date of
service, GPCI by locality), given its method and priced by one SQL query. Amounts are exact
BIGINT scaled units (RVU x100, GPCI x1000, CF and fractions x10000, money in cents) with
half-up rounding ``(2*n + d) // (2*d)`` (rule book §1, ``docs/decisions.md``); the products
that could leave BIGINT on absurd inputs (fee x units, billed x percentage) are HUGEINT.

Scope (as ``polars_rbrvs``): ``rbrvs`` is priced for lines that give a ``locality``,
``percent_of_charges`` for every line that reaches it; other methods get their name and a null
amount (``rejected``, ``carve_out``, ``anesthesia``, ``drug``, ``gap_fill``, ``denied``),
``unresolved_location`` where the method depends on a location the implementation does not
resolve, and ``policy_out_of_scope`` where a §11 payment policy may touch the line.

Nothing of pricer is used but ``Schedules`` tables and ``Contract`` terms (no kernel,
encoders, dense tables, ``pricer.claims`` or ``pricer.tables``). The rule constants (POS list,
default status policy, policy modifiers, ...) and the contract value scaling helper are shared
with ``polars_rbrvs`` so that both implement exactly the same scope.

Input: a polars frame (or LazyFrame), or a Parquet path that DuckDB reads itself
(``read_parquet``). With ``output`` the full result is written by DuckDB
(``COPY ... TO ... (FORMAT parquet)``). DuckDB runs with its default thread count (the
machine's cores).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from polars_rbrvs import (  # noqa: E402
    COST_SHARES, FACILITY_POS, LOBS, MEDICARE_LOBS, OPTIONAL_TEXT, POLICY_MODIFIERS, RVU_ROWS,
    _scaled, gap_fill_frame, lob_terms_frame, policy_frame, refuse_later_terms,
)

__all__ = ["price_duckdb", "reference_db"]

# what polars' str.strip_chars() removes in practice (ASCII whitespace)
_WS = "' \t\n\r\x0b\x0c'"
_INSTITUTIONAL = ("institutional", "ub-04", "ub04", "837i")
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
_OPTIONAL_OTHER = {"received_date": "DATE", **{c: "DECIMAL(18,2)" for c in COST_SHARES}}


def _lit(value) -> str:
    """A SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _in_list(values) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def _half_up(num: str, den: int) -> str:
    """round(num / den) half-up for num >= 0, in integers."""
    return f"((2 * ({num}) + {den}) // {2 * den})"


def _vintage_case(dos: str, ranges: list[tuple[dt.date, dt.date | None]]) -> str:
    """Index of the vintage whose dates hold the DOS (the latest-starting one), else NULL."""
    whens = []
    for i in sorted(range(len(ranges)), key=lambda i: ranges[i][0], reverse=True):
        f, t = ranges[i]
        cond = f"{dos} >= {_lit(f)}" if t is None else f"{dos} BETWEEN {_lit(f)} AND {_lit(t)}"
        whens.append(f"WHEN {cond} THEN {i}")
    if not whens:
        return "CAST(NULL AS INTEGER)"
    return "CAST(CASE " + " ".join(whens) + " END AS INTEGER)"


# ---------------------------------------------------------------------------------------------
# reference tables (small; built once per schedules and contract, kept in a DuckDB database)

def _with_vintage(tables, name: str) -> pl.DataFrame | None:
    """The vintages' tables stacked, with the vintage index and each row's file position."""
    parts = [t.with_row_index("ord").with_columns(pl.lit(i, pl.Int32).alias(name))
             for i, t in enumerate(tables)]
    return pl.concat(parts, how="vertical_relaxed") if parts else None


class ReferenceDB:
    """An in-memory DuckDB database holding the reference tables of one schedules + contract."""

    def __init__(self, schedules, contract):
        self.con = con = duckdb.connect(":memory:")
        v = {k: schedules.vintages(k) for k in ("rvu", "gpci", "asp", "anes_cf", "anes_base",
                                                 "oppscap")}
        self.rvu_vintages = [(x.effective_from, x.effective_to) for x in v["rvu"]]
        self.gpci_vintages = [(x.effective_from, x.effective_to) for x in v["gpci"]]
        self.asp_vintages = [(x.effective_from, x.effective_to) for x in v["asp"]]
        self.anes_vintages = [(x.effective_from, x.effective_to) for x in v["anes_cf"]]
        self.base_vintages = [(x.effective_from, None) for x in v["anes_base"]]

        def load(name: str, frame: pl.DataFrame | None, sql: str, empty: str) -> None:
            if frame is None:
                con.execute(f"CREATE TABLE {name} AS {empty}")
                return
            con.register("raw", frame.to_arrow())
            con.execute(f"CREATE TABLE {name} AS {sql}")
            con.unregister("raw")

        # RVU: one row per (vintage, hcpcs), the 4 rows (blank, 26, TC, 53) side by side; the
        # last row of the file wins where a (code, modifier) repeats
        aggs = []
        for mod, sfx in RVU_ROWS.items():
            sel = f"FILTER (WHERE modifier = {_lit(mod)})"
            aggs.append(f"last(st ORDER BY ord) {sel} AS st_{sfx}")
            for col, pre in (("work_rvu", "w"), ("pe_nonfacility_rvu", "penf"),
                             ("pe_facility_rvu", "pef"), ("mp_rvu", "mp")):
                aggs.append(f"coalesce(last({col} ORDER BY ord) {sel}, 0) AS {pre}_{sfx}")
        rvu = _with_vintage([x.table for x in v["rvu"]], "rvu_v")
        empty_rvu = ("SELECT CAST(NULL AS INTEGER) AS rvu_v, CAST(NULL AS VARCHAR) AS hcpcs, "
                     + ", ".join(f"CAST(NULL AS VARCHAR) AS st_{s}, CAST(NULL AS BIGINT) AS w_{s}, "
                                 f"CAST(NULL AS BIGINT) AS penf_{s}, "
                                 f"CAST(NULL AS BIGINT) AS pef_{s}, CAST(NULL AS BIGINT) AS mp_{s}"
                                 for s in RVU_ROWS.values())
                     + ", FALSE AS mult2, FALSE AS therapy WHERE FALSE")
        load("rvu", rvu, f"""
            SELECT rvu_v, hcpcs, {", ".join(aggs)},
                   coalesce(bool_or(mult_proc BETWEEN 2 AND 7), FALSE) AS mult2,
                   coalesce(bool_or(mult_proc = 5), FALSE) AS therapy
            FROM (SELECT *, nullif(left(trim(status, {_WS}), 1), '') AS st FROM raw)
            GROUP BY rvu_v, hcpcs""", empty_rvu)
        # the CMS CF of each RVU vintage (x10000; CMS prints one CF on every row)
        self.rvu_cf = {i: x.table["conversion_factor"].max() for i, x in enumerate(v["rvu"])}

        # GPCI by (vintage, locality), with the date the work floor ends; last row wins
        gpci = _with_vintage([x.table.with_columns(
            pl.lit(x.work_floor_through, pl.Date).alias("g_floor_through")) for x in v["gpci"]],
            "gpci_v")
        load("gpci", gpci, """
            SELECT gpci_v, locality, work_gpci AS g_work, work_gpci_no_floor AS g_work_nofloor,
                   pe_gpci AS g_pe, mp_gpci AS g_mp, g_floor_through
            FROM raw QUALIFY row_number() OVER (PARTITION BY gpci_v, locality
                                                ORDER BY ord DESC) = 1""",
             "SELECT CAST(NULL AS INTEGER) AS gpci_v, CAST(NULL AS VARCHAR) AS locality, "
             "CAST(NULL AS BIGINT) AS g_work, CAST(NULL AS BIGINT) AS g_work_nofloor, "
             "CAST(NULL AS BIGINT) AS g_pe, CAST(NULL AS BIGINT) AS g_mp, "
             "CAST(NULL AS DATE) AS g_floor_through WHERE FALSE")
        load("anes_cf", _with_vintage([x.table for x in v["anes_cf"]], "anes_v"), """
            SELECT anes_v, locality, anesthesia_cf AS anes_cf_cms FROM raw
            QUALIFY row_number() OVER (PARTITION BY anes_v, locality ORDER BY ord DESC) = 1""",
             "SELECT CAST(NULL AS INTEGER) AS anes_v, CAST(NULL AS VARCHAR) AS locality, "
             "CAST(NULL AS BIGINT) AS anes_cf_cms WHERE FALSE")
        load("anes_base", _with_vintage([x.table for x in v["anes_base"]], "base_v"),
             "SELECT DISTINCT base_v, hcpcs, TRUE AS is_anes_code FROM raw",
             "SELECT CAST(NULL AS INTEGER) AS base_v, CAST(NULL AS VARCHAR) AS hcpcs, "
             "TRUE AS is_anes_code WHERE FALSE")
        load("asp", _with_vintage([x.table for x in v["asp"]], "asp_v"),
             "SELECT DISTINCT asp_v, hcpcs, TRUE AS is_drug_code FROM raw "
             "WHERE payment_limit IS NOT NULL",
             "SELECT CAST(NULL AS INTEGER) AS asp_v, CAST(NULL AS VARCHAR) AS hcpcs, "
             "TRUE AS is_drug_code WHERE FALSE")
        # any code of an OPPSCAP file (Medicare non-facility lines of them are out of scope)
        load("opps", _with_vintage([x.table for x in v["oppscap"]], "opps_v"),
             "SELECT DISTINCT hcpcs FROM raw",
             "SELECT CAST(NULL AS VARCHAR) AS hcpcs WHERE FALSE")
        load("localities", pl.DataFrame({"locality": schedules.localities()},
                                        schema={"locality": pl.String}),
             "SELECT DISTINCT locality FROM raw", "")

        # contract terms per LOB
        terms = {lob: contract.terms(lob) for lob in LOBS}
        load("lob_terms", lob_terms_frame(terms), "SELECT * FROM raw", "")
        load("carve", pl.DataFrame(
            [(lob, c.hcpcs) for lob, t in terms.items() for c in t.carve_outs],
            schema={"lob": pl.String, "hcpcs": pl.String}, orient="row"),
            "SELECT DISTINCT lob, hcpcs, TRUE AS is_carve FROM raw", "")
        load("policy", policy_frame(terms), "SELECT * FROM raw", "")
        load("gap_fill", gap_fill_frame(terms), "SELECT * FROM raw",
             "SELECT CAST(NULL AS VARCHAR) AS lob, CAST(NULL AS VARCHAR) AS hcpcs, "
             "CAST(NULL AS VARCHAR) AS gf_mod, CAST(NULL AS DATE) AS gf_from, "
             "CAST(NULL AS DATE) AS gf_to, CAST(NULL AS BIGINT) AS gf_fee, "
             "CAST(NULL AS BIGINT) AS gf_order WHERE FALSE")
        # one row per (LOB, code): its gap-fill rows, best first (a row with a modifier beats
        # a blank one, then the latest effective_from, then file order)
        con.execute("""
            CREATE TABLE gap_fill_keys AS
            SELECT lob, hcpcs,
                   list({'gf_mod': gf_mod, 'gf_from': gf_from, 'gf_to': gf_to, 'gf_fee': gf_fee}
                        ORDER BY (gf_mod <> '') DESC, gf_from DESC, gf_order) AS gf_rows
            FROM gap_fill GROUP BY lob, hcpcs""")
        self.late_days = min(t.timely_filing_days for t in terms.values())


_CACHE: dict = {}


def reference_db(schedules, contract) -> ReferenceDB:
    key = (id(schedules), contract.sha256())
    refuse_later_terms(contract)
    ref = _CACHE.get(key)
    if ref is None or ref[0] is not schedules:
        for _, old in _CACHE.values():
            old.con.close()
        _CACHE.clear()
        ref = (schedules, ReferenceDB(schedules, contract))
        _CACHE[key] = ref
    return ref[1]


# ---------------------------------------------------------------------------------------------
# lines: one SQL query

def _text(col: str) -> str:
    return f"trim(CAST({col} AS VARCHAR), {_WS})"


def _date(col: str, typ: str) -> str:
    if typ == "DATE":
        return col
    if typ.startswith("TIMESTAMP"):
        return f"CAST({col} AS DATE)"   # a typed datetime counts as its date
    return f"CAST(try_strptime({_text(col)}, '%Y-%m-%d') AS DATE)"


def _cents(col: str, typ: str) -> str:
    """Exact cents of a money column (DECIMAL, integer, float or text) as BIGINT, NULL when
    not a number or not whole cents."""
    if typ.startswith("DECIMAL"):
        scale = int(typ.split(",")[1].rstrip(") "))
        if scale <= 2:
            return f"CAST({col} * 100 AS BIGINT)"
        return (f"CASE WHEN {col} * 100 = floor({col} * 100) "
                f"THEN CAST({col} * 100 AS BIGINT) END")
    if typ in _INTEGER_TYPES:
        return f"(CAST({col} AS BIGINT) * 100)"
    if typ in _FLOAT_TYPES:
        return (f"CASE WHEN round({col} * 100) = {col} * 100 "
                f"THEN TRY_CAST(round({col} * 100) AS BIGINT) END")
    d = f"TRY_CAST({_text(col)} AS DECIMAL(38, 10))"
    return f"CASE WHEN {d} * 100 = floor({d} * 100) THEN TRY_CAST({d} * 100 AS BIGINT) END"


def _whole_cents(typ: str) -> bool:
    """A column type whose every value is whole cents (its sign is the sign of its cents)."""
    return typ in _INTEGER_TYPES or (typ.startswith("DECIMAL")
                                     and int(typ.split(",")[1].rstrip(") ")) <= 2)


def _lines_sql(source: str, types: dict[str, str], late_days: int) -> str:
    """Normalised claim lines with a validity mask (rule book §4, typed inputs)."""
    col = {}
    for c in OPTIONAL_TEXT:
        col[c] = c if c in types else "CAST(NULL AS VARCHAR)"
    for c, t in _OPTIONAL_OTHER.items():
        col[c] = c if c in types else f"CAST(NULL AS {t})"
    types = {**{c: "VARCHAR" for c in OPTIONAL_TEXT}, **_OPTIONAL_OTHER, **types}

    if types["units"] in _INTEGER_TYPES:
        units = "CAST(units AS BIGINT)"
    else:
        u = f"TRY_CAST({_text('units')} AS DOUBLE)"
        units = f"CASE WHEN {u} = floor({u}) THEN TRY_CAST({u} AS BIGINT) END"
    if types["place_of_service"] in _INTEGER_TYPES:
        pos = "CAST(place_of_service AS BIGINT)"
    else:
        # an integer, with ".0..." allowed after it (POS 2.0 means 02)
        p = _text("place_of_service")
        pos = (f"CASE WHEN regexp_full_match({p}, '[+-]?[0-9]+(\\.0*)?') "
               f"THEN TRY_CAST(split_part({p}, '.', 1) AS BIGINT) END")
    if types["member_id"] in _INTEGER_TYPES:
        member_ok = "(member_id BETWEEN 0 AND 99999999)"
    else:
        member_ok = f"regexp_full_match({_text('member_id')}, '[0-9]{{1,8}}')"
    mods = [f"upper({_text(col[f'modifier_{k}'])})" for k in range(1, 5)]
    shares_ok = " AND ".join(
        f"({col[c]} >= 0 OR {col[c]} IS NULL)" if _whole_cents(types[c]) else
        f"(({_cents(col[c], types[c])}) >= 0 OR {col[c]} IS NULL)" for c in COST_SHARES)
    normalised = f"""
        SELECT line_index, claim_id,
               lower({_text('line_of_business')}) AS lob,
               upper({_text('hcpcs')}) AS hcpcs,
               {", ".join(f"{m} AS m{k}" for k, m in enumerate(mods, start=1))},
               {units} AS units,
               {_cents('billed_charge', types['billed_charge'])} AS billed,
               {_date('date_of_service', types['date_of_service'])} AS dos,
               {_date(col['received_date'], types['received_date'])} AS received,
               {pos} AS pos,
               nullif({_text(col['locality'])}, '') AS locality,
               {member_ok} AS member_ok,
               lower({_text(col['claim_form'])}) AS claim_form,
               (claim_id IS NOT NULL AND line_number IS NOT NULL AND member_id IS NOT NULL)
                   AS ids_ok,
               ({shares_ok}) AS shares_ok
        FROM {source}"""
    policy_mods = _in_list(POLICY_MODIFIERS)
    return f"""
        SELECT line_index, claim_id, lob, hcpcs, m1, m2, m3, m4, units, billed, dos, received,
               pos, locality,
               ({" OR ".join(f"coalesce(m{k} IN {policy_mods}, FALSE)" for k in range(1, 5))}
                OR coalesce(units = 2, FALSE)
                OR coalesce(received - dos > {late_days}, FALSE)
                OR coalesce(claim_form IN {_in_list(_INSTITUTIONAL)}, FALSE)) AS policy0,
               (ids_ok AND coalesce(member_ok, FALSE) AND shares_ok
                AND coalesce(regexp_full_match(hcpcs, '[0-9A-Z]{{5}}'), FALSE)
                AND coalesce(units >= 1, FALSE)
                AND coalesce(billed >= 0, FALSE)
                AND dos IS NOT NULL
                AND (received IS NULL OR dos <= received)
                AND coalesce(pos BETWEEN 1 AND 99, FALSE)
                AND coalesce(lob IN {_in_list(LOBS)}, FALSE)) AS valid
        FROM ({normalised})"""


def _price_sql(source: str, lines: str, ref: ReferenceDB) -> str:
    def pick(prefix: str) -> str:
        return (f"CASE rvu_row WHEN '0' THEN {prefix}_0 WHEN '26' THEN {prefix}_26 "
                f"WHEN 'tc' THEN {prefix}_tc WHEN '53' THEN {prefix}_53 END")

    on_line = lambda m: "(" + " OR ".join(  # noqa: E731
        f"coalesce(l.m{k} = '{m}', FALSE)" for k in range(1, 5)) + ")"
    rvu_cf = ("CAST(CASE rvu_v " + " ".join(f"WHEN {i} THEN {cf}" for i, cf in ref.rvu_cf.items()
                                           if cf is not None) + " END AS BIGINT)"
              if any(cf is not None for cf in ref.rvu_cf.values()) else "CAST(NULL AS BIGINT)")
    return f"""
    WITH lines AS ({lines}),
        -- lines per claim (of the raw claim_id, as given)
        claim_n AS (SELECT claim_id, count(*) AS n FROM {source} GROUP BY claim_id),
        v AS (
            SELECT l.*,
                   {on_line('26')} AS has26, {on_line('TC')} AS hastc, {on_line('53')} AS has53,
                   coalesce(l.pos IN {_in_list(FACILITY_POS)}, FALSE) AS facility,
                   {_vintage_case('l.dos', ref.rvu_vintages)} AS rvu_v,
                   {_vintage_case('l.dos', ref.gpci_vintages)} AS gpci_v,
                   {_vintage_case('l.dos', ref.asp_vintages)} AS asp_v,
                   {_vintage_case('l.dos', ref.anes_vintages)} AS anes_v,
                   {_vintage_case('l.dos', ref.base_vintages)} AS base_v
            FROM lines l),
        j AS (
            SELECT v.*,
                   -- a given locality that names no GPCI locality rejects the line (§2)
                   (v.locality IS NULL OR loc.locality IS NOT NULL) AS loc_ok,
                   t.lob_cf, t.lob_rounding_cms, t.lob_pct, t.lob_anes_cf,
                   c.is_carve, ab.is_anes_code, ac.anes_cf_cms, a.is_drug_code,
                   r.st_0, r.st_26, r.st_tc, r.st_53,
                   r.w_0, r.w_26, r.w_tc, r.w_53, r.penf_0, r.penf_26, r.penf_tc, r.penf_53,
                   r.pef_0, r.pef_26, r.pef_tc, r.pef_53, r.mp_0, r.mp_26, r.mp_tc, r.mp_53,
                   g.g_work, g.g_work_nofloor, g.g_pe, g.g_mp, g.g_floor_through,
                   gk.gf_rows,
                   -- §11 (out of scope): a MULT PROC 2-7 code on a claim of several lines, a
                   -- therapy (5) line of several units, the OPPS cap of Medicare non-facility
                   (v.policy0 OR (coalesce(r.mult2, FALSE) AND cn.n > 1)
                    OR (coalesce(r.therapy, FALSE) AND v.units > 1)
                    OR (v.hcpcs IN (SELECT hcpcs FROM opps)
                        AND v.lob IN {_in_list(MEDICARE_LOBS)} AND NOT v.facility)) AS policy1
            FROM v
            LEFT JOIN localities loc ON loc.locality = v.locality
            LEFT JOIN lob_terms t ON t.lob = v.lob
            LEFT JOIN carve c ON c.lob = v.lob AND c.hcpcs = v.hcpcs
            LEFT JOIN anes_base ab ON ab.base_v = v.base_v AND ab.hcpcs = v.hcpcs
            LEFT JOIN anes_cf ac ON ac.anes_v = v.anes_v AND ac.locality = v.locality
            LEFT JOIN asp a ON a.asp_v = v.asp_v AND a.hcpcs = v.hcpcs
            LEFT JOIN rvu r ON r.rvu_v = v.rvu_v AND r.hcpcs = v.hcpcs
            LEFT JOIN gpci g ON g.gpci_v = v.gpci_v AND g.locality = v.locality
            LEFT JOIN claim_n cn ON cn.claim_id = v.claim_id
            LEFT JOIN gap_fill_keys gk ON gk.lob = v.lob AND gk.hcpcs = v.hcpcs),
        s AS (
            -- §5: status of the row the modifiers select, else the blank row, else any row
            SELECT j.*,
                   coalesce(CASE WHEN has26 THEN st_26 WHEN hastc THEN st_tc
                                 WHEN has53 THEN st_53 ELSE st_0 END,
                            st_0, st_26, st_tc, st_53) AS status,
                   -- §6 RVU row: 26/TC when among the modifiers, 53 where CMS has one, else
                   -- blank
                   CASE WHEN has26 AND hastc THEN NULL
                        WHEN has26 THEN CASE WHEN st_26 IS NOT NULL THEN '26' END
                        WHEN hastc THEN CASE WHEN st_tc IS NOT NULL THEN 'tc' END
                        WHEN has53 AND st_53 IS NOT NULL THEN '53'
                        WHEN st_0 IS NOT NULL THEN '0' END AS rvu_row
            FROM j),
        p AS (
            SELECT s.*,
                   -- §11 status T (payable only alone on the claim): out of scope
                   (policy1 OR coalesce(s.status = 'T', FALSE)) AS policy,
                   coalesce(pol.action, 'gap_fill') AS action,
                   {pick('w')} AS w,
                   CASE WHEN facility THEN {pick('pef')} ELSE {pick('penf')} END AS pe,
                   {pick('mp')} AS mp,
                   coalesce(lob_cf, {rvu_cf}) AS cf,
                   -- gap-fill rows of the code (best first) that match the line: dates hold
                   -- the DOS, modifier blank or on the line
                   list_filter(gf_rows, lambda r: r.gf_from <= dos
                               AND (r.gf_to IS NULL OR dos <= r.gf_to)
                               AND (r.gf_mod = '' OR coalesce(m1 = r.gf_mod, FALSE)
                                    OR coalesce(m2 = r.gf_mod, FALSE)
                                    OR coalesce(m3 = r.gf_mod, FALSE)
                                    OR coalesce(m4 = r.gf_mod, FALSE)))[1] AS gf_best
            FROM s
            LEFT JOIN policy pol ON pol.lob = s.lob AND pol.status = s.status),
        f AS (
            SELECT p.*,
                   locality IS NOT NULL AS loc_given,
                   NOT (gpci_v IS NOT NULL) OR (locality IS NOT NULL AND g_work IS NULL)
                       AS gpci_missing,
                   gpci_v IS NOT NULL AND locality IS NULL AS gpci_unknown,
                   action = 'rbrvs' AND rvu_row IS NOT NULL AND (w + pe + mp) > 0 AS rbrvs_ok,
                   gf_best IS NOT NULL AS gf_match,
                   gf_best.gf_fee AS gf_fee
            FROM p),
        f2 AS (SELECT f.*, gf_match AND gf_fee IS NULL AS gf_rvu FROM f),
        m AS (
            SELECT line_index, units, billed, lob_pct, lob_rounding_cms, cf,
                   w, pe, mp, g_pe, g_mp,
                   CASE WHEN coalesce(dos > g_floor_through, FALSE) AND g_work_nofloor IS NOT NULL
                        THEN g_work_nofloor ELSE g_work END AS g_work_dos,
                   CASE
                     WHEN NOT valid OR NOT loc_ok THEN 'rejected'
                     WHEN policy THEN 'policy_out_of_scope'
                     WHEN coalesce(is_carve, FALSE) THEN 'carve_out'
                     WHEN coalesce(is_anes_code, FALSE)
                          AND (lob_anes_cf IS NOT NULL OR anes_cf_cms IS NOT NULL)
                       THEN 'anesthesia'
                     WHEN coalesce(is_anes_code, FALSE)
                          AND lob_anes_cf IS NULL AND anes_v IS NOT NULL AND NOT loc_given
                       THEN 'unresolved_location'
                     WHEN coalesce(is_drug_code, FALSE) THEN 'drug'
                     WHEN action IN ('bundled', 'deny') THEN 'denied'
                     WHEN action = 'rbrvs' AND rvu_row IS NULL THEN 'denied'
                     WHEN rbrvs_ok AND NOT gpci_missing AND gpci_unknown
                       THEN 'unresolved_location'
                     WHEN rbrvs_ok AND NOT gpci_missing THEN 'rbrvs'
                     -- the gap-fill chain (§5.6)
                     WHEN gf_rvu AND gpci_unknown AND cf IS NOT NULL THEN 'unresolved_location'
                     WHEN gf_match
                          AND (gf_fee IS NOT NULL OR (NOT gpci_missing AND cf IS NOT NULL))
                       THEN 'gap_fill'
                     ELSE 'percent_of_charges'
                   END AS pricing_method
            FROM f2),
        a AS (
            -- §6 amounts, exact: RVU x100, GPCI x1000, CF x10000
            SELECT line_index, pricing_method, billed, units, lob_pct, lob_rounding_cms, cf,
                   w * g_work_dos + pe * g_pe + mp * g_mp AS adj
            FROM m),
        fee AS (
            SELECT line_index, pricing_method, billed,
                   {_half_up('adj', 1000)} AS total_rvu,
                   CASE pricing_method
                     WHEN 'rbrvs' THEN TRY_CAST(
                       CAST(CASE WHEN lob_rounding_cms THEN {_half_up('adj * cf', 10_000_000)}
                                 ELSE {_half_up(_half_up('adj', 1000) + ' * cf', 10_000)} END
                            AS HUGEINT) * units AS BIGINT)
                     WHEN 'percent_of_charges'
                       THEN TRY_CAST({_half_up('CAST(billed AS HUGEINT) * lob_pct', 10_000)}
                                     AS BIGINT)
                   END AS fee_schedule_amount
            FROM a)
    SELECT CAST(line_index AS UINTEGER) AS line_index, pricing_method,
           CASE WHEN pricing_method = 'rbrvs' THEN total_rvu END AS total_rvu,
           fee_schedule_amount,
           CASE WHEN fee_schedule_amount IS NOT NULL THEN least(fee_schedule_amount, billed)
           END AS allowed_amount
    FROM fee
    ORDER BY line_index"""


def _source(con, claims) -> tuple[str, dict[str, str], list[str]]:
    """The claims as a DuckDB relation with ``line_index``; its column types; registrations."""
    if isinstance(claims, (str, Path)):
        path = _lit(str(claims))
        source = (f"(SELECT *, file_row_number AS line_index "
                  f"FROM read_parquet({path}, file_row_number = true))")
        registered = []
    else:
        if isinstance(claims, pl.LazyFrame):
            claims = claims.collect()
        con.register("claims_in", claims.with_row_index("line_index").to_arrow())
        source = "claims_in"
        registered = ["claims_in"]
    types = {name: typ for name, typ, *_ in
             con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    return source, types, registered


def price_duckdb(claims, contract, schedules, output=None, with_inputs=False) -> pl.DataFrame:
    """Price claims (polars frame or Parquet path) with DuckDB SQL: line_index,
    pricing_method, total_rvu and amounts in cents (Int64), one row per input line in input
    order. With ``output``, DuckDB writes the result there (Parquet, zstd); with
    ``with_inputs``, every input column first (the claims again, joined by position: both are
    in input order)."""
    ref = reference_db(schedules, contract)
    con = ref.con
    source, types, registered = _source(con, claims)
    try:
        sql = _price_sql(source, _lines_sql(source, types, ref.late_days), ref)
        result = con.sql(sql).to_arrow_table()
        if output is not None:
            con.register("priced_out", result)
            registered.append("priced_out")
            added = ", file_row_number" if "file_row_number" in types else ""
            written = (f"(SELECT s.* EXCLUDE (line_index{added}), p.* EXCLUDE (line_index) "
                       f"FROM {source} s POSITIONAL JOIN priced_out p)") if with_inputs \
                else "priced_out"
            con.execute(f"COPY {written} TO {_lit(str(output))} "
                        "(FORMAT parquet, COMPRESSION zstd)")
    finally:
        for name in registered:
            con.unregister(name)
    return pl.from_arrow(result)
