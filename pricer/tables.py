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
from pricer.money import CF_SCALE, CENTS, FRACTION_SCALE, to_scaled
from pricer.vocabulary import (
    A_BUNDLED, A_BY_REPORT, A_DENY, A_GAP_FILL, A_RBRVS, LOBS, MEDICARE_LOBS, MOD, MOD_INVALID,
    RVU_ROWS,
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
    "lob_cf", "lob_rounding", "lob_pct_charges", "lob_anes_cf", "lob_tuph", "lob_drug_pct",
    "lob_require_ndc", "ps_units", "neuraxial", "no_time", "by_report", "carve_type",
    "carve_value", "policy_action", "policy_carc", "mue",
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


def _contract_arrays(sched: ScheduleArrays, contract) -> ReferenceArrays:
    terms = [contract.terms(lob) for lob in LOBS]
    extra = set()
    for t in terms:
        extra.update(t.neuraxial_labor_codes, t.anesthesia_no_time_units_codes, t.by_report_codes)
        extra.update(c.hcpcs for c in t.carve_outs)
        if t.gap_fill is not None:
            extra.update(t.gap_fill["hcpcs"].to_list())
        if t.mue is not None:
            extra.update(t.mue["hcpcs"].to_list())
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
    k["lob_cf"] = np.array([_cf(t.conversion_factor, "conversion_factor") for t in terms], np.int64)
    k["lob_rounding"] = np.array([1 if t.rounding == "cms" else 0 for t in terms], np.int8)
    k["lob_pct_charges"] = np.array(
        [to_scaled(t.percent_of_charges, FRACTION_SCALE, "percent_of_charges") for t in terms], np.int64)
    k["lob_anes_cf"] = np.array(
        [_cf(t.anesthesia_conversion_factor, "anesthesia_conversion_factor") for t in terms], np.int64)
    k["lob_tuph"] = np.array([t.anesthesia_time_units_per_hour for t in terms], np.int64)
    k["lob_drug_pct"] = np.array(
        [to_scaled(t.drug_percent_of_asp_limit, FRACTION_SCALE, "drug_percent_of_asp_limit")
         for t in terms], np.int64)
    k["lob_require_ndc"] = np.array([bool(t.require_ndc_for_drugs) for t in terms], np.bool_)
    k["lob_opps_cap"] = np.array([lob in MEDICARE_LOBS for lob in LOBS], np.bool_)
    k["ps_units"] = np.zeros((K, 7), np.int64)
    for li, t in enumerate(terms):
        for name, units in dict(t.physical_status_units).items():
            k["ps_units"][li, int(name[1])] = units
    for name in ("neuraxial", "no_time", "by_report"):
        k[name] = np.zeros((K, C), np.bool_)
    k["carve_type"] = np.zeros((K, C), np.int8)
    k["mue"] = np.full((K, C), -1, np.int64)  # §11 units payable per line; -1: no edit
    for li, t in enumerate(terms):
        if t.mue is not None:
            for code, units in t.mue.select("hcpcs", "max_units").iter_rows():
                k["mue"][li, index[code]] = units
    k["carve_value"] = np.zeros((K, C), np.int64)
    k["policy_action"] = np.full((K, 128), A_GAP_FILL, np.uint8)
    k["policy_carc"] = np.zeros((K, 128), np.int16)
    # gap-fill rows may name modifiers the rule book gives no meaning: they get ids of their own
    modifier_index = dict(MOD)
    for t in terms:
        if t.gap_fill is not None:
            for m in sorted(set(t.gap_fill["modifier"].to_list()) - set(modifier_index) - {None}):
                modifier_index[m] = MOD_INVALID + len(modifier_index) - len(MOD) + 1
    if len(modifier_index) - len(MOD) + MOD_INVALID >= 255:
        raise ValueError("gap-fill tables name more distinct modifiers than the engine holds (220)")
    gf_rows = []
    sources = []
    for li, (lob, t) in enumerate(zip(LOBS, terms)):
        for c in t.neuraxial_labor_codes:
            k["neuraxial"][li, index[c]] = True
        for c in t.anesthesia_no_time_units_codes:
            k["no_time"][li, index[c]] = True
        for c in t.by_report_codes:
            k["by_report"][li, index[c]] = True
        for co in t.carve_outs:
            ci = index[co.hcpcs]
            if co.fee is not None:
                k["carve_type"][li, ci] = 1
                k["carve_value"][li, ci] = to_scaled(co.fee, CENTS, "carve_outs.fee")
            else:
                k["carve_type"][li, ci] = 2
                k["carve_value"][li, ci] = to_scaled(
                    co.percent_of_charges, FRACTION_SCALE, "carve_outs.percent_of_charges")
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
                           kernel=KernelTables(**k))


_SCHED_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def reference_arrays(schedules, contract) -> ReferenceArrays:
    """Dense arrays for (schedules, contract), cached for as long as ``schedules`` lives."""
    per = _SCHED_CACHE.get(schedules)
    if per is None:
        per = {"sched": _schedule_arrays(schedules)}
        _SCHED_CACHE[schedules] = per
    key = contract.sha256()
    if key not in per:
        per[key] = _contract_arrays(per["sched"], contract)
    return per[key]
