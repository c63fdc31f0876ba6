"""Synthetic professional claim lines, realistic enough to exercise every pricing path.

:func:`synth_claims` draws claim lines in the input layout of rule book §3 from the real code
tables of a :class:`pricer.schedules.Schedules` (RVU, anesthesia base units, ASP): E&M-heavy
office claims, 26/TC imaging and pathology reads, anesthesia cases billed in minutes, drug
infusions with NDCs, codes with no RVUs (gap fill, percent of charges), bundled and quality
codes, plus, on request, lines with exactly one §4 defect each. The same
``(lines, seed, options)`` always gives the same frame. The distributions are documented in
``docs/synth.md``.

Speed: every column is drawn with vectorised numpy over lines (Python loops only run over
small vocabularies). String columns are built as Arrow string views gathered from a small
table of views per vocabulary, which is several times faster than a polars string gather;
10 M lines take a few seconds.

:func:`write_sample` writes the bundled sample ``pricer/sample/claims_sample.csv`` priced by
``pricer reprice`` with no input.
"""
from __future__ import annotations

import datetime as dt
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

__all__ = [
    "COLUMNS", "DEFECTS", "SAMPLE_PATH", "SCHEMA", "sample_frame", "synth_claims",
    "write_sample",
]

SAMPLE_PATH = Path(__file__).parent / "sample" / "claims_sample.csv"
SAMPLE_SEED = 2025
SAMPLE_LINES = 300

_DEC = pl.Decimal(18, 2)
SCHEMA: dict[str, pl.DataType] = {
    "claim_id": pl.String, "line_number": pl.Int32, "member_id": pl.String,
    "line_of_business": pl.String, "date_of_service": pl.Date, "received_date": pl.Date,
    "hcpcs": pl.String, "modifier_1": pl.String, "modifier_2": pl.String,
    "modifier_3": pl.String, "modifier_4": pl.String, "units": pl.Int32,
    "billed_charge": _DEC, "place_of_service": pl.String, "locality": pl.String,
    "service_state": pl.String, "service_county": pl.String, "service_zip": pl.String,
    "claim_form": pl.String, "frequency_code": pl.String, "ndc": pl.String,
    "rendering_npi": pl.String, "deductible": _DEC, "copay": _DEC, "coinsurance": _DEC,
    "qmb": pl.Boolean, "other_payer_paid": _DEC,
}
COLUMNS = tuple(SCHEMA)
# added by synth_claims(plans=...): the columns of benefit plans (docs/cost_share.md)
PLAN_COLUMNS = ("plan_id", "subscriber_id", "rendering_provider_type")

# The §4 defects a typed frame can carry, one per defective line, with the reason the engine
# must give (docs/decisions.md, Validation). Fractional units, unparseable numbers or dates and
# fractions of a cent cannot be held by Int32 / Date / Decimal(18,2) columns: they only exist
# in CSV text, and the bundled sample shows each of them (see write_sample).
DEFECTS = (
    "hcpcs_invalid", "hcpcs_missing", "units_below_one", "billed_charge_negative",
    "dos_after_received", "place_of_service_invalid", "line_of_business_unknown",
    "member_id_invalid", "locality_invalid", "anesthesia_minutes_implausible",
)
DEFECT_COLUMN = "synth_defect"

_EPOCH = dt.date(1970, 1, 1)
_TAIL_SEED = 0x7A11  # fixed: which tail codes are "popular" does not depend on the user seed

# ------------------------------------------------------------------------------------------
# Distributions (documented in docs/synth.md)
# ------------------------------------------------------------------------------------------

LOBS = ("commercial", "medicare", "medicare_cost", "medicaid", "other")
LOB_WEIGHTS = (0.55, 0.25, 0.03, 0.12, 0.05)
QMB_SHARE_OF_MEDICARE = 0.06

# Claim types: general professional claims, anesthesia cases and drug infusions. Each has its
# own claim-size distribution and line-kind mix; the claim-type probabilities are derived from
# the wanted line shares (anesthesia ~4 %, drug ~4 % of lines).
T_GENERAL, T_ANES, T_INFUSION = 0, 1, 2
SIZE_WEIGHTS = {
    T_GENERAL: (0.20, 0.22, 0.20, 0.16, 0.12, 0.10),
    T_ANES: (0.70, 0.22, 0.08),
    T_INFUSION: (0.15, 0.35, 0.30, 0.15, 0.05),
}
# Line kinds
K_EM, K_PROC, K_PCTC, K_ANES, K_DRUG, K_NOPAY, K_BUNDLED, K_ADMIN, K_ADJUNCT = range(9)
KIND_NAMES = ("em", "proc", "pctc", "anesthesia", "drug", "no_rvu", "bundled", "infusion_admin",
              "anesthesia_adjunct")
TARGET_LINE_SHARE = {  # of all lines
    "em": 0.45, "pctc": 0.08, "anesthesia": 0.04, "drug": 0.04, "no_rvu": 0.04, "bundled": 0.02,
}
ANES_OTHER_LINE_ANES = 0.40      # anesthesia claims: line 1 anesthesia, later lines 40 % too
INFUSION_FIRST_EM = 0.50         # infusion claims: line 1 E&M or an administration code
INFUSION_OTHER_DRUG = 0.75       # later lines: 75 % drug, else administration

POS_BY_TYPE = {
    T_GENERAL: {"11": 0.66, "22": 0.09, "21": 0.08, "23": 0.06, "02": 0.05, "19": 0.03,
                "81": 0.02, "12": 0.005, "24": 0.005},
    T_ANES: {"22": 0.35, "21": 0.30, "24": 0.25, "23": 0.10},
    T_INFUSION: {"11": 0.55, "22": 0.30, "19": 0.15},
}
WEEKEND_MOVED = 0.85       # share of weekend visits moved to Friday/Monday, except POS 21/23
DRUG_IN_ASP_WINDOW = 0.80  # infusion claims whose DOS is redrawn inside an ASP quarter

EM_OFFICE = {"99213": 30, "99214": 30, "99212": 8, "99215": 7, "99203": 6, "99204": 8,
             "99202": 2, "99205": 4, "99211": 5}
EM_INPATIENT = {"99221": 8, "99222": 12, "99223": 15, "99231": 20, "99232": 30, "99233": 15}
EM_ED = {"99281": 3, "99282": 7, "99283": 25, "99284": 35, "99285": 30}

# Other payable codes (status A/R/T; N only for the preventive visits listed): 60 % of
# procedure lines from this list, 40 % from a Zipf tail over every other A/R code with RVUs.
PROC_COMMON = {
    "G2211": 6, "99396": 3, "99395": 2, "99385": 2, "99386": 1, "99391": 2, "99392": 1,
    "G0439": 3, "G0438": 1, "99497": 1, "96372": 5, "90471": 4, "20610": 3, "20552": 1,
    "17110": 2, "17000": 3, "11102": 2, "11721": 2, "11042": 1, "12001": 1, "10060": 1,
    "69210": 2, "97110": 6, "97140": 4, "97530": 3, "97161": 1, "98941": 3, "90834": 4,
    "90837": 4, "90832": 1, "90791": 2, "90853": 1, "99406": 1, "96127": 3, "92014": 2,
    "92012": 1, "92004": 1, "93000": 4, "71046": 3, "73030": 1, "73610": 1, "72100": 1,
    "77067": 2, "77080": 1, "76700": 1, "76856": 1, "93306": 1, "88305": 2, "45378": 2,
    "43239": 1, "66984": 1, "29881": 1, "27447": 0.5, "47562": 0.5, "64483": 1, "62323": 1,
    "36410": 0.5, "99091": 0.5,
}
PROC_COMMON_MASS = 0.60
PROC_53_SHARE = 0.004    # procedure lines replaced by a code with a CMS -53 row, billed -53
# 26/TC rows (60 % of them 26): 60 % from this list, 40 % from every other 26/TC row.
PCTC_COMMON = {
    "71046": 8, "71045": 3, "73030": 2, "73610": 2, "72100": 2, "74018": 2, "70450": 3,
    "74177": 3, "72148": 2, "73721": 2, "76700": 2, "76856": 2, "76830": 1, "76805": 1,
    "77067": 4, "77080": 1, "93306": 3, "93880": 1, "93970": 1, "88305": 5, "88312": 1,
    "88342": 2, "95810": 0.5,
}
PCTC_26_SHARE = 0.60
ANES_COMMON = {
    "00731": 8, "00811": 8, "00790": 6, "00812": 6, "00142": 6, "00840": 5, "00813": 4,
    "01402": 3, "00400": 3, "01961": 3, "01480": 2, "00670": 2, "00630": 2, "00300": 2,
    "00910": 2, "01400": 2, "01630": 2, "00170": 2, "01810": 2, "00914": 1, "00160": 1,
    "00532": 1, "00320": 1, "00562": 1, "00567": 1,
}
ANES_MIX = {"common": 0.695, "01967": 0.10, "01999": 0.005, "tail": 0.20}
ANES_PAYMENT_MODIFIER = {"AA": 0.50, "QK": 0.22, "QX": 0.15, "QZ": 0.08, "QY": 0.02,
                         "AD": 0.01, None: 0.02}
ANES_PHYSICAL_STATUS = {"P1": 0.25, "P2": 0.50, "P3": 0.20, "P4": 0.04, "P5": 0.01}
ANES_PHYSICAL_STATUS_SHARE = 0.70
ANES_QS_SHARE = 0.08
ANES_ADJUNCT = {"36620": 5, "64447": 3, "64415": 2, "76937": 2, "62323": 1, "36556": 2,
                "64488": 1, "99100": 2}
INFUSION_ADMIN = {"96365": 4, "96366": 2, "96372": 5, "96374": 3, "96413": 3, "96415": 1,
                  "96417": 1, "96375": 2}
# J-codes (weight, typical units in the file's dosage unit); 70 % from here, 30 % other J-codes.
DRUG_COMMON = {
    "J1100": (12, 8), "J3301": (8, 4), "J1030": (4, 1), "J1040": (3, 1), "J0696": (7, 4),
    "J2550": (3, 1), "J1885": (6, 2), "J3420": (7, 1), "J1071": (4, 100), "J0897": (5, 60),
    "J2505": (2, 12), "J0178": (5, 2), "J9271": (2, 200), "J1745": (3, 40), "J9312": (2, 70),
    "J2778": (2, 5), "J1950": (2, 2), "J0585": (3, 100), "J2405": (4, 4), "J7030": (5, 1),
    "J7050": (3, 2), "J0129": (2, 75), "J1569": (2, 60), "J9035": (2, 50), "J2357": (2, 60),
    "J0885": (3, 10),
}
DRUG_COMMON_MASS = 0.70
DRUG_UNIT_SCALE = (0.5, 1.0, 1.0, 1.0, 1.5, 2.0)
DRUG_TAIL_UNITS = (1, 1, 1, 1, 1, 2, 2, 3, 4, 10)
DRUG_ONE_UNIT_FROM = 100    # dollars: tail drugs whose payment limit per unit is this or more
NDC_MISSING = 0.03
NDC_FORMATS = {"plain": 0.65, "hyphen": 0.33, "ten_digit": 0.02}  # 10 digits: not an NDC11
DRUG_JZ_SHARE = 0.50
# Codes with no RVUs. (share of no-RVU lines, median approximate fee in dollars)
NOPAY_GROUPS = {
    "lab": (0.45, 15), "carrier_priced": (0.22, 250), "not_valid_medicare": (0.15, 90),
    "excluded": (0.10, 60), "not_in_rvu_file": (0.05, 60), "ambulance_mileage": (0.03, 8),
}
NOPAY_LAB = {"36415": 10, "85025": 6, "80053": 5, "80061": 4, "83036": 3, "84443": 3,
             "81003": 2, "87880": 1, "85610": 1, "82947": 1, "80048": 2, "81002": 1, "87804": 1}
NOPAY_C = {"17999": 2, "64999": 2, "29999": 1, "20999": 1, "99199": 1, "37799": 1, "49999": 1,
           "0101T": 2, "0521T": 1}
NOPAY_I = {"S9083": 3, "T1015": 3, "H0031": 1, "H2019": 1, "H0004": 1, "T1013": 1, "S0630": 1,
           "99358": 1}
NOPAY_E = {"J3490": 3}
NOPAY_ABSENT = {"0241U": 2, "U0003": 1, "0202U": 1, "0001U": 1}
NOPAY_AMBULANCE = {"A0425": 1}
# Bundled and measurement codes: (share of bundled lines, median approximate fee in dollars)
BUNDLED_GROUPS = {"B": (0.45, 15), "P": (0.20, 10), "M": (0.35, 0)}
BUNDLED_B = {"99024": 4, "99070": 3, "99000": 2, "97010": 2, "99072": 1, "99080": 1,
             "A4550": 1, "99288": 1}
BUNDLED_M = {"G8427": 2, "1036F": 2}

PROC_MODIFIER = {"59": 0.04, "RT": 0.05, "LT": 0.05, "51": 0.02, "XS": 0.01, "76": 0.01,
                 "22": 0.005, "50": 0.01, "80": 0.005, None: 0.795}
EM_25_OFFICE, EM_25_OTHER, EM_95_TELEHEALTH, EM_GC_INPATIENT = 0.15, 0.05, 0.70, 0.10
PROC_UNITS = {1: 0.88, 2: 0.08, 3: 0.03, 4: 0.01}

CHARGE_BELOW_FEE = 0.10        # lines billed at 60-100 % of the approximate fee
CHARGE_WHOLE_DOLLARS = 0.60    # charges rounded to whole dollars
APPROX_CF_CENTS = 60           # approximate fee = total RVU x $60

LOCATION_MODES = {"locality": 0.25, "state_county": 0.30, "zip": 0.25, "none": 0.20}
LOCALITY_GIVEN = {"02402-02": 0.55, "02402-99": 0.40, "other": 0.05}
WA_COUNTIES = {"King": 0.45, "Pierce": 0.13, "Snohomish": 0.11, "Spokane": 0.08, "Clark": 0.07,
               "Thurston": 0.04, "Kitsap": 0.03, "Whatcom": 0.03, "Yakima": 0.02,
               "Benton": 0.02, "Skagit": 0.01, "Cowlitz": 0.01}
OTHER_STATE_SHARE = 0.05
OTHER_STATE_COUNTIES = {("OR", "Multnomah"): 0.35, ("OR", "Lane"): 0.15, ("ID", "Ada"): 0.25,
                        ("CA", "Los Angeles"): 0.15, ("AK", "Anchorage"): 0.10}
STATE_SPELLING = {"{code}": 0.85, "{name}": 0.10, "{lower}": 0.05}
COUNTY_SPELLING = {"{name}": 0.40, "{upper}": 0.30, "{name} County": 0.25, "{lower} county": 0.05}
WA_ZIPS = {"98101": 6, "98104": 5, "98109": 3, "98122": 3, "98115": 3, "98103": 3, "98052": 4,
           "98004": 4, "98033": 2, "98188": 1, "98007": 2, "98402": 3, "98405": 2, "98201": 3,
           "98026": 1, "99201": 3, "99203": 1, "98501": 2, "98661": 2, "98225": 2, "98902": 1,
           "99301": 1, "99352": 1, "98310": 1, "98382": 1, "98632": 1}
ZIP_PLUS4_SHARE = 0.10
MEMBER_ZERO_FILLED = 0.70
# with plans: members in families (the first member is the subscriber), one plan per family,
# a provider type per rendering provider
FAMILY_SIZE = (0.45, 0.25, 0.15, 0.10, 0.05)   # 1..5 members
PROVIDER_TYPES = {"physician": 0.55, "specialist": 0.20, "nurse_practitioner": 0.10,
                  "physician_assistant": 0.08, "lab_technician": 0.04, "other": 0.03}

COST_SHARE_DEDUCTIBLE = 0.35
COST_SHARE_COINSURANCE = 0.55
COPAY_EM = {"commercial": (0.70, (10, 20, 25, 30, 40, 50)), "other": (0.70, (20, 30)),
            "medicaid": (0.30, (1, 2, 3, 4)), "medicare": (0.15, (20,)),
            "medicare_cost": (0.15, (20,))}
COPAY_OTHER_LINES = (0.05, (10, 20))

# Defect values
BAD_HCPCS = ("9921", "992134", "99 13", "J-100", "ABCDE1", "9921 ")
MISSING_HCPCS = (None, None, "", "  ")
BAD_POS = ("00", "00", "100", "AB")
BAD_LOB = ("dental", "dental", "vision")
BAD_MEMBER = ("ABC123", "123456789", "987654321", "A1234567")
BAD_LOCATION = (("99999-99", None, None, None), ("99999-99", None, None, None),
                ("02402-77", None, None, None), (None, "ZZ", "King", None),
                (None, None, None, "00000"))
BAD_MINUTES = (2000, 2000, 1441, 1500, 2880)

_STATE_NAMES = {"WA": "Washington", "OR": "Oregon", "ID": "Idaho", "CA": "California",
                "AK": "Alaska"}


# ------------------------------------------------------------------------------------------
# Arrow string views: gather a small vocabulary by index, no per-line Python
# ------------------------------------------------------------------------------------------

def _views_of(values: list[str | None]) -> tuple[np.ndarray, bytes, np.ndarray]:
    """Arrow string-view structs (as complex128, 16 bytes each), data buffer, null flags."""
    views = np.zeros((len(values), 16), np.uint8)
    data = bytearray()
    nulls = np.zeros(len(values), bool)
    for i, s in enumerate(values):
        if s is None:
            nulls[i] = True
            continue
        b = s.encode()
        views[i, 0:4] = np.array([len(b)], "<i4").view(np.uint8)
        if len(b) <= 12:
            views[i, 4:4 + len(b)] = np.frombuffer(b, np.uint8)
        else:
            views[i, 4:8] = np.frombuffer(b[:4], np.uint8)
            views[i, 8:16] = np.array([0, len(data)], "<i4").view(np.uint8)  # buffer 0, offset
            data += b
    return views.view(np.complex128).reshape(-1), bytes(data), nulls


def _ascii_table(width: int) -> np.ndarray:
    """``table[i]``: the ``width`` ASCII digits of i, zero-filled, first digit in the low byte."""
    i = np.arange(10 ** width, dtype=np.uint64)
    out = np.zeros(10 ** width, np.uint64)
    for pos in range(width):
        digit = (i // np.uint64(10 ** (width - 1 - pos))) % np.uint64(10)
        out |= (digit + np.uint64(48)) << np.uint64(8 * pos)
    return out


_ASCII2, _ASCII3, _ASCII4 = _ascii_table(2), _ascii_table(3), _ascii_table(4)


def _packed_views(length: np.ndarray, chars_0_3: np.ndarray, chars_4_11: np.ndarray) -> np.ndarray:
    """Inline string views from a length and the first 4 and next 8 bytes (little-endian)."""
    if sys.byteorder != "little":  # pragma: no cover - Arrow views are built little-endian here
        raise NotImplementedError("pricer.synth builds Arrow buffers for little-endian machines")
    views = np.empty((length.size, 2), np.uint64)
    views[:, 0] = length.astype(np.uint64) | (chars_0_3.astype(np.uint64) << np.uint64(32))
    views[:, 1] = chars_4_11
    return views.view(np.complex128).reshape(-1)


def _ten_char_views(numbers: np.ndarray, prefix: str | None = None) -> np.ndarray:
    """Views of ``prefix`` + 9 zero-filled digits, or of 10 zero-filled digits (no prefix)."""
    x = np.asarray(numbers, np.int64)
    if x.size and (x.min() < 0 or x.max() >= (10 ** 9 if prefix else 10 ** 10)):
        raise ValueError("number too large for its string")
    if prefix:
        head = np.uint64(ord(prefix)) | (_ASCII3[x // 10 ** 6] << np.uint64(8))
    else:
        head = _ASCII4[x // 10 ** 6]
    tail = _ASCII4[(x // 100) % 10 ** 4] | (_ASCII2[x % 100] << np.uint64(32))
    return _packed_views(np.full(x.size, 10), head, tail)


def _member_views(numbers: np.ndarray, zero_fill: np.ndarray) -> np.ndarray:
    """Views of 1-8 digit numbers: zero-filled to 8 where ``zero_fill``, else as is."""
    x = np.asarray(numbers, np.int64)
    if x.size and (x.min() < 0 or x.max() >= 10 ** 8):
        raise ValueError("member number too large")
    right = _ASCII4[x // 10 ** 4] | (_ASCII4[x % 10 ** 4] << np.uint64(32))  # 8 chars
    ndig = np.ones(x.size, np.int64)
    for p in range(1, 8):
        ndig += x >= 10 ** p
    ndig = np.where(zero_fill, 8, ndig)
    s = right >> (np.uint64(8) * (8 - ndig).astype(np.uint64))    # drop the leading zeros
    return _packed_views(ndig, s & np.uint64(0xFFFFFFFF), s >> np.uint64(32))


class _Strings:
    """A vocabulary of strings (None allowed) gathered into polars String columns by index."""

    def __init__(self, values=None, *, views: np.ndarray | None = None):
        if views is not None:
            self.values = None
            self._views, self._data, self._nulls = views, b"", np.zeros(views.size, bool)
        else:
            self.values = list(values)
            self._views, self._data, self._nulls = _views_of(self.values)
        self._has_nulls = bool(self._nulls.any())

    def __len__(self) -> int:
        return self._views.size

    def take(self, idx: np.ndarray) -> pl.Series:
        idx = np.asarray(idx)
        n = idx.size
        views = self._views[idx]
        validity, null_count = None, 0
        if self._has_nulls:
            is_null = self._nulls[idx]
            null_count = int(is_null.sum())
            if null_count:
                validity = pa.py_buffer(np.packbits(~is_null, bitorder="little"))
        buffers = [validity, pa.py_buffer(views)]
        if self._data:
            buffers.append(pa.py_buffer(self._data))
        arr = pa.Array.from_buffers(pa.string_view(), n, buffers, null_count=null_count)
        return pl.Series(pl.from_arrow(arr))


def _decimal(cents: np.ndarray, valid: np.ndarray | None = None) -> pl.Series:
    """Decimal(18, 2) series of integer cents (null where ``valid`` is False)."""
    cents = np.asarray(cents, np.int64)
    n = cents.size
    buf = np.zeros((n, 2), np.int64)
    buf[:, 0] = cents
    if n and cents.min() < 0:
        buf[:, 1] = cents >> 63
    validity, null_count = None, 0
    if valid is not None and not valid.all():
        null_count = int(n - valid.sum())
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    arr = pa.Array.from_buffers(pa.decimal128(18, 2), n, [validity, pa.py_buffer(buf)],
                                null_count=null_count)
    return pl.Series(pl.from_arrow(arr))


# ------------------------------------------------------------------------------------------
# Code pools from the schedules
# ------------------------------------------------------------------------------------------

def _cum(weights) -> np.ndarray:
    w = np.asarray(weights, np.float64)
    c = np.cumsum(w)
    return c / c[-1] if c.size and c[-1] > 0 else c


def _pick(rng: np.random.Generator, cum: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn with the probabilities whose cumulative sum is ``cum`` (exact).

    A guide table (indexed search) replaces a binary search per draw: the first candidate
    comes from the table, then a few vectorised steps finish the search.
    """
    u = rng.random(size)
    if cum.size <= 1 or size == 0:
        return np.zeros(size, np.int32)
    m = 1 << int(min(20, max(12, np.ceil(np.log2(cum.size)) + 4)))
    guide = np.searchsorted(cum, np.arange(m) / m, side="right").astype(np.int32)
    i = guide[(u * m).astype(np.int32)]
    todo = np.flatnonzero(cum[i] <= u)
    while todo.size:
        i[todo] += 1
        todo = todo[cum[i[todo]] <= u[todo]]
    return i


@dataclass
class _Pool:
    """Codes of one line kind with draw weights and per-code attributes."""

    codes: list[str]
    cum: np.ndarray
    fee: np.ndarray            # approximate fee per unit, cents
    offset: int = 0            # position of codes[0] in the hcpcs vocabulary
    modifier: list[str | None] | None = None
    extra: np.ndarray | None = None

    def pick(self, rng, size):
        return _pick(rng, self.cum, size)


def _mix(common: dict, tail: list[str], common_mass: float, exclude=()) -> tuple[list[str], np.ndarray]:
    """Codes and weights: the ``common`` codes share ``common_mass`` of the weight in
    proportion to their own weights; the other ``tail`` codes share the rest, Zipf-weighted
    over a fixed shuffle (``1/(rank+10)^1.1``)."""
    codes = list(common)
    w_common = np.array([common[c] for c in codes], np.float64)
    skip = set(codes) | set(exclude)
    rest = [c for c in tail if c not in skip]
    if rest:
        order = np.random.default_rng(_TAIL_SEED).permutation(len(rest))
        rank = np.empty(len(rest), np.int64)
        rank[order] = np.arange(len(rest))
        w_tail = 1.0 / (rank + 10.0) ** 1.1
    else:
        w_tail = np.zeros(0)
    if not codes:
        return rest, w_tail
    if not rest:
        return codes, w_common
    w = np.concatenate([w_common / w_common.sum() * common_mass,
                        w_tail / w_tail.sum() * (1 - common_mass)])
    return codes + rest, w


def _rvu_union(schedules) -> pl.DataFrame:
    """Every (hcpcs, modifier) of any RVU vintage, with the newest vintage's values."""
    frames = [v.table.select("hcpcs", "modifier", "status", "work_rvu", "pe_nonfacility_rvu",
                             "mp_rvu", "pctc_ind")
              for v in schedules.vintages("rvu")]
    if not frames:
        raise ValueError("synth_claims needs at least one RVU vintage in the schedules")
    df = pl.concat(frames).unique(subset=["hcpcs", "modifier"], keep="last", maintain_order=True)
    return df.with_columns(
        total=pl.col("work_rvu") + pl.col("pe_nonfacility_rvu") + pl.col("mp_rvu")
    ).sort("hcpcs", "modifier")


def _latest(schedules, kind: str, keys: list[str]) -> pl.DataFrame:
    frames = [v.table for v in schedules.vintages(kind)]
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed").unique(
        subset=keys, keep="last", maintain_order=True).sort(keys)


def _as_days(d) -> int:
    if isinstance(d, str):
        d = dt.date.fromisoformat(d)
    if isinstance(d, dt.datetime):
        d = d.date()
    return (d - _EPOCH).days


@dataclass
class _Pools:
    em: dict[str, _Pool]           # "office", "inpatient", "ed"
    proc: _Pool
    proc53: _Pool
    pctc: _Pool
    anes: _Pool                    # extra = base units
    anes_bad: int                  # vocabulary index of an anesthesia code for the 2000-minute defect
    adjunct: _Pool
    admin: _Pool
    drug: _Pool                    # extra = typical units; fee = payment limit, 1/1000 $
    nopay: _Pool
    bundled: _Pool                 # extra = 1 for status M (billed 0.00 / 0.01)
    hcpcs: _Strings
    bad_hcpcs: int                 # vocabulary offset of BAD_HCPCS then MISSING_HCPCS
    ndc: _Strings                  # per (drug code, variant, format) + null at the end
    ndc_null: int
    asp_windows: list[tuple[int, int]]  # (from, to) days covered by an ASP vintage
    other_localities: list[str]


def _fee_of(rvu: pl.DataFrame, codes: list[str], modifiers=None) -> np.ndarray:
    keys = pl.DataFrame({"hcpcs": codes,
                         "modifier": modifiers if modifiers is not None else [""] * len(codes)})
    got = keys.join(rvu.select("hcpcs", "modifier", "total"), on=["hcpcs", "modifier"],
                    how="left", maintain_order="left")
    return (got["total"].fill_null(0).to_numpy().astype(np.int64) * APPROX_CF_CENTS)


def _pool_from(rvu, common: dict, tail: list[str], mass: float, *, exclude=(),
               fallback_dollars: float = 0.0) -> _Pool:
    codes, w = _mix(common, tail, mass, exclude)
    fee = _fee_of(rvu, codes)
    fee = np.where(fee > 0, fee, int(round(fallback_dollars * 100)))
    return _Pool(codes, _cum(w), fee)


def _groups_pool(groups: dict[str, tuple[float, float]], members: dict[str, tuple[list[str], np.ndarray]],
                 ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate sub-pools: codes, weights, median fee (cents), group index."""
    codes, weights, fees, group = [], [], [], []
    for gi, (name, (share, median)) in enumerate(groups.items()):
        cs, w = members[name]
        if not cs:
            continue
        w = np.asarray(w, np.float64)
        codes += cs
        weights.append(w / w.sum() * share)
        fees.append(np.full(len(cs), int(round(median * 100)), np.int64))
        group.append(np.full(len(cs), gi, np.int8))
    if not codes:
        return [], np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int8)
    return codes, np.concatenate(weights), np.concatenate(fees), np.concatenate(group)


def _build_pools(schedules) -> _Pools:
    rvu = _rvu_union(schedules)
    blank = rvu.filter(pl.col("modifier") == "")
    status_of = dict(zip(blank["hcpcs"].to_list(), blank["status"].to_list()))
    total_of = dict(zip(blank["hcpcs"].to_list(), blank["total"].to_list()))
    in_rvu = set(rvu["hcpcs"].to_list())

    def present(d: dict, statuses: str, positive: bool = True) -> dict:
        return {c: w for c, w in d.items() if status_of.get(c, "?") in statuses
                and (not positive or total_of.get(c, 0) > 0)}

    em_codes = set(EM_OFFICE) | set(EM_INPATIENT) | set(EM_ED)
    em = {name: _pool_from(rvu, present(d, "AR"), [], 1.0)
          for name, d in (("office", EM_OFFICE), ("inpatient", EM_INPATIENT), ("ed", EM_ED))}
    for name, p in em.items():
        if not p.codes:
            raise ValueError(f"synth_claims: no {name} E&M code in the RVU tables")

    anes_tab = _latest(schedules, "anes_base", ["hcpcs"])
    anes_codes = set(anes_tab["hcpcs"].to_list()) if anes_tab.height else set()
    payable = blank.filter(pl.col("status").is_in(["A", "R"]) & (pl.col("total") > 0))
    tail = [c for c in payable["hcpcs"].to_list() if c not in em_codes and c not in anes_codes]
    proc = _pool_from(rvu, present(PROC_COMMON, "ARTN"), tail, PROC_COMMON_MASS)

    r53 = rvu.filter((pl.col("modifier") == "53") & pl.col("status").is_in(["A", "R"]))
    c53 = r53["hcpcs"].to_list()
    proc53 = _Pool(c53, _cum(np.ones(len(c53))) if c53 else np.ones(0),
                   _fee_of(rvu, c53, ["53"] * len(c53)), modifier=["53"] * len(c53))

    pc = rvu.filter(
        pl.col("status").is_in(["A", "R"]) & (pl.col("total") > 0) & (
            ((pl.col("modifier") == "26") & pl.col("pctc_ind").is_in([1, 6, 8]))
            | ((pl.col("modifier") == "TC") & (pl.col("pctc_ind") == 1))))
    pc_codes, pc_mods = pc["hcpcs"].to_list(), pc["modifier"].to_list()
    common_w = np.array([PCTC_COMMON.get(c, 0.0) for c in pc_codes])
    order = np.random.default_rng(_TAIL_SEED + 1).permutation(len(pc_codes))
    rank = np.empty(len(pc_codes), np.int64)
    rank[order] = np.arange(len(pc_codes))
    tail_w = np.where(common_w > 0, 0.0, 1.0 / (rank + 10.0) ** 1.1)
    mod_w = np.where(np.array(pc_mods) == "26", PCTC_26_SHARE, 1 - PCTC_26_SHARE)
    w = (common_w / max(common_w.sum(), 1e-12) * 0.6 + tail_w / max(tail_w.sum(), 1e-12) * 0.4)
    w = w * mod_w
    pctc = _Pool(pc_codes, _cum(w), _fee_of(rvu, pc_codes, pc_mods), modifier=pc_mods)

    if anes_tab.height == 0:
        raise ValueError("synth_claims needs an anesthesia base-unit table in the schedules")
    base_of = dict(zip(anes_tab["hcpcs"].to_list(), anes_tab["base_units"].to_list()))
    a_common = {c: w for c, w in ANES_COMMON.items() if c in base_of}
    a_tail = [c for c in anes_tab["hcpcs"].to_list()
              if c not in a_common and c not in ("01967", "01999")]
    a_codes, a_w = [], []
    for part, share in ANES_MIX.items():
        if part == "common":
            cs, w = list(a_common), np.array(list(a_common.values()), np.float64)
        elif part == "tail":
            cs, w = _mix({}, a_tail, 0.0)
        else:
            cs, w = ([part], np.ones(1)) if part in base_of else ([], np.zeros(0))
        if cs:
            a_codes += cs
            a_w.append(w / w.sum() * share)
    anes = _Pool(a_codes, _cum(np.concatenate(a_w)), np.zeros(len(a_codes), np.int64),
                 extra=np.array([base_of[c] for c in a_codes], np.int64))

    adjunct = _pool_from(rvu, {c: w for c, w in ANES_ADJUNCT.items() if c in in_rvu}, [], 1.0,
                         fallback_dollars=40)
    admin = _pool_from(rvu, present(INFUSION_ADMIN, "AR"), [], 1.0, fallback_dollars=60)

    asp = _latest(schedules, "asp", ["hcpcs"])
    if asp.height == 0:
        raise ValueError("synth_claims needs an ASP table in the schedules")
    j_codes = [c for c in asp["hcpcs"].to_list() if c.startswith("J")]
    limit_of = dict(zip(asp["hcpcs"].to_list(), asp["payment_limit"].to_list()))
    d_common = {c: w for c, (w, _u) in DRUG_COMMON.items() if c in limit_of}
    d_codes, d_w = _mix(d_common, j_codes, DRUG_COMMON_MASS)
    drug = _Pool(d_codes, _cum(d_w), np.array([limit_of[c] for c in d_codes], np.int64),
                 extra=np.array([DRUG_COMMON[c][1] if c in DRUG_COMMON else 0 for c in d_codes],
                                np.int64))
    asp_windows = []
    for v in schedules.vintages("asp"):
        f = _as_days(v.effective_from)
        t = _as_days(v.effective_to) if v.effective_to is not None else f + 91
        asp_windows.append((f, t))

    c_tail = blank.filter((pl.col("status") == "C") & (pl.col("total") == 0))["hcpcs"].to_list()
    e_tail = blank.filter(pl.col("status") == "E")["hcpcs"].to_list()
    np_members = {
        "lab": _mix({c: w for c, w in NOPAY_LAB.items() if status_of.get(c) == "X"}, [], 1.0),
        "carrier_priced": _mix({c: w for c, w in NOPAY_C.items() if status_of.get(c) == "C"},
                               c_tail, 0.7),
        "not_valid_medicare": _mix({c: w for c, w in NOPAY_I.items() if status_of.get(c) == "I"},
                                   [], 1.0),
        "excluded": _mix({c: w for c, w in NOPAY_E.items() if status_of.get(c) == "E"},
                         [c for c in e_tail if c not in limit_of], 0.3),
        "not_in_rvu_file": _mix({c: w for c, w in NOPAY_ABSENT.items() if c not in in_rvu}, [], 1.0),
        "ambulance_mileage": _mix(NOPAY_AMBULANCE, [], 1.0),
    }
    n_codes, n_w, n_fee, n_group = _groups_pool(NOPAY_GROUPS, np_members)
    nopay = _Pool(n_codes, _cum(n_w), n_fee, extra=n_group)

    b_tail = blank.filter(pl.col("status") == "B")["hcpcs"].to_list()
    p_tail = blank.filter(pl.col("status") == "P")["hcpcs"].to_list()
    m_tail = blank.filter(pl.col("status") == "M")["hcpcs"].to_list()
    b_members = {
        "B": _mix({c: w for c, w in BUNDLED_B.items() if status_of.get(c) == "B"}, b_tail, 0.8),
        "P": _mix({}, p_tail, 0.0),
        "M": _mix({c: w for c, w in BUNDLED_M.items() if status_of.get(c) == "M"}, m_tail, 0.5),
    }
    b_codes, b_w, b_fee, b_group = _groups_pool(BUNDLED_GROUPS, b_members)
    is_m = np.array([status_of.get(c) == "M" for c in b_codes])
    bundled = _Pool(b_codes, _cum(b_w), b_fee, extra=is_m.astype(np.int8))

    # Other schedules than the bundled ones may lack some kinds: essential ones are required,
    # the others fall back to the payable procedures.
    for name, p in (("26/TC", pctc), ("anesthesia", anes), ("drug", drug), ("procedure", proc)):
        if not p.codes:
            raise ValueError(f"synth_claims: the schedules have no {name} codes to draw from")

    def or_proc(p: _Pool) -> _Pool:
        if p.codes:
            return p
        return _Pool(list(proc.codes), proc.cum, proc.fee, extra=np.zeros(len(proc.codes), np.int8))

    adjunct, admin, nopay, bundled = or_proc(adjunct), or_proc(admin), or_proc(nopay), or_proc(bundled)

    # one hcpcs vocabulary for every pool, then the defect values
    vocab: list[str | None] = []
    pools = [*em.values(), proc, proc53, pctc, anes, adjunct, admin, drug, nopay, bundled]
    for p in pools:
        p.offset = len(vocab)
        vocab += p.codes
    bad_hcpcs = len(vocab)
    vocab += list(BAD_HCPCS) + list(MISSING_HCPCS)
    anes_bad = anes.offset + (anes.codes.index("00790") if "00790" in anes.codes else 0)

    # NDCs: three per drug code, each in the three formats of NDC_FORMATS
    nrng = np.random.default_rng(_TAIL_SEED + 2)
    labeler = nrng.integers(1, 99999, (len(d_codes), 3))
    product = nrng.integers(0, 9999, (len(d_codes), 3))
    package = nrng.integers(1, 99, (len(d_codes), 3))
    ndc_vals: list[str | None] = []
    for i in range(len(d_codes)):
        for v in range(3):
            lab, prod, pkg = int(labeler[i, v]), int(product[i, v]), int(package[i, v])
            ndc_vals += [f"{lab:05d}{prod:04d}{pkg:02d}", f"{lab:05d}-{prod:04d}-{pkg:02d}",
                         f"{lab % 10000:04d}-{prod:04d}-{pkg:02d}"]
    ndc_null = len(ndc_vals)
    ndc_vals.append(None)

    localities = schedules.localities() if hasattr(schedules, "localities") else []
    others = [loc for loc in localities if not loc.startswith("02402-")]
    step = max(1, len(others) // 10)
    return _Pools(em=em, proc=proc, proc53=proc53, pctc=pctc, anes=anes, anes_bad=anes_bad,
                  adjunct=adjunct, admin=admin, drug=drug, nopay=nopay, bundled=bundled,
                  hcpcs=_Strings(vocab), bad_hcpcs=bad_hcpcs, ndc=_Strings(ndc_vals),
                  ndc_null=ndc_null, asp_windows=asp_windows,
                  other_localities=others[::step][:10])


_POOLS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _pools_for(schedules) -> _Pools:
    try:
        hit = _POOLS.get(schedules)
    except TypeError:
        return _build_pools(schedules)
    if hit is None:
        hit = _build_pools(schedules)
        _POOLS[schedules] = hit
    return hit


# ------------------------------------------------------------------------------------------
# Locations (per rendering provider)
# ------------------------------------------------------------------------------------------

def _spell(template: str, name: str, code: str | None = None) -> str:
    return template.format(name=name, upper=name.upper(), lower=name.lower(), code=code or name)


def _locations(other_localities: list[str]) -> tuple[list[tuple], np.ndarray]:
    """(locality, state, county, zip) tuples and their weights; the defect tuples last."""
    rows: list[tuple] = []
    w: list[float] = []
    m = LOCATION_MODES
    for loc, share in LOCALITY_GIVEN.items():
        if loc == "other":
            for o in other_localities:
                rows.append((o, None, None, None))
                w.append(m["locality"] * share / len(other_localities))
        else:
            rows.append((loc, None, None, None))
            w.append(m["locality"] * share)
    places = [(("WA", c), (1 - OTHER_STATE_SHARE) * s) for c, s in WA_COUNTIES.items()]
    places += [(k, OTHER_STATE_SHARE * s) for k, s in OTHER_STATE_COUNTIES.items()]
    for (state, county), share in places:
        for st_t, st_s in STATE_SPELLING.items():
            st_name = _STATE_NAMES[state]
            st = {"{code}": state, "{name}": st_name, "{lower}": state.lower()}[st_t]
            for co_t, co_s in COUNTY_SPELLING.items():
                rows.append((None, st, _spell(co_t, county), None))
                w.append(m["state_county"] * share * st_s * co_s)
    zips = np.array(list(WA_ZIPS.values()), np.float64)
    zips /= zips.sum()
    plus4 = np.random.default_rng(_TAIL_SEED + 3).integers(1000, 9999, len(WA_ZIPS))
    for (z, share), p4 in zip(zip(WA_ZIPS, zips), plus4):
        rows.append((None, None, None, z))
        w.append(m["zip"] * share * (1 - ZIP_PLUS4_SHARE))
        rows.append((None, None, None, f"{z}-{p4}"))
        w.append(m["zip"] * share * ZIP_PLUS4_SHARE)
    rows.append((None, None, None, None))
    w.append(m["none"])
    return rows, np.array(w)


# ------------------------------------------------------------------------------------------
# The generator
# ------------------------------------------------------------------------------------------

def _claim_type_probabilities() -> np.ndarray:
    """Claim-type probabilities giving the target anesthesia and drug line shares."""
    mean = {t: float(np.dot(np.arange(1, len(w) + 1), w) / sum(w)) for t, w in SIZE_WEIGHTS.items()}
    anes_per_claim = 1 + (mean[T_ANES] - 1) * ANES_OTHER_LINE_ANES
    anes_line_share = TARGET_LINE_SHARE["anesthesia"] * mean[T_ANES] / anes_per_claim
    drug_per_claim = (mean[T_INFUSION] - 1) * INFUSION_OTHER_DRUG
    inf_line_share = TARGET_LINE_SHARE["drug"] * mean[T_INFUSION] / drug_per_claim
    shares = {T_GENERAL: 1 - anes_line_share - inf_line_share, T_ANES: anes_line_share,
              T_INFUSION: inf_line_share}
    q = np.array([shares[t] / mean[t] for t in (T_GENERAL, T_ANES, T_INFUSION)])
    return q / q.sum()


def _general_kind_weights() -> np.ndarray:
    """Line-kind probabilities within general claims giving the target line shares."""
    mean = {t: float(np.dot(np.arange(1, len(w) + 1), w) / sum(w)) for t, w in SIZE_WEIGHTS.items()}
    q = _claim_type_probabilities()
    lines = q * np.array([mean[T_GENERAL], mean[T_ANES], mean[T_INFUSION]])
    lines /= lines.sum()
    general = lines[0]
    em_elsewhere = lines[2] * INFUSION_FIRST_EM / mean[T_INFUSION]
    w = np.zeros(9)
    w[K_EM] = (TARGET_LINE_SHARE["em"] - em_elsewhere) / general
    w[K_PCTC] = TARGET_LINE_SHARE["pctc"] / general
    w[K_NOPAY] = TARGET_LINE_SHARE["no_rvu"] / general
    w[K_BUNDLED] = TARGET_LINE_SHARE["bundled"] / general
    w[K_PROC] = 1 - w.sum()
    return w


_MODS = (None, "26", "TC", "53", "25", "59", "RT", "LT", "51", "XS", "76", "22", "50", "80",
         "95", "GC", "AA", "QK", "QX", "QZ", "QY", "AD", "QS", "P1", "P2", "P3", "P4", "P5",
         "JZ", "JW")
_MOD = {m: i for i, m in enumerate(_MODS)}
_MOD_STRINGS = _Strings(_MODS)
_POS_LIST = ("11", "22", "21", "23", "02", "19", "81", "12", "24")
_POS_STRINGS = _Strings(_POS_LIST + BAD_POS)
_LOB_STRINGS = _Strings(LOBS + BAD_LOB)
_BAD_MEMBER_STRINGS = _Strings(BAD_MEMBER)
_DEFECT_STRINGS = _Strings((None,) + DEFECTS)
_CONST = {"professional": _Strings(["professional"]), "1": _Strings(["1"])}


def _dict_pick(rng, d: dict, size: int):
    keys = list(d)
    return keys, _pick(rng, _cum(list(d.values())), size)


def _npi(base9: np.ndarray) -> np.ndarray:
    """10-digit NPIs: a 9-digit base and its Luhn check digit (with the 80840 prefix)."""
    total = np.full(base9.shape, 24, np.int64)
    x = base9.copy()
    for k in range(9):            # k = 0 is the rightmost digit of the base, which is doubled
        d = x % 10
        x //= 10
        if k % 2 == 0:
            d = d * 2
            d = np.where(d > 9, d - 9, d)
        total += d
    return base9 * 10 + (10 - total % 10) % 10


def _plan_ids(plans) -> list[str]:
    """Plan IDs from a ``Plans`` or a sequence of IDs (none: an empty list)."""
    if plans is None:
        return []
    ids = list(plans.ids) if hasattr(plans, "ids") else list(plans)
    if not ids or not all(isinstance(p, str) and p.strip() for p in ids):
        raise ValueError("plans must be a Plans or a non-empty sequence of plan IDs (text)")
    return ids


def _plan_draws(rng: np.random.Generator, n_mem: int, n_plans: int, n_providers: int):
    """Per member its family's first member; per member its family's plan; per provider a
    provider type (index into PROVIDER_TYPES). Families are runs of consecutive members."""
    size = _pick(rng, _cum(FAMILY_SIZE), n_mem).astype(np.int64) + 1  # enough families
    ends = np.cumsum(size)
    family = np.searchsorted(ends, np.arange(n_mem), side="right")
    n_fam = int(family[-1]) + 1 if n_mem else 0
    head = (ends - size)[family]
    plan = rng.integers(0, n_plans, n_fam, dtype=np.int32)[family]
    kind = _pick(rng, _cum(tuple(PROVIDER_TYPES.values())), n_providers).astype(np.int8)
    return head, plan, kind


def synth_claims(lines: int, seed: int = 0, *, invalid_share: float = 0.0,
                 cost_share_share: float = 0.3, start: dt.date = dt.date(2025, 1, 1),
                 end: dt.date = dt.date(2026, 12, 31), schedules=None,
                 label_defects: bool = False, plans=None) -> pl.DataFrame:
    """Synthetic professional claim lines in the input layout of rule book §3.

    Parameters
    ----------
    lines : int
        Number of lines. Claims of 1-6 lines (about 3 on average) share member, date of
        service, line of business, location, place of service and rendering NPI; the last
        claim is cut short to give exactly ``lines`` rows.
    seed : int
        Same ``(lines, seed, options)`` -> the identical frame. The first k lines of a longer
        frame need not equal a shorter one.
    invalid_share : float
        Share of lines (drawn independently per line) given exactly one §4 defect from
        :data:`DEFECTS`. The defects use a random stream of their own: the frame with
        ``invalid_share=s`` equals the one with ``0`` except on the defective lines.
    cost_share_share : float
        Share of lines carrying deductible, copay and coinsurance (all three given, some
        0.00); null on the others. Its own random stream too.
    start, end : date
        Dates of service are drawn in ``[start, end]``; drug-infusion claims mostly inside the
        quarters an ASP vintage covers (clipped to the window).
    schedules : Schedules, optional
        Code tables to draw from; default :func:`pricer.schedules.load_schedules`.
    label_defects : bool
        Add a String column ``synth_defect``: the §4 reason each defective line must be
        rejected with, null on the other lines.
    plans : Plans or sequence of plan IDs, optional
        Give every member a benefit plan: adds :data:`PLAN_COLUMNS` (``plan_id`` of the
        member's family, ``subscriber_id`` the family's first member, the rendering
        provider's ``rendering_provider_type``), and no line carries cost shares of its own
        (the plans compute them). Drawn from a random stream of its own.

    Returns
    -------
    polars.DataFrame
        Columns :data:`COLUMNS` with types :data:`SCHEMA` (plus :data:`PLAN_COLUMNS` with
        plans, and ``synth_defect`` on request).

    Examples
    --------
    >>> from pricer.synth import synth_claims
    >>> df = synth_claims(1_000, seed=7, plans=["GOLD", "SILVER"])
    >>> df.select("member_id", "subscriber_id", "plan_id").columns
    ['member_id', 'subscriber_id', 'plan_id']
    >>> df["deductible"].null_count() == df.height  # the plans price the cost shares
    True
    """
    n = int(lines)
    if n < 0:
        raise ValueError("lines must be >= 0")
    if not 0.0 <= invalid_share <= 1.0:
        raise ValueError("invalid_share must be within 0..1")
    if not 0.0 <= cost_share_share <= 1.0:
        raise ValueError("cost_share_share must be within 0..1")
    ds, de = _as_days(start), _as_days(end)
    if de < ds:
        raise ValueError("end must not be before start")
    if schedules is None:
        from pricer.schedules import load_schedules
        schedules = load_schedules()
    pools = _pools_for(schedules)
    plan_ids = _plan_ids(plans)

    # the first three streams are those of a frame without plans: plans change no other column
    streams = np.random.SeedSequence([int(seed), 0x5C1A1]).spawn(4)
    rng, rng_cs, rng_bad, rng_plan = (np.random.default_rng(s) for s in streams)

    def uniform(r: np.random.Generator, size: int) -> np.ndarray:
        return r.random(size, dtype=np.float32)

    # ---- claims: type, size ------------------------------------------------------------------
    q = _claim_type_probabilities()
    nc = int(n / 2.9 * 1.05) + 8
    while True:
        ctype = _pick(rng, _cum(q), nc).astype(np.int8)
        size = np.empty(nc, np.int32)
        for t, w in SIZE_WEIGHTS.items():
            m = np.flatnonzero(ctype == t)
            size[m] = _pick(rng, _cum(w), m.size) + 1
        if int(size.sum(dtype=np.int64)) >= n:
            break
        nc = nc * 2 + 8
    ends = np.cumsum(size, dtype=np.int64)
    k = int(np.searchsorted(ends, n, side="left")) + 1 if n else 0
    ctype, size = ctype[:k], size[:k].copy()
    if k:
        size[-1] -= ends[k - 1] - n
    del ends
    claim_of = np.repeat(np.arange(k, dtype=np.int32), size)
    first = np.zeros(k, np.int32)
    if k:
        np.cumsum(size[:-1], out=first[1:])
    line_no = np.arange(n, dtype=np.int32)
    line_no -= first[claim_of]
    line_no += 1
    del first, size

    # ---- per claim: place of service, DOS, received lag, provider, member, claim number -----
    pos = np.empty(k, np.int8)
    for t, d in POS_BY_TYPE.items():
        m = np.flatnonzero(ctype == t)
        keys, idx = _dict_pick(rng, d, m.size)
        pos[m] = np.array([_POS_LIST.index(p) for p in keys], np.int8)[idx]
    pos_code = np.array([int(p) for p in _POS_LIST], np.int16)[pos]
    dos = rng.integers(ds, de + 1, k, dtype=np.int32)
    u = uniform(rng, k)
    wd = (dos + 3) % 7                      # 0 = Monday
    moved = dos - wd + rng.integers(0, 5, k, dtype=np.int32)    # a weekday of the same week
    moveable = (pos_code != 21) & (pos_code != 23) & (wd >= 5) & (u < WEEKEND_MOVED)
    dos = np.where(moveable & (moved >= ds) & (moved <= de), moved, dos)
    del wd, moved, moveable
    asp_days = np.concatenate([np.arange(max(f, ds), min(t, de) + 1, dtype=np.int32)
                               for f, t in pools.asp_windows] or [np.zeros(0, np.int32)])
    u = uniform(rng, k)
    if asp_days.size:
        m = np.flatnonzero((ctype == T_INFUSION) & (u < DRUG_IN_ASP_WINDOW))
        dos[m] = asp_days[rng.integers(0, asp_days.size, m.size)]
    u = uniform(rng, k)
    lag = np.where(u < 0.2, rng.integers(0, 3, k, dtype=np.int32),
                   np.minimum(60, np.rint(rng.exponential(14.0, k)))).astype(np.int32)
    received = dos + lag
    del lag, u

    n_prov = max(8, k // 25)
    provider = ctype.astype(np.int32) * n_prov + rng.integers(0, n_prov, k, dtype=np.int32)
    npi = _npi(100_000_000 + rng.integers(0, 100_000_000, 3 * n_prov))
    loc_rows, loc_w = _locations(pools.other_localities)
    prov_loc = _pick(rng, _cum(loc_w), 3 * n_prov).astype(np.int16)

    n_mem = max(4, k // 3 + 1)
    member = rng.integers(0, n_mem, k, dtype=np.int32)
    p_mod = 9_999_991 if n_mem < 9_999_991 else 99_999_989   # prime: key -> number, a bijection
    a, b = int(rng.integers(1, p_mod)), int(rng.integers(0, p_mod))
    mem_no = (np.arange(n_mem, dtype=np.int64) * a + b) % p_mod + 1
    mem_fill = uniform(rng, n_mem) < MEMBER_ZERO_FILLED
    mem_lob = _pick(rng, _cum(LOB_WEIGHTS), n_mem).astype(np.int8)
    mem_qmb = (mem_lob >= 1) & (mem_lob <= 2) & (uniform(rng, n_mem) < QMB_SHARE_OF_MEDICARE)
    claim_no = int(rng.integers(1_000_000, 400_000_000)) + np.cumsum(rng.integers(1, 4, k))

    # ---- lines: kind and code ------------------------------------------------------------
    lt = ctype[claim_of]
    kind = np.empty(n, np.int8)
    m = np.flatnonzero(lt == T_GENERAL)
    kind[m] = _pick(rng, _cum(_general_kind_weights()), m.size)
    u = uniform(rng, n)
    m = np.flatnonzero(lt == T_ANES)
    kind[m] = np.where((line_no[m] == 1) | (u[m] < ANES_OTHER_LINE_ANES), K_ANES, K_ADJUNCT)
    m = np.flatnonzero(lt == T_INFUSION)
    kind[m] = np.where(line_no[m] == 1, np.where(u[m] < INFUSION_FIRST_EM, K_EM, K_ADMIN),
                       np.where(u[m] < INFUSION_OTHER_DRUG, K_DRUG, K_ADMIN))
    del lt, u, m

    code = np.zeros(n, np.int32)
    fee = np.zeros(n, np.int64)          # approximate fee per unit, cents
    units = np.ones(n, np.int32)
    mods = np.zeros((n, 4), np.uint8)
    nmod = np.zeros(n, np.int8)
    ndc_row = np.full(n, pools.ndc_null, np.int32)
    approx_total = {}                    # rows -> approximate line fee (anesthesia, drugs)

    def put(rows: np.ndarray, values) -> None:
        values = np.broadcast_to(np.asarray(values, np.uint8), rows.shape)
        keep = values != 0
        rows, values = rows[keep], values[keep]
        mods[rows, nmod[rows]] = values
        nmod[rows] += 1

    def draw(rows: np.ndarray, pool: _Pool) -> np.ndarray:
        j = pool.pick(rng, rows.size)
        code[rows] = pool.offset + j
        fee[rows] = pool.fee[j]
        return j

    def mod_ids(keys) -> np.ndarray:
        return np.array([_MOD[x] if x is not None else 0 for x in keys], np.uint8)

    # E&M, by setting
    em_rows = np.flatnonzero(kind == K_EM)
    em_pos = pos_code[claim_of[em_rows]]
    setting = np.where(em_pos == 21, 1, np.where(em_pos == 23, 2, 0))
    for si, name in enumerate(("office", "inpatient", "ed")):
        draw(em_rows[setting == si], pools.em[name])
    u = uniform(rng, em_rows.size)
    put(em_rows[u < np.where(setting == 0, EM_25_OFFICE, EM_25_OTHER)], _MOD["25"])
    u = uniform(rng, em_rows.size)
    put(em_rows[(em_pos == 2) & (u < EM_95_TELEHEALTH)], _MOD["95"])
    put(em_rows[(setting == 1) & (u < EM_GC_INPATIENT)], _MOD["GC"])
    del em_pos, setting

    # other payable procedures, a few on codes with a -53 row
    rows = np.flatnonzero(kind == K_PROC)
    u = uniform(rng, rows.size)
    if pools.proc53.codes:
        r53, rows = rows[u < PROC_53_SHARE], rows[u >= PROC_53_SHARE]
    else:
        r53 = rows[:0]
    draw(rows, pools.proc)
    draw(r53, pools.proc53)
    put(r53, _MOD["53"])
    keys, idx = _dict_pick(rng, PROC_MODIFIER, rows.size)
    put(rows, mod_ids(keys)[idx])
    keys, idx = _dict_pick(rng, PROC_UNITS, rows.size)
    units[rows] = np.array(keys, np.int32)[idx]

    # 26/TC rows; 5 % carry a positional modifier first
    rows = np.flatnonzero(kind == K_PCTC)
    j = draw(rows, pools.pctc)
    u = uniform(rng, rows.size)
    first_mod = u < 0.05
    put(rows[first_mod], np.where(u[first_mod] < 0.025, _MOD["RT"], _MOD["59"]))
    put(rows, mod_ids(pools.pctc.modifier)[j])
    units[rows] = np.where(uniform(rng, rows.size) < 0.05, 2, 1)

    # anesthesia: minutes in units
    rows = np.flatnonzero(kind == K_ANES)
    j = draw(rows, pools.anes)
    base = pools.anes.extra[j]
    labor = np.array([c == "01967" for c in pools.anes.codes], bool)[j]
    minutes = np.where(labor, rng.lognormal(np.log(330), 0.5, rows.size),
                       rng.lognormal(np.log(75), 0.55, rows.size))
    minutes = np.where(labor, np.clip(minutes, 60, 1200), np.clip(minutes, 15, 480))
    long = uniform(rng, rows.size) < 0.02
    minutes = np.where(long & ~labor, rng.uniform(480, 900, rows.size), minutes)
    units[rows] = np.rint(minutes).astype(np.int32)
    approx_total[K_ANES] = (rows, (base * 15 + units[rows]) * APPROX_CF_CENTS * 100 // 15)
    keys, idx = _dict_pick(rng, ANES_PAYMENT_MODIFIER, rows.size)
    put(rows, mod_ids(keys)[idx])
    keys, idx = _dict_pick(rng, ANES_PHYSICAL_STATUS, rows.size)
    ps = uniform(rng, rows.size) < ANES_PHYSICAL_STATUS_SHARE
    put(rows[ps], mod_ids(keys)[idx][ps])
    put(rows[uniform(rng, rows.size) < ANES_QS_SHARE], _MOD["QS"])

    for kk, pool in ((K_ADJUNCT, pools.adjunct), (K_ADMIN, pools.admin)):
        draw(np.flatnonzero(kind == kk), pool)

    # drugs: units around the typical dose, NDC per code
    rows = np.flatnonzero(kind == K_DRUG)
    j = draw(rows, pools.drug)
    typical = pools.drug.extra[j]
    tail_units = np.array(DRUG_TAIL_UNITS, np.int64)[rng.integers(0, len(DRUG_TAIL_UNITS), rows.size)]
    scale = np.array(DRUG_UNIT_SCALE)[rng.integers(0, len(DRUG_UNIT_SCALE), rows.size)]
    tail_units[pools.drug.fee[j] >= DRUG_ONE_UNIT_FROM * 1000] = 1     # expensive: one unit
    du = np.where(typical > 0, np.maximum(1, np.rint(typical * scale)), tail_units).astype(np.int64)
    units[rows] = du
    approx_total[K_DRUG] = (rows, pools.drug.fee[j] * du // 10)    # 1/1000 $ x units -> cents
    _keys, fmt = _dict_pick(rng, NDC_FORMATS, rows.size)
    variant = rng.integers(0, 3, rows.size)
    ndc_row[rows] = np.where(uniform(rng, rows.size) < NDC_MISSING, pools.ndc_null,
                             (j * 3 + variant) * 3 + fmt)
    put(rows[uniform(rng, rows.size) < DRUG_JZ_SHARE], _MOD["JZ"])

    # no RVUs: labs, carrier priced, not valid for Medicare, excluded, not in file, mileage
    rows = np.flatnonzero(kind == K_NOPAY)
    j = draw(rows, pools.nopay)
    fee[rows] = np.rint(fee[rows] * rng.lognormal(0, 0.5, rows.size)).astype(np.int64)
    mileage = np.array([c == "A0425" for c in pools.nopay.codes], bool)[j]
    keys, idx = _dict_pick(rng, PROC_UNITS, rows.size)
    units[rows] = np.where(mileage, rng.integers(3, 41, rows.size), np.array(keys)[idx])

    # bundled B/P and measurement M (billed 0.00 or 0.01)
    rows = np.flatnonzero(kind == K_BUNDLED)
    j = draw(rows, pools.bundled)
    fee[rows] = np.rint(fee[rows] * rng.lognormal(0, 0.5, rows.size)).astype(np.int64)
    m_rows = rows[pools.bundled.extra[j].astype(bool)]
    del rows, j, nmod

    # ---- charges ------------------------------------------------------------------------------
    approx = fee                          # becomes the approximate line fee, cents
    approx *= units
    for rows, value in approx_total.values():
        approx[rows] = value
    approx[m_rows] = 0
    u = uniform(rng, n)
    factor = u.astype(np.float64)         # 1.5-3.0 x fee; CHARGE_BELOW_FEE of lines 0.6-1.0 x
    below = u < CHARGE_BELOW_FEE
    factor -= CHARGE_BELOW_FEE
    factor *= 1.5 / (1 - CHARGE_BELOW_FEE)
    factor += 1.5
    factor[below] = 0.6 + 0.4 * u[below] / CHARGE_BELOW_FEE
    del below, u
    factor *= approx
    whole = uniform(rng, n) < CHARGE_WHOLE_DOLLARS
    factor[whole] = np.rint(factor[whole] / 100) * 100
    charge = np.rint(factor).astype(np.int64)
    del factor, whole
    np.maximum(charge, 100, out=charge)
    charge[m_rows] = np.where(uniform(rng, m_rows.size) < 0.8, 0, 1)

    # ---- cost shares (own stream) ---------------------------------------------------------------
    member_line = member[claim_of]
    lob_line = mem_lob[member_line]
    has_cs = uniform(rng_cs, n) < cost_share_share
    if plan_ids:
        has_cs[:] = False  # the plans compute every line's cost shares
    ded = np.minimum(approx, rng_cs.integers(500, 30_000, n, dtype=np.int64))
    ded[uniform(rng_cs, n) >= COST_SHARE_DEDUCTIBLE] = 0
    coins = np.rint(approx * 0.2).astype(np.int64)
    coins[uniform(rng_cs, n) >= COST_SHARE_COINSURANCE] = 0
    del approx, fee
    copay = np.zeros(n, np.int64)
    u = uniform(rng_cs, n)
    v = rng_cs.integers(0, 1 << 30, n, dtype=np.int32)
    em_line = kind == K_EM
    for li, name in enumerate(LOBS):
        p, amounts = COPAY_EM[name]
        amounts = np.array(amounts, np.int64) * 100
        m = np.flatnonzero(em_line & (lob_line == li) & (u < p))
        copay[m] = amounts[v[m] % amounts.size]
    p, amounts = COPAY_OTHER_LINES
    amounts = np.array(amounts, np.int64) * 100
    m = np.flatnonzero(~em_line & (u < p))
    copay[m] = amounts[v[m] % amounts.size]
    del u, v, em_line, m

    # ---- per-line values of claim attributes, then the defects (own stream) -----------------------
    loc_line = prov_loc[provider[claim_of]]
    pos_line = pos[claim_of]
    dos_line = dos[claim_of]
    received_line = received[claim_of]
    defect = np.zeros(n, np.int8)
    bad_member = None
    if invalid_share > 0 and n:
        rows = np.flatnonzero(uniform(rng_bad, n) < invalid_share)
        which = rng_bad.integers(0, len(DEFECTS), rows.size)
        pick = rng_bad.integers(0, 1 << 30, rows.size)
        defect[rows] = which + 1
        for d, name in enumerate(DEFECTS):
            r = rows[which == d]
            p = pick[which == d]
            if name == "hcpcs_invalid":
                code[r] = pools.bad_hcpcs + p % len(BAD_HCPCS)
            elif name == "hcpcs_missing":
                code[r] = pools.bad_hcpcs + len(BAD_HCPCS) + p % len(MISSING_HCPCS)
            elif name == "units_below_one":
                units[r] = -(p % 4)              # 0, -1, -2, -3
            elif name == "billed_charge_negative":
                charge[r] = -np.maximum(charge[r], 1000)
            elif name == "dos_after_received":
                received_line[r] = dos_line[r] - 1 - p % 30
            elif name == "place_of_service_invalid":
                pos_line[r] = len(_POS_LIST) + p % len(BAD_POS)
            elif name == "line_of_business_unknown":
                lob_line[r] = len(LOBS) + p % len(BAD_LOB)
            elif name == "member_id_invalid":
                bad_member = (r, p % len(BAD_MEMBER))
            elif name == "locality_invalid":
                loc_line[r] = len(loc_rows) + p % len(BAD_LOCATION)
            elif name == "anesthesia_minutes_implausible":
                code[r] = pools.anes_bad
                mods[r] = 0
                mods[r, 0] = _MOD["AA"]
                units[r] = np.array(BAD_MINUTES)[p % len(BAD_MINUTES)]

    # ---- columns --------------------------------------------------------------------------------
    cols: dict[str, pl.Series] = {}
    cols["claim_id"] = _Strings(views=_ten_char_views(claim_no, "C")).take(claim_of)
    cols["line_number"] = pl.Series(line_no, dtype=pl.Int32)
    del line_no
    members = _Strings(views=_member_views(mem_no, mem_fill))
    if bad_member is not None and bad_member[0].size:
        r, which = bad_member           # the defect values are all inline (<= 12 bytes)
        members = _Strings(views=np.concatenate([members._views, _BAD_MEMBER_STRINGS._views]))
        member_line[r] = n_mem + which
    cols["member_id"] = members.take(member_line)
    del member_line
    cols["line_of_business"] = _LOB_STRINGS.take(lob_line)
    cols["date_of_service"] = pl.Series(dos_line).cast(pl.Date)
    cols["received_date"] = pl.Series(received_line).cast(pl.Date)
    del lob_line, dos_line, received_line
    cols["hcpcs"] = pools.hcpcs.take(code)
    del code
    for i in range(4):
        cols[f"modifier_{i + 1}"] = _MOD_STRINGS.take(mods[:, i])
    del mods
    cols["units"] = pl.Series(units, dtype=pl.Int32)
    cols["billed_charge"] = _decimal(charge)
    del units, charge
    cols["place_of_service"] = _POS_STRINGS.take(pos_line)
    del pos_line
    all_locs = loc_rows + list(BAD_LOCATION)
    for i, name in enumerate(("locality", "service_state", "service_county", "service_zip")):
        cols[name] = _Strings([r[i] for r in all_locs]).take(loc_line)
    del loc_line
    cols["claim_form"] = _CONST["professional"].take(np.zeros(n, np.int8))
    cols["frequency_code"] = _CONST["1"].take(np.zeros(n, np.int8))
    cols["ndc"] = pools.ndc.take(ndc_row)
    del ndc_row
    npis = _Strings(views=_ten_char_views(npi))
    cols["rendering_npi"] = npis.take(provider[claim_of])
    cols["deductible"] = _decimal(ded, has_cs)
    cols["copay"] = _decimal(copay, has_cs)
    cols["coinsurance"] = _decimal(coins, has_cs)
    del ded, copay, coins, has_cs
    member_of = member[claim_of]  # each line's member (before any member_id defect)
    cols["qmb"] = pl.Series(mem_qmb[member_of])
    cols["other_payer_paid"] = pl.repeat(None, n, dtype=_DEC, eager=True)
    if plan_ids:
        family_head, family_plan, provider_type = _plan_draws(rng_plan, n_mem, len(plan_ids),
                                                              3 * n_prov)
        cols["plan_id"] = _Strings(plan_ids).take(family_plan[member_of])
        cols["subscriber_id"] = members.take(family_head[member_of])
        cols["rendering_provider_type"] = _Strings(list(PROVIDER_TYPES)).take(
            provider_type[provider[claim_of]])
    del member_of
    if label_defects:
        cols[DEFECT_COLUMN] = _DEFECT_STRINGS.take(defect)
    return pl.DataFrame([s.alias(name) for name, s in cols.items()])


# ------------------------------------------------------------------------------------------
# The bundled sample
# ------------------------------------------------------------------------------------------

# Hand-written lines appended to the sample: each shows one kind of bad (or merely untidy)
# input as raw CSV text; "expect" is the reason the engine gives (empty: the line prices).
_SAMPLE_TEMPLATE = {
    "line_number": "1", "member_id": "00482913", "line_of_business": "commercial",
    "date_of_service": "2025-03-14", "received_date": "2025-03-21", "hcpcs": "99213",
    "units": "1", "billed_charge": "185.00", "place_of_service": "11", "locality": "02402-02",
    "claim_form": "professional", "frequency_code": "1", "rendering_npi": "1234567893",
    "qmb": "false",
}
SAMPLE_HAND_LINES = (
    ({"units": "1.5"}, "units_not_whole"),
    ({"units": "two"}, "units_invalid"),
    ({"date_of_service": "03/15/2025"}, "date_of_service_invalid"),
    ({"billed_charge": "12.345"}, "billed_charge_fraction_of_cent"),
    ({"billed_charge": "-25.00"}, "billed_charge_negative"),
    ({"line_of_business": "dental"}, "line_of_business_unknown"),
    ({"hcpcs": "9921"}, "hcpcs_invalid"),
    ({"hcpcs": ""}, "hcpcs_missing"),
    ({"locality": "", "service_zip": "00000"}, "locality_invalid"),
    ({"locality": "99999-99"}, "locality_invalid"),
    ({"place_of_service": "00"}, "place_of_service_invalid"),
    ({"member_id": "ABC123"}, "member_id_invalid"),
    ({"received_date": "2025-03-10"}, "dos_after_received"),
    ({"copay": "10.001", "deductible": "0.00", "coinsurance": "0.00"}, "copay_fraction_of_cent"),
    ({"hcpcs": "00790", "modifier_1": "AA", "units": "2000", "billed_charge": "3100.00",
      "place_of_service": "22"}, "anesthesia_minutes_implausible"),
    # untidy but valid: normalised by the engine (§4) and priced
    ({"hcpcs": " 71046", "modifier_1": "tc", "units": "2.0", "place_of_service": "2",
      "member_id": "4821"}, ""),
)


def sample_frame() -> pl.DataFrame:
    """The bundled sample as text columns: the synthetic lines then the hand-written ones."""
    synth = synth_claims(SAMPLE_LINES, seed=SAMPLE_SEED, start=dt.date(2025, 1, 1),
                         end=dt.date(2025, 12, 31))
    text = synth.select(pl.all().cast(pl.String))
    hand = []
    for i, (override, _reason) in enumerate(SAMPLE_HAND_LINES, start=1):
        row = {c: None for c in COLUMNS}
        row.update(_SAMPLE_TEMPLATE)
        row["claim_id"] = f"C9{i:08d}"
        row.update(override)
        hand.append(row)
    hand_df = pl.DataFrame(hand, schema={c: pl.String for c in COLUMNS})
    return pl.concat([text, hand_df])


def write_sample(path: str | Path | None = None) -> Path:
    """(Re)write the bundled sample claims CSV (default :data:`SAMPLE_PATH`); deterministic."""
    path = Path(path) if path is not None else SAMPLE_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sample_frame().write_csv(line_terminator="\n"), encoding="utf-8")
    return path
