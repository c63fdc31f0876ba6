"""Benefit plans: the deductibles, coinsurance, copays and out-of-pocket maximums of members.

A plans file is TOML, one ``[plan.ID]`` table per plan (``docs/cost_share.md``). Like a
contract, it is checked whole before anything is built and every problem is reported at once.
Amounts are exact Decimals; the kernel reads them as cents and fractions of 10,000.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from pricer.contract import (COB_METHODS, FEE_MAX, FEE_PLACES, FRACTION_PLACES, ContractError,
                             FrozenMap, _bool, _check_keys, _choice, _decimal)
from pricer.money import CENTS, FRACTION_SCALE, to_scaled

# Copay categories (docs/cost_share.md, "Copay categories"): position = the kernel's number.
COPAY_CATEGORIES = (
    "office_visit", "specialist_office_visit", "emergency_room", "preventive", "mental_health",
    "therapy", "audiology", "maternity", "radiation_chemotherapy",
)
CAT_NONE = -1
CAT_OFFICE, CAT_SPECIALIST, CAT_ER, CAT_PREVENTIVE = 0, 1, 2, 3

# Codes of each category, as inclusive ranges of same-shape codes (the manual's "Copayments"
# lists, mapped to CPT/HCPCS); office visits become specialist visits by provider type.
_CATEGORY_RANGES = {
    "office_visit": [("99202", "99215"), ("99241", "99245")],
    "emergency_room": [("99281", "99285")],
    "preventive": [("99381", "99397"), ("99401", "99429"), ("G0402", "G0402"),
                   ("G0438", "G0439")],
    "mental_health": [("90785", "90899")],
    "therapy": [("97010", "97799"), ("92507", "92508"), ("92521", "92526")],
    "audiology": [("92550", "92700")],
    "maternity": [("59425", "59426"), ("59430", "59430")],
    "radiation_chemotherapy": [("77261", "77799"), ("96401", "96549")],
}

# rendering_provider_type: accepted spellings -> type
PROVIDER_TYPES = ("physician", "physician_assistant", "nurse_practitioner", "specialist",
                  "lab_technician", "other")
PT_PHYSICIAN, PT_PA, PT_NP, PT_SPECIALIST, PT_LAB, PT_OTHER = range(6)
PROVIDER_ALIASES = {
    **{name: i for i, name in enumerate(PROVIDER_TYPES)},
    "md": PT_PHYSICIAN, "do": PT_PHYSICIAN, "pa": PT_PA, "np": PT_NP, "arnp": PT_NP,
}

PLAN_KEYS = ("name", "plan_year_start", "deductible", "family_deductible", "coinsurance",
             "out_of_pocket_max", "family_out_of_pocket_max", "preventive_covered_in_full",
             "coordination_of_benefits", "copays")


@lru_cache(maxsize=1 << 16)  # per distinct code of every block of a batch: computed once
def copay_category(code: str) -> int:
    """The copay category number of a normalised HCPCS code (office visits as
    ``office_visit``), or ``CAT_NONE``.

    >>> COPAY_CATEGORIES[copay_category("99284")]
    'emergency_room'
    >>> copay_category("80053")
    -1
    """
    for name, ranges in _CATEGORY_RANGES.items():
        for lo, hi in ranges:
            if len(code) == 5 and lo <= code <= hi and code[0].isdigit() == lo[0].isdigit():
                return COPAY_CATEGORIES.index(name)
    return CAT_NONE


class PlanError(ContractError):
    """A plans file (or starting balances) that cannot be used; lists every problem."""


@dataclass(frozen=True)
class Plan:
    """One benefit plan. Amounts are Decimals; None = no such limit."""

    plan_id: str
    name: str | None = None
    plan_year_start: tuple[int, int] = (1, 1)
    deductible: Decimal = Decimal("0.00")
    family_deductible: Decimal | None = None
    coinsurance: Decimal = Decimal("0.0000")
    out_of_pocket_max: Decimal | None = None
    family_out_of_pocket_max: Decimal | None = None
    preventive_covered_in_full: bool = False
    coordination_of_benefits: str | None = None
    copays: Mapping[str, Decimal] = field(default_factory=FrozenMap)

    def canonical(self) -> dict:
        def num(d):
            return None if d is None else str(d)
        return {
            "plan_year_start": "%02d-%02d" % self.plan_year_start,
            "deductible": num(self.deductible), "family_deductible": num(self.family_deductible),
            "coinsurance": num(self.coinsurance),
            "out_of_pocket_max": num(self.out_of_pocket_max),
            "family_out_of_pocket_max": num(self.family_out_of_pocket_max),
            "preventive_covered_in_full": self.preventive_covered_in_full,
            "coordination_of_benefits": self.coordination_of_benefits,
            "copays": {k: str(v) for k, v in sorted(self.copays.items())},
        }


@dataclass(frozen=True, eq=False)
class Plans:
    """The benefit plans lines name in ``plan_id``.

    Examples
    --------
    >>> plans = Plans.from_dict({"plan": {"A": {"deductible": 2500, "coinsurance": 0.2}}})
    >>> plans["A"].deductible, plans["A"].coinsurance
    (Decimal('2500.00'), Decimal('0.2000'))
    >>> Plans.from_dict({"plan": {"A": {"deductable": 10}}})
    Traceback (most recent call last):
    ...
    pricer.plans.PlanError: plan.A.deductable: unknown key (did you mean 'deductible'?)
    """

    plans: Mapping[str, Plan]
    source: Path | None = None

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> "Plans":
        """Read and check a plans file (``docs/cost_share.md``)."""
        path = Path(path)
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise PlanError(f"plans file not found: {path}") from None
        except tomllib.TOMLDecodeError as e:
            raise PlanError(f"not valid TOML: {e}", path) from None
        return cls.from_dict(data, source=path)

    @classmethod
    def from_dict(cls, data: Mapping, source: str | os.PathLike | None = None) -> "Plans":
        """Check plans given as the dict ``tomllib`` would produce (``{"plan": {ID: {...}}}``)."""
        source = Path(source) if source is not None else None
        problems: list[str] = []
        if not isinstance(data, Mapping):
            raise PlanError(f"expected a table of keys, got {type(data).__name__}", source)
        _check_keys(data, ("plan",), "", problems)
        tables = data.get("plan", {})
        if not isinstance(tables, Mapping) or not tables:
            problems.append("plan: give at least one [plan.ID] table")
            tables = {}
        plans, folded = {}, {}
        for pid, raw in tables.items():
            plan = _plan(str(pid), raw, problems)
            if plan is not None:
                plans[plan.plan_id] = plan
            key = str(pid).strip().casefold()
            if key in folded:  # lines' plan IDs are matched without regard to case
                problems.append(f"plan.{pid}: the same ID as plan.{folded[key]} apart from "
                                f"case")
            folded.setdefault(key, pid)
        if problems:
            raise PlanError(problems, source)
        return cls(plans=FrozenMap(plans), source=source)

    def __getitem__(self, plan_id: str) -> Plan:
        return self.plans[plan_id]

    def __contains__(self, plan_id) -> bool:
        return plan_id in self.plans

    def __len__(self) -> int:
        return len(self.plans)

    def lookup(self, text) -> str | None:
        """The plan ID a line's ``plan_id`` names (trimmed, any case), or None.

        >>> Plans.from_dict({"plan": {"Gold": {}}}).lookup(" GOLD ")
        'Gold'
        """
        return self._folded.get(str(text).strip().casefold())

    @cached_property
    def _folded(self) -> dict:
        return {p.casefold(): p for p in self.plans}

    @property
    def ids(self) -> tuple[str, ...]:
        """Plan IDs in file order: a plan's number in the kernel is its position here."""
        return tuple(self.plans)

    def sha256(self) -> str:
        """Fingerprint of the plans' terms (for run manifests); not names or the source."""
        return self._digest

    @cached_property
    def _digest(self) -> str:
        payload = {pid: p.canonical() for pid, p in self.plans.items()}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def __eq__(self, other) -> bool:
        return isinstance(other, Plans) and self.sha256() == other.sha256()

    def __hash__(self) -> int:
        return hash(self.sha256())

    @cached_property
    def arrays(self) -> "PlanArrays":
        """The plans as the accumulator kernel reads them."""
        return plan_arrays(self)


def _plan(pid: str, raw: Any, problems: list[str]) -> Plan | None:
    path = f"plan.{pid}"
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: must be a table, got {raw!r}")
        return None
    before = len(problems)
    _check_keys(raw, PLAN_KEYS, f"{path}.", problems)
    if not pid.strip():
        problems.append(f"{path}: a plan ID must not be blank")

    def money(k, default=None):
        if k not in raw:
            return default
        return _decimal(raw[k], f"{path}.{k}", FEE_PLACES, FEE_MAX, problems)

    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        problems.append(f"{path}.name: must be a string, got {name!r}")
    start = _month_day(raw.get("plan_year_start", "01-01"), f"{path}.plan_year_start", problems)
    coins = Decimal("0.0000")
    if "coinsurance" in raw:
        coins = _decimal(raw["coinsurance"], f"{path}.coinsurance", FRACTION_PLACES,
                         Decimal("1"), problems)
    preventive = _bool(raw.get("preventive_covered_in_full", False),
                       f"{path}.preventive_covered_in_full", problems)
    cob = None
    if "coordination_of_benefits" in raw:
        cob = _choice(raw["coordination_of_benefits"], f"{path}.coordination_of_benefits",
                      COB_METHODS, problems)
    copays = {}
    raw_copays = raw.get("copays", {})
    if not isinstance(raw_copays, Mapping):
        problems.append(f"{path}.copays: must be a table category = amount, got {raw_copays!r}")
    else:
        _check_keys(raw_copays, COPAY_CATEGORIES, f"{path}.copays.", problems)
        for k, v in raw_copays.items():
            if k in COPAY_CATEGORIES:
                copays[k] = _decimal(v, f"{path}.copays.{k}", FEE_PLACES, FEE_MAX, problems)
    plan = dict(
        deductible=money("deductible", Decimal("0.00")),
        family_deductible=money("family_deductible"),
        out_of_pocket_max=money("out_of_pocket_max"),
        family_out_of_pocket_max=money("family_out_of_pocket_max"),
    )
    if len(problems) > before:
        return None
    return Plan(plan_id=pid.strip(), name=name, plan_year_start=start, coinsurance=coins,
                preventive_covered_in_full=preventive, coordination_of_benefits=cob,
                copays=FrozenMap(copays), **plan)


def _month_day(value: Any, path: str, problems: list[str]) -> tuple[int, int] | None:
    try:
        month, day = (int(p) for p in str(value).strip().split("-"))
        dt.date(2023, month, day)  # a year without 29 February: that start would skip years
        if len(str(value).strip()) != 5:
            raise ValueError
        return month, day
    except (ValueError, TypeError):
        problems.append(f"{path}: must be a month-day \"MM-DD\" (e.g. \"07-01\"), got {value!r}")
        return None


@dataclass(frozen=True)
class PlanArrays:
    """Plan terms as integers, one entry per plan (position in ``Plans.ids``); -1 = none."""

    deductible: np.ndarray         # int64 cents
    family_deductible: np.ndarray  # int64 cents, -1 none
    coinsurance: np.ndarray        # int64 fraction x 10,000
    oop: np.ndarray                # int64 cents, -1 none
    family_oop: np.ndarray         # int64 cents, -1 none
    preventive_full: np.ndarray    # bool
    copay: np.ndarray              # int64 [plans, categories] cents, -1 none
    cob: np.ndarray                # int8: index in COB_METHODS, -1 = the LOB's
    start_month: np.ndarray        # int64
    start_day: np.ndarray          # int64


def plan_arrays(plans: Plans) -> PlanArrays:
    ps = [plans[p] for p in plans.ids]

    def cents(d):
        return -1 if d is None else to_scaled(d, CENTS)

    copay = np.full((max(len(ps), 1), len(COPAY_CATEGORIES)), -1, np.int64)
    for i, p in enumerate(ps):
        for k, v in p.copays.items():
            copay[i, COPAY_CATEGORIES.index(k)] = cents(v)
    return PlanArrays(
        deductible=np.array([cents(p.deductible) for p in ps], np.int64),
        family_deductible=np.array([cents(p.family_deductible) for p in ps], np.int64),
        coinsurance=np.array([to_scaled(p.coinsurance, FRACTION_SCALE) for p in ps], np.int64),
        oop=np.array([cents(p.out_of_pocket_max) for p in ps], np.int64),
        family_oop=np.array([cents(p.family_out_of_pocket_max) for p in ps], np.int64),
        preventive_full=np.array([p.preventive_covered_in_full for p in ps], np.bool_),
        copay=copay,
        cob=np.array([-1 if p.coordination_of_benefits is None
                      else COB_METHODS.index(p.coordination_of_benefits) for p in ps], np.int8),
        start_month=np.array([p.plan_year_start[0] for p in ps], np.int64),
        start_day=np.array([p.plan_year_start[1] for p in ps], np.int64),
    )


def load_plans(plans) -> Plans | None:
    """``Plans`` from a Plans object, a path, a dict, or None."""
    if plans is None or isinstance(plans, Plans):
        return plans
    if isinstance(plans, Mapping):
        return Plans.from_dict(plans)
    return Plans.from_toml(plans)
