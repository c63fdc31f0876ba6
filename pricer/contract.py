"""The contract: per line-of-business reimbursement terms, read from a TOML file.

A contract says, for each line of business (LOB), which conversion factors, rounding, percent
of charges, anesthesia rules, drug terms, gap-fill table, carve-outs and status-code policy
apply (rule book §5-§11). Keys and defaults are documented in ``docs/contract.md``; the file
layout is fixed by ``shared/spec/interfaces.md`` ("Contract file (TOML)").

Every money amount and rate is an exact ``Decimal``: TOML strings ("58.00") and numbers
(58.00) both arrive exact, because a TOML float is converted through ``repr``, which gives the
shortest decimal that reads back as the same float, i.e. the literal as written. A value with
more decimals than its unit holds (``pricer.money``) is refused, never rounded.

Loading checks everything before it builds anything and reports every problem in one
``ContractError``, so a contract author fixes a file in one round.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import difflib
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from pricer.money import CENTS, CF_SCALE, FRACTION_SCALE, RVU_SCALE, to_scaled
from pricer.vocabulary import MEDICARE_REFERENCE_LOB, RATE_METHODS

LOBS = ("commercial", "medicare", "medicare_cost", "medicaid", "other")
MEDICARE_LOBS = ("medicare", "medicare_cost")

ROUNDINGS = ("rvu_2dp", "cms")
COB_METHODS = ("standard", "maintenance_of_benefits")  # docs/cost_share.md
CMS = "cms"
# CMS PFS status codes (RVU file read-me); a contract may override the §5 policy of any of them.
STATUS_CODES = tuple("ABCDEFGHIJMNPRTX")
STATUS_METHODS = ("rbrvs", "gap_fill", "by_report")
STATUS_ACTIONS = ("bundled", "deny")
PHYSICAL_STATUSES = ("P1", "P2", "P3", "P4", "P5", "P6")

# Decimal places each kind of value may carry (docs/decisions.md, "Scaled integers").
CF_PLACES = 4
FRACTION_PLACES = 4
FEE_PLACES = 2
RVU_PLACES = 2
# Upper bounds: far above any real contract, so they only catch typos (5800 for 58.00) and
# keep the kernel's scaled int64 products (CF x GPCI-adjusted RVU, fee x units) from overflowing.
CF_MAX = Decimal("100000")
FRACTION_MAX = Decimal("10")
FEE_MAX = Decimal("10000000")
RVU_MAX = Decimal("100000")
TIME_UNITS_PER_HOUR_MAX = 60
TIMELY_FILING_DAYS_MAX = 36500
PHYSICAL_STATUS_UNITS_MAX = 100

_HCPCS_RE = re.compile(r"^[0-9A-Z]{5}$")
_MODIFIER_RE = re.compile(r"^[0-9A-Z]{2}$")
_LOCALITY_RE = re.compile(r"^\d{5}-\d{2}$")
_CARC_RE = re.compile(r"^[A-Z]?\d{1,3}$")
_DECIMAL_TEXT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE_TEXT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

TOP_LEVEL_KEYS = ("name", "default_locality", "illustrative", "lob", "plans")
DEFAULT_LOCALITY = "02402-99"

# Defaults in the form a contract file would write them, so they go through the same checks.
_OTHER_DEFAULTS: dict[str, Any] = {
    "conversion_factor": "58.00",
    "rounding": "rvu_2dp",
    "percent_of_charges": "0.50",
    "anesthesia_conversion_factor": "62.00",
    "anesthesia_time_units_per_hour": 5,
    "neuraxial_labor_codes": ["01967"],
    "anesthesia_no_time_units_codes": [],
    "drug_percent_of_asp_limit": "1.00",
    "require_ndc_for_drugs": True,
    "timely_filing_days": 365,
    "gap_fill": None,
    "by_report_codes": [],
    "physical_status_units": {},
    "carve_outs": [],
    "status_policy": {},
    "mue": None,
    "method": "rbrvs",
    "percent_of_medicare": None,
    "conversion_factor_by_locality": {},
    "anesthesia_conversion_factor_by_locality": {},
    "periods": [],
    "coordination_of_benefits": "standard",
    "sequestration": None,
}
_MEDICARE_DEFAULTS: dict[str, Any] = {
    **_OTHER_DEFAULTS,
    "conversion_factor": CMS,
    "rounding": "cms",
    "percent_of_charges": "0.40",
    "anesthesia_conversion_factor": CMS,
    "anesthesia_time_units_per_hour": 4,
    "neuraxial_labor_codes": [],
    "anesthesia_no_time_units_codes": ["01995", "01996"],
}
LOB_KEYS = tuple(_OTHER_DEFAULTS)
METHODS = RATE_METHODS  # a LOB's `method`
# The rates a dated period may change (docs/contract.md, "Terms by date").
RATE_KEYS = ("method", "conversion_factor", "conversion_factor_by_locality", "rounding",
             "percent_of_charges", "percent_of_medicare", "anesthesia_conversion_factor",
             "anesthesia_conversion_factor_by_locality", "drug_percent_of_asp_limit")
PERIOD_KEYS = ("effective_from", *RATE_KEYS)
CARVE_OUT_KEYS = ("hcpcs", "hcpcs_range", "modifier", "effective_from", "effective_to", "fee",
                  "percent_of_charges", "percent_of_medicare")
CARVE_OUT_AMOUNTS = ("fee", "percent_of_charges", "percent_of_medicare")
# A code range is expanded into its codes (tables.py): wider ranges are refused.
CARVE_OUT_RANGE_MAX = 100_000

GAP_FILL_SCHEMA = {
    "hcpcs": pl.String,
    "modifier": pl.String,
    "effective_from": pl.Date,
    "effective_to": pl.Date,
    "fee": pl.Int64,                 # cents per unit
    "work_rvu": pl.Int64,            # 1/100 RVU
    "pe_rvu_nonfacility": pl.Int64,
    "pe_rvu_facility": pl.Int64,
    "mp_rvu": pl.Int64,
    "source_row": pl.Int64,          # 1-based data row of the file
}
GAP_FILL_RVU_COLUMNS = ("work_rvu", "pe_rvu_nonfacility", "pe_rvu_facility", "mp_rvu")
# Columns a gap-fill file may carry for people and that the engine ignores.
GAP_FILL_IGNORED_COLUMNS = ("description",)
_GAP_FILL_COLUMNS = (
    "hcpcs", "modifier", "effective_from", "effective_to", "fee", *GAP_FILL_RVU_COLUMNS,
    *GAP_FILL_IGNORED_COLUMNS,
)
# §11 practitioner MUE table: units per line a code may be paid for.
MUE_SCHEMA = {"hcpcs": pl.String, "max_units": pl.Int64, "mai": pl.Int64, "source_row": pl.Int64}
_MUE_COLUMNS = ("hcpcs", "max_units", "mai", "description")
MUE_MAX_UNITS = 1_000_000
# A file with many bad rows is usually one systematic mistake: show enough rows to see it.
_MAX_ROW_PROBLEMS = 20
_EXTRA = "\0extra"  # record key for values beyond the header (cannot clash with a column)


class ContractError(ValueError):
    """A contract (or its gap-fill table) that cannot be used, with every problem found.

    Attributes
    ----------
    problems : list of str
        One entry per problem, each starting with the key path (``lob.commercial.rounding``).
    source : str or None
        The contract file, when the contract came from one.
    """

    def __init__(self, problems: list[str] | str, source: str | os.PathLike | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = str(source) if source is not None else None
        where = f"contract {self.source}" if self.source else "contract"
        if len(self.problems) == 1:
            message = f"{where}: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{where}: {len(self.problems)} problems:\n{lines}"
        super().__init__(message)


class FrozenMap(Mapping):
    """A read-only, hashable, picklable mapping (a ``MappingProxyType`` cannot be pickled)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping | None = None):
        object.__setattr__(self, "_data", dict(data or {}))

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and dict(self._data) == dict(other)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __reduce__(self):
        return (FrozenMap, (self._data,))

    def __setattr__(self, name, value):
        raise AttributeError("FrozenMap is read-only")


@dataclass(frozen=True)
class CarveOut:
    """Specific reimbursement that wins over every schedule (rule book §5 step 2).

    A carve-out names a code (``hcpcs``), a range of codes (``hcpcs_range``, both ends
    included, codes of the same shape: ``("70010", "79999")``), a modifier that must be on
    the line, or a code or range with a modifier; optionally the dates of service it covers.
    Exactly one of ``fee`` (per unit, priced ``fee x units``), ``percent_of_charges`` (a
    fraction of the billed charge) and ``percent_of_medicare`` (a fraction of what the
    contract's Medicare LOB pays for the line) is set; lower of charges applies to all.
    The first carve-out of the list that matches a line wins.
    """

    hcpcs: str | None = None
    fee: Decimal | None = None
    percent_of_charges: Decimal | None = None
    percent_of_medicare: Decimal | None = None
    hcpcs_range: tuple[str, str] | None = None
    modifier: str | None = None
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None

    def covers(self, hcpcs: str, modifiers=(), dos: dt.date | None = None) -> bool:
        """Whether the carve-out applies to a line of this code, modifiers and date."""
        if self.hcpcs is not None and hcpcs != self.hcpcs:
            return False
        if self.hcpcs_range is not None and not code_in_range(hcpcs, *self.hcpcs_range):
            return False
        if self.modifier is not None and self.modifier not in modifiers:
            return False
        if dos is not None:
            if self.effective_from is not None and dos < self.effective_from:
                return False
            if self.effective_to is not None and dos > self.effective_to:
                return False
        return True

    def canonical(self) -> dict:
        return {
            "hcpcs": self.hcpcs,
            "hcpcs_range": list(self.hcpcs_range) if self.hcpcs_range else None,
            "modifier": self.modifier,
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
            "fee": _canon_number(self.fee),
            "percent_of_charges": _canon_number(self.percent_of_charges),
            "percent_of_medicare": _canon_number(self.percent_of_medicare),
        }


def code_shape(code: str) -> str:
    """``D`` for a digit, ``L`` for a letter at each position: ``J9035`` -> ``LDDDD``."""
    return "".join("D" if ch.isdigit() else "L" for ch in code)


def code_in_range(code: str, low: str, high: str) -> bool:
    """A code is in a range when it has the ends' shape and lies between them in text order.

    The shape keeps ``0001T-0999T`` (Category III) from taking in anesthesia ``00100``.
    """
    return code_shape(code) == code_shape(low) and low <= code <= high


def codes_in_range(low: str, high: str) -> list[str]:
    """Every code of the range's shape from ``low`` to ``high``, in order."""
    shape = code_shape(low)
    alphabets = ["0123456789" if s == "D" else "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for s in shape]
    out = []

    def walk(prefix: str, pos: int, lo_tight: bool, hi_tight: bool) -> None:
        if pos == len(shape):
            out.append(prefix)
            return
        chars = alphabets[pos]
        for ch in chars:
            if lo_tight and ch < low[pos]:
                continue
            if hi_tight and ch > high[pos]:
                break
            walk(prefix + ch, pos + 1, lo_tight and ch == low[pos], hi_tight and ch == high[pos])
    walk("", 0, True, True)
    return out


def range_size(low: str, high: str) -> int:
    """How many codes ``codes_in_range`` gives, without listing them."""
    def rank(code: str) -> int:
        r = 0
        for ch in code:
            base = 10 if ch.isdigit() else 26
            r = r * base + (int(ch) if ch.isdigit() else ord(ch) - ord("A"))
        return r
    return rank(high) - rank(low) + 1


@dataclass(frozen=True)
class Rates:
    """The rates of one LOB in effect over a range of dates (the base terms or a period)."""
    method: str
    conversion_factor: Decimal | str
    conversion_factor_by_locality: Mapping[str, Decimal]
    rounding: str
    percent_of_charges: Decimal
    percent_of_medicare: Decimal | None
    anesthesia_conversion_factor: Decimal | str
    anesthesia_conversion_factor_by_locality: Mapping[str, Decimal]
    drug_percent_of_asp_limit: Decimal


@dataclass(frozen=True, eq=False)
class LobTerms:
    """The terms of one line of business. Build through ``Contract``, which validates.

    Equality and hashing use the normalized terms (``canonical()``), gap-fill rows included,
    so two LobTerms are equal when they price every line the same way.
    """

    conversion_factor: Decimal | str
    rounding: str
    percent_of_charges: Decimal
    anesthesia_conversion_factor: Decimal | str
    anesthesia_time_units_per_hour: int
    neuraxial_labor_codes: tuple[str, ...]
    anesthesia_no_time_units_codes: tuple[str, ...]
    drug_percent_of_asp_limit: Decimal
    require_ndc_for_drugs: bool
    timely_filing_days: int
    gap_fill: pl.DataFrame | None = field(default=None, repr=False)
    gap_fill_source: str | None = None
    by_report_codes: tuple[str, ...] = ()
    physical_status_units: Mapping[str, int] = field(default_factory=FrozenMap)
    carve_outs: tuple[CarveOut, ...] = ()
    status_policy: Mapping[str, str] = field(default_factory=FrozenMap)
    mue: pl.DataFrame | None = field(default=None, repr=False)
    mue_source: str | None = None
    method: str = "rbrvs"
    percent_of_medicare: Decimal | None = None
    conversion_factor_by_locality: Mapping[str, Decimal] = field(default_factory=FrozenMap)
    anesthesia_conversion_factor_by_locality: Mapping[str, Decimal] = field(
        default_factory=FrozenMap)
    # (effective_from, the rate keys the period changes), in date order
    periods: tuple[tuple[dt.date, Mapping[str, Any]], ...] = ()
    # member cost share (docs/cost_share.md)
    coordination_of_benefits: str = "standard"
    sequestration: Decimal | None = None

    def __post_init__(self):
        # Read-only mappings: a frozen dataclass does not stop ``terms.status_policy[...] = x``.
        for name in ("physical_status_units", "status_policy", "conversion_factor_by_locality",
                     "anesthesia_conversion_factor_by_locality"):
            object.__setattr__(self, name, FrozenMap(getattr(self, name)))
        object.__setattr__(self, "periods", tuple(
            (start, FrozenMap({k: FrozenMap(v) if isinstance(v, Mapping) else v
                               for k, v in changes.items()}))
            for start, changes in self.periods))

    def carve_out(self, hcpcs: str, modifiers=(), dos: dt.date | None = None) -> CarveOut | None:
        """The carve-out that wins for a line of ``hcpcs`` (first match), or None.

        Without ``modifiers`` and ``dos`` only carve-outs that need neither can match.
        """
        for c in self.carve_outs:
            if dos is None and (c.effective_from or c.effective_to):
                continue
            if c.covers(hcpcs, modifiers, dos):
                return c
        return None

    def rate_periods(self) -> list[tuple[dt.date | None, Rates]]:
        """The rates in effect from each date on (None: from the beginning), in date order.

        Each period starts from the rates before it and changes the keys it gives.
        """
        current = {k: getattr(self, k) for k in RATE_KEYS}
        out = [(None, Rates(**current))]
        for start, changes in self.periods:
            current = {**current, **changes}
            out.append((start, Rates(**current)))
        return out

    def rates_at(self, dos: dt.date) -> Rates:
        """The rates in effect on a date of service."""
        chosen = None
        for start, rates in self.rate_periods():
            if start is None or start <= dos:
                chosen = rates
        return chosen

    def canonical(self) -> dict:
        """The terms as plain JSON-able values, independent of how the file wrote them."""
        gap_rows = None
        if self.gap_fill is not None:
            gap_rows = [
                [v.isoformat() if isinstance(v, dt.date) else v for v in row]
                for row in self.gap_fill.select(list(GAP_FILL_SCHEMA)).rows()
            ]
        return {
            "conversion_factor": _canon_number(self.conversion_factor),
            "rounding": self.rounding,
            "percent_of_charges": _canon_number(self.percent_of_charges),
            "anesthesia_conversion_factor": _canon_number(self.anesthesia_conversion_factor),
            "anesthesia_time_units_per_hour": self.anesthesia_time_units_per_hour,
            "neuraxial_labor_codes": list(self.neuraxial_labor_codes),
            "anesthesia_no_time_units_codes": list(self.anesthesia_no_time_units_codes),
            "drug_percent_of_asp_limit": _canon_number(self.drug_percent_of_asp_limit),
            "require_ndc_for_drugs": self.require_ndc_for_drugs,
            "timely_filing_days": self.timely_filing_days,
            "gap_fill": gap_rows,
            "gap_fill_source": self.gap_fill_source,
            "mue": None if self.mue is None else [
                list(r) for r in self.mue.select("hcpcs", "max_units", "mai").rows()],
            "by_report_codes": list(self.by_report_codes),
            "physical_status_units": dict(sorted(self.physical_status_units.items())),
            "carve_outs": [_canon_carve_out(c) for c in self.carve_outs],
            "status_policy": dict(sorted(self.status_policy.items())),
            # terms added later: only when set, so older contracts keep their hash
            **{k: v for k, v in (
                ("method", None if self.method == "rbrvs" else self.method),
                ("percent_of_medicare", _canon_number(self.percent_of_medicare)),
                ("conversion_factor_by_locality",
                 _canon_map(self.conversion_factor_by_locality)),
                ("anesthesia_conversion_factor_by_locality",
                 _canon_map(self.anesthesia_conversion_factor_by_locality)),
                ("periods", [[start.isoformat(), _canon_rates(changes)]
                             for start, changes in self.periods]),
                ("coordination_of_benefits", None if self.coordination_of_benefits == "standard"
                 else self.coordination_of_benefits),
                ("sequestration", _canon_number(self.sequestration)),
            ) if v},
        }

    def __eq__(self, other) -> bool:
        if not isinstance(other, LobTerms):
            return NotImplemented
        return self.canonical() == other.canonical()

    def __hash__(self) -> int:
        return hash(json.dumps(self.canonical(), sort_keys=True))


@dataclass(frozen=True, eq=False)
class Contract:
    """A professional reimbursement contract: the terms of every line of business.

    Parameters
    ----------
    name : str
        Human-readable name.
    default_locality : str
        "MAC-LOC" locality (``02402-99``) for lines that give no location (rule book §2).
    lobs : Mapping[str, LobTerms]
        Terms of each of the five ``LOBS``; all five are always present.
    illustrative : bool
        True for example contracts whose numbers are not a real payer's.
    source : Path or None
        The file the contract was read from.
    plans : Plans or None
        The benefit plans the contract names (top-level ``plans = "plans.toml"``), used for
        lines with a ``plan_id`` when ``price`` is given no plans (docs/cost_share.md).

    Examples
    --------
    >>> c = default_contract()
    >>> c.terms("commercial").conversion_factor
    Decimal('58.0000')
    """

    name: str
    default_locality: str
    lobs: Mapping[str, LobTerms]
    illustrative: bool = False
    source: Path | None = None
    plans: Any = None

    def __post_init__(self):
        missing = [lob for lob in LOBS if lob not in self.lobs]
        extra = [lob for lob in self.lobs if lob not in LOBS]
        problems = [f"lob.{lob}: missing" for lob in missing]
        problems += [f"lob.{lob}: unknown line of business" for lob in extra]
        if problems:
            raise ContractError(problems, self.source)
        object.__setattr__(self, "lobs", FrozenMap({lob: self.lobs[lob] for lob in LOBS}))

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> "Contract":
        """Read and validate a contract file.

        Parameters
        ----------
        path : str or PathLike
            The TOML file. Gap-fill tables it names are found relative to its folder.

        Raises
        ------
        ContractError
            File missing, not TOML, or any key or value refused (all problems at once).
        """
        path = Path(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise ContractError("file not found", path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ContractError(f"cannot be read: {exc}", path) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ContractError(f"not valid TOML: {exc}", path) from None
        return cls.from_dict(data, base_dir=path.parent, source=path)

    @classmethod
    def from_dict(
        cls,
        data: dict,
        base_dir: Path | None = None,
        source: str | os.PathLike | None = None,
    ) -> "Contract":
        """Validate a contract given as the dict ``tomllib`` would produce.

        Values may also be ``Decimal``, and lists may be tuples, for callers building a
        contract in Python.

        Parameters
        ----------
        data : dict
            Top-level keys ``name``, ``default_locality``, ``illustrative``, ``lob``.
        base_dir : Path, optional
            Folder that relative gap-fill paths start from; default: the folder of
            ``source``, else the current directory.
        source : str or PathLike, optional
            Where the contract came from, for messages and ``Contract.source``.
        """
        source = Path(source) if source is not None else None
        if base_dir is None:
            base_dir = source.parent if source is not None else Path.cwd()
        base_dir = Path(base_dir)
        problems: list[str] = []
        if not isinstance(data, Mapping):
            raise ContractError(f"expected a table of keys, got {type(data).__name__}", source)

        _check_keys(data, TOP_LEVEL_KEYS, "", problems, hint_lobs=True)

        name = data.get("name")
        if name is None:
            problems.append("name: missing (required)")
        elif not isinstance(name, str) or not name.strip():
            problems.append(f"name: must be a non-empty string, got {name!r}")

        locality = data.get("default_locality", DEFAULT_LOCALITY)
        if not isinstance(locality, str) or not _LOCALITY_RE.match(locality.strip()):
            problems.append(
                f"default_locality: must be a string 'MMMMM-LL' (e.g. '02402-99'), got {locality!r}"
            )
        else:
            locality = locality.strip()

        illustrative = _bool(data.get("illustrative", False), "illustrative", problems)
        plans = None
        if data.get("plans") is not None:
            plans = _plans_key(data["plans"], base_dir, problems)

        lob_tables = data.get("lob", {})
        if not isinstance(lob_tables, Mapping):
            problems.append(f"lob: must be a table of lines of business, got {lob_tables!r}")
            lob_tables = {}
        else:
            _check_keys(lob_tables, LOBS, "lob.", problems)

        gap_cache: dict[Path, tuple[pl.DataFrame | None, list[str]]] = {}
        lobs = {}
        for lob in LOBS:
            raw = lob_tables.get(lob, {})
            lobs[lob] = _lob_terms(lob, raw, base_dir, problems, gap_cache)

        if problems:
            raise ContractError(problems, source)
        return cls(
            name=name.strip(),
            default_locality=locality,
            lobs=lobs,
            illustrative=illustrative,
            source=source,
            plans=plans,
        )

    def terms(self, lob: str) -> LobTerms:
        """The terms of one line of business (name trimmed and lower-cased).

        Raises
        ------
        ContractError
            ``lob`` is not one of ``LOBS``.
        """
        return self.lobs[_lob_name(lob, self.source)]

    def sha256(self) -> str:
        """Hex SHA-256 of the normalized terms, for run manifests.

        Covers ``default_locality`` and every LOB's terms, gap-fill rows included; not
        ``name``, ``illustrative`` or ``source``, which do not change a price. The same terms
        written differently (58 / 58.00 / "58.00", keys in another order) hash the same.
        """
        return self._digest

    @cached_property
    def _digest(self) -> str:
        # cached_property writes the instance __dict__ directly, which a frozen dataclass allows.
        payload = {
            "format": 1,
            "default_locality": self.default_locality,
            "lobs": {lob: self.lobs[lob].canonical() for lob in LOBS},
            # only when set, so contracts without plans keep their hash
            **({"plans": self.plans.sha256()} if self.plans is not None else {}),
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def replace_lob(self, lob: str, **changes) -> "Contract":
        """A copy of the contract with some terms of one LOB changed (what-if pricing).

        Values are given as in a contract file (numbers, strings, lists, dicts) or as
        ``Decimal``; they are validated as a file would be. ``gap_fill`` takes a path
        (relative to the contract file's folder) or None to drop the table.

        Examples
        --------
        >>> c = default_contract().replace_lob("commercial", conversion_factor="60.00")
        >>> c.terms("commercial").conversion_factor
        Decimal('60.0000')

        Raises
        ------
        ContractError
            Unknown key or a value refused, with every problem.
        """
        lob = _lob_name(lob, self.source)
        current = self.lobs[lob]
        raw = _raw_terms(current)
        raw.update(changes)
        base_dir = self.source.parent if self.source is not None else Path.cwd()
        problems: list[str] = []
        terms = _lob_terms(lob, raw, base_dir, problems, {})
        if problems:
            raise ContractError(problems, self.source)
        if "gap_fill" not in changes:
            # The table already loaded stays: the file may have changed or moved since.
            terms = dataclasses.replace(
                terms, gap_fill=current.gap_fill, gap_fill_source=current.gap_fill_source
            )
        if "mue" not in changes:
            terms = dataclasses.replace(terms, mue=current.mue, mue_source=current.mue_source)
        lobs = dict(self.lobs)
        lobs[lob] = terms
        return dataclasses.replace(self, lobs=lobs)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Contract):
            return NotImplemented
        return (self.name, self.illustrative, self.sha256()) == (
            other.name, other.illustrative, other.sha256())

    def __hash__(self) -> int:
        return hash((self.name, self.illustrative, self.sha256()))


def default_contract() -> Contract:
    """The bundled illustrative contract (``pricer/contracts/default.toml``).

    Its numbers are examples in the style of a Washington commercial professional contract,
    not any payer's real terms.
    """
    # The file ships inside the package, so this path holds in a checkout and in a wheel.
    return Contract.from_toml(Path(__file__).parent / "contracts" / "default.toml")


# --------------------------------------------------------------------------------------------
# One LOB table


def _lob_terms(
    lob: str,
    raw: Any,
    base_dir: Path,
    problems: list[str],
    gap_cache: dict,
) -> LobTerms | None:
    """Validate one ``[lob.X]`` table merged over its defaults; None when anything is wrong."""
    path = f"lob.{lob}"
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: must be a table, got {raw!r}")
        return None
    _check_keys(raw, LOB_KEYS, f"{path}.", problems)
    defaults = _MEDICARE_DEFAULTS if lob in MEDICARE_LOBS else _OTHER_DEFAULTS
    v = {**defaults, **{k: raw[k] for k in raw if k in LOB_KEYS}}
    before = len(problems)

    def key(k: str) -> str:
        return f"{path}.{k}"

    rate = {k: _rate_value(k, v[k], key(k), problems) for k in RATE_KEYS
            if v[k] is not None}  # percent_of_medicare has no default
    cf, rounding, poc = rate["conversion_factor"], rate["rounding"], rate["percent_of_charges"]
    anes_cf = rate["anesthesia_conversion_factor"]
    tuph = _int(v["anesthesia_time_units_per_hour"], key("anesthesia_time_units_per_hour"),
                1, TIME_UNITS_PER_HOUR_MAX, problems)
    neuraxial = _codes(v["neuraxial_labor_codes"], key("neuraxial_labor_codes"), problems)
    no_time = _codes(v["anesthesia_no_time_units_codes"], key("anesthesia_no_time_units_codes"),
                     problems)
    drug_pct = rate["drug_percent_of_asp_limit"]
    require_ndc = _bool(v["require_ndc_for_drugs"], key("require_ndc_for_drugs"), problems)
    filing = _int(v["timely_filing_days"], key("timely_filing_days"), 1,
                  TIMELY_FILING_DAYS_MAX, problems)
    by_report = _codes(v["by_report_codes"], key("by_report_codes"), problems)
    ps_units = _physical_status_units(v["physical_status_units"], key("physical_status_units"),
                                      problems)
    carve_outs = _carve_outs(v["carve_outs"], key("carve_outs"), problems)
    status_policy = _status_policy(v["status_policy"], key("status_policy"), problems)
    gap_fill, gap_source = _gap_fill_key(v["gap_fill"], key("gap_fill"), base_dir, problems,
                                         gap_cache)
    mue, mue_source = _gap_fill_key(v["mue"], key("mue"), base_dir, problems, gap_cache,
                                    loader=_load_mue)
    method, pom = rate["method"], rate.get("percent_of_medicare")
    cf_loc = rate["conversion_factor_by_locality"]
    anes_loc = rate["anesthesia_conversion_factor_by_locality"]
    periods = _periods(v["periods"], key("periods"), problems)
    cob = _choice(v["coordination_of_benefits"], key("coordination_of_benefits"),
                  COB_METHODS, problems)
    sequestration = None
    if v["sequestration"] is not None:
        sequestration = _decimal(v["sequestration"], key("sequestration"), FRACTION_PLACES,
                                 Decimal("1"), problems)
        if lob not in MEDICARE_LOBS:
            problems.append(f"{key('sequestration')}: Medicare sequestration applies only to "
                            f"the Medicare LOBs ({', '.join(MEDICARE_LOBS)})")
    if len(problems) == before:
        # the method needs its percentage in every period it is in force
        rates = {"method": method, "percent_of_medicare": pom}
        for start, changes in [(None, {}), *periods]:
            rates.update({k: changes[k] for k in ("method", "percent_of_medicare")
                          if k in changes})
            where = key("periods") + f" from {start}" if start else path
            if rates["method"] == "percent_of_medicare":
                if lob == MEDICARE_REFERENCE_LOB:
                    problems.append(f"{where}: method \"percent_of_medicare\" cannot price the "
                                    f"Medicare LOB itself (the Medicare LOB is its reference)")
                elif rates["percent_of_medicare"] is None:
                    problems.append(f"{where}: method \"percent_of_medicare\" needs "
                                    f"percent_of_medicare (e.g. 1.20 for 120 %)")
        if lob == MEDICARE_REFERENCE_LOB and any(
                c.percent_of_medicare is not None for c in carve_outs):
            problems.append(f"{key('carve_outs')}: percent_of_medicare carve-outs cannot be "
                            f"used in the Medicare LOB itself (the Medicare LOB is their "
                            f"reference)")

    if len(problems) > before:
        return None
    return LobTerms(
        conversion_factor=cf,
        rounding=rounding,
        percent_of_charges=poc,
        anesthesia_conversion_factor=anes_cf,
        anesthesia_time_units_per_hour=tuph,
        neuraxial_labor_codes=neuraxial,
        anesthesia_no_time_units_codes=no_time,
        drug_percent_of_asp_limit=drug_pct,
        require_ndc_for_drugs=require_ndc,
        timely_filing_days=filing,
        gap_fill=gap_fill,
        gap_fill_source=gap_source,
        by_report_codes=by_report,
        physical_status_units=ps_units,
        carve_outs=carve_outs,
        status_policy=status_policy,
        mue=mue,
        mue_source=mue_source,
        method=method,
        percent_of_medicare=pom,
        conversion_factor_by_locality=cf_loc,
        anesthesia_conversion_factor_by_locality=anes_loc,
        periods=periods,
        coordination_of_benefits=cob,
        sequestration=sequestration,
    )


def _raw_terms(terms: LobTerms) -> dict:
    """LobTerms back in contract-file form (without the gap-fill table), for re-validation."""
    return {
        "conversion_factor": terms.conversion_factor,
        "rounding": terms.rounding,
        "percent_of_charges": terms.percent_of_charges,
        "anesthesia_conversion_factor": terms.anesthesia_conversion_factor,
        "anesthesia_time_units_per_hour": terms.anesthesia_time_units_per_hour,
        "neuraxial_labor_codes": list(terms.neuraxial_labor_codes),
        "anesthesia_no_time_units_codes": list(terms.anesthesia_no_time_units_codes),
        "drug_percent_of_asp_limit": terms.drug_percent_of_asp_limit,
        "require_ndc_for_drugs": terms.require_ndc_for_drugs,
        "timely_filing_days": terms.timely_filing_days,
        "gap_fill": None,
        "mue": None,
        "by_report_codes": list(terms.by_report_codes),
        "physical_status_units": dict(terms.physical_status_units),
        "carve_outs": [
            {k: (list(val) if isinstance(val, tuple) else val)
             for k, val in dataclasses.asdict(c).items() if val is not None}
            for c in terms.carve_outs
        ],
        "status_policy": dict(terms.status_policy),
        "method": terms.method,
        "percent_of_medicare": terms.percent_of_medicare,
        "conversion_factor_by_locality": dict(terms.conversion_factor_by_locality),
        "anesthesia_conversion_factor_by_locality": dict(
            terms.anesthesia_conversion_factor_by_locality),
        "periods": [{"effective_from": start, **{k: dict(v) if isinstance(v, Mapping) else v
                                                 for k, v in changes.items()}}
                    for start, changes in terms.periods],
        "coordination_of_benefits": terms.coordination_of_benefits,
        "sequestration": terms.sequestration,
    }


def _plans_key(value: Any, base_dir: Path, problems: list[str]):
    """The top-level ``plans`` file, relative to the contract's folder."""
    from pricer.plans import Plans
    if not isinstance(value, str) or not value.strip():
        problems.append(f"plans: must be the name of a plans TOML file, got {value!r}")
        return None
    try:
        return Plans.from_toml(base_dir / value.strip())
    except ContractError as e:
        problems.append(f"plans: {e}")
        return None


def _lob_name(lob: str, source) -> str:
    name = lob.strip().lower() if isinstance(lob, str) else lob
    if name not in LOBS:
        raise ContractError(f"{lob!r} is not a line of business (one of {', '.join(LOBS)})",
                            source)
    return name


# --------------------------------------------------------------------------------------------
# Values


def _check_keys(table: Mapping, allowed, prefix: str, problems: list[str],
                hint_lobs: bool = False) -> None:
    """Refuse keys the engine does not know, suggesting the nearest known one."""
    for k in table:
        if k in allowed:
            continue
        hint = ""
        close = difflib.get_close_matches(str(k), list(allowed), n=1)
        if hint_lobs and k in LOBS:
            hint = f" (did you mean [lob.{k}]?)"
        elif close:
            hint = f" (did you mean {close[0]!r}?)"
        problems.append(f"{prefix}{k}: unknown key{hint}")


def _to_decimal(value: Any) -> Decimal | None:
    """Exact Decimal of a TOML/Python value, or None when it is not a number.

    A float is converted through ``repr``: tomllib turns ``58.015`` into the float nearest to
    it, and ``repr`` gives back the shortest text that reads as that float, i.e. ``58.015``.
    """
    if isinstance(value, bool):      # a bool is an int in Python, never a number here
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        return None
    if not _DECIMAL_TEXT_RE.match(text):  # no "NaN", "1_000", "$5" that Decimal() accepts
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _check_decimal(d: Decimal, places: int, maximum: Decimal) -> str | None:
    """What is wrong with a number (negative, too many decimals, too large), or None."""
    if d < 0:
        return "must not be negative"
    # The maximum first: quantize needs the number to fit the Decimal context's 28 digits.
    if d > maximum:
        return f"is larger than {maximum}"
    if d != d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN):
        return f"has more than {places} decimal places (values are never rounded)"
    return None


def _decimal(value: Any, path: str, places: int, maximum: Decimal,
             problems: list[str]) -> Decimal | None:
    d = _to_decimal(value)
    if d is None:
        problems.append(f"{path}: must be a number (e.g. 58.00 or \"58.00\"), got {value!r}")
        return None
    wrong = _check_decimal(d, places, maximum)
    if wrong:
        problems.append(f"{path}: {value!r} {wrong}")
        return None
    # Stored at the unit's scale (58 -> 58.0000), however the file wrote it; exact, as the
    # places were checked above. abs turns -0 into 0.
    return abs(d).quantize(Decimal(1).scaleb(-places))


def _decimal_or_cms(value: Any, path: str, places: int, maximum: Decimal,
                    problems: list[str]) -> Decimal | str | None:
    if isinstance(value, str) and value.strip().lower() == CMS:
        return CMS
    if _to_decimal(value) is None:
        problems.append(f"{path}: must be a number or \"cms\", got {value!r}")
        return None
    return _decimal(value, path, places, maximum, problems)


def _int(value: Any, path: str, lo: int, hi: int, problems: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{path}: must be a whole number, got {value!r}")
        return None
    if not lo <= value <= hi:
        problems.append(f"{path}: must be between {lo} and {hi}, got {value}")
        return None
    return value


def _bool(value: Any, path: str, problems: list[str]) -> bool | None:
    if not isinstance(value, bool):
        problems.append(f"{path}: must be true or false, got {value!r}")
        return None
    return value


def _choice(value: Any, path: str, choices, problems: list[str]) -> str | None:
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in choices:
        problems.append(f"{path}: must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return None
    return text


def _code(value: Any, path: str, problems: list[str]) -> str | None:
    code = value.strip().upper() if isinstance(value, str) else None
    if code is None or not _HCPCS_RE.match(code):
        problems.append(f"{path}: {value!r} is not a HCPCS code (5 characters 0-9, A-Z)")
        return None
    return code


def _codes(value: Any, path: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        problems.append(f"{path}: must be a list of HCPCS codes, got {value!r}")
        return ()
    out = []
    for i, item in enumerate(value):
        code = _code(item, f"{path}[{i}]", problems)
        if code is not None and code not in out:  # a repeated code means the same thing
            out.append(code)
    return tuple(out)


def _physical_status_units(value: Any, path: str, problems: list[str]) -> dict[str, int]:
    if not isinstance(value, Mapping):
        problems.append(f"{path}: must be a table like {{ P3 = 1 }}, got {value!r}")
        return {}
    _check_keys(value, PHYSICAL_STATUSES, f"{path}.", problems)
    out = {}
    for k in PHYSICAL_STATUSES:
        if k in value:
            units = _int(value[k], f"{path}.{k}", 0, PHYSICAL_STATUS_UNITS_MAX, problems)
            if units is not None:
                out[k] = units
    return out


def _carve_outs(value: Any, path: str, problems: list[str]) -> tuple[CarveOut, ...]:
    example = '{ hcpcs = "99385", fee = 150.00 }'
    if not isinstance(value, (list, tuple)):
        problems.append(f"{path}: must be a list of tables like {example}, got {value!r}")
        return ()
    out: list[CarveOut] = []
    seen: dict[tuple, int] = {}
    for i, item in enumerate(value):
        p = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            problems.append(f"{p}: must be a table like {example}, got {item!r}")
            continue
        before = len(problems)
        _check_keys(item, CARVE_OUT_KEYS, f"{p}.", problems)
        if not any(k in item for k in ("hcpcs", "hcpcs_range", "modifier")):
            problems.append(f"{p}.hcpcs: missing: give hcpcs (a code or a list of codes), "
                            f"hcpcs_range or modifier")
        if "hcpcs" in item and "hcpcs_range" in item:
            problems.append(f"{p}: give hcpcs or hcpcs_range, not both")
        codes: list[str | None] = [None]
        if "hcpcs" in item:
            raw = item["hcpcs"]
            codes = (list(_codes(raw, f"{p}.hcpcs", problems)) if isinstance(raw, (list, tuple))
                     else [_code(raw, f"{p}.hcpcs", problems)])
            if not codes:
                problems.append(f"{p}.hcpcs: an empty list names no code")
        code_range = None
        if "hcpcs_range" in item:
            code_range = _code_range(item["hcpcs_range"], f"{p}.hcpcs_range", problems)
        modifier = None
        if "modifier" in item:
            m = item["modifier"]
            modifier = m.strip().upper() if isinstance(m, str) else None
            if modifier is None or not _MODIFIER_RE.match(modifier):
                problems.append(f"{p}.modifier: {m!r} is not a modifier (2 characters 0-9, A-Z)")
        start = _date(item.get("effective_from"), f"{p}.effective_from", problems)
        end = _date(item.get("effective_to"), f"{p}.effective_to", problems)
        if start and end and end < start:
            problems.append(f"{p}: effective_to {end} is before effective_from {start}")
        given = [k for k in CARVE_OUT_AMOUNTS if k in item]
        if len(given) != 1:
            problems.append(f"{p}: give exactly one of {', '.join(CARVE_OUT_AMOUNTS)}")
            continue
        amount = {k: None for k in CARVE_OUT_AMOUNTS}
        kind = given[0]
        if kind == "fee":
            amount[kind] = _decimal(item[kind], f"{p}.{kind}", FEE_PLACES, FEE_MAX, problems)
        else:
            amount[kind] = _decimal(item[kind], f"{p}.{kind}", FRACTION_PLACES, FRACTION_MAX,
                                    problems)
        if len(problems) > before or None in codes and "hcpcs" in item:
            continue
        for code in codes:
            c = CarveOut(hcpcs=code, hcpcs_range=code_range, modifier=modifier,
                         effective_from=start, effective_to=end, **amount)
            covers = (code, code_range, modifier, start, end)
            if covers in seen:
                # the first match wins: the second could never apply
                what = code or (f"{code_range[0]}-{code_range[1]}" if code_range else modifier)
                problems.append(f"{p}.hcpcs: {what} is already carved out at "
                                f"{path}[{seen[covers]}] for the same lines")
                continue
            seen[covers] = i
            out.append(c)
    return tuple(out)


def _code_range(value: Any, path: str, problems: list[str]) -> tuple[str, str] | None:
    if isinstance(value, str) and value.count("-") == 1:
        value = value.split("-")
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        problems.append(f"{path}: must be two codes, [\"70010\", \"79999\"] or "
                        f"\"70010-79999\", got {value!r}")
        return None
    low = _code(value[0], f"{path}[0]", problems)
    high = _code(value[1], f"{path}[1]", problems)
    if low is None or high is None:
        return None
    if code_shape(low) != code_shape(high):
        problems.append(f"{path}: {low} and {high} are codes of different shapes (digits and "
                        f"letters at other places); a range joins codes like 70010-79999 or "
                        f"J0000-J9999")
        return None
    if high < low:
        problems.append(f"{path}: {high} comes before {low}")
        return None
    if range_size(low, high) > CARVE_OUT_RANGE_MAX:
        problems.append(f"{path}: {low}-{high} holds {range_size(low, high):,} codes; split "
                        f"it into ranges of at most {CARVE_OUT_RANGE_MAX:,}")
        return None
    return low, high


def _date(value: Any, path: str, problems: list[str]) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _DATE_TEXT_RE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.append(f"{path}: must be a date (2025-07-01), got {value!r}")
    return None


def _rate_value(k: str, value: Any, path: str, problems: list[str]):
    """One of RATE_KEYS validated (a LOB's own rates and its periods' alike); None if bad."""
    if k == "method":
        return _choice(value, path, METHODS, problems)
    if k == "rounding":
        return _choice(value, path, ROUNDINGS, problems)
    if k in ("conversion_factor", "anesthesia_conversion_factor"):
        return _decimal_or_cms(value, path, CF_PLACES, CF_MAX, problems)
    if k.endswith("_by_locality"):
        return _locality_rates(value, path, problems)
    return _decimal(value, path, FRACTION_PLACES, FRACTION_MAX, problems)


def _locality_rates(value: Any, path: str, problems: list[str]) -> dict[str, Decimal]:
    if not isinstance(value, Mapping):
        problems.append(f"{path}: must be a table like {{ \"02402-02\" = 60.00 }}, "
                        f"got {value!r}")
        return {}
    out = {}
    for loc, rate in value.items():
        name = loc.strip() if isinstance(loc, str) else loc
        if not isinstance(name, str) or not _LOCALITY_RE.match(name):
            problems.append(f"{path}.{loc}: not a locality 'MMMMM-LL' (e.g. '02402-02')")
            continue
        d = _decimal(rate, f"{path}.{loc}", CF_PLACES, CF_MAX, problems)
        if d is not None:
            out[name] = d
    return out


def _periods(value: Any, path: str, problems: list[str]) -> tuple:
    example = '[[lob.commercial.periods]] effective_from = 2025-07-01, conversion_factor = 60.00'
    if not isinstance(value, (list, tuple)):
        problems.append(f"{path}: must be a list of tables ({example}), got {value!r}")
        return ()
    out = []
    for i, item in enumerate(value):
        p = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            problems.append(f"{p}: must be a table ({example}), got {item!r}")
            continue
        _check_keys(item, PERIOD_KEYS, f"{p}.", problems)
        if "effective_from" not in item:
            problems.append(f"{p}.effective_from: missing (required)")
            continue
        start = _date(item["effective_from"], f"{p}.effective_from", problems)
        changes = {k: _rate_value(k, item[k], f"{p}.{k}", problems)
                   for k in RATE_KEYS if k in item}
        if not changes:
            problems.append(f"{p}: changes nothing (give at least one of {', '.join(RATE_KEYS)})")
        if start is None:
            continue
        if out and start <= out[-1][0]:
            problems.append(f"{p}.effective_from: {start} is not after the period before it "
                            f"({out[-1][0]}); list periods in date order")
            continue
        out.append((start, changes))
    return tuple(out)


def _status_policy(value: Any, path: str, problems: list[str]) -> dict[str, str]:
    if not isinstance(value, Mapping):
        problems.append(f"{path}: must be a table like {{ N = \"rbrvs\" }}, got {value!r}")
        return {}
    out = {}
    for letter, policy in value.items():
        p = f"{path}.{letter}"
        if letter not in STATUS_CODES:
            problems.append(f"{p}: unknown key (status codes: {' '.join(STATUS_CODES)})")
            continue
        text = policy.strip().lower() if isinstance(policy, str) else None
        if text in STATUS_METHODS:
            out[letter] = text
            continue
        action, _, carc = (text or "").partition(":")
        carc = carc.strip().upper()
        if action in STATUS_ACTIONS and _CARC_RE.match(carc):
            out[letter] = f"{action}:{carc}"
            continue
        problems.append(
            f"{p}: must be one of 'rbrvs', 'gap_fill', 'by_report', 'bundled:<CARC>', "
            f"'deny:<CARC>' (e.g. 'deny:96'), got {policy!r}"
        )
    return out


# --------------------------------------------------------------------------------------------
# Gap-fill table (rule book §9)


def _gap_fill_key(value: Any, path: str, base_dir: Path, problems: list[str],
                  cache: dict, loader=None) -> tuple[pl.DataFrame | None, str | None]:
    """Load the table a ``gap_fill`` (or ``mue``) key names; problems of one file are reported
    once."""
    loader = loader or _load_gap_fill
    if value is None:
        return None, None
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        problems.append(f"{path}: must be a file name (CSV or Parquet), got {value!r}")
        return None, None
    written = str(value).strip()
    file = Path(written)
    if not file.is_absolute():
        file = base_dir / file
    file = file.resolve()
    if (file, loader) not in cache:
        frame, file_problems = loader(file)
        cache[file, loader] = (frame, file_problems)
        problems.extend(f"{path}: {p}" for p in file_problems)
    frame, file_problems = cache[file, loader]
    if file_problems:
        if not any(p.startswith(f"{path}: ") for p in problems):
            problems.append(f"{path}: {written} refused (see its problems above)")
        return None, None
    return frame, written


def load_gap_fill(path: str | os.PathLike) -> pl.DataFrame:
    """Read and validate a gap-fill table on its own (CSV or Parquet).

    Returns
    -------
    polars.DataFrame
        Columns and types of ``GAP_FILL_SCHEMA``: fees in cents, RVUs in 1/100.

    Raises
    ------
    ContractError
        File missing or unreadable, or any row refused (file, row and column named).
    """
    frame, problems = _load_gap_fill(Path(path).resolve())
    if problems:
        raise ContractError([f"gap_fill: {p}" for p in problems])
    return frame


def _read_table_text(file: Path) -> tuple[list[str], list, list[str]]:
    """Header, text records and problems of a contract table file (CSV or Parquet)."""
    if not file.is_file():
        return [], [], [f"file not found: {file}"]
    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            return (*_read_parquet_text(file), [])
        return (*_read_csv_text(file), [])
    except Exception as exc:  # any reader failure is a refused file, not a crash
        return [], [], [f"{file}: cannot be read: {exc}"]


def _load_gap_fill(file: Path) -> tuple[pl.DataFrame | None, list[str]]:
    """(table, problems) for one gap-fill file; the table is None when there are problems."""
    header, records, problems = _read_table_text(file)
    if problems:
        return None, problems
    problems = [f"{file}: {p}" for p in _check_gap_fill_header(header)]
    if problems:
        return None, problems
    return _parse_gap_fill_rows(file, records)


def _read_csv_text(file: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (file line, {column: text}) records; every value stays text."""
    with file.open(newline="", encoding="utf-8-sig") as fh:  # -sig: Excel writes a BOM
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        records = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank lines carry nothing
            cells = {}
            extra = row[len(header):]
            for col, cell in zip(header, row):
                if col:
                    cells[col] = cell
                else:
                    extra.append(cell)  # a column with no header name (trailing comma)
            if any(cell.strip() for cell in extra):
                cells[_EXTRA] = ",".join(c for c in extra if c.strip())
            records.append((reader.line_num, cells))
    # Columns without a header name are Excel's trailing commas: dropped, unless filled in.
    return [h for h in header if h], records


def _read_parquet_text(file: Path) -> tuple[list[str], list[tuple[int | None, dict[str, str]]]]:
    """Parquet read as text: floats through ``repr`` (like TOML floats), dates as ISO."""
    frame = pl.read_parquet(file)
    header = [c.strip().lower() for c in frame.columns]
    records = []
    for row in frame.rows():
        cells = {}
        for col, val in zip(header, row):
            if val is None:
                cells[col] = ""
            elif isinstance(val, float):
                cells[col] = repr(val)
            elif isinstance(val, (dt.date, dt.datetime)):
                cells[col] = val.isoformat()
            else:
                cells[col] = str(val)
        records.append((None, cells))
    return header, records


def _check_gap_fill_header(header: list[str]) -> list[str]:
    problems = []
    for col in header:
        if col not in _GAP_FILL_COLUMNS:
            problems.append(f"column {col!r}: unknown column (known: {', '.join(_GAP_FILL_COLUMNS)})")
    dupes = sorted({c for c in header if header.count(c) > 1})
    for col in dupes:
        problems.append(f"column {col!r}: appears more than once")
    for col in ("hcpcs", "effective_from"):
        if col not in header:
            problems.append(f"column {col!r}: missing (required)")
    rvu_cols = [c for c in GAP_FILL_RVU_COLUMNS if c in header]
    if rvu_cols and len(rvu_cols) < len(GAP_FILL_RVU_COLUMNS):
        missing = [c for c in GAP_FILL_RVU_COLUMNS if c not in header]
        problems.append(f"columns: RVU columns need all four; missing {', '.join(missing)}")
    if "fee" not in header and not rvu_cols:
        problems.append("columns: need 'fee' or all of " + ", ".join(GAP_FILL_RVU_COLUMNS))
    return problems


def _parse_gap_fill_rows(file: Path, records) -> tuple[pl.DataFrame | None, list[str]]:
    problems: list[str] = []
    columns: dict[str, list] = {c: [] for c in GAP_FILL_SCHEMA}
    first_row_of: dict[tuple, int] = {}
    n_bad = 0

    for row_no, (line_no, cells) in enumerate(records, start=1):
        where = f"{file.name} row {row_no}" + (f" (line {line_no})" if line_no else "")
        row_problems: list[str] = []

        def bad(col: str, what: str) -> None:
            row_problems.append(f"{where}, column {col}: {what}")

        if _EXTRA in cells:
            extra = cells[_EXTRA]
            bad("-", f"values outside the header's columns: {extra!r}")
        hcpcs = cells.get("hcpcs", "").strip().upper()
        if not _HCPCS_RE.match(hcpcs):
            bad("hcpcs", f"{cells.get('hcpcs', '')!r} is not a HCPCS code (5 characters 0-9, A-Z)")
        modifier = cells.get("modifier", "").strip().upper()
        if modifier and not _MODIFIER_RE.match(modifier):
            bad("modifier", f"{cells.get('modifier')!r} is not a modifier (2 characters 0-9, A-Z)")
        start = _parse_date(cells.get("effective_from", ""))
        if start is None:
            bad("effective_from", f"{cells.get('effective_from', '')!r} is not a date YYYY-MM-DD")
        end = None
        end_text = cells.get("effective_to", "").strip()
        if end_text:
            end = _parse_date(end_text)
            if end is None:
                bad("effective_to", f"{end_text!r} is not a date YYYY-MM-DD (or blank = open)")
            elif start is not None and end < start:
                bad("effective_to", f"{end_text} is before effective_from {start}")

        fee = _parse_scaled(cells.get("fee", ""), "fee", FEE_PLACES, FEE_MAX, CENTS, bad)
        rvus = {c: _parse_scaled(cells.get(c, ""), c, RVU_PLACES, RVU_MAX, RVU_SCALE, bad)
                for c in GAP_FILL_RVU_COLUMNS}
        given = [c for c in GAP_FILL_RVU_COLUMNS if cells.get(c, "").strip()]
        fee_given = bool(cells.get("fee", "").strip())
        if fee_given and given:
            bad("fee", "give either fee or the four RVUs, not both")
        elif not fee_given and not given:
            bad("fee", "no price: give fee or work_rvu, pe_rvu_nonfacility, pe_rvu_facility, "
                       "mp_rvu")
        elif given and len(given) < len(GAP_FILL_RVU_COLUMNS):
            missing = [c for c in GAP_FILL_RVU_COLUMNS if c not in given]
            bad(missing[0], f"RVU rows need all four RVUs; blank: {', '.join(missing)}")

        if not row_problems and start is not None:
            key = (hcpcs, modifier, start)
            if key in first_row_of:
                # Same code, modifier and start twice: §9's tie-break cannot choose.
                bad("effective_from", f"{hcpcs} {modifier or '(no modifier)'} from {start} "
                                      f"is already given in row {first_row_of[key]}")
            else:
                first_row_of[key] = row_no

        if row_problems:
            n_bad += 1
            if n_bad <= _MAX_ROW_PROBLEMS:
                problems.extend(row_problems)
            continue
        columns["hcpcs"].append(hcpcs)
        columns["modifier"].append(modifier)
        columns["effective_from"].append(start)
        columns["effective_to"].append(end)
        columns["fee"].append(fee)
        for c in GAP_FILL_RVU_COLUMNS:
            columns[c].append(rvus[c])
        columns["source_row"].append(row_no)

    if n_bad > _MAX_ROW_PROBLEMS:
        problems.append(f"{file.name}: {n_bad - _MAX_ROW_PROBLEMS} more bad rows not listed")
    if problems:
        return None, problems
    return pl.DataFrame(columns, schema=GAP_FILL_SCHEMA), []


def _load_mue(file: Path) -> tuple[pl.DataFrame | None, list[str]]:
    """(table, problems) for a practitioner MUE file: hcpcs, max_units, optional mai (1-3)."""
    header, records, problems = _read_table_text(file)
    if problems:
        return None, problems
    problems = [f"{file}: column {c!r}: unknown column (known: {', '.join(_MUE_COLUMNS)})"
                for c in header if c not in _MUE_COLUMNS]
    problems += [f"{file}: column {c!r}: missing (required)" for c in ("hcpcs", "max_units")
                 if c not in header]
    if problems:
        return None, problems
    columns: dict[str, list] = {c: [] for c in MUE_SCHEMA}
    first_row_of: dict[str, int] = {}
    n_bad = 0
    for row_no, (line_no, cells) in enumerate(records, start=1):
        where = f"{file.name} row {row_no}" + (f" (line {line_no})" if line_no else "")
        row_problems = []
        hcpcs = cells.get("hcpcs", "").strip().upper()
        if not _HCPCS_RE.match(hcpcs):
            row_problems.append(f"{where}, column hcpcs: {cells.get('hcpcs', '')!r} is not a "
                                "HCPCS code (5 characters 0-9, A-Z)")
        elif hcpcs in first_row_of:
            row_problems.append(f"{where}, column hcpcs: {hcpcs} is already given in row "
                                f"{first_row_of[hcpcs]}")
        text = cells.get("max_units", "").strip()
        units = int(text) if text.isdigit() else None
        if units is None or units > MUE_MAX_UNITS:
            row_problems.append(f"{where}, column max_units: {text!r} is not a whole number of "
                                f"units from 0 to {MUE_MAX_UNITS:,}")
        mai_text = cells.get("mai", "").strip()
        mai = int(mai_text) if mai_text in ("1", "2", "3") else None
        if mai_text and mai is None:
            row_problems.append(f"{where}, column mai: {mai_text!r} is not an MUE adjudication "
                                "indicator (1, 2 or 3; blank allowed)")
        if row_problems:
            n_bad += 1
            if n_bad <= _MAX_ROW_PROBLEMS:
                problems.extend(row_problems)
            continue
        first_row_of[hcpcs] = row_no
        for c, val in (("hcpcs", hcpcs), ("max_units", units), ("mai", mai),
                       ("source_row", row_no)):
            columns[c].append(val)
    if n_bad > _MAX_ROW_PROBLEMS:
        problems.append(f"{file.name}: {n_bad - _MAX_ROW_PROBLEMS} more bad rows not listed")
    if problems:
        return None, problems
    return pl.DataFrame(columns, schema=MUE_SCHEMA), []


def _parse_date(text: str) -> dt.date | None:
    text = text.strip()
    if not _DATE_TEXT_RE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _parse_scaled(text: str, col: str, places: int, maximum: Decimal, scale: int,
                  bad) -> int | None:
    """Exact integer of a text cell in 1/scale units; blank -> None; problems go to ``bad``."""
    text = (text or "").strip()
    if not text:
        return None
    d = _to_decimal(text)
    if d is None:
        bad(col, f"{text!r} is not a number")
        return None
    wrong = _check_decimal(d, places, maximum)
    if wrong:
        bad(col, f"{text!r} {wrong}")
        return None
    return abs(to_scaled(d, scale, col))


def _canon_map(values: Mapping[str, Decimal]) -> dict:
    return {k: _canon_number(v) for k, v in sorted(values.items())}


def _canon_rates(changes: Mapping[str, Any]) -> dict:
    return {k: _canon_map(v) if isinstance(v, Mapping) else
            (_canon_number(v) if isinstance(v, Decimal) else v)
            for k, v in sorted(changes.items())}


def _canon_carve_out(c: CarveOut) -> dict:
    # the keys of the first carve-outs (code, fee or percent of charges) as they were hashed
    d = c.canonical()
    return {k: v for k, v in d.items()
            if v is not None or k in ("hcpcs", "fee", "percent_of_charges")}


def _canon_number(value: Decimal | str | None) -> str | None:
    """One text per number: 58, 58.0 and 58.00 all give '58'."""
    if value is None or isinstance(value, str):
        return value
    return format(value.normalize(), "f")
