"""The line-pricing kernel: plain loops over integer arrays, compiled by numba.

Pure: arrays in, arrays out, no I/O. Money is in cents, rates in the units of
``pricer.money``; every rounding is an explicit half-up integer division where the rule book
puts one (§1). The kernel follows rule book §5-§10 and §12 and ``docs/decisions.md``.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, prange

from pricer.vocabulary import (
    A_BUNDLED, A_BY_REPORT, A_DENY, A_GAP_FILL, CARVE_FEE, CARVE_POC, CARVE_POM, DENIED, F,
    LOB_MEDICAID, LOB_MEDICARE_REFERENCE, M_ANESTHESIA, M_PCT_MEDICARE, RATE_POC, RATE_POM,
    M_BUNDLED, M_CARVE_OUT, M_DENIED, M_DRUG, M_GAP_FILL, M_PCT_CHARGES, M_RBRVS, M_REJECTED,
    MOD, PRE_DENIALS, PRICED, R, REJECTED, S_ASSISTANT, S_BILATERAL, S_CO_SURGERY, S_MULTIPLE,
    S_OPPS_CAP, VOID, M_VOID, CARC_VOID,
)

from pricer import _kernel_cache, vocabulary  # noqa: E402  (the guard runs before any compile)
from pricer.columns_nb import _same as _same_text  # noqa: E402

_kernel_cache.refresh_if_stale(__file__, vocabulary.__file__)

# schedule_version kinds
V_NONE, V_RVU, V_ANES, V_ASP, V_GAPFILL = 0, 1, 2, 3, 4

KernelOut = namedtuple("KernelOut", [
    "status", "method", "reason", "flags", "fee", "allowed", "deductible", "copay",
    "coinsurance", "paid", "liability", "total_rvu", "cf", "base_units", "time_units",
    "drug_coins", "version_kind", "version_idx", "gap_source", "carc", "fee_full",
    "policy_step", "fee_cut", "fee_num", "mult", "rvu_status", "bilat", "claim_step",
    "mue_denied", "mp_part", "mp_key", "pom", "claim_role", "cob", "seq",
])


def allocate_out(n: int) -> KernelOut:
    """Output arrays for ``n`` lines.

    Decimal outputs are ``[n, 2]`` int64: the low and high words of the 128-bit integer an
    Arrow decimal128 column stores, so the result columns are these very buffers (no copy).
    Column 0 is the value; -1 there means null.

    Each array starts a different number of cache lines into its own allocation. Large
    allocations are page-aligned, so without it line ``i`` of every array of one item size
    falls in the same cache set, and the kernel's thirty-odd output streams evict each other
    (the line kernel ran 20-25 % slower; docs/decisions.md).
    """
    k = 0

    def staggered(shape, dtype):
        nonlocal k
        k += 1
        row = np.dtype(dtype).itemsize * (shape[1] if len(shape) > 1 else 1)
        skip = -(-k * _STAGGER // row)  # rows, rounded up
        return np.empty((shape[0] + skip,) + shape[1:], dtype)[skip:]

    def a(dtype):
        return staggered((n,), dtype)

    def wide():
        return staggered((n, 2), np.int64)
    return KernelOut(
        status=a(np.uint8), method=a(np.uint8), reason=a(np.uint8), flags=a(np.uint32),
        fee=wide(), allowed=wide(), deductible=wide(), copay=wide(), coinsurance=wide(),
        paid=wide(), liability=wide(), total_rvu=wide(), cf=wide(), base_units=wide(),
        time_units=wide(), drug_coins=wide(), version_kind=a(np.uint8), version_idx=a(np.int16),
        gap_source=a(np.int32), carc=a(np.int16), fee_full=a(np.int64),
        policy_step=a(np.uint8), fee_cut=a(np.int64), fee_num=a(np.int64), mult=a(np.uint8),
        rvu_status=a(np.uint8), bilat=a(np.uint8), claim_step=a(np.uint8),
        mue_denied=a(np.int64), mp_part=a(np.int64), mp_key=a(np.int32), pom=a(np.int32),
        claim_role=a(np.uint8),
        # zero until settle_payers_nb writes them: most runs have neither COB nor
        # sequestration, and zeros from np.zeros cost no memory until written
        cob=np.zeros((n, 2), np.int64), seq=np.zeros((n, 2), np.int64),
    )


_STAGGER = 320  # bytes: five cache lines more for each next output array (allocate_out)

# constants as plain ints so numba folds them
_MOD_26, _MOD_TC, _MOD_53 = MOD["26"], MOD["TC"], MOD["53"]
_MOD_AA, _MOD_AD, _MOD_QK, _MOD_QX = MOD["AA"], MOD["AD"], MOD["QK"], MOD["QX"]
_MOD_QY, _MOD_QZ, _MOD_P1, _MOD_P6 = MOD["QY"], MOD["QZ"], MOD["P1"], MOD["P6"]
_F_NO_SCHED, _F_BY_REPORT, _F_PREPAY = F["no_schedule_for_dos"], F["by_report"], F["prepayment_review"]
_F_ANES_MIN, _F_NDC, _F_QMB = F["anesthesia_minutes_implausible"], F["ndc_missing"], F["qmb_cost_share_not_billable"]
_F_MEDICAID_COPAY = F["medicaid_copay_waived"]
_F_REVIEW = F["review"]
_NUM_LIMIT = 90_000_000_000  # fees from $900 M up keep no exact numerator (int64 room)
_MOD_50, _MOD_62, _MOD_66, _MOD_AS = MOD["50"], MOD["62"], MOD["66"], MOD["AS"]
_MOD_80, _MOD_81, _MOD_82 = MOD["80"], MOD["81"], MOD["82"]
_MOD_RT, _MOD_LT = MOD["RT"], MOD["LT"]
_R_ASST, _R_CO, _R_TEAM = R["assistant_not_payable"], R["co_surgery_not_payable"], R["team_surgery_not_payable"]
_R_TIMELY, _R_EM_FACILITY = R["timely_filing"], R["em_facility_charge"]
_R_STATUS_T = R["status_t_bundled"]
_R_MUE = R["mue_exceeded"]
_R_VOID = R["void_request"]
_ST_T = ord("T")
_CARC_TIMELY, _CARC_EM_FACILITY = PRE_DENIALS["timely_filing"], PRE_DENIALS["em_facility_charge"]
_P_BILAT, _P_ASST, _P_CO, _P_TEAM = 1, 2, 3, 4  # columns of rvu_policy (tables.RVU_POLICY)
_P_FAMILY = 5  # tables.P_IMAGING_FAMILY
_R_ANES_MIN, _R_26TC, _R_PCTC_ROW = R["anesthesia_minutes_implausible"], R["modifier_26_and_tc"], R["pctc_row_missing"]
_R_PCTC_REQ, _R_ANES_MOD, _R_NDC = R["pctc_modifier_required"], R["anesthesia_modifier_missing"], R["ndc_missing"]
_R_STATUS_DENIED, _R_STATUS_BUNDLED = R["status_denied"], R["status_bundled"]


@njit(cache=True, inline="always")
def half_up(num, den):
    """round(num / den) half-up, for num >= 0 and den > 0."""
    return (2 * num + den) // (2 * den)


@njit(cache=True, inline="always")
def _put_wide(a, i, value):
    a[i, 0] = value
    a[i, 1] = -1 if value < 0 else 0  # sign extension into the high word


@njit(cache=True, inline="always")
def _rates(t, L, dos):
    """The contract's rate set of LOB ``L`` in force on ``dos`` (the latest period started)."""
    r = t.rate_lo[L]
    for q in range(t.rate_lo[L] + 1, t.rate_lo[L + 1]):
        if t.rate_from[q] <= dos:
            r = q
    return r


@njit(cache=True, inline="always")
def _carve_out(t, L, c, mods, i, dos):
    """The first carve-out of LOB ``L`` covering the line (code, modifier, date), or -1."""
    key = L * t.n_codes + c
    for q in range(t.co_offsets[key], t.co_offsets[key + 1]):
        r = t.co_rules[q]
        if t.cr_from[r] > dos or dos > t.cr_to[r]:
            continue
        if t.cr_mod[r] != 0 and not _on_line(mods, i, t.cr_mod[r]):
            continue
        return r
    return -1


@njit(cache=True, inline="always")
def _on_line(mods, i, m):
    """Whether modifier id ``m`` is among the line's modifiers."""
    for j in range(mods.shape[1]):
        if mods[i, j] == m:
            return True
    return False


@njit(cache=True, inline="always")
def _vintage(dos, froms, tos):
    # overlapping vintages: the latest-starting one wins, as Schedules.covering does
    best = -1
    for v in range(froms.shape[0]):
        if froms[v] <= dos and dos <= tos[v] and (best < 0 or froms[v] >= froms[best]):
            best = v
    return best


@njit(cache=True, inline="always")
def _newest_since(dos, froms):
    best = -1
    for v in range(froms.shape[0]):
        if froms[v] <= dos and (best < 0 or froms[v] >= froms[best]):
            best = v
    return best


@njit(cache=True, inline="always")
def _rbrvs_unit(gpci_work, gpci_work_nofloor, gpci_pe, gpci_mp, floor_through, w, pe, mp, g,
                loc, dos, cf, rounding):
    """(per-unit amount in cents, total RVU in hundredths) per §6."""
    gw = gpci_work[g, loc]
    if dos > floor_through[g] and gpci_work_nofloor[g, loc] >= 0:
        gw = gpci_work_nofloor[g, loc]
    adj = w * gw + pe * gpci_pe[g, loc] + mp * gpci_mp[g, loc]  # 1/100 x 1/1000
    total_rvu = half_up(adj, 1000)
    if rounding == 0:  # rvu_2dp: round the RVU, then the dollars
        per_unit = half_up(total_rvu * cf, 10_000)
    else:  # cms: round the dollars only
        per_unit = half_up(adj * cf, 10_000_000)
    return per_unit, total_rvu


@njit(cache=True, nogil=True)
def _mp_parts(t, v, sc, row, mi, fee, units, facility, g, loc, dos, cf, rounding):
    """The part of an RBRVS line that MULT PROC 3-7 reduce, and its grouping key (§11).

    3: the ENDO BASE code's amount for these units, key the base's code slot; 4, 6, 7: the
    PC part (key: the imaging family for 4); 5: the PE amount per unit, key the units. (-1, -1)
    when the line has no such part. Not inlined: few lines take it.
    """
    pe_col = 2 if facility else 1
    if mi == 3:
        b = t.endo_base[v, sc]
        if b < 0 or t.rvu_status[v, b, 0] == 0:
            return -1, -1
        per, _ = _rbrvs_unit(t.gpci_work, t.gpci_work_nofloor, t.gpci_pe, t.gpci_mp,
                             t.gpci_floor_through, np.int64(t.rvu_values[v, b, 0, 0]),
                             np.int64(t.rvu_values[v, b, 0, pe_col]),
                             np.int64(t.rvu_values[v, b, 0, 3]), g, loc, dos, cf, rounding)
        return per * units, b
    if mi == 4 or mi == 6 or mi == 7:
        key = np.int64(t.rvu_policy[v, sc, row, _P_FAMILY]) if mi == 4 else 0
        if row == 1:
            return fee, key
        if row == 2:
            return 0, key
        if (row != 0 and row != 3) or t.rvu_status[v, sc, 1] == 0:  # 53: as global
            return -1, -1
        per, _ = _rbrvs_unit(t.gpci_work, t.gpci_work_nofloor, t.gpci_pe, t.gpci_mp,
                             t.gpci_floor_through, np.int64(t.rvu_values[v, sc, 1, 0]),
                             np.int64(t.rvu_values[v, sc, 1, pe_col]),
                             np.int64(t.rvu_values[v, sc, 1, 3]), g, loc, dos, cf, rounding)
        return min(per * units, fee), key
    if mi == 5:
        per, _ = _rbrvs_unit(t.gpci_work, t.gpci_work_nofloor, t.gpci_pe, t.gpci_mp,
                             t.gpci_floor_through, np.int64(0),
                             np.int64(t.rvu_values[v, sc, row, pe_col]), np.int64(0), g, loc,
                             dos, cf, rounding)
        return per, units
    return -1, -1


@njit(cache=True, nogil=True)
def _surgery_policies(ind, per_unit, units, has50, has62, has66, asst_pct, flags):
    """§11 modifier policies of an RBRVS line: bilateral, assistant, co-surgeon, team.

    Returns (fee, fee before reductions, reduction step, denial reason, flags, exact fee
    numerator, units counted, bilateral share). Not inlined: few lines take it. Bilateral
    sets the fee of the pair (150 % / 100 % / 200 % of one side); the assistant (16 %, AS
    13.6 %) and co-surgeon (62.5 %) percentages then reduce it, each its own adjustment step.
    """
    bilat = ind[_P_BILAT]
    n = units
    share = 10_000  # bilateral share of one side, 1/10 000
    if (has50 or (units == 2 and bilat == 1)) and bilat <= 3:
        n = 1
        share = 15_000 if bilat == 1 else (20_000 if bilat == 3 else 10_000)
    reason = 0
    cut = 10_000  # reduction share, 1/10 000
    step = 0
    if asst_pct > 0:
        a = ind[_P_ASST]
        if a == 2 or a == 0:
            cut = asst_pct
            step = S_ASSISTANT
            if a == 0:
                flags |= _F_REVIEW  # payable with documentation of medical necessity
        else:
            reason = _R_ASST
    if has62 and reason == 0:
        co = ind[_P_CO]
        if co == 1 or co == 2:
            cut = cut * 6250 // 10_000
            step = S_CO_SURGERY if step == 0 else step
            if co == 1:
                flags |= _F_REVIEW
        else:
            reason = _R_CO
    if has66 and reason == 0:
        team = ind[_P_TEAM]
        if team == 1 or team == 2:
            flags |= _F_BY_REPORT
        else:
            reason = _R_TEAM
    full = half_up(per_unit * n * share, 10_000)
    num = per_unit * n * share * cut  # the fee before its one rounding, 1/10^8 cent
    return half_up(num, 100_000_000), full, step, reason, flags, num, n, share


@njit(cache=True, inline="always")
def _put_amounts(o, i, fee, allowed, d, cp, co, paid, liability, flags):
    """A line's fee, §12 amounts and flags into the outputs (line kernel and claim pass)."""
    _put_wide(o.fee, i, fee)
    _put_wide(o.allowed, i, allowed)
    _put_wide(o.deductible, i, d)
    _put_wide(o.copay, i, cp)
    _put_wide(o.coinsurance, i, co)
    _put_wide(o.paid, i, paid)
    _put_wide(o.liability, i, liability)
    o.flags[i] = flags


@njit(cache=True, inline="always")
def _settle(fee, billed, ded, copay, coins, qmb, L, flags):
    """§12: lower of charges, then deductible, copay, coinsurance, each capped by what is left."""
    allowed = fee if fee < billed else billed
    remaining = allowed
    d = ded if ded < remaining else remaining
    remaining -= d
    cp = 0
    if L == LOB_MEDICAID:
        if copay > 0:
            flags |= _F_MEDICAID_COPAY
    else:
        cp = copay if copay < remaining else remaining
    remaining -= cp
    co = coins if coins < remaining else remaining
    remaining -= co
    shares = d + cp + co
    liability = shares
    if qmb and shares > 0:
        liability = 0
        flags |= _F_QMB
    return allowed, d, cp, co, remaining, liability, flags


@njit(cache=True, nogil=True)
def _price_range(lo, hi, reason_in, flags_in, lob, dos_a, code, unlisted, mods, units_a, billed_a,
                billed_ok, ded_a, copay_a, coins_a, qmb, facility, loc_a, ndc_ok, t, o):
    # one call prices a block of lines: passing the tables per line would cost more than pricing it
    for i in range(lo, hi):
        reason = reason_in[i]
        flags = flags_in[i]
        L = lob[i]
        c = code[i]
        n_sched = t.n_sched_codes
        sc = c if c < n_sched else n_sched  # schedule arrays know only schedule codes
        dos = dos_a[i]
        units = units_a[i]
        billed = billed_a[i]
        loc = loc_a[i]

        status = PRICED
        method = M_REJECTED
        carc = 0
        fee = -1
        total_rvu = -1
        cf_used = -1
        base_t = -1
        time_t = -1
        drug_coins = -1
        vkind = 0
        vidx = -1
        gsrc = -1

        base_units = -1
        pre_denial = reason == _R_TIMELY or reason == _R_EM_FACILITY or reason == _R_VOID
        # the contract terms the line is priced by: its LOB's, or for percent of Medicare
        # (the LOB's method or a carve-out) the Medicare LOB's, times the percentage `pom`
        P = L
        pom = 0
        rule = -1
        R = 0
        if reason == 0 or (pre_denial and reason != _R_VOID):
            rule = _carve_out(t, L, c, mods, i, dos)
            R = _rates(t, L, dos)
            if rule >= 0 and t.cr_type[rule] == CARVE_POM:
                pom = -t.cr_value[rule]  # negative: the method reported is carve_out
                P = LOB_MEDICARE_REFERENCE
            elif rule < 0 and t.rate_method[R] == RATE_POM:
                pom = t.rate_pom[R]
                P = LOB_MEDICARE_REFERENCE
            if P != L:
                rule = _carve_out(t, P, c, mods, i, dos)
                R = _rates(t, P, dos)
            bv = _newest_since(dos, t.base_from)
            if bv >= 0:
                base_units = t.base_units[bv, sc]
            if base_units >= 0 and rule < 0 and units > 1440:
                reason = _R_ANES_MIN
                flags |= _F_ANES_MIN
                pre_denial = False

        # §11 MUE: units above the contract's limit are denied (CO-151) with their share of
        # the billed charge; the line is priced on the units allowed and the rest of the charge
        mue_denied = 0
        mue_all = False
        if reason == 0 and base_units < 0 and t.mue[P, c] >= 0 and units > t.mue[P, c]:
            if t.mue[P, c] == 0:
                mue_all = True
            else:
                mue_denied = half_up(billed * (units - t.mue[P, c]), units) if billed > 0 else 0
                billed -= mue_denied
                units = t.mue[P, c]

        fee_full = -1
        fee_num = -1
        policy_step = 0
        mp_part = -1  # §11 MULT PROC 3-7 (_mp_parts)
        mp_key = -1
        has26 = False
        hastc = False
        has53 = False
        sel = 0  # RVU row the modifiers select: blank, 26, TC, 53
        rvu_st = 0  # status letter of an RBRVS line (§11 status T)
        if reason == _R_VOID:  # a void request's own line: not adjudicated (replacements.py)
            status = VOID
            method = M_VOID
            carc = CARC_VOID
        elif pre_denial:  # §11 edits of the line itself: timely filing, E&M facility charge
            status = DENIED
            method = M_DENIED
            carc = _CARC_TIMELY if reason == _R_TIMELY else _CARC_EM_FACILITY
        elif mue_all:
            status = DENIED
            method = M_DENIED
            carc = 151
            reason = _R_MUE
        elif reason != 0:
            status = REJECTED
            method = M_REJECTED
            carc = 16
        else:
            pay_mod = 0
            ps = 0
            has50 = False
            has62 = False
            has66 = False
            asst_pct = 0
            for j in range(mods.shape[1]):
                m = mods[i, j]
                if m == _MOD_50:
                    has50 = True
                elif m == _MOD_62:
                    has62 = True
                elif m == _MOD_66:
                    has66 = True
                elif m == _MOD_80 or m == _MOD_81 or m == _MOD_82:
                    asst_pct = 1600 if asst_pct == 0 else asst_pct
                elif m == _MOD_AS:
                    asst_pct = 1360 if asst_pct == 0 else asst_pct
                elif m == _MOD_26:
                    has26 = True
                elif m == _MOD_TC:
                    hastc = True
                elif m == _MOD_53:
                    has53 = True
                elif pay_mod == 0 and (m == _MOD_AA or m == _MOD_AD or m == _MOD_QK or m == _MOD_QX
                                       or m == _MOD_QY or m == _MOD_QZ):
                    pay_mod = m
                elif ps == 0 and _MOD_P1 <= m and m <= _MOD_P6:
                    ps = m - _MOD_P1 + 1
            sel = 1 if has26 else (2 if hastc else (3 if has53 else 0))

            done = False
            ct = t.cr_type[rule] if rule >= 0 else 0
            if ct == CARVE_FEE:
                fee = t.cr_value[rule] * units
                fee_num = fee * 100_000_000 if fee < _NUM_LIMIT else -1
                method = M_CARVE_OUT
                done = True
            elif ct == CARVE_POC:
                fee = half_up(billed * t.cr_value[rule], 10_000)
                method = M_CARVE_OUT
                done = True
            elif t.rate_method[R] == RATE_POC:  # the LOB's method: every line % of charges
                fee = half_up(billed * t.rate_pct_charges[R], 10_000)
                method = M_PCT_CHARGES
                flags |= _F_PREPAY
                done = True

            # §7 anesthesia
            if not done and base_units >= 0:
                av = _vintage(dos, t.anes_from, t.anes_to)
                acf = t.rate_anes_cf[R, loc]
                if acf < 0 and av >= 0:
                    acf = t.anes_cf[av, loc]
                if acf < 0:
                    flags |= _F_NO_SCHED
                else:
                    done = True
                    if unlisted[i]:  # 01999: unlisted, base 0, priced by report
                        flags |= _F_BY_REPORT
                    if pay_mod == 0:
                        status = DENIED
                        method = M_DENIED
                        carc = 4
                        reason = _R_ANES_MOD
                    else:
                        if pay_mod == _MOD_AD:
                            base_t = 30
                            time_t = 0
                        else:
                            base_t = (base_units + t.ps_units[P, ps]) * 10
                            if t.no_time[P, c]:
                                time_t = 0
                            elif t.neuraxial[P, c]:
                                extra = units - 60 if units > 60 else 0
                                time_t = (5 + (extra + 59) // 60) * 10
                            else:
                                time_t = half_up(units * t.lob_tuph[P] * 10, 60)
                        amount = half_up((base_t + time_t) * acf, 1000)
                        pct = 50 if (pay_mod == _MOD_QK or pay_mod == _MOD_QX or pay_mod == _MOD_QY) else 100
                        fee = half_up(amount * pct, 100)
                        method = M_ANESTHESIA
                        cf_used = acf
                        if av >= 0:
                            vkind = V_ANES
                            vidx = av

            # §8 Part B drugs
            if not done:
                q = _vintage(dos, t.asp_from, t.asp_to)
                limit = t.asp_limit[q, sc] if q >= 0 else -1
                if limit >= 0:
                    done = True
                    if t.lob_require_ndc[P] and not ndc_ok[i]:
                        status = DENIED
                        method = M_DENIED
                        carc = 16
                        reason = _R_NDC
                        flags |= _F_NDC
                    else:
                        fee = half_up(limit * units * t.rate_drug_pct[R], 100_000)
                        method = M_DRUG
                        drug_coins = t.asp_coins[q, sc]
                        vkind = V_ASP
                        vidx = q
                elif t.asp_any[sc]:
                    flags |= _F_NO_SCHED

            # §5 step 5: by RVU status
            if not done:
                gap = False
                by_report = False
                v = _vintage(dos, t.rvu_from, t.rvu_to)
                if v < 0:
                    flags |= _F_NO_SCHED
                    gap = True
                else:
                    st = t.rvu_status[v, sc, sel]
                    if st == 0:
                        st = t.rvu_status[v, sc, 0]
                    if st == 0:
                        for r in range(1, 4):
                            if t.rvu_status[v, sc, r] != 0:
                                st = t.rvu_status[v, sc, r]
                                break
                    action = t.policy_action[P, st]
                    if action == A_BUNDLED:
                        status = DENIED
                        method = M_BUNDLED
                        carc = t.policy_carc[P, st]
                        reason = _R_STATUS_BUNDLED
                    elif action == A_DENY:
                        status = DENIED
                        method = M_DENIED
                        carc = t.policy_carc[P, st]
                        reason = _R_STATUS_DENIED
                    elif action == A_GAP_FILL:
                        gap = True
                    elif action == A_BY_REPORT:
                        gap = True
                        by_report = True
                    else:  # rbrvs
                        row = -1
                        if has26 and hastc:
                            reason = _R_26TC
                        elif has26 or hastc:
                            row = 1 if has26 else 2
                            if t.rvu_status[v, sc, row] == 0:
                                row = -1
                                reason = _R_PCTC_ROW
                        elif has53 and t.rvu_status[v, sc, 3] != 0:
                            row = 3
                        elif t.rvu_status[v, sc, 0] != 0:
                            row = 0
                        else:
                            reason = _R_PCTC_REQ
                        if row < 0:
                            status = DENIED
                            method = M_DENIED
                            carc = 4
                        else:
                            w = np.int64(t.rvu_values[v, sc, row, 0])
                            pe = np.int64(t.rvu_values[v, sc, row, 2 if facility[i] else 1])
                            mp = np.int64(t.rvu_values[v, sc, row, 3])
                            if w + pe + mp <= 0:
                                gap = True
                            else:
                                g = _vintage(dos, t.gpci_from, t.gpci_to)
                                if g < 0 or t.gpci_work[g, loc] < 0:
                                    flags |= _F_NO_SCHED
                                    gap = True
                                else:
                                    cf = t.rate_cf[R, loc] if t.rate_cf[R, loc] >= 0 else t.rvu_cf[v]
                                    per_unit, total_rvu = _rbrvs_unit(
                                        t.gpci_work, t.gpci_work_nofloor, t.gpci_pe, t.gpci_mp,
                                        t.gpci_floor_through, w, pe, mp, g, loc, dos, cf,
                                        t.rate_rounding[R])
                                    # §11 OPPS cap: Medicare, non-facility, imaging codes
                                    uncapped = per_unit
                                    if t.lob_opps_cap[P] and not facility[i]:
                                        ov = _vintage(dos, t.opps_from, t.opps_to)
                                        if ov >= 0 and t.opps_slot[ov, sc, row] >= 0:
                                            cap = t.opps_cap[t.opps_slot[ov, sc, row], loc]
                                            if 0 <= cap < per_unit:
                                                per_unit = cap
                                    fee = per_unit * units
                                    fee_num = fee * 100_000_000 if fee < _NUM_LIMIT else -1
                                    method = M_RBRVS
                                    rvu_st = st
                                    cf_used = cf
                                    vkind = V_RVU
                                    vidx = v
                                    n_units = units
                                    share = 10_000
                                    if has50 or has62 or has66 or asst_pct > 0 or units == 2:
                                        (fee, fee_full, policy_step, reason, flags, fee_num,
                                         n_units, share) = _surgery_policies(
                                            t.rvu_policy[v, sc, row], per_unit, units, has50,
                                            has62, has66, asst_pct, flags)
                                    if uncapped != per_unit:  # the cap's reduction is its own step
                                        fee_full = half_up(uncapped * n_units * share, 10_000)
                                        if policy_step == 0:
                                            policy_step = S_OPPS_CAP
                                    # a line priced plainly (no bilateral pricing, no
                                    # surgery modifier) has the parts MULT PROC 3-7 reduce
                                    mi = t.rvu_policy[v, sc, row, 0]
                                    if (mi >= 2 and mi <= 7 and reason == 0 and share == 10_000
                                            and n_units == units and not has66
                                            and not (has50 and t.rvu_policy[v, sc, row, _P_BILAT] <= 3)
                                            and (policy_step == 0 or policy_step == S_OPPS_CAP)):
                                        if mi == 2:  # a base endoscopy may join a family
                                            mp_part = 0
                                        else:
                                            mp_part, mp_key = _mp_parts(
                                                t, v, sc, row, mi, fee, units, facility[i], g,
                                                loc, dos, cf, t.rate_rounding[R])
                                    if reason != 0:  # CO-54: no version reported
                                        status = DENIED
                                        method = M_DENIED
                                        carc = 54
                                        vkind = 0
                                        vidx = -1

                # §5 step 6: gap-fill chain
                if gap:
                    if unlisted[i] or t.by_report[P, c]:
                        by_report = True
                    key = P * t.n_codes + c
                    best = -1
                    for r in range(t.gf_offsets[key], t.gf_offsets[key + 1]):
                        if t.gf_from[r] > dos or dos > t.gf_to[r]:
                            continue
                        m = t.gf_mod[r]
                        if m != 0 and not _on_line(mods, i, m):
                            continue
                        if best < 0:
                            best = r
                        elif (m != 0) and t.gf_mod[best] == 0:
                            best = r
                        elif ((m != 0) == (t.gf_mod[best] != 0)) and t.gf_from[r] > t.gf_from[best]:
                            best = r
                    priced = False
                    if best >= 0:
                        if t.gf_fee[best] >= 0:
                            fee = t.gf_fee[best] * units
                            fee_num = fee * 100_000_000 if fee < _NUM_LIMIT else -1
                            priced = True
                        else:
                            g = _vintage(dos, t.gpci_from, t.gpci_to)
                            cf = t.rate_cf[R, loc]
                            if cf < 0 and v >= 0:
                                cf = t.rvu_cf[v]
                            if g < 0 or cf < 0 or t.gpci_work[g, loc] < 0:
                                flags |= _F_NO_SCHED
                            else:
                                pe = t.gf_pe_f[best] if facility[i] else t.gf_pe_nf[best]
                                per_unit, total_rvu = _rbrvs_unit(
                                    t.gpci_work, t.gpci_work_nofloor, t.gpci_pe, t.gpci_mp,
                                    t.gpci_floor_through, t.gf_work[best], pe, t.gf_mp[best], g,
                                    loc, dos, cf, t.rate_rounding[R])
                                fee = per_unit * units
                                fee_num = fee * 100_000_000 if fee < _NUM_LIMIT else -1
                                cf_used = cf
                                priced = True
                        if priced:
                            method = M_GAP_FILL
                            gsrc = t.gf_source[best]
                            vkind = V_GAPFILL
                    if not priced:
                        fee_num = -1
                        total_rvu = -1
                        cf_used = -1
                        fee = half_up(billed * t.rate_pct_charges[R], 10_000)
                        method = M_PCT_CHARGES
                        flags |= _F_PREPAY
                if by_report:
                    flags |= _F_BY_REPORT

        # §12 lower of charges and cost share; the adjustments follow from these amounts and `carc`
        mult = 0
        bilat = 9
        if status != PRICED:
            mue_denied = 0
            mp_part = -1
            fee_full = -1
            fee_num = -1
            policy_step = 0
            fee = -1
            total_rvu = -1
            cf_used = -1
            base_t = -1
            time_t = -1
            drug_coins = -1
            allowed = 0
            d = 0
            cp = 0
            co = 0
            paid = 0
            liability = 0
            if status == REJECTED:
                vkind = 0
                gsrc = -1
        else:
            allowed, d, cp, co, paid, liability, flags = _settle(
                fee, billed, ded_a[i], copay_a[i], coins_a[i], qmb[i], L, flags)
            if fee_num >= 0:  # §11 multiple procedures: the indicator of the row priced
                mv = _vintage(dos, t.rvu_from, t.rvu_to)
                if mv >= 0:
                    mrow = sel
                    if t.rvu_status[mv, sc, mrow] == 0:
                        mrow = 0
                    mult = t.rvu_policy[mv, sc, mrow, 0]
                    bilat = t.rvu_policy[mv, sc, mrow, 1]

        o.status[i] = status
        o.method[i] = method
        o.reason[i] = reason
        _put_amounts(o, i, fee, allowed, d, cp, co, paid, liability, flags)
        _put_wide(o.total_rvu, i, total_rvu)
        _put_wide(o.cf, i, cf_used)
        _put_wide(o.base_units, i, base_t)
        _put_wide(o.time_units, i, time_t)
        _put_wide(o.drug_coins, i, drug_coins)
        o.version_kind[i] = vkind
        o.version_idx[i] = vidx
        o.gap_source[i] = gsrc
        o.carc[i] = carc
        o.fee_full[i] = fee if fee_full < 0 else fee_full
        o.policy_step[i] = policy_step
        o.fee_cut[i] = fee
        o.fee_num[i] = fee_num
        o.mult[i] = mult
        o.rvu_status[i] = rvu_st if status == PRICED else 0
        o.mue_denied[i] = mue_denied
        o.bilat[i] = bilat
        o.claim_step[i] = S_MULTIPLE
        o.mp_part[i] = mp_part
        o.mp_key[i] = mp_key
        o.pom[i] = pom if status == PRICED else 0
        # what the claim-level pass may do with the line, so that it reads one byte a line
        # (multiple_procedures_nb): 1 a status-T line, 2 a procedure, 4 / 8 one / two parts
        # MULT PROC 4-7 may reduce
        role = 0
        if status == PRICED and method == M_RBRVS and rvu_st == _ST_T:
            role |= 1
        if _procedure(status, fee_num, mult, bilat, mods, i):
            role |= 2
        if mult >= 4 and mult <= 7 and mp_part >= 0:
            role |= 4 if (mult != 5 or mp_key < 2) else 8
        o.claim_role[i] = role
        # o.cob and o.seq (coordination of benefits, sequestration) are benefits_nb's: zero
        # unless it runs (allocate_out)


@njit(cache=True, nogil=True, parallel=True)
def price_lines_nb(reason_in, flags_in, lob, dos, code, unlisted, mods, units, billed, billed_ok,
                   deductible, copay, coinsurance, qmb, facility, locality, ndc_ok, t, o):
    """Price every line independently (rule book §5-§10, §12) into the arrays of ``o``."""
    n = reason_in.shape[0]
    block = 16_384
    for b in prange((n + block - 1) // block):
        lo = b * block
        hi = min(n, lo + block)
        _price_range(lo, hi, reason_in, flags_in, lob, dos, code, unlisted, mods, units, billed,
                     billed_ok, deductible, copay, coinsurance, qmb, facility, locality, ndc_ok,
                     t, o)


@njit(cache=True, inline="always")
def _same_provider(i, j, npi_offsets, npi_data, npi_valid):
    """Same rendering NPI as given (two lines without one count as the same provider)."""
    if npi_valid[i] != npi_valid[j]:
        return False
    return (not npi_valid[i]) or _same_text(npi_offsets, npi_data, i, j)


@njit(cache=True, nogil=True)
def _claim_status_t(lo, hi, order, dos, npi_offsets, npi_data, npi_valid, o):
    """Status T lines are payable only alone: with another payable RBRVS service of the same
    date of service and provider on the claim they are bundled, $0, CO-97."""
    for p in range(lo, hi):
        i = order[p] if order.shape[0] > 0 else p
        if o.status[i] != PRICED or o.method[i] != M_RBRVS or o.rvu_status[i] != _ST_T:
            continue
        other = False
        for q in range(lo, hi):
            j = order[q] if order.shape[0] > 0 else q
            if (j != i and o.status[j] == PRICED and o.method[j] == M_RBRVS
                    and o.rvu_status[j] != _ST_T and dos[j] == dos[i]
                    and _same_provider(i, j, npi_offsets, npi_data, npi_valid)):
                other = True
                break
        if other:
            o.status[i] = DENIED
            o.method[i] = M_BUNDLED
            o.reason[i] = _R_STATUS_T
            o.carc[i] = 97
            # a bundled line carries no cost share, so none of the flags about one
            o.flags[i] = o.flags[i] & ~(_F_QMB | _F_MEDICAID_COPAY)
            for a in (o.fee, o.total_rvu, o.cf):
                _put_wide(a, i, -1)
            for a in (o.allowed, o.deductible, o.copay, o.coinsurance, o.paid, o.liability):
                _put_wide(a, i, 0)
            o.fee_full[i] = -1
            o.fee_cut[i] = -1
            o.fee_num[i] = -1
            o.policy_step[i] = 0
            o.version_kind[i] = 0
            o.version_idx[i] = -1


@njit(cache=True, inline="always")
def _procedure(status, fee_num, mult, bilat, mods, i):
    """A line §11's multiple-procedure ranking or RT/LT pairing may take: priced with an
    exact fee, MULT PROC 2 or 3, or bilateral indicator 0-2 with one side (RT or LT)."""
    return status == PRICED and fee_num >= 0 and (
        mult == 2 or mult == 3 or (bilat <= 2 and _side(mods, i) != 0))


@njit(cache=True, inline="always")
def _side(mods, i):
    """1 for RT, 2 for LT, 0 for neither, both, or with modifier 50 (already bilateral)."""
    side = 0
    for j in range(mods.shape[1]):
        m = mods[i, j]
        if m == _MOD_50:
            return 0
        if m == _MOD_RT or m == _MOD_LT:
            s = 1 if m == _MOD_RT else 2
            if side != 0 and side != s:
                return 0
            side = s
    return side


@njit(cache=True, inline="always")
def _settle_line(i, fee, billed, ded, copay, coins, qmb, lob, flags, o):
    allowed, d, cp, co, paid, liability, flags = _settle(
        fee, billed[i] - o.mue_denied[i], ded[i], copay[i], coins[i], qmb[i], lob[i],
        flags & ~_F_QMB)
    _put_amounts(o, i, fee, allowed, d, cp, co, paid, liability, flags)


@njit(cache=True, inline="always")
def _endoscopy(o, i, partner):
    """An indicator-3 line with a base amount, outside an RT/LT pair."""
    return (o.mult[i] == 3 and o.mp_part[i] >= 0 and partner < 0 and o.status[i] == PRICED
            and o.fee_num[i] >= 0)


@njit(cache=True, inline="always")
def _ranked(o, i, partner, a, lead):
    """Ranks among the multiple procedures: an indicator 2 or 3 line priced from a fee
    schedule, counted once per RT/LT pair and once per endoscopy family (by its leader)."""
    return ((o.mult[i] == 2 or o.mult[i] == 3) and o.fee_num[i] >= 0 and o.status[i] == PRICED
            and not (partner >= 0 and partner < a) and (lead < 0 or lead == a))


@njit(cache=True, nogil=True)
def _rank(members, n, amount, idx):
    """Sort members[:n] by amount, highest first; equal amounts in input order."""
    for r in range(n):
        best = r
        for q in range(r + 1, n):
            fq, fb = amount[members[q]], amount[members[best]]
            if fq > fb or (fq == fb and idx[members[q]] < idx[members[best]]):
                best = q
        tmp = members[r]
        members[r] = members[best]
        members[best] = tmp


@njit(cache=True, nogil=True)
def _claim_procedures(lo, hi, order, dos, code, mods, units, npi_offsets, npi_data, npi_valid,
                      billed, ded, copay, coins, qmb, lob, o):
    """Bilateral RT/LT pairs, then multiple procedures, for the lines of one claim."""
    k = hi - lo
    interesting = 0  # most claims have nothing to rank or pair: leave before allocating
    for p in range(k):
        i = order[lo + p] if order.shape[0] > 0 else lo + p
        # counted again, not taken from claim_role: status-T bundling may have denied lines
        if _procedure(o.status[i], o.fee_num[i], o.mult[i], o.bilat[i], mods, i):
            interesting += 1
    if interesting < 2:
        return
    # one allocation for the claim's eleven working arrays: eleven small ones cost more than
    # the work
    work = np.empty(11 * k, np.int64)
    idx = work[:k]
    for p in range(k):
        idx[p] = order[lo + p] if order.shape[0] > 0 else lo + p
    # RT and LT of one code, date and provider on two lines: one bilateral procedure
    partner = work[k:2 * k]
    partner[:] = -1
    share = work[2 * k:3 * k]
    share[:] = 10_000
    for a in range(k):
        i = idx[a]
        side = _side(mods, i)
        if (side == 0 or partner[a] >= 0 or o.status[i] != PRICED or o.method[i] != M_RBRVS
                or o.bilat[i] > 2 or o.policy_step[i] != 0 or o.fee_num[i] < 0 or units[i] != 1):
            continue
        for b in range(a + 1, k):
            j = idx[b]
            if (partner[b] < 0 and o.status[j] == PRICED and o.method[j] == M_RBRVS
                    and units[j] == 1 and code[j] == code[i] and dos[j] == dos[i] and _side(mods, j) == 3 - side
                    and o.policy_step[j] == 0 and o.fee_num[j] >= 0
                    and o.fee_num[j] == o.fee_num[i]
                    and _same_provider(i, j, npi_offsets, npi_data, npi_valid)):
                partner[a] = b
                partner[b] = a
                share[a] = 15_000 if o.bilat[i] == 1 else 10_000
                break
    # the exact amount and the ranking amount of each procedure (a pair counts once)
    num = work[3 * k:4 * k]
    rank_fee = work[4 * k:5 * k]
    for a in range(k):
        i = idx[a]
        num[a] = o.fee_num[i] // 10_000 * share[a] if partner[a] > a else o.fee_num[i]
        rank_fee[a] = half_up(num[a], 100_000_000)
    # MULT PROC 3: endoscopy families (indicator-3 lines of one ENDO BASE and the base code's
    # own lines): the highest in full, the others less the base; the family is then one
    # procedure, worth the sum, in the ranking below
    lead = work[5 * k:6 * k]  # a family member's leader (itself for the leader)
    lead[:] = -1
    tie = work[6 * k:7 * k]  # input position that breaks ties of the ranking
    tie[:] = idx
    family_amount = work[7 * k:8 * k]
    family_amount[:] = 0
    members = work[8 * k:9 * k]
    for a in range(k):
        i = idx[a]
        if lead[a] >= 0 or not _endoscopy(o, i, partner[a]):
            continue
        base = o.mp_key[i]
        n = 0
        for b in range(k):
            j = idx[b]
            if (lead[b] < 0 and partner[b] < 0 and dos[j] == dos[i]
                    and o.status[j] == PRICED and o.fee_num[j] >= 0
                    and ((_endoscopy(o, j, partner[b]) and o.mp_key[j] == base)
                         or (o.mult[j] == 2 and code[j] == base and o.mp_part[j] >= 0
                             and o.method[j] == M_RBRVS))
                    and _same_provider(i, j, npi_offsets, npi_data, npi_valid)):
                members[n] = b
                n += 1
        if n < 2:
            continue
        _rank(members, n, rank_fee, idx)
        total = 0
        for r in range(n):
            m = members[r]
            amount = rank_fee[m]
            if r > 0:
                less = o.mp_part[idx[m]] if o.mult[idx[m]] == 3 else rank_fee[m]
                amount = amount - less if amount > less else 0
            family_amount[m] = amount
            lead[m] = members[0]
            total += amount
        rank_fee[members[0]] = total
        for r in range(n):  # the family ties at the input position of its first line
            if idx[members[r]] < tie[members[0]]:
                tie[members[0]] = idx[members[r]]
    reduced = work[9 * k:10 * k]  # 0 / 1
    reduced[:] = 0
    # multiple procedures: per date of service and provider, by amount, highest first
    taken = work[10 * k:11 * k]  # 0 / 1
    taken[:] = 0
    for a in range(k):
        i = idx[a]
        if taken[a] or not _ranked(o, i, partner[a], a, lead[a]):
            continue
        n = 0
        for b in range(a, k):
            j = idx[b]
            if (not taken[b] and _ranked(o, j, partner[b], b, lead[b]) and dos[j] == dos[i]
                    and _same_provider(i, j, npi_offsets, npi_data, npi_valid)):
                members[n] = b
                n += 1
                taken[b] = True
        _rank(members, n, rank_fee, tie)
        for r in range(1, n):
            reduced[members[r]] = True
            if r >= 5:  # sixth and later: priced at 50 % and sent for review
                for b in range(k):
                    if b == members[r] or partner[b] == members[r] or lead[b] == members[r]:
                        o.flags[idx[b]] |= _F_BY_REPORT
    # endoscopy family members: their family amount, halved when the family ranked 2nd or later
    for a in range(k):
        if lead[a] < 0:
            continue
        i = idx[a]
        fee = half_up(family_amount[a], 2) if reduced[lead[a]] else family_amount[a]
        _settle_line(i, fee, billed, ded, copay, coins, qmb, lob, o.flags[i], o)
    # settle what changed: reduced procedures, and both lines of every pair
    for a in range(k):
        if (partner[a] >= 0 and partner[a] < a) or lead[a] >= 0:
            continue
        i = idx[a]
        if not reduced[a] and partner[a] < 0:
            continue
        fee = half_up(num[a], 200_000_000 if reduced[a] else 100_000_000)
        if partner[a] < 0:
            _settle_line(i, fee, billed, ded, copay, coins, qmb, lob, o.flags[i], o)
            continue
        # the pair's amount shared in proportion to the charges, so that lower of charges
        # holds for the pair as a whole
        j = idx[partner[a]]
        bi, bj = billed[i] - o.mue_denied[i], billed[j] - o.mue_denied[j]
        both = bi + bj
        fi = half_up(fee * bi, both) if both > 0 else fee
        for line, share_fee in ((i, fi), (j, fee - fi)):
            _settle_line(line, share_fee, billed, ded, copay, coins, qmb, lob, o.flags[line], o)
            o.claim_step[line] = S_BILATERAL
            if share_fee > o.fee_cut[line]:  # a share above one side's fee is no reduction
                o.fee_cut[line] = share_fee
                o.fee_full[line] = share_fee


@njit(cache=True, inline="always")
def _has_part(o, i):
    """A line MULT PROC 4-7 may reduce: priced RBRVS with its part, not an RT/LT pair."""
    return (o.mult[i] >= 4 and o.mult[i] <= 7 and o.mp_part[i] >= 0 and o.status[i] == PRICED
            and o.method[i] == M_RBRVS and o.claim_step[i] != S_BILATERAL)


@njit(cache=True, nogil=True)
def _claim_parts(lo, hi, order, dos, npi_offsets, npi_data, npi_valid, billed, ded, copay,
                 coins, qmb, lob, o):
    """MULT PROC 4-7 of one claim: the TC (50 % imaging, 25 % cardiovascular, 20 %
    ophthalmology) and imaging PC (5 %) of every procedure but the highest of its session, and
    50 % of the PE of every therapy unit but the first of the highest."""
    k = hi - lo
    work = np.empty(5 * k, np.int64)  # one allocation (as _claim_procedures)
    idx = work[:k]
    for p in range(k):
        idx[p] = order[lo + p] if order.shape[0] > 0 else lo + p
    taken = work[k:2 * k]  # 0 / 1
    members = work[2 * k:3 * k]
    tc = work[3 * k:4 * k]
    pc = work[4 * k:5 * k]
    work[k:] = 0
    for a in range(k):
        i = idx[a]
        if taken[a] or not _has_part(o, i):
            continue
        mi = o.mult[i]
        n = 0
        for b in range(a, k):
            j = idx[b]
            if (not taken[b] and _has_part(o, j) and o.mult[j] == mi and dos[j] == dos[i]
                    and (mi != 4 or o.mp_key[j] == o.mp_key[i])
                    and _same_provider(i, j, npi_offsets, npi_data, npi_valid)):
                members[n] = b
                n += 1
                taken[b] = True
        if mi == 5:
            # therapy: the first unit of the line with the highest PE per unit is paid in full
            first = -1
            for r in range(n):
                m = members[r]
                if first < 0 or o.mp_part[idx[m]] > o.mp_part[idx[first]]:
                    first = m  # members are in input order: ties keep the earlier
            for r in range(n):
                m = members[r]
                j = idx[m]
                cut_units = o.mp_key[j] - 1 if m == first else o.mp_key[j]
                cut = half_up(o.mp_part[j] * cut_units * 50, 100)
                if cut > 0:
                    fee = o.fee_cut[j] - cut
                    _settle_line(j, fee if fee > 0 else 0, billed, ded, copay, coins, qmb, lob,
                                 o.flags[j], o)
            continue
        if n < 2:
            continue
        pct = 50 if mi == 4 else (25 if mi == 6 else 20)
        tc_first = -1
        pc_first = -1
        for r in range(n):
            m = members[r]
            j = idx[m]
            pc[m] = o.mp_part[j]
            tc[m] = o.fee_cut[j] - pc[m]
            if tc[m] > 0 and (tc_first < 0 or tc[m] > tc[tc_first]):
                tc_first = m
            if pc[m] > 0 and (pc_first < 0 or pc[m] > pc[pc_first]):
                pc_first = m
        for r in range(n):
            m = members[r]
            j = idx[m]
            cut = 0
            if tc[m] > 0 and m != tc_first:
                cut += half_up(tc[m] * pct, 100)
            if mi == 4 and pc[m] > 0 and m != pc_first:
                cut += half_up(pc[m] * 5, 100)
            if cut > 0:
                _settle_line(j, o.fee_cut[j] - cut, billed, ded, copay, coins, qmb, lob,
                             o.flags[j], o)


@njit(cache=True, nogil=True, parallel=True)
def multiple_procedures_nb(order, starts, dos, code, mods, units, npi_offsets, npi_data,
                           npi_valid, billed, ded, copay, coins, qmb, lob, o):
    """§11 claim-level policies, claim by claim, on the priced lines of ``o``: status T,
    bilateral RT/LT pairs, then multiple procedures (MULT PROC 2).

    ``order`` lists line positions claim by claim (empty when the claims are contiguous);
    ``starts`` the first position of each claim in that order, then the end. The second to
    fifth procedures of one claim, date of service and rendering provider are paid at 50 %,
    the sixth and later too with flag ``by_report``; their amounts are settled again.
    """
    n_claims = starts.shape[0] - 1
    block = 4096
    for blk in prange((n_claims + block - 1) // block):
        _claims_range(blk * block, min(n_claims, (blk + 1) * block), order, starts, dos, code,
                      mods, units, npi_offsets, npi_data, npi_valid, billed, ded, copay, coins,
                      qmb, lob, o)


@njit(cache=True, nogil=True)
def _claims_range(k0, k1, order, starts, dos, code, mods, units, npi_offsets, npi_data,
                  npi_valid, billed, ded, copay, coins, qmb, lob, o):
    # one call per block of claims, and a claim's functions only for the few claims with
    # something to do: passing the output tuple costs more than most claims' work
    for k in range(k0, k1):
        lo, hi = starts[k], starts[k + 1]
        if hi - lo < 2:
            # one line: only a therapy line of several units (two parts) has something to do
            i = order[lo] if order.shape[0] > 0 else lo
            if o.claim_role[i] & 8:
                _claim_parts(lo, hi, order, dos, npi_offsets, npi_data, npi_valid, billed, ded,
                             copay, coins, qmb, lob, o)
            continue
        t_lines = 0
        procedures = 0
        parts = 0
        for p in range(lo, hi):
            r = o.claim_role[order[p] if order.shape[0] > 0 else p]
            t_lines += r & 1
            procedures += (r >> 1) & 1
            parts += r >> 2
        if t_lines > 0:
            _claim_status_t(lo, hi, order, dos, npi_offsets, npi_data, npi_valid, o)
        if procedures > 1:
            _claim_procedures(lo, hi, order, dos, code, mods, units, npi_offsets, npi_data,
                              npi_valid, billed, ded, copay, coins, qmb, lob, o)
        if parts > 1:  # after RT/LT pairing, which they leave alone
            _claim_parts(lo, hi, order, dos, npi_offsets, npi_data, npi_valid, billed, ded,
                         copay, coins, qmb, lob, o)


@njit(cache=True, nogil=True)
def _percent_of_medicare_range(lo, hi, billed, ded, copay, coins, qmb, lob, o):
    for i in range(lo, hi):
        f = o.pom[i]
        if f == 0 or o.status[i] != PRICED:
            continue
        pct = np.int64(f if f > 0 else -f)
        fee = half_up(o.fee[i, 0] * pct, 10_000)
        if o.fee_full[i] >= 0:
            o.fee_full[i] = half_up(o.fee_full[i] * pct, 10_000)
        if o.fee_cut[i] >= 0:
            o.fee_cut[i] = half_up(o.fee_cut[i] * pct, 10_000)
        o.method[i] = M_PCT_MEDICARE if f > 0 else M_CARVE_OUT
        _settle_line(i, fee, billed, ded, copay, coins, qmb, lob, o.flags[i], o)


@njit(cache=True, nogil=True, parallel=True)
def percent_of_medicare_nb(billed, ded, copay, coins, qmb, lob, o):
    """Lines priced as the Medicare LOB would (``o.pom`` != 0), after every claim-level
    policy: their fee schedule amounts times the percentage, rounded half-up to the cent,
    then lower of charges and cost share again. A negative ``pom`` marks a carve-out."""
    n = o.pom.shape[0]
    block = 16_384
    for b in prange((n + block - 1) // block):
        _percent_of_medicare_range(b * block, min(n, (b + 1) * block), billed, ded, copay,
                                   coins, qmb, lob, o)
