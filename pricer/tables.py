"""Reference tables and contract terms as dense arrays for the kernel.

Codes and localities become integer slots; every vintage of a kind becomes one plane of a
dense array indexed ``[vintage, code]`` or ``[vintage, locality]``. Built once per schedules
and contract and cached, so repeated pricing (what-ifs, batches) pays for it once.
"""
from __future__ import annotations

import weakref
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from pricer.claims import days_of
from pricer.contract import COB_METHODS, codes_in_range
from pricer.money import CF_SCALE, CENTS, FRACTION_SCALE, to_scaled
from pricer.vocabulary import (
    A_BUNDLED, A_BY_REPORT, A_DENY, A_GAP_FILL, A_RBRVS, CARVE_FEE, CARVE_POC, CARVE_POM, LOBS,
    MEDICARE_LOBS, MOD, MOD_INVALID, RATE_METHODS, RATE_POM, RVU_ROWS,
)

OPEN = np.iinfo(np.int32).max  # effective_to of an open vintage
RVU_POLICY = ("mult_proc", "bilat_surg", "asst_surg", "co_surg", "team_surg")
P_IMAGING_FAMILY = 5  # rvu_policy slot of the DIAGNOSTIC IMAGING FAMILY indicator (88, 99)
STATUS_LETTERS = "ABCDEFGHIJMNPRTX"

# Default status policy (§5); contract `status_policy` overrides cells per LOB.
_DEFAULT_POLICY = {
    "A": "rbrvs", "R": "rbrvs", "T": "rbrvs", "N": "rbrvs", "I": "gap_fill", "C": "by_report",
    "B": "bundled:97", "P": "bundled:97", "M": "bundled:246",
}
_MEDICARE_POLICY = {"N": "deny:96", "I": "deny:181"}

KernelTables = namedtuple("KernelTables", [
    "n_sched_codes",
    "rvu_from", "rvu_to", "rvu_cf", "rvu_status", "rvu_values", "rvu_policy", "endo_base",
    "gpci_from", "gpci_to", "gpci_floor_through", "gpci_work", "gpci_work_nofloor", "gpci_pe",
    "gpci_mp",
    "anes_from", "anes_to", "anes_cf",
    "base_from", "base_units",
    "asp_from", "asp_to", "asp_limit", "asp_coins", "asp_any",
    "opps_from", "opps_to", "opps_slot", "opps_cap", "lob_opps_cap",
    "n_codes", "lob_tuph", "lob_require_ndc", "ps_units", "neuraxial", "no_time", "by_report",
    "policy_action", "policy_carc", "mue",
    # rates by date: the rate sets of LOB L are rate_lo[L]..rate_lo[L + 1] - 1, each in force
    # from rate_from; CFs per locality (-1: the schedule's, "cms")
    "rate_lo", "rate_from", "rate_method", "rate_cf", "rate_rounding", "rate_pct_charges",
    "rate_pom", "rate_anes_cf", "rate_drug_pct",
    # carve-outs: candidate rules of (LOB, code) in contract order, co_offsets[L * C + c]
    "co_offsets", "co_rules", "cr_mod", "cr_from", "cr_to", "cr_type", "cr_value",
    "gf_offsets", "gf_mod", "gf_from", "gf_to", "gf_fee", "gf_work", "gf_pe_nf", "gf_pe_f",
    "gf_mp", "gf_source",
])


def _range_days(vintages) -> tuple[np.ndarray, np.ndarray]:
    f = np.array([days_of(v.effective_from) for v in vintages], np.int32)
    t = np.array([days_of(v.effective_to) if v.effective_to else OPEN for v in vintages], np.int32)
    return f, t


def _policy(spec: str) -> tuple[int, int]:
    name, _, carc = spec.partition(":")
    action = {"rbrvs": A_RBRVS, "gap_fill": A_GAP_FILL, "by_report": A_BY_REPORT,
              "bundled": A_BUNDLED, "deny": A_DENY}[name]
    return action, int(carc or 0)


@dataclass
class ScheduleArrays:
    """The schedule part: independent of any contract."""
    codes: list[str]
    code_index: dict[str, int]
    localities: list[str]
    locality_index: dict[str, int]
    rvu_release: list[str]
    anes_release: list[str]
    asp_release: list[str]
    arrays: dict
    schedules: object

    def locco_vintage_of(self, dos: np.ndarray) -> np.ndarray:
        """LOCCO vintage per line: the one covering the DOS, else newest before, else oldest."""
        vs = self.schedules.vintages("locco")
        if not vs:
            return np.zeros(len(dos), np.int64)
        f, _ = _range_days(vs)
        return np.clip(np.searchsorted(f, dos, side="right") - 1, 0, len(vs) - 1)

    def locality_for_county(self, state, county, vintage: int) -> str | None:
        v = self.schedules.vintages("locco")[vintage]
        return self.schedules.locality_for_county(state, county, v.effective_from)

    def locality_for_zip(self, zip_code, vintage: int) -> str | None:
        vs = self.schedules.vintages("locco")
        return self.schedules.locality_for_zip(zip_code, vs[vintage].effective_from)


def _schedule_arrays(schedules) -> ScheduleArrays:
    rvus = schedules.vintages("rvu")
    codes = set()
    for kind in ("rvu", "anes_base", "asp"):
        for v in schedules.vintages(kind):
            codes.update(v.table["hcpcs"].to_list())
    codes = sorted(codes)
    index = {c: i for i, c in enumerate(codes)}
    C = len(codes) + 1  # plus the slot of codes no table knows
    localities = schedules.localities()
    loc_index = {c: i for i, c in enumerate(localities)}
    L = len(localities)
    a = {}

    a["rvu_from"], a["rvu_to"] = _range_days(rvus)
    V = len(rvus)
    a["rvu_cf"] = np.zeros(V, np.int64)
    a["rvu_status"] = np.zeros((V, C, 4), np.uint8)
    # work, non-facility PE, facility PE, MP of the 4 rows of a code in 64 bytes: one cache
    # line per line priced, where four separate arrays cost four misses
    a["rvu_values"] = np.zeros((V, C, 4, 4), np.int32)
    # §11 indicators of each row (RVU_POLICY order); 9 "concept does not apply" where absent
    a["rvu_policy"] = np.full((V, C, 4, 8), 9, np.uint8)
    # §11 MULT PROC 3: the code slot of each code's ENDO BASE (-1: none)
    a["endo_base"] = np.full((V, C), -1, np.int32)
    row_of = {m: i for i, m in enumerate(RVU_ROWS)}
    for vi, v in enumerate(rvus):
        t = v.table
        cfs = t["conversion_factor"].unique().to_list()
        a["rvu_cf"][vi] = max(cfs)  # CMS prints one CF on every row
        ci = np.array([index[c] for c in t["hcpcs"].to_list()], np.int64)
        ri = np.array([row_of.get(m, -1) for m in t["modifier"].to_list()], np.int64)
        keep = ri >= 0
        ci, ri = ci[keep], ri[keep]
        status = np.array([ord(s[0]) if s else 0 for s in t["status"].to_list()], np.uint8)[keep]
        a["rvu_status"][vi, ci, ri] = status
        for k, col in enumerate(("work_rvu", "pe_nonfacility_rvu", "pe_facility_rvu", "mp_rvu")):
            a["rvu_values"][vi, ci, ri, k] = t[col].fill_null(0).to_numpy()[keep]
        for k, col in enumerate(RVU_POLICY):
            a["rvu_policy"][vi, ci, ri, k] = t[col].fill_null(9).to_numpy()[keep]
        family = [int(f) if f and f.strip().isdigit() and int(f) < 256 else 99
                  for f in t["diag_imaging_family"].fill_null("").to_list()]
        a["rvu_policy"][vi, ci, ri, P_IMAGING_FAMILY] = np.array(family, np.uint8)[keep]
        base = np.array([index.get(b, -1) if b else -1 for b in t["endo_base"].to_list()],
                        np.int32)[keep]
        a["endo_base"][vi, ci[base >= 0]] = base[base >= 0]

    gp = schedules.vintages("gpci")
    a["gpci_from"], a["gpci_to"] = _range_days(gp)
    a["gpci_floor_through"] = np.array(
        [days_of(v.work_floor_through) if v.work_floor_through else OPEN for v in gp], np.int32)
    for name in ("gpci_work", "gpci_work_nofloor", "gpci_pe", "gpci_mp"):
        a[name] = np.full((len(gp), L), -1, np.int64)
    for gi, v in enumerate(gp):
        t = v.table
        li = np.array([loc_index[x] for x in t["locality"].to_list()], np.int64)
        a["gpci_work"][gi, li] = t["work_gpci"].to_numpy()
        a["gpci_work_nofloor"][gi, li] = t["work_gpci_no_floor"].fill_null(-1).to_numpy()
        a["gpci_pe"][gi, li] = t["pe_gpci"].to_numpy()
        a["gpci_mp"][gi, li] = t["mp_gpci"].to_numpy()

    an = schedules.vintages("anes_cf")
    a["anes_from"], a["anes_to"] = _range_days(an)
    a["anes_cf"] = np.full((len(an), L), -1, np.int64)
    for ai, v in enumerate(an):
        t = v.table
        li = np.array([loc_index.get(x, -1) for x in t["locality"].to_list()], np.int64)
        keep = li >= 0
        a["anes_cf"][ai, li[keep]] = t["anesthesia_cf"].to_numpy()[keep]

    base = schedules.vintages("anes_base")
    a["base_from"], _ = _range_days(base)
    a["base_units"] = np.full((len(base), C), -1, np.int64)
    for bi, v in enumerate(base):
        t = v.table
        ci = np.array([index[c] for c in t["hcpcs"].to_list()], np.int64)
        a["base_units"][bi, ci] = t["base_units"].to_numpy()

    asp = schedules.vintages("asp")
    a["asp_from"], a["asp_to"] = _range_days(asp)
    a["asp_limit"] = np.full((len(asp), C), -1, np.int64)
    a["asp_coins"] = np.zeros((len(asp), C), np.int64)
    for qi, v in enumerate(asp):
        t = v.table.filter(v.table["payment_limit"].is_not_null())
        ci = np.array([index[c] for c in t["hcpcs"].to_list()], np.int64)
        a["asp_limit"][qi, ci] = t["payment_limit"].to_numpy()
        a["asp_coins"][qi, ci] = t["coinsurance_pct"].fill_null(0).to_numpy()
    a["asp_any"] = (a["asp_limit"] >= 0).any(axis=0) if len(asp) else np.zeros(C, bool)

    # §11 OPPS cap: per vintage, code and RVU row a slot; per slot the cap of each locality
    op = schedules.vintages("oppscap")
    a["opps_from"], a["opps_to"] = _range_days(op)
    a["opps_slot"] = np.full((len(op), C, 4), -1, np.int32)
    caps = []
    for oi, v in enumerate(op):
        slots = {}
        for hcpcs, mod, loc, cap in v.table.select(
                "hcpcs", "modifier", "locality", "nonfacility_price").iter_rows():
            if hcpcs not in index or mod not in row_of or loc not in loc_index:
                continue  # a code no RVU file prices, or a row or locality the engine lacks
            key = (index[hcpcs], row_of[mod])
            if key not in slots:
                slots[key] = len(caps)
                caps.append(np.full(L, -1, np.int64))
                a["opps_slot"][oi, key[0], key[1]] = slots[key]
            caps[slots[key]][loc_index[loc]] = cap
    a["opps_cap"] = np.array(caps, np.int64) if caps else np.full((1, L), -1, np.int64)

    return ScheduleArrays(
        codes=codes, code_index=index, localities=localities, locality_index=loc_index,
        rvu_release=[v.release for v in rvus], anes_release=[v.release for v in an],
        asp_release=[v.release for v in asp], arrays=a, schedules=schedules,
    )


@dataclass
class ReferenceArrays:
    """Schedules and one contract, encoded: what ``encode_claims`` and the kernel read."""
    sched: ScheduleArrays
    code_index: dict[str, int]   # schedule codes, then codes only the contract names
    unknown_code: int            # slot of codes nobody knows
    modifier_index: dict[str, int]  # vocabulary.MODIFIERS plus gap-fill modifiers
    gap_fill_sources: list[str]
    kernel: KernelTables
    percent_of_medicare: bool = False  # some line may be priced as a percent of Medicare
    # member cost share per LOB (docs/cost_share.md): COB method (index in COB_METHODS) and
    # Medicare sequestration (fraction x 10,000; 0 none)
    cob_method: np.ndarray = None
    sequestration: np.ndarray = None

    # what encode_claims needs, delegated to the schedule part
    @property
    def localities(self):
        return self.sched.localities

    @property
    def locality_index(self):
        return self.sched.locality_index

    def locco_vintage_of(self, dos):
        return self.sched.locco_vintage_of(dos)

    def locality_for_county(self, state, county, vintage):
        return self.sched.locality_for_county(state, county, vintage)

    def locality_for_zip(self, zip_code, vintage):
        return self.sched.locality_for_zip(zip_code, vintage)


def _cf(value, what) -> int:
    return -1 if isinstance(value, str) else to_scaled(value, CF_SCALE, what)


_FIRST_DAY = np.iinfo(np.int32).min


def _contract_codes(contract) -> set[str]:
    """Codes a contract names that need a code slot of their own."""
    extra = set()
    for lob in LOBS:
        t = contract.terms(lob)
        extra.update(t.neuraxial_labor_codes, t.anesthesia_no_time_units_codes, t.by_report_codes)
        for c in t.carve_outs:
            if c.hcpcs is not None:
                extra.add(c.hcpcs)
            if c.hcpcs_range is not None:  # codes no table knows yet may fall in the range
                extra.update(codes_in_range(*c.hcpcs_range))
        if t.gap_fill is not None:
            extra.update(t.gap_fill["hcpcs"].to_list())
        if t.mue is not None:
            extra.update(t.mue["hcpcs"].to_list())
    return extra


def _contract_modifiers(contract) -> set[str]:
    """Modifiers gap-fill rows and carve-outs name (the rule book may give them no meaning)."""
    mods = set()
    for lob in LOBS:
        t = contract.terms(lob)
        if t.gap_fill is not None:
            mods.update(m for m in t.gap_fill["modifier"].to_list() if m)
        mods.update(c.modifier for c in t.carve_outs if c.modifier)
    return mods


def _rate_arrays(k: dict, terms, loc_index: dict) -> None:
    K, L = len(terms), len(loc_index)
    sets = []
    k["rate_lo"] = np.zeros(K + 1, np.int64)
    for li, t in enumerate(terms):
        k["rate_lo"][li] = len(sets)
        sets.extend(t.rate_periods())
    k["rate_lo"][K] = len(sets)
    n = len(sets)
    k["rate_from"] = np.array([_FIRST_DAY if start is None else days_of(start)
                               for start, _ in sets], np.int32)
    k["rate_method"] = np.array([RATE_METHODS.index(r.method) for _, r in sets], np.int8)
    k["rate_rounding"] = np.array([1 if r.rounding == "cms" else 0 for _, r in sets], np.int8)
    k["rate_pct_charges"] = np.array(
        [to_scaled(r.percent_of_charges, FRACTION_SCALE, "percent_of_charges") for _, r in sets],
        np.int64)
    k["rate_pom"] = np.array(
        [0 if r.percent_of_medicare is None else
         to_scaled(r.percent_of_medicare, FRACTION_SCALE, "percent_of_medicare")
         for _, r in sets], np.int64)
    k["rate_drug_pct"] = np.array(
        [to_scaled(r.drug_percent_of_asp_limit, FRACTION_SCALE, "drug_percent_of_asp_limit")
         for _, r in sets], np.int64)
    for name, key, by in (("rate_cf", "conversion_factor", "conversion_factor_by_locality"),
                          ("rate_anes_cf", "anesthesia_conversion_factor",
                           "anesthesia_conversion_factor_by_locality")):
        a = np.empty((n, L), np.int64)
        for ri, (_, r) in enumerate(sets):
            a[ri, :] = _cf(getattr(r, key), key)
            for loc, cf in dict(getattr(r, by)).items():
                if loc not in loc_index:
                    raise ValueError(f"contract: {by}: {loc} is not a locality of the loaded "
                                     f"GPCI files")
                a[ri, loc_index[loc]] = _cf(cf, by)
        k[name] = a


def _carve_out_arrays(k: dict, terms, index: dict, modifier_index: dict, C: int) -> None:
    K = len(terms)
    rules = []  # (LOB, code slots, modifier id, from, to, type, value)
    for li, t in enumerate(terms):
        for co in t.carve_outs:
            if co.hcpcs is not None:
                slots = [index[co.hcpcs]]
            elif co.hcpcs_range is not None:
                slots = [index[c] for c in codes_in_range(*co.hcpcs_range)]
            else:
                slots = range(C)  # a modifier alone: every code
            if co.fee is not None:
                kind, value = CARVE_FEE, to_scaled(co.fee, CENTS, "carve_outs.fee")
            elif co.percent_of_charges is not None:
                kind, value = CARVE_POC, to_scaled(co.percent_of_charges, FRACTION_SCALE,
                                                   "carve_outs.percent_of_charges")
            else:
                kind, value = CARVE_POM, to_scaled(co.percent_of_medicare, FRACTION_SCALE,
                                                   "carve_outs.percent_of_medicare")
            rules.append((li, np.asarray(slots, np.int64),
                          modifier_index[co.modifier] if co.modifier else 0,
                          days_of(co.effective_from) if co.effective_from else _FIRST_DAY,
                          days_of(co.effective_to) if co.effective_to else OPEN, kind, value))
    # candidate rules per (LOB, code), in contract order: a stable sort of (key, rule)
    keys = [li * C + slots for li, slots, *_ in rules]
    rule_ids = [np.full(len(s), r, np.int64) for r, s in enumerate(keys)]
    keys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    rule_ids = np.concatenate(rule_ids) if rule_ids else np.zeros(0, np.int64)
    order = np.lexsort((rule_ids, keys))
    k["co_rules"] = rule_ids[order].astype(np.int32)
    k["co_offsets"] = np.searchsorted(keys[order], np.arange(K * C + 1)).astype(np.int64)
    k["cr_mod"] = np.array([r[2] for r in rules], np.uint8)
    k["cr_from"] = np.array([r[3] for r in rules], np.int32)
    k["cr_to"] = np.array([r[4] for r in rules], np.int32)
    k["cr_type"] = np.array([r[5] for r in rules], np.int8)
    k["cr_value"] = np.array([r[6] for r in rules], np.int64)


def _contract_arrays(sched: ScheduleArrays, contract, shared=()) -> ReferenceArrays:
    """Arrays of one contract. ``shared``: other contracts whose codes and modifiers get the
    same slots, so that lines encoded once price under each of them (what-ifs)."""
    terms = [contract.terms(lob) for lob in LOBS]
    extra = set()
    extra_mods = set()
    for c in (contract, *shared):
        extra |= _contract_codes(c)
        extra_mods |= _contract_modifiers(c)
    index = dict(sched.code_index)
    n_sched = len(sched.codes)
    slot = n_sched + 1  # slot n_sched is the schedule arrays' unknown slot; contract codes follow
    for c in sorted(extra - set(index)):
        index[c] = slot
        slot += 1
    unknown = slot
    C = unknown + 1
    K = len(LOBS)

    k = dict(sched.arrays)
    k["n_sched_codes"] = n_sched
    k["n_codes"] = C
    _rate_arrays(k, terms, sched.locality_index)
    k["lob_tuph"] = np.array([t.anesthesia_time_units_per_hour for t in terms], np.int64)
    k["lob_require_ndc"] = np.array([bool(t.require_ndc_for_drugs) for t in terms], np.bool_)
    k["lob_opps_cap"] = np.array([lob in MEDICARE_LOBS for lob in LOBS], np.bool_)
    k["ps_units"] = np.zeros((K, 7), np.int64)
    for li, t in enumerate(terms):
        for name, units in dict(t.physical_status_units).items():
            k["ps_units"][li, int(name[1])] = units
    for name in ("neuraxial", "no_time", "by_report"):
        k[name] = np.zeros((K, C), np.bool_)
    k["mue"] = np.full((K, C), -1, np.int64)  # §11 units payable per line; -1: no edit
    for li, t in enumerate(terms):
        if t.mue is not None:
            for code, units in t.mue.select("hcpcs", "max_units").iter_rows():
                k["mue"][li, index[code]] = units
    k["policy_action"] = np.full((K, 128), A_GAP_FILL, np.uint8)
    k["policy_carc"] = np.zeros((K, 128), np.int16)
    # gap-fill rows and carve-outs may name modifiers the rule book gives no meaning: they get
    # ids of their own
    modifier_index = dict(MOD)
    for m in sorted(extra_mods - set(modifier_index)):
        modifier_index[m] = MOD_INVALID + len(modifier_index) - len(MOD) + 1
    if len(modifier_index) - len(MOD) + MOD_INVALID >= 255:
        raise ValueError("gap-fill tables and carve-outs name more distinct modifiers than the "
                         "engine holds (220)")
    _carve_out_arrays(k, terms, index, modifier_index, C)
    gf_rows = []
    sources = []
    for li, (lob, t) in enumerate(zip(LOBS, terms)):
        for c in t.neuraxial_labor_codes:
            k["neuraxial"][li, index[c]] = True
        for c in t.anesthesia_no_time_units_codes:
            k["no_time"][li, index[c]] = True
        for c in t.by_report_codes:
            k["by_report"][li, index[c]] = True
        policy = dict(_DEFAULT_POLICY)
        if lob in MEDICARE_LOBS:
            policy.update(_MEDICARE_POLICY)
        policy.update(dict(t.status_policy))
        for letter, spec in policy.items():
            action, carc = _policy(spec)
            k["policy_action"][li, ord(letter)] = action
            k["policy_carc"][li, ord(letter)] = carc
        if t.gap_fill is not None and t.gap_fill.height:
            g = t.gap_fill
            src = t.gap_fill_source or "gap_fill"
            for row in g.iter_rows(named=True):
                sources.append(f"{src}:{row['source_row']}")
                gf_rows.append((
                    li * C + index[row["hcpcs"]],
                    modifier_index[row["modifier"]] if row["modifier"] else 0,
                    days_of(row["effective_from"]),
                    days_of(row["effective_to"]) if row["effective_to"] else OPEN,
                    -1 if row["fee"] is None else row["fee"],
                    *(-1 if row[c] is None else row[c]
                      for c in ("work_rvu", "pe_rvu_nonfacility", "pe_rvu_facility", "mp_rvu")),
                    len(sources) - 1,
                ))
    gf_rows.sort(key=lambda r: (r[0], r[-1]))
    cols = list(zip(*gf_rows)) if gf_rows else [[] for _ in range(10)]
    keys = np.array(cols[0], np.int64)
    k["gf_offsets"] = np.searchsorted(keys, np.arange(K * C + 1)).astype(np.int64)
    for j, name in enumerate(("gf_mod", "gf_from", "gf_to", "gf_fee", "gf_work", "gf_pe_nf",
                              "gf_pe_f", "gf_mp", "gf_source"), start=1):
        dtype = {"gf_mod": np.uint8, "gf_from": np.int32, "gf_to": np.int32,
                 "gf_source": np.int32}.get(name, np.int64)
        k[name] = np.array(cols[j], dtype)
    return ReferenceArrays(sched=sched, code_index=index, unknown_code=unknown,
                           modifier_index=modifier_index, gap_fill_sources=sources,
                           kernel=KernelTables(**k),
                           percent_of_medicare=bool((k["rate_method"] == RATE_POM).any()
                                                    or (k["cr_type"] == CARVE_POM).any()),
                           cob_method=np.array([COB_METHODS.index(
                               contract.terms(x).coordination_of_benefits) for x in LOBS],
                               np.int8),
                           sequestration=np.array([
                               0 if contract.terms(x).sequestration is None else
                               to_scaled(contract.terms(x).sequestration, FRACTION_SCALE)
                               for x in LOBS], np.int64))


_SCHED_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def reference_arrays(schedules, contract, shared=()) -> ReferenceArrays:
    """Dense arrays for (schedules, contract), cached for as long as ``schedules`` lives.

    ``shared``: contracts priced on the same encoded lines (what-ifs); their codes and
    modifiers get the same slots in every one of them.
    """
    per = _SCHED_CACHE.get(schedules)
    if per is None:
        per = {"sched": _schedule_arrays(schedules)}
        _SCHED_CACHE[schedules] = per
    others = sorted({c.sha256() for c in shared} - {contract.sha256()})
    key = (contract.sha256(), *others)
    if key not in per:
        by_sha = {c.sha256(): c for c in shared}
        per[key] = _contract_arrays(per["sched"], contract, [by_sha[s] for s in others])
    return per[key]
