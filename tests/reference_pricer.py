"""A slow, obviously-correct ``decimal.Decimal`` reference pricer (rule book §1-§10, §12).

The engine proper prices in scaled 64-bit integers; this module prices the same lines one at a
time in plain Python with exact decimals, so that the two, written apart from each other, can
be compared to the cent on every line. It is written from the rule book
(``shared/spec/pricing-rules.md``), the interface page (``shared/spec/interfaces.md``) and the
decisions page (``docs/decisions.md``) only: it does not import or read the engine's modules
(``pricer.engine``, ``pricer.claims``, ``pricer.tables``, ``pricer.pricing_nb``,
``pricer.columns_nb``). It uses the shared reference tables (``pricer.schedules``), the
contract (``pricer.contract``) and the money helpers (``pricer.money``). Of §11 (payment
policies and claim edits) it implements timely filing, the E&M facility-charge rule, the
review flags of a line, the surgery modifiers (bilateral 50 / two units, assistant at surgery
80/81/82/AS, co-surgeons 62, team surgery 66), the Medicare OPPS cap and the MUE, and at claim
level the high-dollar claim flag, status T, RT/LT bilateral pairs and multiple procedures of
MULT PROC 2-7: 2 (ranking by fee, 50 % from the second), 3 (endoscopy families of one ENDO
BASE, one procedure in the indicator-2 ranking), 4 (diagnostic imaging: 50 % of the technical
and 5 % of the professional part from the second of a DIAGNOSTIC IMAGING FAMILY), 5 (therapy:
50 % of the PE of every unit but the first), 6 and 7 (25 % / 20 % of the technical part from
the second). Indicators 3-7 price a line's parts (PC, TC, PE per unit, base amount) the way
the line was priced (``_Pricer.session_procedures`` and the helpers after it).

Contract terms of docs/contract.md ("Carve-outs", "Methods", "Terms by date", "Conversion
factor by locality"), read from that page and not from the engine:

- Rates by date of service (``_rates_at``): a LOB's own keys before its first period, then
  each period from its ``effective_from`` on changes the keys it gives. Every conversion
  factor, rounding mode, percent of charges, anesthesia CF and drug percentage is read from
  the rates in force on the line's DOS; a CF (and an anesthesia CF) listed for the line's
  locality wins over the LOB's.
- Carve-outs (``_covers``): the first entry of the list that covers the line (code or list of
  codes, a range of codes of the same shape, a modifier on the line, the dates) wins; ``fee``
  x units, ``percent_of_charges`` of the billed charge, or ``percent_of_medicare``.
- Methods: ``rbrvs`` (the rule book's chain), ``percent_of_charges`` (every line not carved out
  at the LOB's percent of charges) and ``percent_of_medicare``: the line (the LOB's method, or
  a ``percent_of_medicare`` carve-out) is priced exactly as the contract's ``medicare`` LOB
  prices it, with that LOB's terms (MUE, carve-outs, rates, chain, OPPS cap, status policy),
  and takes part in the claim-level policies (status T, RT/LT pairs, multiple procedures) as
  the Medicare line it is; after them its fee schedule amount is multiplied by the
  percentage and rounded half-up to the cent once (``_Pricer.apply_percent_of_medicare``).
  Lower of charges and cost share then follow with the line's own LOB.

Member cost share of docs/cost_share.md (benefit plans, accumulators, coordination of
benefits, Medicare sequestration), read from that page and not from the engine (``pricer.plans``
is not imported either: the plans file is read here with ``tomllib``): the section "Member cost
share" below (``_Plans``, ``_CostShare``).

    lines, adjustments = reference_price(claims, contract=None, schedules=None)
    lines, adjustments, balances = reference_price(claims, ..., plans=..., accumulators=...)

``lines`` has one dict per input row, in input order; ``adjustments`` one dict per X12 835
adjustment row (claim_id, line_number, group_code, carc, amount, step); ``balances`` (only
when ``plans`` or ``accumulators`` is given) one dict per member, plan and plan year
(docs/cost_share.md "Accumulator balances").

Choices the rule book and the decisions page leave open are marked "OPEN:" below.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation, localcontext

import polars as pl

from pricer.money import (
    ASP_SCALE,
    CENTS,
    CF_SCALE,
    GPCI_SCALE,
    RVU_SCALE,
    from_scaled,
    round_half_up,
)

# ---------------------------------------------------------------------------------------------
# Vocabulary of the rule book

REQUIRED_COLUMNS = (  # §3, in the order the rule book lists them (= order of `_missing` checks)
    "claim_id", "line_number", "member_id", "line_of_business", "date_of_service", "hcpcs",
    "units", "billed_charge", "place_of_service",
)
LOBS = ("commercial", "medicare", "medicare_cost", "medicaid", "other")
MEDICARE_LOBS = ("medicare", "medicare_cost")
MODIFIER_COLUMNS = ("modifier_1", "modifier_2", "modifier_3", "modifier_4")
# §4 step 9 / decisions "Validation" 9, in this order.
MONEY_COLUMNS = ("billed_charge", "deductible", "copay", "coinsurance", "other_payer_paid")

# §6: PE RVU of the facility column for these places of service, non-facility for every other.
FACILITY_POS = frozenset({
    "02", "19", "21", "22", "23", "24", "26", "31", "34", "41", "42", "51", "52", "53", "56", "61",
})

# §7: anesthesia payment modifiers -> share of the fee.
ANESTHESIA_PAYMENT_MODIFIERS = {
    "AA": Decimal(1), "QZ": Decimal(1), "AD": Decimal(1),
    "QK": Decimal("0.5"), "QX": Decimal("0.5"), "QY": Decimal("0.5"),
}
PHYSICAL_STATUS_MODIFIERS = ("P1", "P2", "P3", "P4", "P5", "P6")
ANESTHESIA_MAX_MINUTES = 1440
AD_BASE_UNITS = Decimal(3)

# §2: the rule book's date for the end of the 1.0 work-GPCI floor, used only when a GPCI vintage
# does not say (Vintage.work_floor_through is None).
RULE_BOOK_WORK_FLOOR_THROUGH = dt.date(2026, 1, 31)

_HCPCS_RE = re.compile(r"^[0-9A-Z]{5}$")
_MODIFIER_RE = re.compile(r"^[0-9A-Z]{2}$")
_MEMBER_ID_RE = re.compile(r"^[0-9]{1,8}$")
_ISO_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_UNLISTED_CPT_RE = re.compile(r"^[0-9]{3}99$")  # CPT codes ending in 99 (17999, 64999, ...)

# §11
HIGH_DOLLAR_CLAIM = Decimal("20000.00")
HIGH_LEVEL_EM = frozenset({"99205", "99215", "99223", "99233", "99285"})
EM_FACILITY_CODES = frozenset(
    {f"{c}" for c in range(99201, 99216)} | {f"{c}" for c in range(99381, 99396)}
    | {f"{c}" for c in range(99401, 99430)} | {"99495", "99496", "99078", "G0463"})
# OPEN: the rule book names `institutional` (UB-04/837I); the form's other names are accepted.
INSTITUTIONAL_FORMS = frozenset({"institutional", "ub-04", "ub04", "837i"})

ONE_CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def default_status_policy(status: str | None, lob: str) -> str:
    """The §5 table: policy of an RVU-file status code for a line of business.

    Returns one of ``rbrvs``, ``gap_fill``, ``by_report``, ``bundled:<CARC>``, ``deny:<CARC>``
    (the vocabulary of the contract's ``status_policy``). ``status`` None = not in the file.
    """
    medicare = lob in MEDICARE_LOBS
    if status in ("A", "R", "T"):
        return "rbrvs"
    if status == "N":
        return "deny:96" if medicare else "rbrvs"
    if status == "I":
        return "deny:181" if medicare else "gap_fill"
    if status == "C":
        return "by_report"
    if status in ("B", "P"):
        return "bundled:97"
    if status == "M":
        return "bundled:246"
    # E, X, not in the file. OPEN: letters the §5 table does not name (J = anesthesia, which
    # reaches this step only when it could not be priced as anesthesia, D, F, G, H, ...) take
    # the gap-fill chain like E and X: the table's catch-all row.
    return "gap_fill"


# ---------------------------------------------------------------------------------------------
# Reading one input value (typed or text)


class _Bad(Exception):
    """A value that is given but cannot be read as what the column holds."""


def _is_missing(value) -> bool:
    """Null, blank text, or a float NaN (how pandas writes a null)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, float) and math.isnan(value):
        return True
    return False


def _text(value) -> str | None:
    """Trimmed text of a value, None when missing. Floats by their shortest repr."""
    if _is_missing(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value).strip()


def _number(value) -> Decimal:
    """The exact Decimal of a given value; raises _Bad when it is not a finite number.

    Floats are read by their shortest repr (12.345 -> Decimal('12.345')), never by their binary
    value.
    """
    if isinstance(value, bool):
        raise _Bad
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        d = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise _Bad from None
    else:
        raise _Bad
    if not d.is_finite():
        raise _Bad
    return d


def _date(value) -> dt.date:
    """A date from a typed date/datetime or ISO ``YYYY-MM-DD`` text; raises _Bad otherwise.

    OPEN: the decisions page does not list accepted text formats; §4 says ``03/15/2025`` is
    rejected, so only ISO dates are accepted. A typed datetime counts as its date.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DATE_RE.match(text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                pass
    raise _Bad


def _bool(value) -> bool:
    """``qmb``: a typed bool, or text/number read as true/false; missing -> False.

    OPEN: the decisions page does not say how a text ``qmb`` reads; true/t/yes/y/1 are true,
    anything else false.
    """
    if _is_missing(value):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return value == 1
    return str(value).strip().lower() in ("true", "t", "yes", "y", "1")


def _is_whole_cents(d: Decimal) -> bool:
    return d == d.quantize(ONE_CENT) if d.is_finite() else False


# ---------------------------------------------------------------------------------------------
# Reference tables, read once per call into plain dicts of Decimals


class _RvuRow:
    __slots__ = ("status", "work", "pe_nonfacility", "pe_facility", "mp", "conversion_factor",
                 "mult", "bilat", "asst", "co", "team", "endo_base", "imaging_family")

    def __init__(self, status, work, pe_nonfacility, pe_facility, mp, conversion_factor,
                 mult=9, bilat=9, asst=9, co=9, team=9, endo_base="", imaging_family=""):
        # §11 indicators of the RVU file; 9 (concept does not apply) when blank
        self.mult, self.bilat, self.asst, self.co, self.team = mult, bilat, asst, co, team
        # MULT PROC 3: the ENDO BASE code ("" when blank); 4: DIAGNOSTIC IMAGING FAMILY
        self.endo_base, self.imaging_family = endo_base, imaging_family
        self.status = status
        self.work = work
        self.pe_nonfacility = pe_nonfacility
        self.pe_facility = pe_facility
        self.mp = mp
        self.conversion_factor = conversion_factor


def _dec(value, scale) -> Decimal | None:
    return None if value is None else from_scaled(int(value), scale)


# Dict views of vintage tables, shared by every call: keyed by the vintage's kind, release,
# file and sha256, so a changed file is a new key.
_VIEWS: dict = {}


def _view_key(vintage) -> tuple:
    return (vintage.kind, vintage.release, str(getattr(vintage, "path", "")),
            getattr(vintage, "sha256", None))


def _view(vintage, build) -> dict:
    """The dict view ``build(vintage.table)`` of a vintage, made once."""
    key = _view_key(vintage)
    if key not in _VIEWS:
        _VIEWS[key] = build(vintage.table)
    return _VIEWS[key]


class _Tables:
    """Dict views of the schedules' vintages, and cached vintage and locality look-ups."""

    def __init__(self, schedules):
        self.schedules = schedules
        self._covering: dict = {}
        self._asp_any: set | None = None
        self._localities: set | None = None
        self._county: dict = {}
        self._zip: dict = {}

    def covering(self, kind: str, dos: dt.date):
        key = (kind, dos)
        if key not in self._covering:
            self._covering[key] = self.schedules.covering(kind, dos)
        return self._covering[key]

    # -- rvu: release -> {hcpcs: {modifier: _RvuRow}} (modifier "" = blank), in file order
    def rvu(self, vintage) -> dict:
        return _view(vintage, self._rvu_view)

    @staticmethod
    def _rvu_view(table) -> dict:
        codes: dict = {}
        cols = ["hcpcs", "modifier", "status", "work_rvu", "pe_nonfacility_rvu",
                "pe_facility_rvu", "mp_rvu", "conversion_factor", "mult_proc", "bilat_surg",
                "asst_surg", "co_surg", "team_surg", "endo_base", "diag_imaging_family"]
        for (hcpcs, mod, status, work, pe_nf, pe_f, mp, cf, mult, bilat, asst, co,
             team, endo, family) in table.select(cols).rows():
            row = _RvuRow(
                status=(status or "").strip().upper() or None,
                work=_dec(work or 0, RVU_SCALE),
                pe_nonfacility=_dec(pe_nf or 0, RVU_SCALE),
                pe_facility=_dec(pe_f or 0, RVU_SCALE),
                mp=_dec(mp or 0, RVU_SCALE),
                conversion_factor=_dec(cf, CF_SCALE),
                mult=9 if mult is None else int(mult),
                bilat=9 if bilat is None else int(bilat),
                asst=9 if asst is None else int(asst),
                co=9 if co is None else int(co),
                team=9 if team is None else int(team),
                endo_base=(endo or "").strip().upper(),
                imaging_family=(family or "").strip(),
            )
            codes.setdefault(hcpcs.strip().upper(), {}).setdefault(
                (mod or "").strip().upper(), row)
        return codes

    def cms_conversion_factor(self, vintage) -> Decimal | None:
        """The CONV FACTOR of an RVU vintage (CMS prints the same one on every row)."""
        for mods in self.rvu(vintage).values():
            for row in mods.values():
                if row.conversion_factor is not None:
                    return row.conversion_factor
        return None

    # -- gpci: release -> {locality: (work floor, work no floor | None, pe, mp)}
    def gpci(self, vintage) -> dict:
        cols = ["locality", "work_gpci", "work_gpci_no_floor", "pe_gpci", "mp_gpci"]
        return _view(vintage, lambda table: {
            loc: (_dec(w, GPCI_SCALE), _dec(wnf, GPCI_SCALE), _dec(pe, GPCI_SCALE),
                  _dec(mp, GPCI_SCALE))
            for loc, w, wnf, pe, mp in table.select(cols).rows()
        })

    def anes_cf(self, vintage) -> dict:
        return _view(vintage, lambda table: {
            loc: _dec(cf, CF_SCALE)
            for loc, cf in table.select(["locality", "anesthesia_cf"]).rows()
            if cf is not None
        })

    def anes_base(self, vintage) -> dict:
        # The anes_base table holds whole base units (pricer.cms_files.read_anes_base), not the
        # 1/10 units the decisions page's table lists for anesthesia units in the kernel.
        return _view(vintage, lambda table: {
            code.strip().upper(): Decimal(int(units))
            for code, units in table.select(["hcpcs", "base_units"]).rows()
            if units is not None
        })

    # -- asp: release -> {hcpcs: (payment limit $, coinsurance %)}; "N/A" limits are absent
    def asp(self, vintage) -> dict:
        def build(table) -> dict:
            view: dict = {}
            for code, limit, pct in table.select(
                    ["hcpcs", "payment_limit", "coinsurance_pct"]).rows():
                if limit is None:
                    continue
                # payment limit in 1/1000 $, co-insurance percentage in 1/1000 %
                view.setdefault(code.strip().upper(), (_dec(limit, ASP_SCALE), _dec(pct, 1000)))
            return view
        return _view(vintage, build)

    # -- oppscap: release -> {(hcpcs, modifier, locality): non-facility cap $}
    def oppscap(self, vintage) -> dict:
        cols = ["hcpcs", "modifier", "locality", "nonfacility_price"]
        return _view(vintage, lambda table: {
            (h, m or "", loc): _dec(cap, CENTS) for h, m, loc, cap in table.select(cols).rows()})

    def in_any_asp(self, hcpcs: str) -> bool:
        if self._asp_any is None:
            self._asp_any = set()
            for vintage in self.schedules.vintages("asp"):
                self._asp_any.update(self.asp(vintage))
        return hcpcs in self._asp_any

    # -- localities
    def known_locality(self, locality: str) -> bool:
        if self._localities is None:
            self._localities = set(self.schedules.localities())
        return locality in self._localities

    def locality_for_county(self, state: str, county: str, dos: dt.date) -> str | None:
        key = (state, county, dos)
        if key not in self._county:
            self._county[key] = self.schedules.locality_for_county(state, county, dos)
        return self._county[key]

    def locality_for_zip(self, zip_code: str, dos: dt.date) -> str | None:
        key = (zip_code, dos)
        if key not in self._zip:
            self._zip[key] = self.schedules.locality_for_zip(zip_code, dos)
        return self._zip[key]


class _GapFillRow:
    __slots__ = ("hcpcs", "modifier", "effective_from", "effective_to", "fee", "work",
                 "pe_nonfacility", "pe_facility", "mp", "source_row")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


def _gap_fill_rows(terms) -> dict:
    """{hcpcs: [_GapFillRow]} of a LOB's gap-fill table (fees in $, RVUs as Decimals)."""
    out: dict = {}
    frame = getattr(terms, "gap_fill", None)
    if frame is None:
        return out
    for r in frame.iter_rows(named=True):
        row = _GapFillRow(
            hcpcs=r["hcpcs"].strip().upper(),
            modifier=(r.get("modifier") or "").strip().upper(),
            effective_from=r["effective_from"],
            effective_to=r.get("effective_to"),
            fee=_dec(r.get("fee"), CENTS),
            work=_dec(r.get("work_rvu"), RVU_SCALE),
            pe_nonfacility=_dec(r.get("pe_rvu_nonfacility"), RVU_SCALE),
            pe_facility=_dec(r.get("pe_rvu_facility"), RVU_SCALE),
            mp=_dec(r.get("mp_rvu"), RVU_SCALE),
            source_row=r.get("source_row"),
        )
        out.setdefault(row.hcpcs, []).append(row)
    return out


def _to_decimal_or_cms(value):
    if isinstance(value, str):
        return value.strip().lower()
    return None if value is None else Decimal(str(value))


# ---------------------------------------------------------------------------------------------
# Contract terms by date, per locality, carve-outs (docs/contract.md)

# "Terms by date": the keys a period may set.
RATE_KEYS = ("method", "conversion_factor", "conversion_factor_by_locality", "rounding",
             "percent_of_charges", "percent_of_medicare", "anesthesia_conversion_factor",
             "anesthesia_conversion_factor_by_locality", "drug_percent_of_asp_limit")
# "Methods": percent_of_medicare multiplies what this LOB pays for the line.
MEDICARE_REFERENCE_LOB = "medicare"


def _rates_at(terms, dos: dt.date) -> dict:
    """The rates of a LOB in force on a date of service.

    The LOB's own keys apply before the first period; a period applies from its
    ``effective_from`` (included) until the next one starts, and starts from the rates in
    force before it, changing only the keys it gives.

    OPEN: a period that gives ``conversion_factor_by_locality`` (or the anesthesia one) gives
    the whole table: it replaces the table in force before it (a key of the rates, like any
    other), it is not merged with it locality by locality.
    """
    rates = {k: getattr(terms, k) for k in RATE_KEYS}
    for start, changes in sorted(terms.periods, key=lambda p: p[0]):
        if start <= dos:
            rates.update(changes)
    return rates


def _rate_cf(rates: dict, key: str, locality: str | None):
    """A conversion factor (``conversion_factor`` or ``anesthesia_conversion_factor``) of a
    line: the one the rates list for its locality, else the LOB's (a Decimal, or "cms")."""
    by_locality = rates[f"{key}_by_locality"] or {}
    if locality in by_locality:
        return Decimal(str(by_locality[locality]))
    return _to_decimal_or_cms(rates[key])


def _shape(code: str) -> str:
    """Digit or letter at each place: a range joins codes of one shape."""
    return "".join("9" if ch.isdigit() else "A" for ch in code)


def _covers(carve, line) -> bool:
    """Whether a carve-out covers a line: its code (a list is one entry per code), its range
    (both ends included, codes of the ends' shape between them in text order), its modifier
    among the line's modifier_1..4, and its dates (both included)."""
    if carve.hcpcs is not None and line.hcpcs != carve.hcpcs:
        return False
    if carve.hcpcs_range is not None:
        low, high = carve.hcpcs_range
        if _shape(line.hcpcs) != _shape(low) or not low <= line.hcpcs <= high:
            return False
    if carve.modifier is not None and carve.modifier not in line.modifiers:
        return False
    if carve.effective_from is not None and line.dos < carve.effective_from:
        return False
    if carve.effective_to is not None and line.dos > carve.effective_to:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# One line


class _Denied(Exception):
    """Ends the method chain of a line: it is denied (method ``denied`` or ``bundled``)."""

    def __init__(self, method: str, carc, reason: str):
        super().__init__(reason)
        self.method, self.carc, self.reason = method, carc, reason


class _Line:
    """Working state of one line while it is priced."""

    def __init__(self, row: dict):
        self.row = row
        self.flags: set[str] = set()
        self.line_status = "priced"
        self.pricing_method = None
        self.fee_schedule_amount: Decimal | None = None
        self.allowed_amount: Decimal = ZERO
        self.locality: str | None = None
        self.schedule_version: str | None = None
        self.total_rvu: Decimal | None = None
        self.conversion_factor: Decimal | None = None
        self.anesthesia_base_units: Decimal | None = None
        self.anesthesia_time_units: Decimal | None = None
        self.drug_coinsurance_pct: Decimal | None = None
        self.reason: str | None = None
        self.carc = None
        self.fee_before_reductions: Decimal | None = None  # §11: before assistant/co-surgery
        self.reduction_step: str | None = None
        self.fee_exact: Decimal | None = None  # a fee-schedule amount before its rounding
        self.units_and_share = None  # §11 bilateral: units counted and share of one side
        self.rvu_status: str | None = None  # status of an RBRVS-priced line (§11 status T)
        self.fee_before_multiple: Decimal | None = None  # §11: before multiple procedures
        # §11 MULT PROC 3-7: how an RBRVS line was priced (row, GPCIs, work-floor date, CF,
        # rounding, the code's rows), so that its parts are priced the same way
        self.rbrvs = None
        self.surgery_priced = False  # bilateral pricing, 62, 66 or 80/81/82/AS took effect
        self.claim_step = "multiple_procedure"  # or bilateral: an RT/LT pair
        self.mue_denied = ZERO  # §11: the billed charge of units over the MUE
        # the LOB whose terms price the line: its own, or the Medicare LOB for percent of
        # Medicare (the LOB's method or a carve-out), whose amount is then times ``pom``
        self.plob = None
        self.pom: Decimal | None = None
        self.pom_carve_out = False
        # parsed values
        self.member_id = None
        self.lob = None
        self.dos = None
        self.hcpcs = None
        self.units = None
        self.billed = None
        self.pos = None
        self.modifiers: list[str] = []
        self.cost_shares = {"deductible": ZERO, "copay": ZERO, "coinsurance": ZERO}
        # docs/cost_share.md
        self.shares_given = False  # any of deductible, copay, coinsurance given (not null)
        self.other_payer_paid: Decimal | None = None  # given (COB) or None
        self.plan = None  # the line's _Plan, or None
        self.family = None  # subscriber ID (normalised), else the member ID
        self.provider_type = "physician"
        # what the cost-share pass (``_CostShare``) settles; None = not settled (not priced)
        self.applied = None  # {"deductible", "copay", "coinsurance"} applied
        self.liability = ZERO
        self.paid = ZERO
        self.cob_reduction = ZERO
        self.sequestration_reduction = ZERO


class _Pricer:
    def __init__(self, contract, schedules, plans=None):
        self.contract = contract
        self.plans = plans  # _Plans or None (docs/cost_share.md)
        self.tables = _Tables(schedules)
        self._terms: dict = {}
        self._gap_fill: dict = {}
        self._mue: dict = {}

    def terms(self, lob: str):
        if lob not in self._terms:
            self._terms[lob] = self.contract.terms(lob)
            self._gap_fill[lob] = _gap_fill_rows(self._terms[lob])
            mue = self._terms[lob].mue
            self._mue[lob] = {} if mue is None else dict(mue.select("hcpcs", "max_units").rows())
        return self._terms[lob]

    # -- §4 validation ------------------------------------------------------------------------

    def validate(self, line: _Line) -> str | None:
        """The first failing check of the decisions page's list (reason), or None."""
        row = line.row

        # 0. member ID is written back normalized whenever it is valid, whatever else fails;
        #    modifiers are read (an unreadable one is ignored with a flag, never a rejection).
        member = _text(row.get("member_id"))
        member_ok = member is not None and _MEMBER_ID_RE.match(member) is not None
        line.member_id = member.zfill(8) if member_ok else member
        for col in MODIFIER_COLUMNS:
            mod = _text(row.get(col))
            if mod is None:
                continue
            mod = mod.upper()
            if _MODIFIER_RE.match(mod):
                line.modifiers.append(mod)
            else:
                # OPEN: also set on rejected lines (it is a data flag about the input).
                line.flags.add("modifier_invalid")
        # §11 review flags: like modifier_invalid, they describe the line as given
        for mod in ("22", "59"):
            if mod in line.modifiers:
                line.flags.add(f"modifier_{mod}")
        code = _text(row.get("hcpcs"))
        if code is not None and code.upper() in HIGH_LEVEL_EM:
            line.flags.add("high_level_em")

        # 1. missing required values
        for col in REQUIRED_COLUMNS:
            if _is_missing(row.get(col)):
                return f"{col}_missing"

        # 2. HCPCS
        hcpcs = _text(row["hcpcs"]).upper()
        if not _HCPCS_RE.match(hcpcs):
            return "hcpcs_invalid"
        line.hcpcs = hcpcs

        # 3. units: a number, >= 1, whole
        try:
            units = _number(row["units"])
        except _Bad:
            return "units_invalid"
        if units < 1:
            return "units_below_one"
        if units != units.to_integral_value():
            return "units_not_whole"
        line.units = int(units)

        # 4. billed charge
        try:
            billed = _number(row["billed_charge"])
        except _Bad:
            return "billed_charge_invalid"
        if billed < 0:
            return "billed_charge_negative"
        line.billed = billed

        # 5. dates
        try:
            line.dos = _date(row["date_of_service"])
        except _Bad:
            return "date_of_service_invalid"
        received = row.get("received_date")
        if not _is_missing(received):
            try:
                received = _date(received)
            except _Bad:
                return "received_date_invalid"
            if line.dos > received:
                return "dos_after_received"

        # 6. place of service: an integer 1..99 ("2", "02", "2.0" all mean "02")
        try:
            pos = _number(row["place_of_service"])
        except _Bad:
            return "place_of_service_invalid"
        if pos != pos.to_integral_value() or not (1 <= pos <= 99):
            return "place_of_service_invalid"
        line.pos = f"{int(pos):02d}"

        # 7. line of business
        lob = _text(row["line_of_business"]).lower()
        if lob not in LOBS:
            return "line_of_business_unknown"
        line.lob = lob

        # 8. member ID: 1-8 digits
        if not member_ok:
            return "member_id_invalid"

        # 9. money: whole cents; cost shares not negative.
        # OPEN: the order inside this step is column by column in the decisions page's order
        # (billed_charge, deductible, copay, coinsurance, other_payer_paid), and for each column
        # not-a-number (`<column>_invalid`), then negative, then fraction of a cent. A negative
        # other_payer_paid is rejected too (`other_payer_paid_negative`).
        for col in MONEY_COLUMNS:
            value = row.get(col)
            if _is_missing(value):
                continue
            try:
                amount = _number(value)
            except _Bad:
                return f"{col}_invalid"
            if amount < 0:
                return f"{col}_negative"
            if not _is_whole_cents(amount):
                return f"{col}_fraction_of_cent"
            if col in line.cost_shares:
                line.cost_shares[col] = amount.quantize(ONE_CENT)
                line.shares_given = True
            if col == "other_payer_paid":
                line.other_payer_paid = amount.quantize(ONE_CENT)
        line.billed = line.billed.quantize(ONE_CENT)

        # 10. location
        locality = self.resolve_locality(line)
        if locality is None:
            return "locality_invalid"
        line.locality = locality

        # 11. anesthesia minutes. OPEN: "not carved out" by the terms that price the line: a
        # percent-of-Medicare line is priced as the Medicare LOB would price it, so the
        # Medicare LOB's carve-outs count (and the line's own percent-of-Medicare carve-out
        # does not exempt it: Medicare would reject it).
        self.choose_terms(line)
        if self.anesthesia_base(line) is not None and self.carve_out(line) is None:
            if line.units > ANESTHESIA_MAX_MINUTES:
                line.flags.add("anesthesia_minutes_implausible")
                return "anesthesia_minutes_implausible"

        # 12-14. docs/cost_share.md "Claim columns": after every existing check, in this order
        return self.validate_cost_share_columns(line)

    def validate_cost_share_columns(self, line: _Line) -> str | None:
        """``plan_id_unknown``, ``subscriber_id_invalid``, ``rendering_provider_type_invalid``
        (docs/cost_share.md "Claim columns"); sets the line's plan, family and provider type."""
        row = line.row
        plan_id = _text(row.get("plan_id"))
        if plan_id is not None:
            line.plan = self.plans.find(plan_id) if self.plans is not None else None
            if line.plan is None:
                return "plan_id_unknown"
        subscriber = _text(row.get("subscriber_id"))
        if subscriber is not None:
            if not _MEMBER_ID_RE.match(subscriber):
                return "subscriber_id_invalid"
            # OPEN: a subscriber ID is normalised like a member ID (zero-filled to 8 digits),
            # so that "12345" and "00012345" are one family, and reported so in the balances.
            line.family = subscriber.zfill(8)
        else:
            line.family = line.member_id
        provider = _text(row.get("rendering_provider_type"))
        if provider is not None:
            provider = PROVIDER_TYPES.get(provider.lower())
            if provider is None:
                return "rendering_provider_type_invalid"
            line.provider_type = provider
        return None

    def resolve_locality(self, line: _Line) -> str | None:
        """§2: locality column, else state + county, else ZIP, else the contract's default."""
        row = line.row
        given = _text(row.get("locality"))
        if given is not None:
            return given if self.tables.known_locality(given) else None
        state = _text(row.get("service_state"))
        county = _text(row.get("service_county"))
        if state is not None and county is not None:
            return self.tables.locality_for_county(state, county, line.dos)
        zip_value = row.get("service_zip")
        if isinstance(zip_value, int) and not isinstance(zip_value, bool):
            zip_code = f"{zip_value:05d}"  # a typed ZIP lost its leading zeros
        else:
            zip_code = _text(zip_value)
        if zip_code is not None:
            return self.tables.locality_for_zip(zip_code, line.dos)
        return self.contract.default_locality

    # -- look-ups -----------------------------------------------------------------------------

    def carve_out(self, line: _Line, lob: str | None = None):
        """The first carve-out of a LOB's list (default: the LOB that prices the line) that
        covers the line, or None."""
        for c in self.terms(lob or line.plob).carve_outs:
            if _covers(c, line):
                return c
        return None

    def rates(self, line: _Line) -> dict:
        """The rates in force on the line's DOS for the LOB that prices it."""
        return _rates_at(self.terms(line.plob), line.dos)

    def choose_terms(self, line: _Line) -> None:
        """docs/contract.md "Methods": the LOB whose terms price the line. A carve-out of the
        line's own LOB that covers it comes first; a ``percent_of_medicare`` one, or no
        carve-out and the method ``percent_of_medicare`` in force on the DOS, sends the line
        to the contract's Medicare LOB with the percentage."""
        line.plob, line.pom, line.pom_carve_out = line.lob, None, False
        carve = self.carve_out(line, line.lob)
        if carve is not None:
            if carve.percent_of_medicare is not None:
                line.plob = MEDICARE_REFERENCE_LOB
                line.pom = Decimal(str(carve.percent_of_medicare))
                line.pom_carve_out = True
            return
        rates = _rates_at(self.terms(line.lob), line.dos)
        if rates["method"] == "percent_of_medicare":
            line.plob = MEDICARE_REFERENCE_LOB
            line.pom = Decimal(str(rates["percent_of_medicare"]))

    def anesthesia_base(self, line: _Line) -> Decimal | None:
        vintage = self.tables.covering("anes_base", line.dos)
        if vintage is None:
            return None
        return self.tables.anes_base(vintage).get(line.hcpcs)

    # -- §5 method chain ------------------------------------------------------------------------

    def policy_row(self, line: _Line):
        """The RVU row the line's modifiers select (26, TC, 53, else blank), for §11."""
        vintage = self.tables.covering("rvu", line.dos)
        rows = self.tables.rvu(vintage).get(line.hcpcs, {}) if vintage else {}
        for mod in ("26", "TC", "53"):
            if mod in line.modifiers:
                row = rows.get(mod) or rows.get("")
                break
        else:
            row = rows.get("")
        return row

    @staticmethod
    def side(line: _Line) -> str | None:
        """RT or LT when exactly one of them is on the line and modifier 50 is not."""
        sides = {m for m in line.modifiers if m in ("RT", "LT")}
        return sides.pop() if len(sides) == 1 and "50" not in line.modifiers else None

    def bilateral_pairs(self, lines: list) -> dict:
        """§11 bilateral: RT and LT of one code on two lines of one claim, date and provider,
        each one unit, priced RBRVS without another §11 adjustment, BILAT SURG 0, 1 or 2: one
        procedure. Returns {index of the first line: index of its partner}; first RT/LT line
        in input order takes the first later line of the other side."""
        pairs, used = {}, set()
        for a, la in enumerate(lines):
            if a in used or not self._pairable(la):
                continue
            for b in range(a + 1, len(lines)):
                lb = lines[b]
                if (b not in used and self._pairable(lb) and lb.hcpcs == la.hcpcs
                        and self.side(lb) not in (None, self.side(la))
                        and self._provider_key(lb) == self._provider_key(la)
                        and lb.fee_exact == la.fee_exact):
                    pairs[a] = b
                    used.update((a, b))
                    break
        return pairs

    def _pairable(self, line: _Line) -> bool:
        if (line.line_status != "priced" or line.pricing_method != "rbrvs" or line.units != 1
                or self.side(line) is None or line.reduction_step is not None
                or line.row.get("claim_id") is None):
            return False
        row = self.policy_row(line)
        return row is not None and row.bilat in (0, 1, 2)

    @staticmethod
    def _provider_key(line: _Line):
        npi = line.row.get("rendering_npi")
        return (line.row.get("claim_id"), line.dos, None if npi is None else str(npi))

    def status_t(self, lines: list) -> None:  # noqa: D401
        """§11 status T: payable only when no other payable RBRVS service (not itself T) is on
        the claim for that DOS and provider; otherwise bundled, $0, CO-97."""
        payable = {}
        for line in lines:
            if (line.line_status == "priced" and line.pricing_method == "rbrvs"
                    and line.rvu_status != "T" and line.row.get("claim_id") is not None):
                payable[self._provider_key(line)] = True
        for line in lines:
            if (line.line_status == "priced" and line.pricing_method == "rbrvs"
                    and line.rvu_status == "T" and payable.get(self._provider_key(line))):
                line.line_status, line.pricing_method = "denied", "bundled"
                line.carc, line.reason = 97, "status_t_bundled"
                line.fee_schedule_amount = None
                line.allowed_amount = ZERO
                line.schedule_version = line.total_rvu = line.conversion_factor = None
                line.fee_before_reductions = line.fee_exact = None
                line.reduction_step = None

    def multiple_procedures(self, lines: list) -> None:
        """§11 multiple procedures, per session: one claim, date of service and rendering
        provider (NPI as given; lines without one are one provider).

        MULT PROC 2 (and 3 where it ranks as 2): the fee-schedule lines (RBRVS, gap fill,
        fixed-fee carve-outs) ranked by fee schedule amount, highest first, ties in input
        order: 100 %, then 50 % (one rounding of the exact product), sixth and later also
        flagged by_report. An RT/LT pair is one procedure, and so is an endoscopy family
        (MULT PROC 3). MULT PROC 4 (imaging), 6 (cardiovascular) and 7 (ophthalmology) reduce
        the technical and professional parts of every line but the first of each ranking;
        MULT PROC 5 (therapy) half the PE of every unit but the first. Indicators 3-7 need a
        line's parts (``parts_of``); each reduction is a CO-59 multiple_procedure row.
        """
        pairs = self.bilateral_pairs(lines)
        partners = set(pairs.values())
        exact = {}  # a procedure's exact amount: a pair's is one side's x 150 % or 100 %
        for a, b in pairs.items():
            share = Decimal("1.5") if self.policy_row(lines[a]).bilat == 1 else Decimal(1)
            exact[a] = lines[a].fee_exact * share
        sessions: dict = {}  # session -> [(index, RVU row of the line's modifiers)]
        for index, line in enumerate(lines):
            row = self.policy_row(line) if line.line_status == "priced" else None
            if (index in partners or line.fee_exact is None or row is None
                    or line.row.get("claim_id") is None):
                continue
            sessions.setdefault(self._provider_key(line), []).append((index, row))
        for members in sessions.values():
            self.session_procedures(lines, members, pairs, exact)

    def session_procedures(self, lines: list, members: list, pairs: dict, exact: dict) -> None:
        """The multiple-procedure rules of one session; ``members`` in input order."""
        rows = dict(members)
        parts = {i: (i not in pairs and self.parts_of(lines[i]) is not None) for i in rows}

        # MULT PROC 3: families of one ENDO BASE (indicator-3 lines with parts + the lines of
        # the base code itself with parts) of two or more lines.
        endoscopies: dict = {}  # ENDO BASE -> indicator-3 lines with parts
        for i, row in members:
            # OPEN: an indicator-3 line whose ENDO BASE is blank, or names a code without a
            # global row in the line's RVU vintage, has no base amount: it ranks as indicator 2
            # (neither happens in the bundled files).
            if (row.mult == 3 and parts[i] and row.endo_base
                    and self.base_row(lines[i], row.endo_base) is not None):
                endoscopies.setdefault(row.endo_base, []).append(i)
        families = []
        in_family: set = set()
        for base, scopes in endoscopies.items():
            # OPEN: a line of the base code joins the family only when it has parts too (a
            # base line with 50/62/66/80-82/AS, a carve-out, ... ranks on its own as
            # indicator 2). A line that is itself an indicator-3 line is a member of its own
            # ENDO BASE's family only (no current RVU file has a base code of indicator 3).
            base_lines = [i for i, row in members
                          if parts[i] and lines[i].hcpcs == base and row.mult != 3]
            family = sorted(scopes + base_lines)
            if len(family) >= 2:
                families.append(family)
                in_family.update(family)

        # the indicator-2 ranking: (value, position, lines, endoscopy amounts or None)
        procedures = []
        for family in families:
            amounts = self.endoscopy_amounts(lines, family, rows)
            # OPEN: a family ties with another procedure of the same value at the input
            # position of its first line.
            procedures.append((sum(amounts.values()), family[0], family, amounts))
        imaging: dict = {}  # DIAGNOSTIC IMAGING FAMILY -> indicator-4 lines with parts
        therapy, cardio, ophthalmology = [], [], []
        for i, row in members:
            if i in in_family:
                continue
            if row.mult in (2, 3):  # an indicator-3 line alone or without parts ranks as 2
                procedures.append((round_half_up(exact.get(i, lines[i].fee_exact), 2), i, [i],
                                   None))
            elif i in pairs:  # a pair of another indicator: priced once, not ranked
                self.share_pair(lines[i], lines[pairs[i]], exact[i], halve=False)
            elif not parts[i]:
                continue  # 4-7 without parts: no reduction (and no place in a ranking)
            elif row.mult == 4:
                # OPEN: lines are grouped by the family value as the file gives it (88 in
                # every current file); the page does not say what a blank or 99 would mean.
                imaging.setdefault(row.imaging_family, []).append(i)
            elif row.mult == 5:
                therapy.append(i)
            elif row.mult == 6:
                cardio.append(i)
            elif row.mult == 7:
                ophthalmology.append(i)

        procedures.sort(key=lambda p: (-p[0], p[1]))
        for rank, (_, _, indexes, amounts) in enumerate(procedures, start=1):
            if rank >= 6:
                for i in indexes:
                    lines[i].flags.add("by_report")
                    if i in pairs:
                        lines[pairs[i]].flags.add("by_report")
            if amounts is not None:  # an endoscopy family
                for i in indexes:
                    amount = amounts[i] if rank == 1 else round_half_up(amounts[i] / 2, 2)
                    self.reduce(lines[i], amount)
                continue
            (i,) = indexes
            if i in pairs:
                self.share_pair(lines[i], lines[pairs[i]], exact[i], halve=rank > 1)
            elif rank > 1:
                self.reduce(lines[i], round_half_up(lines[i].fee_exact / 2, 2))

        for group in imaging.values():
            self.diagnostic(lines, group, tc_rate=Decimal("0.50"), pc_rate=Decimal("0.05"))
        self.diagnostic(lines, cardio, tc_rate=Decimal("0.25"), pc_rate=None)
        self.diagnostic(lines, ophthalmology, tc_rate=Decimal("0.20"), pc_rate=None)
        self.therapy(lines, therapy)

    def reduce(self, line: _Line, amount: Decimal) -> None:
        """A multiple-procedure reduction of a line's fee to ``amount`` (a CO-59 row)."""
        if amount == line.fee_schedule_amount:
            return
        line.fee_before_multiple = line.fee_schedule_amount
        self.lower_of_charges(line, amount)

    def share_pair(self, line: _Line, other: _Line, pair_exact: Decimal, halve: bool) -> None:
        """An RT/LT pair's amount (halved when it ranks second or later), shared in proportion
        to the charges."""
        amount = round_half_up(pair_exact / (2 if halve else 1), 2)
        both = line.billed + other.billed
        first = round_half_up(amount * line.billed / both, 2) if both > 0 else amount
        for ln, fee in ((line, first), (other, amount - first)):
            # a share above the line's own fee is not a reduction: no row for it
            ln.fee_before_multiple = max(ln.fee_schedule_amount, fee)
            ln.fee_before_reductions = max(ln.fee_before_reductions, fee)
            ln.claim_step = "bilateral"
            self.lower_of_charges(ln, fee)

    # -- §11 MULT PROC 3-7: the parts of a line ------------------------------------------------

    def parts_of(self, line: _Line):
        """(row, GPCIs, work-floor date, CF, rounding, the code's rows) of a line whose parts
        can be priced: RBRVS from the RVU file, no bilateral pricing or surgery modifier
        (fee = per-unit amount x units, the OPPS cap allowed); None for every other line (an
        RT/LT pair is excluded by the caller)."""
        if (line.line_status != "priced" or line.pricing_method != "rbrvs" or line.rbrvs is None
                or line.surgery_priced):
            return None
        return line.rbrvs

    def part_per_unit(self, line: _Line, row: _RvuRow, pe_only: bool = False) -> Decimal:
        """The per-unit amount of ``row`` priced like the line (same GPCIs, site-of-service
        PE, CF and rounding); with ``pe_only`` the work and MP RVUs count as zero."""
        _, gpci, floor_through, cf, rounding, _ = line.rbrvs
        pe = row.pe_facility if line.pos in FACILITY_POS else row.pe_nonfacility
        work, mp = (Decimal(0), Decimal(0)) if pe_only else (row.work, row.mp)
        return _rbrvs_per_unit(work, pe, mp, gpci, floor_through, line.dos, cf, rounding)[1]

    def pc_part(self, line: _Line) -> Decimal | None:
        """The professional part of a line's fee: all of it with 26, none with TC; a global
        line the lower of its fee and its units at the code's 26-row amount (None when the
        code has no 26 row: no indicator 4/6/7 reduction)."""
        if "26" in line.modifiers:
            return line.fee_schedule_amount
        if "TC" in line.modifiers:
            # OPEN: a TC line has parts (PC 0, TC = fee) even when the code has no 26 row; the
            # page ties "no 26 row" to the global line only.
            return ZERO
        # OPEN: a line priced from the 53 row (or with 53 on a code without one) is a global
        # line here: no bundled indicator-4/6/7 code has a 53 row.
        pc_row = line.rbrvs[5].get("26")
        if pc_row is None:
            return None
        # OPEN: the 26-row amount is the PFS amount (the OPPS cap file lists no 26 rows).
        return min(line.fee_schedule_amount, self.part_per_unit(line, pc_row) * line.units)

    def endoscopy_amounts(self, lines: list, family: list, rows: dict) -> dict:
        """MULT PROC 3: the family ranked by fee (ties in input order); the first keeps its
        fee, every other line is paid max(0, fee - base amount), a base line's base amount
        being its own fee. {index: amount}."""
        ranked = sorted(family, key=lambda i: (-lines[i].fee_schedule_amount, i))
        amounts = {}
        for rank, i in enumerate(ranked):
            line = lines[i]
            if rank == 0:
                amounts[i] = line.fee_schedule_amount
                continue
            if rows[i].mult == 3:
                base_row = self.base_row(line, rows[i].endo_base)
                base = self.part_per_unit(line, base_row) * line.units
            else:  # a line of the base code itself
                base = line.fee_schedule_amount
            amounts[i] = max(ZERO, line.fee_schedule_amount - base)
        return amounts

    def base_row(self, line: _Line, base_code: str) -> _RvuRow | None:
        """The global (blank-modifier) row of the ENDO BASE code in the line's RVU vintage."""
        vintage = self.tables.covering("rvu", line.dos)
        return self.tables.rvu(vintage).get(base_code, {}).get("")

    def diagnostic(self, lines: list, group: list, tc_rate: Decimal, pc_rate) -> None:
        """MULT PROC 4, 6, 7: the lines with a technical part ranked by it, those with a
        professional part (4 only) by that, highest first, ties in input order; every line
        but the first of a ranking loses round_half_up(part x rate, 2) of it."""
        pcs = {}
        for i in group:
            pc = self.pc_part(lines[i])
            if pc is not None:
                pcs[i] = pc
        # OPEN: a global line of a code with no 26 row has no parts here: it takes no
        # reduction and has no place in the rankings (it does not make another line second).
        tcs = {i: lines[i].fee_schedule_amount - pc for i, pc in pcs.items()}
        cut = {i: ZERO for i in pcs}
        tc_ranked = sorted((i for i in tcs if tcs[i] > 0), key=lambda i: (-tcs[i], i))
        for i in tc_ranked[1:]:
            cut[i] += round_half_up(tcs[i] * tc_rate, 2)
        if pc_rate is not None:
            pc_ranked = sorted((i for i in pcs if pcs[i] > 0), key=lambda i: (-pcs[i], i))
            for i in pc_ranked[1:]:
                cut[i] += round_half_up(pcs[i] * pc_rate, 2)
        for i, amount in cut.items():
            if amount > 0:
                self.reduce(lines[i], lines[i].fee_schedule_amount - amount)

    def therapy(self, lines: list, group: list) -> None:
        """MULT PROC 5: ranked by PE per unit (highest first, ties in input order); the first
        unit of the first line in full, every other unit loses half its PE:
        round_half_up(PE per unit x units reduced x 50 %, 2)."""
        pe = {i: self.part_per_unit(lines[i], lines[i].rbrvs[0], pe_only=True) for i in group}
        ranked = sorted(group, key=lambda i: (-pe[i], i))
        for rank, i in enumerate(ranked):
            line = lines[i]
            units = line.units - 1 if rank == 0 else line.units
            cut = round_half_up(pe[i] * units * Decimal("0.5"), 2)
            if cut > 0:
                self.reduce(line, line.fee_schedule_amount - cut)

    def units_over_mue(self, line: _Line, terms) -> None:
        """§11 MUE (contract table, per line; not anesthesia, whose units are minutes): units
        above the limit are denied CO-151 with their share of the billed charge, rounded
        half-up; the line is priced on the units allowed and the rest of the charge. A limit
        of 0 denies the line."""
        if terms.mue is None or self.anesthesia_base(line) is not None:
            return
        limit = self._mue[line.plob].get(line.hcpcs)
        if limit is None or line.units <= limit:
            return
        if limit == 0:
            raise _Denied("denied", 151, "mue_exceeded")
        line.mue_denied = round_half_up(line.billed * (line.units - limit) / line.units, 2)
        line.billed -= line.mue_denied
        line.units = limit

    def line_edits(self, line: _Line) -> None:
        """§11 denials a valid line earns on its own: timely filing, then E&M facility charge.

        OPEN: these are the edits of the line's own LOB (its timely_filing_days; the E&M rule
        for commercial/other members), also for a line priced as percent of Medicare: the
        Methods section lists them as the line edits before carve-outs and methods, and the
        Medicare pricing of a line starts after them (with the Medicare LOB's MUE).
        """
        terms = self.terms(line.lob)
        received = line.row.get("received_date")
        if not _is_missing(received):
            if (_date(received) - line.dos).days > terms.timely_filing_days:
                raise _Denied("denied", 29, "timely_filing")
        form = (_text(line.row.get("claim_form")) or "").lower()
        if (form in INSTITUTIONAL_FORMS and line.lob in ("commercial", "other")
                and line.hcpcs in EM_FACILITY_CODES):
            raise _Denied("denied", 97, "em_facility_charge")

    def price(self, line: _Line) -> None:
        """Price a valid line with the terms of ``line.plob`` (``choose_terms``): its own LOB,
        or the Medicare LOB for a percent-of-Medicare line, whose percentage is applied after
        the claim-level policies (``apply_percent_of_medicare``)."""
        self.line_edits(line)
        terms = self.terms(line.plob)
        # OPEN: the MUE of the LOB that prices the line: the Medicare LOB's table for a
        # percent-of-Medicare line ("its ... MUE table"), not the line's own LOB's as well.
        self.units_over_mue(line, terms)

        # 2. carve-out: the first entry of the list that covers the line
        carve = self.carve_out(line)
        if carve is not None:
            # a percent-of-Medicare carve-out sent the line to the Medicare LOB, whose own
            # carve-outs are fees and percentages of charges only (the contract refuses more)
            assert carve.percent_of_medicare is None, carve
            line.pricing_method = "carve_out"
            if carve.fee is not None:
                line.fee_exact = Decimal(str(carve.fee)) * line.units
                fee = round_half_up(line.fee_exact, 2)
            else:
                fee = round_half_up(line.billed * Decimal(str(carve.percent_of_charges)), 2)
            self.lower_of_charges(line, fee)
            return

        rates = self.rates(line)
        # docs/contract.md "Methods": percent_of_charges prices every line not carved out at
        # the LOB's percent of charges (§10), no fee schedule consulted.
        if rates["method"] == "percent_of_charges":
            self.percent_of_charges(line, rates)
            return
        assert rates["method"] == "rbrvs", (line.plob, rates["method"])

        # 3. anesthesia
        base = self.anesthesia_base(line)
        if base is not None:
            if self.price_anesthesia(line, base, terms, rates):
                return

        # 4. drug
        if self.price_drug(line, terms, rates):
            return

        # 5. RVU-file status
        self.price_by_status(line, terms, rates)

    def apply_percent_of_medicare(self, lines: list) -> None:
        """docs/contract.md "Methods": after every claim-level policy, the fee schedule amount
        of a line priced as the Medicare LOB prices it is multiplied by the percentage and
        rounded half-up to the cent, once; lower of charges follows (cost share with the
        line's own LOB, in ``_settle``). A line the Medicare pricing denied stays denied.

        OPEN: the amounts the adjustment rows are taken from (the fee before the modifier
        reductions / OPPS cap, the fee before multiple procedures) are scaled the same way,
        each rounded half-up once, so that each §11 row is the percentage of the Medicare
        row and the rows still add up to billed - allowed.
        """
        for line in lines:
            if line.pom is None or line.line_status != "priced":
                continue

            def scaled(amount):
                return None if amount is None else round_half_up(amount * line.pom, 2)

            line.fee_before_reductions = scaled(line.fee_before_reductions)
            line.fee_before_multiple = scaled(line.fee_before_multiple)
            self.lower_of_charges(line, scaled(line.fee_schedule_amount))
            line.pricing_method = "carve_out" if line.pom_carve_out else "percent_of_medicare"

    def lower_of_charges(self, line: _Line, fee: Decimal) -> None:
        line.fee_schedule_amount = fee
        line.allowed_amount = min(line.billed, fee)

    # §7
    def price_anesthesia(self, line: _Line, base: Decimal, terms, rates) -> bool:
        """Price (or deny) an anesthesia line; False when it falls down the chain."""
        cf = _rate_cf(rates, "anesthesia_conversion_factor", line.locality)
        anes_vintage = self.tables.covering("anes_cf", line.dos)
        if cf == "cms":
            cf = None
            if anes_vintage is not None:
                cf = self.tables.anes_cf(anes_vintage).get(line.locality)
            if cf is None:
                line.flags.add("no_schedule_for_dos")
                return False
        if line.hcpcs == "01999":
            line.flags.add("by_report")

        payment = next((m for m in line.modifiers if m in ANESTHESIA_PAYMENT_MODIFIERS), None)
        if payment is None:
            raise _Denied("denied", 4, "anesthesia_modifier_missing")

        minutes = line.units
        if payment == "AD":
            base_units = AD_BASE_UNITS
            time_units = Decimal(0)
        else:
            # OPEN: with several physical-status modifiers the first (modifier_1..4) counts.
            status = next((m for m in line.modifiers if m in PHYSICAL_STATUS_MODIFIERS), None)
            extra = terms.physical_status_units.get(status, 0) if status else 0
            base_units = base + Decimal(extra)
            if line.hcpcs in terms.anesthesia_no_time_units_codes:
                time_units = Decimal(0)
            elif line.hcpcs in terms.neuraxial_labor_codes:
                extra_hours = math.ceil(Decimal(max(minutes - 60, 0)) / 60)
                time_units = Decimal(5 + extra_hours)
            else:
                hour_units = Decimal(terms.anesthesia_time_units_per_hour)
                time_units = round_half_up(Decimal(minutes) * hour_units / 60, 1)

        pct = ANESTHESIA_PAYMENT_MODIFIERS[payment]
        fee = round_half_up(round_half_up((base_units + time_units) * cf, 2) * pct, 2)
        line.pricing_method = "anesthesia"
        line.anesthesia_base_units = base_units.quantize(Decimal("0.1"))
        line.anesthesia_time_units = time_units.quantize(Decimal("0.1"))
        line.conversion_factor = cf
        # OPEN: schedule_version = the ANES release covering the DOS, also when the contract
        # gives its own anesthesia CF (null when no ANES vintage covers the DOS).
        line.schedule_version = anes_vintage.release if anes_vintage is not None else None
        self.lower_of_charges(line, fee)
        return True

    # §8
    def price_drug(self, line: _Line, terms, rates) -> bool:
        vintage = self.tables.covering("asp", line.dos)
        entry = self.tables.asp(vintage).get(line.hcpcs) if vintage is not None else None
        if entry is None:
            if self.tables.in_any_asp(line.hcpcs):
                line.flags.add("no_schedule_for_dos")
            return False
        if terms.require_ndc_for_drugs and not _ndc_valid(line.row.get("ndc")):
            line.flags.add("ndc_missing")
            raise _Denied("denied", 16, "ndc_missing")
        limit, coinsurance_pct = entry
        pct = Decimal(str(rates["drug_percent_of_asp_limit"]))
        fee = round_half_up(limit * line.units * pct, 2)
        line.pricing_method = "drug"
        line.schedule_version = vintage.release
        line.drug_coinsurance_pct = (
            None if coinsurance_pct is None else coinsurance_pct.quantize(Decimal("0.001")))
        self.lower_of_charges(line, fee)
        return True

    # §5 step 5
    def price_by_status(self, line: _Line, terms, rates) -> None:
        rvu_vintage = self.tables.covering("rvu", line.dos)
        gpci_vintage = self.tables.covering("gpci", line.dos)
        gpci = None
        if gpci_vintage is not None:
            gpci = self.tables.gpci(gpci_vintage).get(line.locality)
        if rvu_vintage is None or gpci is None:
            # decisions §5: an RVU line whose DOS no RVU or GPCI vintage covers goes to the
            # gap-fill chain with the flag.
            line.flags.add("no_schedule_for_dos")
            self.gap_fill_chain(line, terms, rates)
            return

        rows = self.tables.rvu(rvu_vintage).get(line.hcpcs, {})
        status = self.status_of(line, rows)
        policy = terms.status_policy.get(status) if status is not None else None
        if policy is None:
            policy = default_status_policy(status, line.plob)

        action, _, carc = policy.partition(":")
        # OPEN: the decisions page names no reason for a status denial; `status_bundled` and
        # `status_denied` (the names the engine's vocabulary lists).
        if action == "bundled":
            raise _Denied("bundled", _carc(carc), "status_bundled")
        if action == "deny":
            raise _Denied("denied", _carc(carc), "status_denied")
        if action == "by_report":
            line.flags.add("by_report")
            self.gap_fill_chain(line, terms, rates)
            return
        if action == "gap_fill":
            self.gap_fill_chain(line, terms, rates)
            return
        assert action == "rbrvs", policy
        # OPEN: the CO-4 row checks come before "total RVU > 0": a 26/TC row that does not
        # exist has no total to test.
        row = self.rbrvs_row(line, rows)  # raises the CO-4 denials
        pe = row.pe_facility if line.pos in FACILITY_POS else row.pe_nonfacility
        if row.work + pe + row.mp <= 0:
            self.gap_fill_chain(line, terms, rates)
            return
        cf = _rate_cf(rates, "conversion_factor", line.locality)
        if cf == "cms":
            cf = row.conversion_factor or self.tables.cms_conversion_factor(rvu_vintage)
        total_rvu, per_unit = _rbrvs_per_unit(
            row.work, pe, row.mp, gpci, _work_floor_through(gpci_vintage), line.dos, cf,
            rates["rounding"])
        # §11 OPPS cap: Medicare members, non-facility, the codes of the OPPSCAP file
        uncapped = per_unit
        cap_vintage = self.tables.covering("oppscap", line.dos)
        if line.plob in MEDICARE_LOBS and line.pos not in FACILITY_POS and cap_vintage is not None:
            pctc = [m for m in ("26", "TC") if m in line.modifiers]
            row_mod = pctc[0] if pctc else ("53" if "53" in line.modifiers and "53" in rows else "")
            cap = self.tables.oppscap(cap_vintage).get((line.hcpcs, row_mod, line.locality))
            if cap is not None and cap < per_unit:
                per_unit = cap
        fee = self.surgery_policies(line, row, per_unit)  # may deny
        line.rvu_status = status
        if per_unit != uncapped:  # the cap's reduction is a step of its own
            n, share = line.units_and_share
            line.fee_before_reductions = round_half_up(uncapped * n * share, 2)
            line.reduction_step = line.reduction_step or "opps_cap"
        line.pricing_method = "rbrvs"
        line.schedule_version = rvu_vintage.release
        line.total_rvu = total_rvu
        line.conversion_factor = cf
        line.rbrvs = (row, gpci, _work_floor_through(gpci_vintage), cf, rates["rounding"], rows)
        self.lower_of_charges(line, fee)

    @staticmethod
    def surgery_policies(line: _Line, row: _RvuRow, per_unit: Decimal) -> Decimal:
        """§11 modifiers of an RBRVS line; the fee (per unit x units x F, rounded once).

        Bilateral (modifier 50, or 2 units of a BILAT SURG 1 code) prices the pair as one
        service: indicator 1 150 %, 3 200 % (100 % each side), 0 and 2 100 %. Assistant at
        surgery (first of 80/81/82/AS on the line) 16 % / 13.6 % and co-surgery 62.5 % reduce
        that; team surgery is flagged by report. Indicators that forbid the modifier deny CO-54.
        """
        mods = line.modifiers
        units = Decimal(line.units)
        share = Decimal(1)
        if ("50" in mods or (line.units == 2 and row.bilat == 1)) and row.bilat in (0, 1, 2, 3):
            units = Decimal(1)
            share = {1: Decimal("1.5"), 3: Decimal(2)}.get(row.bilat, Decimal(1))
            line.surgery_priced = True
        # OPEN: modifier 50 on a BILAT SURG 9 code is ignored (no bilateral pricing), so the
        # line keeps its parts for MULT PROC 3-7; team surgery 66 (no reduction, by report) is
        # among the surgery modifiers that take the parts away, as the decisions page lists it.
        # A line that is not denied below has its 62 / 66 / 80-82 / AS modifier priced.
        if any(m in mods for m in ("62", "66", "80", "81", "82", "AS")):
            line.surgery_priced = True
        cut = Decimal(1)
        assistant = next((m for m in mods if m in ("80", "81", "82", "AS")), None)
        if assistant is not None:
            if row.asst not in (0, 2):
                raise _Denied("denied", 54, "assistant_not_payable")
            cut = Decimal("0.136") if assistant == "AS" else Decimal("0.16")
            line.reduction_step = "assistant_at_surgery"
            if row.asst == 0:
                line.flags.add("review")
        if "62" in mods:
            if row.co not in (1, 2):
                raise _Denied("denied", 54, "co_surgery_not_payable")
            cut *= Decimal("0.625")
            line.reduction_step = line.reduction_step or "co_surgery"
            if row.co == 1:
                line.flags.add("review")
        if "66" in mods:
            if row.team not in (1, 2):
                raise _Denied("denied", 54, "team_surgery_not_payable")
            line.flags.add("by_report")
        line.fee_before_reductions = round_half_up(per_unit * units * share, 2)
        line.units_and_share = (units, share)
        line.fee_exact = per_unit * units * share * cut
        return round_half_up(line.fee_exact, 2)

    @staticmethod
    def status_of(line: _Line, rows: dict) -> str | None:
        """§5: status of the 26/TC/53 row if it exists, else the blank row, else any row."""
        if not rows:
            return None
        for mod in line.modifiers:
            if mod in ("26", "TC") and mod in rows:
                return rows[mod].status
        if "53" in line.modifiers and "53" in rows:
            return rows["53"].status
        if "" in rows:
            return rows[""].status
        return next(iter(rows.values())).status

    @staticmethod
    def rbrvs_row(line: _Line, rows: dict):
        """§6 row selection; the CO-4 denials of decisions "RBRVS"."""
        pctc = [m for m in ("26", "TC") if m in line.modifiers]
        if len(pctc) == 2:
            raise _Denied("denied", 4, "modifier_26_and_tc")
        if pctc:
            if pctc[0] not in rows:
                raise _Denied("denied", 4, "pctc_row_missing")
            return rows[pctc[0]]
        if "53" in line.modifiers and "53" in rows:
            return rows["53"]
        if "" not in rows:
            raise _Denied("denied", 4, "pctc_modifier_required")
        return rows[""]

    # §5 step 6, §9, §10
    def gap_fill_chain(self, line: _Line, terms, rates) -> None:
        if _UNLISTED_CPT_RE.match(line.hcpcs) or line.hcpcs in terms.by_report_codes:
            line.flags.add("by_report")
        row = self.gap_fill_row(line)
        if row is not None:
            if row.fee is not None:
                line.pricing_method = "gap_fill"
                line.schedule_version = "GAPFILL"
                line.fee_exact = row.fee * line.units
                self.lower_of_charges(line, round_half_up(line.fee_exact, 2))
                return
            if self.price_gap_fill_rvus(line, row, rates):
                return
        self.percent_of_charges(line, rates)

    def gap_fill_row(self, line: _Line):
        """§9: rows whose dates hold the DOS and whose modifier is blank or on the line; a row
        with a modifier beats a blank one, then the latest effective_from.

        OPEN: two matching rows with different modifiers and the same effective_from (both
        modifiers on the line): the one whose modifier comes first in modifier_1..4 order.
        """
        candidates = []
        for row in self._gap_fill[line.plob].get(line.hcpcs, ()):
            if row.effective_from > line.dos:
                continue
            if row.effective_to is not None and line.dos > row.effective_to:
                continue
            if row.modifier and row.modifier not in line.modifiers:
                continue
            position = line.modifiers.index(row.modifier) if row.modifier else 99
            candidates.append(((0 if row.modifier else 1), -row.effective_from.toordinal(),
                               position, row.source_row or 0, row))
        if not candidates:
            return None
        candidates.sort(key=lambda c: c[:4])
        return candidates[0][4]

    def price_gap_fill_rvus(self, line: _Line, row: _GapFillRow, rates) -> bool:
        """Gap-fill RVUs priced as §6; False (flag no_schedule_for_dos) when the GPCI, or the
        CMS CF the contract asks for, has no vintage for the DOS."""
        gpci_vintage = self.tables.covering("gpci", line.dos)
        gpci = self.tables.gpci(gpci_vintage).get(line.locality) if gpci_vintage else None
        cf = _rate_cf(rates, "conversion_factor", line.locality)
        if cf == "cms":
            rvu_vintage = self.tables.covering("rvu", line.dos)
            cf = self.tables.cms_conversion_factor(rvu_vintage) if rvu_vintage else None
        if gpci is None or cf is None:
            line.flags.add("no_schedule_for_dos")
            return False
        pe = row.pe_facility if line.pos in FACILITY_POS else row.pe_nonfacility
        total_rvu, per_unit = _rbrvs_per_unit(
            row.work, pe, row.mp, gpci, _work_floor_through(gpci_vintage), line.dos, cf,
            rates["rounding"])
        line.pricing_method = "gap_fill"
        line.schedule_version = "GAPFILL"
        line.total_rvu = total_rvu
        line.conversion_factor = cf
        line.fee_exact = per_unit * line.units
        self.lower_of_charges(line, round_half_up(line.fee_exact, 2))
        return True

    def percent_of_charges(self, line: _Line, rates) -> None:
        line.pricing_method = "percent_of_charges"
        line.flags.add("prepayment_review")
        amount = round_half_up(line.billed * Decimal(str(rates["percent_of_charges"])), 2)
        # decisions §10: fee schedule amount = round(billed x pct); allowed amount the lower
        # of that and the billed charge (the same for any percentage up to 100 %).
        self.lower_of_charges(line, amount)


def _carc(text: str):
    text = text.strip()
    return int(text) if text.isdigit() else text


def _ndc_valid(value) -> bool:
    text = _text(value)
    if text is None:
        return False
    digits = text.replace("-", "").replace(" ", "")
    return len(digits) == 11 and digits.isdigit()


def _work_floor_through(gpci_vintage) -> dt.date:
    through = getattr(gpci_vintage, "work_floor_through", None)
    return through if through is not None else RULE_BOOK_WORK_FLOOR_THROUGH


def _rbrvs_per_unit(work, pe, mp, gpci, floor_through, dos, cf, rounding):
    """§6: (total_rvu reported, per-unit amount) for one unit of service."""
    work_floor, work_no_floor, pe_gpci, mp_gpci = gpci
    if dos <= floor_through or work_no_floor is None:
        work_gpci = work_floor
    else:
        work_gpci = work_no_floor
    adj = work * work_gpci + pe * pe_gpci + mp * mp_gpci  # exact
    total_rvu = round_half_up(adj, 2)
    if rounding == "rvu_2dp":
        per_unit = round_half_up(total_rvu * cf, 2)
    elif rounding == "cms":
        per_unit = round_half_up(adj * cf, 2)
    else:
        raise ValueError(f"unknown rounding {rounding!r}")
    return total_rvu, per_unit


# ---------------------------------------------------------------------------------------------
# §12 cost share, payment, adjustments


def _settle(line: _Line, claim_id, line_number) -> tuple[dict, list[dict]]:
    adjustments: list[dict] = []

    def adjust(group, carc, amount, step):
        adjustments.append({"claim_id": claim_id, "line_number": line_number,
                            "group_code": group, "carc": carc, "amount": amount, "step": step})

    applied = {"deductible": ZERO, "copay": ZERO, "coinsurance": ZERO}
    paid = ZERO
    liability = ZERO
    if line.line_status == "rejected":
        # OPEN: the CO-16 row carries the billed charge when it is a number in whole cents
        # (negative included, so that the line still balances), else 0.00.
        adjust("CO", 16, _rejected_amount(line.row.get("billed_charge")), "rejection")
    elif line.line_status == "denied":
        adjust("CO", line.carc, line.billed + line.mue_denied, "denial")
    else:
        if line.mue_denied > 0:
            adjust("CO", 151, line.mue_denied, "mue")
        billed, allowed = line.billed, line.allowed_amount
        # §11 reductions after lower of charges, so that the rows add up to billed - allowed:
        # the allowed amount before multiple procedures, and before that the one before the
        # modifier reductions / OPPS cap (a gap-fill or fee carve-out line reduced as a
        # multiple procedure has no modifier reduction: its CO-45 row stops at the fee
        # before the multiple-procedure reduction)
        allowed_cut = allowed
        if line.fee_before_multiple is not None:
            allowed_cut = min(billed, line.fee_before_multiple)
        allowed_full = allowed_cut
        if line.fee_before_reductions is not None:
            allowed_full = min(billed, line.fee_before_reductions)
        if billed - allowed_full > 0:
            adjust("CO", 45, billed - allowed_full, "fee_schedule")
        if allowed_full - allowed_cut > 0:
            adjust("CO", 45, allowed_full - allowed_cut, line.reduction_step)
        if allowed_cut - allowed > 0:
            adjust("CO", 59, allowed_cut - allowed, line.claim_step)
        # the cost share, COB and sequestration of the line (``_CostShare``)
        applied, paid, liability = line.applied, line.paid, line.liability
        for name, carc in (("deductible", 1), ("copay", 3), ("coinsurance", 2)):
            if applied[name] > 0:
                adjust("PR", carc, applied[name], name)
        if line.cob_reduction > 0:
            adjust("OA", 23, line.cob_reduction, "coordination_of_benefits")
        if line.sequestration_reduction > 0:
            adjust("CO", 253, line.sequestration_reduction, "sequestration")
        # docs/cost_share.md "Balancing"
        assert paid == (allowed - applied["deductible"] - applied["copay"]
                        - applied["coinsurance"] - line.cob_reduction
                        - line.sequestration_reduction), line.row

    def money(d):
        return None if d is None else d.quantize(ONE_CENT)

    out = {
        "line_status": line.line_status,
        "pricing_method": line.pricing_method,
        "fee_schedule_amount": money(line.fee_schedule_amount),
        "allowed_amount": money(line.allowed_amount),
        "deductible_applied": money(applied["deductible"]),
        "copay_applied": money(applied["copay"]),
        "coinsurance_applied": money(applied["coinsurance"]),
        "paid_amount": money(paid),
        "member_liability": money(liability),
        "cob_reduction": money(line.cob_reduction),
        "sequestration_reduction": money(line.sequestration_reduction),
        "locality": line.locality,
        "schedule_version": line.schedule_version,
        "total_rvu": money(line.total_rvu),
        "conversion_factor": line.conversion_factor,
        "anesthesia_base_units": line.anesthesia_base_units,
        "anesthesia_time_units": line.anesthesia_time_units,
        "drug_coinsurance_pct": line.drug_coinsurance_pct,
        "flags": sorted(line.flags),
        "reason": line.reason,
        "member_id": line.member_id,
    }
    for adj in adjustments:
        adj["amount"] = adj["amount"].quantize(ONE_CENT)
    return out, adjustments


def _rejected_amount(value) -> Decimal:
    if _is_missing(value):
        return ZERO
    try:
        amount = _number(value)
    except _Bad:
        return ZERO
    return amount if _is_whole_cents(amount) else ZERO


# ---------------------------------------------------------------------------------------------
# Member cost share (docs/cost_share.md): benefit plans, accumulators, coordination of
# benefits, Medicare sequestration. Written from that page only.

# "Claim columns": rendering_provider_type names (after trimming and lower-casing) -> the type
PROVIDER_TYPES = {
    "physician": "physician", "md": "physician", "do": "physician",
    "physician_assistant": "physician_assistant", "pa": "physician_assistant",
    "nurse_practitioner": "nurse_practitioner", "np": "nurse_practitioner",
    "arnp": "nurse_practitioner",
    "specialist": "specialist", "lab_technician": "lab_technician", "other": "other",
}
OFFICE_VISIT_TYPES = {  # "Cost share of a line" step 1; lab_technician, other -> no copay
    "physician": "office_visit", "physician_assistant": "office_visit",
    "nurse_practitioner": "office_visit", "specialist": "specialist_office_visit",
}
# "Copay categories": (category, ranges of numeric codes (both ends included), single codes)
OFFICE = "office"  # office_visit / specialist_office_visit by provider type
COPAY_CATEGORY_CODES = (
    (OFFICE, (("99202", "99215"), ("99241", "99245")), ()),
    ("emergency_room", (("99281", "99285"),), ()),
    ("preventive", (("99381", "99397"), ("99401", "99429")), ("G0402", "G0438", "G0439")),
    ("mental_health", (("90785", "90899"),), ()),
    ("therapy", (("97010", "97799"), ("92521", "92526")), ("92507", "92508")),
    ("audiology", (("92550", "92700"),), ()),
    ("maternity", (), ("59425", "59426", "59430")),
    ("radiation_chemotherapy", (("77261", "77799"), ("96401", "96549")), ()),
)
COPAY_CATEGORIES = ("office_visit", "specialist_office_visit", "emergency_room", "preventive",
                    "mental_health", "therapy", "audiology", "maternity",
                    "radiation_chemotherapy")
COB_METHODS = ("standard", "maintenance_of_benefits")
PLAN_KEYS = ("name", "plan_year_start", "deductible", "family_deductible", "coinsurance",
             "out_of_pocket_max", "family_out_of_pocket_max", "preventive_covered_in_full",
             "coordination_of_benefits", "copays")
BALANCE_COLUMNS = ("member_id", "subscriber_id", "plan_id", "plan_year", "deductible_met",
                   "out_of_pocket_met")


def copay_category(hcpcs: str, provider_type: str) -> str | None:
    """Step 1: the copay category of a code (office visits by provider type), or None."""
    for category, ranges, codes in COPAY_CATEGORY_CODES:
        if hcpcs in codes or (hcpcs.isdigit()
                              and any(low <= hcpcs <= high for low, high in ranges)):
            if category == OFFICE:
                return OFFICE_VISIT_TYPES.get(provider_type)
            return category
    return None


class _Plan:
    """One ``[plan.<id>]`` table, amounts as Decimals (None: the term is absent)."""

    def __init__(self, plan_id: str, table: Mapping):
        def fail(key, why):
            raise ValueError(f"plans: plan {plan_id!r}: {key}: {why}")

        if not isinstance(table, Mapping):
            fail("(table)", "not a table")
        for key in table:
            if key not in PLAN_KEYS:
                fail(key, "unknown key")

        def money(key, default):
            value = table.get(key, default)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, Decimal, float, str)):
                fail(key, "not an amount")
            try:
                amount = _number(value)
            except _Bad:
                fail(key, "not an amount")
            # OPEN: a negative amount is "a value of the wrong kind" (refused).
            if amount < 0 or not _is_whole_cents(amount):
                fail(key, "not an amount in whole cents, 0 or more")
            return amount

        self.plan_id = plan_id
        self.name = table.get("name")
        start = table.get("plan_year_start", "01-01")
        if not isinstance(start, str) or not re.fullmatch(r"[0-9]{2}-[0-9]{2}", start):
            fail("plan_year_start", "not MM-DD")
        try:
            dt.date(2025, int(start[:2]), int(start[3:]))  # 2025: not a leap year (02-29)
        except ValueError:
            fail("plan_year_start", "not a month-day")
        self.start_month, self.start_day = int(start[:2]), int(start[3:])
        self.deductible = money("deductible", 0)
        self.family_deductible = money("family_deductible", None)
        self.out_of_pocket_max = money("out_of_pocket_max", None)
        self.family_out_of_pocket_max = money("family_out_of_pocket_max", None)
        pct = table.get("coinsurance", 0)
        try:
            if isinstance(pct, bool):
                raise _Bad
            pct = _number(pct)
        except _Bad:
            fail("coinsurance", "not a fraction")
        if not (0 <= pct <= 1) or pct != pct.quantize(Decimal("0.0001")):
            fail("coinsurance", "not a fraction 0..1 with at most 4 decimals")
        self.coinsurance = pct
        preventive = table.get("preventive_covered_in_full", False)
        if not isinstance(preventive, bool):
            fail("preventive_covered_in_full", "not true or false")
        self.preventive_covered_in_full = preventive
        cob = table.get("coordination_of_benefits")
        if cob is not None and cob not in COB_METHODS:
            fail("coordination_of_benefits", f"not one of {COB_METHODS}")
        self.coordination_of_benefits = cob
        copays = table.get("copays", {})
        if not isinstance(copays, Mapping):
            fail("copays", "not a table")
        self.copays = {}
        for category in copays:
            if category not in COPAY_CATEGORIES:
                fail(f"copays.{category}", "unknown copay category")
            self.copays[category] = money_of(copays, category, fail)

    def plan_year(self, dos: dt.date) -> int:
        """"Order of accumulation": the year in which the plan year holding ``dos`` started."""
        start = dt.date(dos.year, self.start_month, self.start_day)
        return dos.year if dos >= start else dos.year - 1


def money_of(table: Mapping, key: str, fail) -> Decimal:
    value = table[key]
    try:
        if isinstance(value, bool):
            raise _Bad
        amount = _number(value)
    except _Bad:
        fail(f"copays.{key}", "not an amount")
    if amount < 0 or not _is_whole_cents(amount):
        fail(f"copays.{key}", "not an amount in whole cents, 0 or more")
    return amount


class _Plans:
    """The plans of a plans file: ``{plan_id: _Plan}``."""

    def __init__(self, tables: Mapping):
        self.plans = {str(pid): _Plan(str(pid), t) for pid, t in tables.items()}
        # OPEN: "Text is trimmed and case-normalised first": a line's plan_id is matched with
        # the plans' IDs without regard to case (``a`` names ``[plan.A]``), and the plan is
        # reported (balances) as the plans file spells it. Two plans whose IDs differ only
        # in case cannot be told apart this way: refused.
        self.by_folded: dict = {}
        for pid in self.plans:
            if pid.casefold() in self.by_folded:
                raise ValueError(f"plans: plan IDs {pid!r} and "
                                 f"{self.by_folded[pid.casefold()]!r} differ only in case")
            self.by_folded[pid.casefold()] = pid

    def find(self, plan_id: str) -> _Plan | None:
        pid = self.by_folded.get(plan_id.strip().casefold())
        return None if pid is None else self.plans[pid]


def _read_toml(path) -> dict:
    with open(path, "rb") as fh:
        return tomllib.load(fh, parse_float=Decimal)  # exact amounts, never binary floats


def load_plans(plans) -> _Plans | None:
    """The plans of ``plans``: a path to a plans TOML file, the dict parsed from one (``{"plan":
    {...}}``), an object with a ``path`` or ``source`` attribute naming its file (a
    ``pricer.Plans`` read by ``from_toml``), or None. Only the file is read, never the
    object's own terms."""
    if plans is None:
        return None
    if isinstance(plans, _Plans):
        return plans
    if isinstance(plans, (str, os.PathLike)):
        doc = _read_toml(plans)
    elif isinstance(plans, Mapping):
        doc = plans
    elif isinstance(getattr(plans, "path", None), (str, os.PathLike)):
        doc = _read_toml(plans.path)
    elif isinstance(getattr(plans, "source", None), (str, os.PathLike)):
        doc = _read_toml(plans.source)
    else:
        raise TypeError(f"plans: cannot read {type(plans).__name__}: give the plans file's "
                        "path or the dict parsed from it")
    for key in doc:
        if key != "plan":
            raise ValueError(f"plans: unknown key {key!r}")
    return _Plans(doc.get("plan", {}))


class _Account:
    """The accumulators of one member, plan and plan year."""
    __slots__ = ("member_id", "family", "plan_id", "plan_year", "deductible_met",
                 "out_of_pocket_met")

    def __init__(self, member_id, family, plan_id, plan_year, deductible_met=ZERO,
                 out_of_pocket_met=ZERO):
        self.member_id, self.family = member_id, family
        self.plan_id, self.plan_year = plan_id, plan_year
        self.deductible_met, self.out_of_pocket_met = deductible_met, out_of_pocket_met


def _read_balances(accumulators, plans: _Plans | None) -> dict:
    """"Accumulator balances" given as ``accumulators=``: {(member, plan, year): _Account}.

    A polars frame, a pandas frame, a list of dicts, or a path (Parquet or CSV). A row with an
    unknown plan, a member ID that is not 1-8 digits, a negative amount or fractions of a cent
    is refused (ValueError naming the row and column).
    """
    if accumulators is None:
        return {}
    if isinstance(accumulators, (str, os.PathLike)):
        path = str(accumulators)
        frame = (pl.read_csv(path, infer_schema_length=0) if path.lower().endswith(".csv")
                 else pl.read_parquet(path))
        rows = frame.to_dicts()
    elif isinstance(accumulators, pl.DataFrame):
        rows = accumulators.to_dicts()
    elif isinstance(accumulators, list):
        rows = accumulators
    else:
        rows = pl.from_pandas(accumulators).to_dicts()
    out: dict = {}
    for i, row in enumerate(rows):
        def fail(col, why):
            raise ValueError(f"accumulators: row {i}: {col}: {why}")

        member = _text(row.get("member_id"))
        if member is None or not _MEMBER_ID_RE.match(member):
            fail("member_id", "not 1-8 digits")
        member = member.zfill(8)
        subscriber = _text(row.get("subscriber_id"))
        if subscriber is not None:
            if not _MEMBER_ID_RE.match(subscriber):
                fail("subscriber_id", "not 1-8 digits")
            subscriber = subscriber.zfill(8)
        plan_id = _text(row.get("plan_id"))
        plan = plans.find(plan_id) if plans is not None and plan_id is not None else None
        if plan is None:
            fail("plan_id", f"unknown plan {plan_id!r}")
        try:
            year = _number(row.get("plan_year"))
        except _Bad:
            fail("plan_year", "not a year")
        if year != year.to_integral_value():
            fail("plan_year", "not a year")
        amounts = []
        for col in ("deductible_met", "out_of_pocket_met"):
            value = row.get(col)
            try:
                amount = ZERO if _is_missing(value) else _number(value)
            except _Bad:
                fail(col, "not an amount")
            if amount < 0:
                fail(col, "negative")
            if not _is_whole_cents(amount):
                fail(col, "fractions of a cent")
            amounts.append(amount.quantize(ONE_CENT))
        key = (member, plan.plan_id, int(year))
        if key in out:
            # OPEN: the page does not say what two rows for one member, plan and plan year
            # mean; refused.
            fail("member_id", "a second row for this member, plan and plan year")
        # "by the balances' own subscriber_id, else the member alone"
        out[key] = _Account(member, subscriber or member, plan.plan_id, int(year), *amounts)
    return out


def _line_number_key(value) -> tuple:
    """"then line_number": by its number when it reads as a whole number, else its text.

    OPEN: the page does not say number or text order; line numbers are numbers (1..), so
    ``10`` comes after ``9`` also when the column is text. A line number that is not a whole
    number sorts after every number, by its text.
    """
    text = _text(value)
    try:
        number = _number(value)
        if number == number.to_integral_value():
            return (0, int(number), "")
    except _Bad:
        pass
    return (1, 0, text or "")


class _CostShare:
    """The cost share, COB and sequestration of every priced line (docs/cost_share.md)."""

    def __init__(self, pricer: _Pricer, plans: _Plans | None, balances: dict):
        self.pricer = pricer
        self.plans = plans
        self.accounts: dict = dict(balances)  # (member, plan_id, year) -> _Account
        # (family, plan_id, year) -> [deductible met, out-of-pocket met] of the family:
        # "Family totals start from the sum of the starting balances of the family's members
        # (by the balances' own subscriber_id, else the member alone)", and what each line
        # applies is added to the family of the line (its subscriber_id, else its member).
        # OPEN: a member whose lines and balance name different families (or whose lines
        # name several) is not addressed by the page: the member's own accumulators are one
        # (per member, plan and plan year, whatever the family), the family totals are kept
        # as just said.
        self.families: dict = {}
        for acc in balances.values():
            totals = self.families.setdefault((acc.family, acc.plan_id, acc.plan_year),
                                              [ZERO, ZERO])
            totals[0] += acc.deductible_met
            totals[1] += acc.out_of_pocket_met
        self.visits: set = set()  # copay charged once per visit: the visits already charged

    # -- accumulators ---------------------------------------------------------------------------

    def account(self, line: _Line, year: int) -> _Account:
        """The line's member's accumulators for its plan and plan year (opened at 0.00).

        OPEN: the balance row's subscriber_id is the family of the member's line that touched
        it last (accumulation order), else the given balance's: the family the next run
        should start from."""
        key = (line.member_id, line.plan.plan_id, year)
        if key not in self.accounts:
            self.accounts[key] = _Account(line.member_id, line.family, line.plan.plan_id, year)
        acc = self.accounts[key]
        acc.family = line.family
        return acc

    def family_totals(self, line: _Line, acc: _Account) -> list:
        """[deductible met, out-of-pocket met] of the line's family in the plan and plan year:
        the sums of its members' accumulators (``self.families``)."""
        return self.families.setdefault((line.family, acc.plan_id, acc.plan_year),
                                        [ZERO, ZERO])

    def accumulate(self, line: _Line, acc: _Account, d: Decimal, out_of_pocket: Decimal):
        """Step 7, member and family."""
        family = self.family_totals(line, acc)
        acc.deductible_met += d
        acc.out_of_pocket_met += out_of_pocket
        family[0] += d
        family[1] += out_of_pocket

    # -- the pass -------------------------------------------------------------------------------

    def run(self, lines: list) -> None:
        """Every priced line: cost share ("Order of accumulation": lines with a plan family by
        family, by date of service, claim ID (text), line number, across the whole input;
        ties in input order), then COB and sequestration."""
        priced = [line for line in lines if line.line_status == "priced"]
        order = sorted(
            range(len(priced)),
            key=lambda i: (
                priced[i].family or "", priced[i].dos,
                _text(priced[i].row.get("claim_id")) or "",
                _line_number_key(priced[i].row.get("line_number")), i))
        for i in order:
            line = priced[i]
            # OPEN: "a priced line with A = 0 takes none either" read as: it takes no part in
            # the cost share at all (like a denied line): it applies nothing, is not the
            # visit's copay line, and does not open an accumulator. The balances' "the run
            # touched" is read the same way: only lines that take part in the cost share (a
            # plan, priced, A > 0) touch a member's accumulators; denied, rejected and A = 0
            # lines add no balance row (not even one of 0.00).
            takes_part = line.plan is not None and line.allowed_amount > 0
            if takes_part and not line.shares_given:
                self.plan_cost_share(line)
            else:
                self.given_cost_share(line, accumulate=takes_part)
            self.payment(line)

    def given_cost_share(self, line: _Line, accumulate: bool) -> None:
        """§12: the cost shares the line gives (none given: zeros), deductible, copay,
        coinsurance each capped at what is left of the allowed amount; Medicaid never applies
        a copay. What is applied counts toward the member's accumulators when the line has a
        plan ("Which lines the plan prices")."""
        left = line.allowed_amount
        applied = {"deductible": ZERO, "copay": ZERO, "coinsurance": ZERO}
        for name in ("deductible", "copay", "coinsurance"):
            given = line.cost_shares[name]
            if name == "copay" and line.lob == "medicaid":
                # OPEN: "a copay was given" read as a copay greater than zero.
                if given > 0:
                    line.flags.add("medicaid_copay_waived")
                continue
            amount = min(given, left)
            applied[name] = amount
            left -= amount
        if accumulate:
            # OPEN: the benefit system's values count as given: the plan's out-of-pocket
            # maximum does not cap them ("settled from the given values exactly as before").
            acc = self.account(line, line.plan.plan_year(line.dos))
            self.accumulate(line, acc, applied["deductible"],
                            applied["deductible"] + applied["copay"] + applied["coinsurance"])
        self.settle_shares(line, applied)

    def plan_cost_share(self, line: _Line) -> None:
        """"Cost share of a line", steps 1-8, for a priced line of a plan giving no cost
        share, with A > 0."""
        plan = line.plan
        allowed = line.allowed_amount
        acc = self.account(line, plan.plan_year(line.dos))
        applied = {"deductible": ZERO, "copay": ZERO, "coinsurance": ZERO}
        category = copay_category(line.hcpcs, line.provider_type)  # 1
        if category == "preventive" and plan.preventive_covered_in_full:  # 2
            self.settle_shares(line, applied)
            return
        d = copay = c = ZERO
        if category is not None and category in plan.copays:  # 3: a copay service
            # OPEN: a visit is one member's lines of one plan, claim ID and date of service:
            # the page says "on a claim and date of service" (a claim is one member's). Only
            # plan-priced lines take part: a line settled from the benefit system's values is
            # not "the first line of the category" (its copay is the one it gives).
            visit = (line.member_id, plan.plan_id, _text(line.row.get("claim_id")), line.dos,
                     category)
            if visit not in self.visits:
                self.visits.add(visit)
                copay = min(plan.copays[category], allowed)
            if line.lob == "medicaid":
                # OPEN: flagged when the line would have carried a copay (> 0), as for a
                # given copay (decisions page); a later line of the visit, which carries none,
                # is not flagged. The line stays a copay service either way.
                if copay > 0:
                    line.flags.add("medicaid_copay_waived")
                copay = ZERO
        else:
            # 4. deductible
            family_met = self.family_totals(line, acc)[0]
            d = min(allowed, plan.deductible - acc.deductible_met)
            if plan.family_deductible is not None:
                d = min(d, plan.family_deductible - family_met)
            d = max(d, ZERO)
            # 5. coinsurance
            pct = plan.coinsurance
            if line.lob in MEDICARE_LOBS and line.pricing_method == "drug":
                if line.drug_coinsurance_pct is not None:
                    pct = line.drug_coinsurance_pct / 100  # the ASP file's percentage
                # OPEN: a Part B drug whose ASP row gives no co-insurance percentage takes
                # the plan's (no bundled row lacks one).
            c = round_half_up((allowed - d) * pct, 2)
        # 6. out-of-pocket maximum
        room = None
        if plan.out_of_pocket_max is not None:
            room = plan.out_of_pocket_max - acc.out_of_pocket_met
        if plan.family_out_of_pocket_max is not None:
            family_oop = self.family_totals(line, acc)[1]
            family_room = plan.family_out_of_pocket_max - family_oop
            room = family_room if room is None else min(room, family_room)
        if room is not None:
            room = max(room, ZERO)
            d = min(d, room)
            copay = min(copay, room - d)
            c = min(c, room - d - copay)
        # 7. accumulate
        self.accumulate(line, acc, d, d + copay + c)
        applied = {"deductible": d, "copay": copay, "coinsurance": c}
        self.settle_shares(line, applied)

    @staticmethod
    def settle_shares(line: _Line, applied: dict) -> None:
        """Steps 8-9: member liability (QMB: 0, flagged) and the normal payment P."""
        cost_share = applied["deductible"] + applied["copay"] + applied["coinsurance"]
        line.applied = applied
        line.liability = min(cost_share, line.allowed_amount)
        if _bool(line.row.get("qmb")):
            line.liability = ZERO
            # OPEN: flag only when there is a cost share that the member is spared.
            if cost_share > 0:
                line.flags.add("qmb_cost_share_not_billable")
        line.paid = max(line.allowed_amount - cost_share, ZERO)

    def payment(self, line: _Line) -> None:
        """"Coordination of benefits" and "Medicare sequestration" of a priced line."""
        allowed, normal = line.allowed_amount, line.paid
        payment = normal
        if line.other_payer_paid is not None:
            other = line.other_payer_paid
            method = line.plan.coordination_of_benefits if line.plan is not None else None
            if method is None:
                # OPEN: the contract's option of the line's own LOB, also for a line priced as
                # percent of Medicare (the method is a term of the member's LOB, not of the
                # LOB whose fee schedule priced the line).
                method = getattr(self.pricer.terms(line.lob), "coordination_of_benefits",
                                 None) or "standard"
            if method == "standard":
                payment = min(normal, max(allowed - other, ZERO))
            elif method == "maintenance_of_benefits":
                payment = max(normal - other, ZERO)
            else:
                raise ValueError(f"unknown coordination_of_benefits {method!r}")
            line.cob_reduction = normal - payment
            line.liability = min(line.liability, max(allowed - other - payment, ZERO))
        rate = None
        # OPEN: sequestration by the line's own LOB: a commercial line priced as percent of
        # Medicare is not sequestered (the option is of Medicare members' payments).
        if line.lob in MEDICARE_LOBS:
            rate = getattr(self.pricer.terms(line.lob), "sequestration", None)
        if rate is not None:
            line.sequestration_reduction = round_half_up(payment * Decimal(str(rate)), 2)
            payment -= line.sequestration_reduction
        line.paid = payment

    def balances(self) -> list[dict]:
        """"Accumulator balances": one row per member, plan and plan year touched or given,
        sorted by member_id, plan_id, plan_year."""
        rows = [{"member_id": a.member_id, "subscriber_id": a.family, "plan_id": a.plan_id,
                 "plan_year": a.plan_year,
                 "deductible_met": a.deductible_met.quantize(ONE_CENT),
                 "out_of_pocket_met": a.out_of_pocket_met.quantize(ONE_CENT)}
                for a in self.accounts.values()]
        return sorted(rows, key=lambda r: (r["member_id"], r["plan_id"], r["plan_year"]))


# ---------------------------------------------------------------------------------------------
# Entry point


def reference_price(claims, contract=None, schedules=None, plans=None, accumulators=None):
    """Price every line of ``claims`` with exact decimals, one line at a time.

    Parameters
    ----------
    claims : polars.DataFrame (or pandas DataFrame)
        The §3 columns, typed or as text (as read from a CSV).
    contract : pricer.contract.Contract, optional
        Default: the bundled contract.
    schedules : pricer.schedules.Schedules, optional
        Default: the bundled CMS tables.
    plans : path, dict or pricer.Plans, optional
        The benefit plans (docs/cost_share.md "Plans file"): the plans TOML file's path, the
        dict parsed from it, or an object with a ``path`` / ``source`` attribute naming it.
        Default: the contract's ``plans`` (when it has one), else none.
    accumulators : polars or pandas frame, list of dicts or path, optional
        Starting balances (docs/cost_share.md "Accumulator balances").

    Returns
    -------
    (lines, adjustments), or (lines, adjustments, balances) when ``plans`` or
    ``accumulators`` is given
        ``lines``: one dict per input row, in input order. ``adjustments``: the 835 rows of
        every line, in line order. ``balances``: the ending accumulator balances, one dict
        per member, plan and plan year, sorted.

    Raises
    ------
    ValueError
        A required column is absent (the whole input is refused, §4), naming every one.
    """
    if contract is None:
        from pricer.contract import default_contract
        contract = default_contract()
    if schedules is None:
        from pricer.schedules import load_schedules
        schedules = load_schedules()
    if not isinstance(claims, pl.DataFrame):
        claims = pl.from_pandas(claims)
    missing = [c for c in REQUIRED_COLUMNS if c not in claims.columns]
    if missing:
        raise ValueError("claims: missing required column(s): " + ", ".join(missing))

    plan_set = load_plans(plans if plans is not None else getattr(contract, "plans", None))
    starting = _read_balances(accumulators, plan_set)
    pricer = _Pricer(contract, schedules, plan_set)
    lines: list[dict] = []
    adjustments: list[dict] = []
    # §11 high-dollar claims: billed charges (whole cents, not negative) of the claim's lines,
    # rejected ones included, summed per claim ID as given
    claim_billed: dict = {}
    for row in claims.iter_rows(named=True):
        amount = _rejected_amount(row.get("billed_charge"))
        if row.get("claim_id") is not None and amount >= 0:
            claim_billed[row["claim_id"]] = claim_billed.get(row["claim_id"], ZERO) + amount
    priced_lines = []
    with localcontext() as ctx:
        ctx.prec = 60  # far more digits than any product here: every step below is exact
        for row in claims.iter_rows(named=True):
            line = _Line(row)
            if claim_billed.get(row.get("claim_id"), ZERO) > HIGH_DOLLAR_CLAIM:
                line.flags.add("high_dollar_claim")
            reason = pricer.validate(line)
            if reason is not None:
                line.line_status, line.pricing_method, line.reason = "rejected", "rejected", reason
                line.locality = None  # OPEN: rejected lines report no locality
            else:
                try:
                    pricer.price(line)
                except _Denied as denial:
                    line.line_status = "denied"
                    line.pricing_method = denial.method
                    line.carc = denial.carc
                    line.reason = denial.reason
                    # A denied line reports no price, units, CF, version or drug coinsurance.
                    line.fee_schedule_amount = None
                    line.allowed_amount = ZERO
                    line.schedule_version = None
                    line.total_rvu = None
                    line.conversion_factor = None
                    line.anesthesia_base_units = None
                    line.anesthesia_time_units = None
                    line.drug_coinsurance_pct = None
            priced_lines.append(line)
        pricer.status_t(priced_lines)
        pricer.multiple_procedures(priced_lines)
        pricer.apply_percent_of_medicare(priced_lines)
        cost_share = _CostShare(pricer, plan_set, starting)
        cost_share.run(priced_lines)
        for line in priced_lines:
            out, adj = _settle(line, line.row.get("claim_id"), line.row.get("line_number"))
            lines.append(out)
            adjustments.extend(adj)
    if plans is None and accumulators is None:
        return lines, adjustments
    return lines, adjustments, cost_share.balances()


def balances(claims, lines: list[dict], adjustments: list[dict]) -> list[int]:
    """Indexes of lines where billed charge != paid + sum(adjustments) (should be none).

    Lines whose billed charge is not a whole-cent number are compared with 0.00, the amount
    their CO-16 row carries.
    """
    by_line: dict = {}
    for adj in adjustments:
        key = (adj["claim_id"], adj["line_number"])
        by_line[key] = by_line.get(key, ZERO) + adj["amount"]
    bad = []
    for i, (row, out) in enumerate(zip(claims.iter_rows(named=True), lines)):
        billed = _rejected_amount(row.get("billed_charge"))
        total = out["paid_amount"] + by_line.get((row.get("claim_id"), row.get("line_number")),
                                                 ZERO)
        if billed != total:
            bad.append(i)
    return bad
