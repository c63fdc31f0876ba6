"""Member cost share kernels: accumulators, coordination of benefits, sequestration.

Pure: arrays in, arrays out. Amounts are cents, fractions x 10,000 (ASP co-insurance
percentages x 1,000); every rounding is half-up where docs/cost_share.md puts one.

``accumulate_nb`` walks the plan lines family by family in the order of the doc (date of
service, claim, line): sequential within a family, families in parallel. ``settle_payers_nb``
then takes each priced line's payment through COB and sequestration, in parallel.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from pricer import _kernel_cache, plans, pricing_nb, vocabulary  # noqa: F401
from pricer.plans import CAT_OFFICE, CAT_PREVENTIVE, CAT_SPECIALIST, PT_LAB, PT_OTHER, PT_SPECIALIST
from pricer.pricing_nb import _put_wide, half_up
from pricer.vocabulary import LOB_MEDICAID, M_DRUG, PRICED, F

# half_up and _put_wide are inlined from the line kernel: its changes recompile these too
_kernel_cache.refresh_if_stale(__file__, vocabulary.__file__, plans.__file__, pricing_nb.__file__)

_F_QMB = F["qmb_cost_share_not_billable"]
_F_MEDICAID_COPAY = F["medicaid_copay_waived"]
_UNLIMITED = np.int64(1) << 62
BLOCK = 4_096  # groups of families per parallel task of accumulate_nb


@njit(cache=True, inline="always")
def _slot(who, plan_, year_, ded, oop, n, w, p, y, start_ded, start_oop, i):
    """The accumulator of (w, p, y) among the first ``n`` slots, opened when new from line
    ``i``'s starting balances (none when the arrays are empty): (slot, slots in use)."""
    for k in range(n):
        if who[k] == w and plan_[k] == p and year_[k] == y:
            return k, n
    who[n] = w
    plan_[n] = p
    year_[n] = y
    ded[n] = start_ded[i] if start_ded.shape[0] > 0 else 0
    oop[n] = start_oop[i] if start_oop.shape[0] > 0 else 0
    return n, n + 1


@njit(cache=True, inline="always")
def _room(limit, met):
    """What is left of a limit (-1 = none: unlimited), never below 0."""
    if limit < 0:
        return _UNLIMITED
    r = limit - met
    return r if r > 0 else 0


@njit(cache=True, nogil=True)
def _families(g0, g1, fam_starts, order, member, family, plan, year, dos, claim, category,
              provider,
              lob, medicare, qmb, given, start_ded, start_oop, fstart_ded, fstart_oop,
              p_ded, p_fded, p_coins, p_oop, p_foop, p_prev, p_copay, o, slot_line, ded_after,
              oop_after):
    longest = 0
    for g in range(g0, g1):
        longest = max(longest, fam_starts[g + 1] - fam_starts[g])
    # accumulator slots of one group: members (member, plan, year), families (family, plan,
    # year); a group holds every line of its members and of their families
    m_mem = np.empty(longest, np.int64)
    m_plan = np.empty(longest, np.int64)
    m_year = np.empty(longest, np.int64)
    m_ded = np.empty(longest, np.int64)
    m_oop = np.empty(longest, np.int64)
    m_last = np.empty(longest, np.int64)
    f_who = np.empty(longest, np.int64)
    f_plan = np.empty(longest, np.int64)
    f_year = np.empty(longest, np.int64)
    f_ded = np.empty(longest, np.int64)
    f_oop = np.empty(longest, np.int64)
    at = fam_starts[g0]  # the block's balance rows go, packed, where its lines begin
    for g in range(g0, g1):
        nm = 0
        nf = 0
        prev_mem = -1
        prev_plan = -1
        prev_year = -1
        prev_fam = -1
        s = 0
        f = 0
        prev_claim = -1
        prev_dos = -1
        visit = 0  # copay categories already charged on this claim and date
        for j in range(fam_starts[g], fam_starts[g + 1]):
            i = order[j]
            # only lines with something to share take part: no slot, visit or balance row
            # for denied, rejected or zero-allowed lines
            if o.status[i] != PRICED or o.allowed[i, 0] <= 0:
                continue
            p = plan[i]
            y = year[i]
            if member[i] != prev_mem or p != prev_plan or y != prev_year:
                # another member's line, or another plan year: find (or open) the slots
                s, nm = _slot(m_mem, m_plan, m_year, m_ded, m_oop, nm, member[i], p, y,
                              start_ded, start_oop, i)
                f, nf = _slot(f_who, f_plan, f_year, f_ded, f_oop, nf, family[i], p, y,
                              fstart_ded, fstart_oop, i)
                prev_fam = family[i]
            elif family[i] != prev_fam:  # the member's line names another family
                f, nf = _slot(f_who, f_plan, f_year, f_ded, f_oop, nf, family[i], p, y,
                              fstart_ded, fstart_oop, i)
                prev_fam = family[i]
            m_last[s] = i
            if member[i] != prev_mem or p != prev_plan or claim[i] != prev_claim \
                    or dos[i] != prev_dos:
                visit = 0
                prev_claim = claim[i]
                prev_dos = dos[i]
            prev_mem = member[i]
            prev_plan = p
            prev_year = y
            allowed = o.allowed[i, 0]
            if given[i]:  # the benefit system's shares, already settled: they only accumulate
                d = o.deductible[i, 0]
                cp = o.copay[i, 0]
                co = o.coinsurance[i, 0]
            else:
                d = 0
                cp = 0
                co = 0
                flags = o.flags[i] & ~_F_QMB
                cat = category[i]
                if cat == CAT_OFFICE:
                    pt = provider[i]
                    if pt == PT_SPECIALIST:
                        cat = CAT_SPECIALIST
                    elif pt == PT_LAB or pt == PT_OTHER:
                        cat = -1
                if cat == CAT_PREVENTIVE and p_prev[p]:
                    pass  # covered in full
                elif cat >= 0 and p_copay[p, cat] >= 0:
                    bit = np.int64(1) << cat
                    if (visit & bit) == 0:  # once per visit
                        visit |= bit
                        if lob[i] == LOB_MEDICAID:
                            if p_copay[p, cat] > 0:
                                flags |= _F_MEDICAID_COPAY
                        else:
                            cp = min(p_copay[p, cat], allowed)
                else:
                    left = _room(p_ded[p], m_ded[s])
                    left = min(left, _room(p_fded[p], f_ded[f]))
                    d = min(allowed, left)
                    if medicare[lob[i]] and o.method[i] == M_DRUG and o.drug_coins[i, 0] >= 0:
                        co = half_up((allowed - d) * o.drug_coins[i, 0], 100_000)
                    else:
                        co = half_up((allowed - d) * p_coins[p], 10_000)
                room = min(_room(p_oop[p], m_oop[s]), _room(p_foop[p], f_oop[f]))
                d = min(d, room)
                cp = min(cp, room - d)
                co = min(co, room - d - cp)
                liability = d + cp + co
                if qmb[i] and liability > 0:
                    liability = 0
                    flags |= _F_QMB
                _put_wide(o.deductible, i, d)
                _put_wide(o.copay, i, cp)
                _put_wide(o.coinsurance, i, co)
                _put_wide(o.paid, i, allowed - d - cp - co)
                _put_wide(o.liability, i, liability)
                o.flags[i] = flags
            m_ded[s] += d
            f_ded[f] += d
            m_oop[s] += d + cp + co
            f_oop[f] += d + cp + co
        for k in range(nm):  # the member's balances after its last line of the key
            slot_line[at] = m_last[k]
            ded_after[at] = m_ded[k]
            oop_after[at] = m_oop[k]
            at += 1
    return at - fam_starts[g0]


@njit(cache=True, nogil=True, parallel=True)
def accumulate_nb(fam_starts, order, member, family, plan, year, dos, claim, category, provider,
                  lob,
                  medicare, qmb, given, start_ded, start_oop, fstart_ded, fstart_oop, p_ded,
                  p_fded, p_coins, p_oop, p_foop, p_prev, p_copay, o, slot_line, ded_after,
                  oop_after, block_rows):
    """Cost shares of the plan lines (docs/cost_share.md, "Cost share of a line").

    ``order`` lists the plan lines group by group in accumulation order, ``fam_starts``
    where each group begins (then its end): a group is every line of members linked through
    their families (benefits.family_groups), usually one family. Writes the lines' cost
    shares, payment, liability and flags into ``o``.

    The ending balances, one row per (member, plan, plan year), are packed per block of
    ``BLOCK`` groups where the block's lines begin in walk order: rows ``fam_starts[first
    group] ..`` of ``slot_line`` (the member's last line), ``ded_after`` and ``oop_after``
    (its balances after it); ``block_rows`` counts them. A block has no more rows than lines,
    and only the rows are written: fresh memory is slow to touch the first time.
    """
    k = fam_starts.shape[0] - 1
    for b in prange((k + BLOCK - 1) // BLOCK):
        block_rows[b] = _families(
            b * BLOCK, min(k, (b + 1) * BLOCK), fam_starts, order, member, family, plan, year,
            dos, claim, category, provider, lob, medicare, qmb, given, start_ded, start_oop,
            fstart_ded, fstart_oop, p_ded, p_fded, p_coins, p_oop, p_foop, p_prev, p_copay, o,
            slot_line, ded_after, oop_after)


@njit(cache=True, nogil=True)
def sort_key_bounds_nb(sel, a, b, c, d):
    """Lowest and highest value of each of four sort keys over the selected lines."""
    lo = np.full(4, np.iinfo(np.int64).max, np.int64)
    hi = np.full(4, np.iinfo(np.int64).min, np.int64)
    for i in sel:
        for k, v in enumerate((np.int64(a[i]), np.int64(b[i]), np.int64(c[i]), np.int64(d[i]))):
            lo[k] = min(lo[k], v)
            hi[k] = max(hi[k], v)
    if sel.shape[0] == 0:
        lo[:] = 0
        hi[:] = 0
    return lo, hi


@njit(cache=True, nogil=True)
def sort_key_nb(sel, a, b, c, d, lo, bits, at):
    """The keys of each selected line packed into one int64 (they fit: see bits), then its
    position in ``sel`` in the low ``at`` bits, so that a plain sort is a stable one. Keys
    of ``bits`` -1 are left out."""
    out = np.empty(sel.shape[0], np.int64)
    for j in range(sel.shape[0]):
        i = sel[j]
        key = np.int64(0)
        for k, v in enumerate((np.int64(a[i]), np.int64(b[i]), np.int64(c[i]), np.int64(d[i]))):
            if bits[k] >= 0:
                key = (key << bits[k]) | (v - lo[k])
        out[j] = (key << at) | j
    return out


@njit(cache=True, nogil=True)
def in_claim_line_order_nb(sel, claim, line):
    """Whether the selected lines come by claim rank, then line number."""
    for j in range(1, sel.shape[0]):
        p, i = sel[j - 1], sel[j]
        if claim[i] < claim[p] or (claim[i] == claim[p] and line[i] < line[p]):
            return False
    return True


@njit(cache=True, inline="always")
def _code_of(key, table, mask, shift, numbers, n_codes):
    """The code of ``key`` in an open-addressing table of (key, code) pairs side by side
    (one cache line a lookup; Fibonacci hashing, linear probing), given the next code when
    new: (code, codes in use)."""
    slot = np.int64((np.uint64(key) * np.uint64(11400714819323198485)) >> shift)
    while True:
        k = table[2 * slot]
        if k == key:
            return table[2 * slot + 1], n_codes
        if k < 0:
            table[2 * slot] = key
            table[2 * slot + 1] = n_codes
            numbers[n_codes] = key
            return n_codes, n_codes + 1
        slot = (slot + 1) & mask


@njit(cache=True, nogil=True)
def _grown(table, bits):
    """The hash table of ``_code_of`` rebuilt with ``2 ** bits`` slots."""
    out = np.full(2 << bits, -1, np.int32)
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    for s in range(table.shape[0] // 2):
        k = table[2 * s]
        if k >= 0:
            slot = np.int64((np.uint64(k) * np.uint64(11400714819323198485)) >> shift)
            while out[2 * slot] >= 0:
                slot = (slot + 1) & mask
            out[2 * slot] = k
            out[2 * slot + 1] = table[2 * s + 1]
    return out


@njit(cache=True, nogil=True)
def member_codes_nb(sel, member, family):
    """Dense codes (0..k-1, one code space, by first appearance) of the member and family
    numbers (IDs as int32 numbers, >= 0) of the selected lines; -1 elsewhere. Returns the two
    per-line code arrays and the number of each code.

    Lines of one claim are adjacent and share their member: such a line takes the code of the
    line before without a lookup. The table is kept at most half full (8 bytes a slot: 8 MB
    for half a million members, in the cache).
    """
    n = member.shape[0]
    m_code = np.full(n, -1, np.int32)
    f_code = np.full(n, -1, np.int32)
    bits = 16
    table = np.full(2 << bits, -1, np.int32)
    numbers = np.empty(1 << (bits - 1), np.int64)
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    n_codes = 0
    prev_m = -1
    prev_f = -1
    cm = -1
    cf = -1
    for i in sel:
        if 2 * (n_codes + 2) > (1 << bits):  # about to be half full: twice the slots
            bits += 1
            table = _grown(table, bits)
            grown = np.empty(1 << (bits - 1), np.int64)
            grown[:n_codes] = numbers[:n_codes]
            numbers = grown
            mask = (1 << bits) - 1
            shift = np.uint64(64 - bits)
        m = member[i]
        if m != prev_m:
            cm, n_codes = _code_of(m, table, mask, shift, numbers, n_codes)
            prev_m = m
        f = family[i]
        if f != prev_f:
            cf, n_codes = _code_of(f, table, mask, shift, numbers, n_codes)
            prev_f = f
        m_code[i] = cm
        f_code[i] = cf
    return m_code, f_code, numbers[:n_codes].copy()


@njit(cache=True, nogil=True)
def family_groups_nb(member, family, sel, n_codes):
    """Group number of each selected line: members and families linked by any line (union-
    find), so that a member's lines stay in one group whatever family each line names."""
    parent = np.arange(n_codes)
    prev_m = -1
    prev_f = -1
    for i in sel:
        if member[i] == prev_m and family[i] == prev_f:  # a claim's next line: linked already
            continue
        prev_m = member[i]
        prev_f = family[i]
        a = member[i]
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        b = family[i]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a != b:
            parent[max(a, b)] = min(a, b)
    for a in range(n_codes):  # every code straight to its root (roots are the lowest codes)
        parent[a] = parent[parent[a]]
    out = np.full(member.shape[0], -1, np.int64)
    for i in sel:
        out[i] = parent[member[i]]
    return out


@njit(cache=True, inline="always")
def _civil(days):
    """(year, month, day) of a day count since 1970 (proleptic Gregorian; Howard Hinnant's
    civil-from-days)."""
    z = np.int64(days) + 719_468
    era = (z if z >= 0 else z - 146_096) // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if month <= 2 else 0), month, day


@njit(cache=True, nogil=True)
def plan_years_nb(dos, plan, start_month, start_day):
    """The plan year of each line with a plan: the year its plan year started in (0 without
    a plan). Worked out once per plan and day of service in the lines' span of days."""
    n = dos.shape[0]
    out = np.zeros(n, np.int32)
    lo = np.iinfo(np.int64).max
    hi = np.iinfo(np.int64).min
    for i in range(n):
        if plan[i] >= 0:
            lo = min(lo, np.int64(dos[i]))
            hi = max(hi, np.int64(dos[i]))
    if lo > hi:
        return out
    span = hi - lo + 1
    n_plans = start_month.shape[0]
    if span * n_plans > 4 * n + 1024:  # a few lines over many years: per line
        for i in range(n):
            p = plan[i]
            if p >= 0:
                year, month, day = _civil(dos[i])
                before = month < start_month[p] or (month == start_month[p] and day < start_day[p])
                out[i] = year - 1 if before else year
        return out
    table = np.empty((n_plans, span), np.int32)
    for d in range(span):
        year, month, day = _civil(lo + d)
        for p in range(n_plans):
            before = month < start_month[p] or (month == start_month[p] and day < start_day[p])
            table[p, d] = year - 1 if before else year
    for i in range(n):
        p = plan[i]
        if p >= 0:
            out[i] = table[p, dos[i] - lo]
    return out


@njit(cache=True, nogil=True)
def _payers(lo, hi, lob, other_paid, other_given, cob_method, seq_rate, o):
    for i in range(lo, hi):
        if o.status[i] != PRICED:
            continue
        allowed = o.allowed[i, 0]
        normal = o.paid[i, 0]
        pay = normal
        liability = o.liability[i, 0]
        cob = 0
        if other_given[i]:
            other = other_paid[i]
            if cob_method[i] == 0:  # standard: up to what the primary left of the allowed
                rest = allowed - other
                pay = min(normal, rest if rest > 0 else 0)
            else:  # maintenance of benefits: the primary's payment comes off the normal one
                pay = normal - other
                pay = pay if pay > 0 else 0
            cob = normal - pay
            uncovered = allowed - other - pay
            liability = min(liability, uncovered if uncovered > 0 else 0)
        seq = 0
        rate = seq_rate[lob[i]]
        if rate > 0:
            seq = half_up(pay * rate, 10_000)
        _put_wide(o.paid, i, pay - seq)
        _put_wide(o.liability, i, liability)
        _put_wide(o.cob, i, cob)
        _put_wide(o.seq, i, seq)


@njit(cache=True, nogil=True, parallel=True)
def settle_payers_nb(lob, other_paid, other_given, cob_method, seq_rate, o):
    """Coordination of benefits (lines giving ``other_payer_paid``), then Medicare
    sequestration, on every priced line's payment (docs/cost_share.md)."""
    n = lob.shape[0]
    block = 16_384
    for b in prange((n + block - 1) // block):
        _payers(b * block, min(n, (b + 1) * block), lob, other_paid, other_given, cob_method,
                seq_rate, o)
