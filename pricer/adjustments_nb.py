"""The 835 adjustment rows of priced lines (rule book §12), in one compiled pass.

Pure: the kernel's arrays in, one row per adjustment out (line order; within a line, the
nine slots in §12 order), without the ``[n, 9]`` slot arrays a vectorised version builds.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from pricer import _kernel_cache, vocabulary
from pricer.vocabulary import (
    G_CO, G_OA, G_PR, PRICED, REJECTED, S_COB, S_COINSURANCE, S_COPAY, S_DEDUCTIBLE, S_DENIAL,
    S_FEE, S_MUE, S_REJECTION, S_SEQUESTRATION, S_VOID, VOID,
)

_kernel_cache.refresh_if_stale(__file__, vocabulary.__file__)

SLOTS = 9


@njit(cache=True, nogil=True, inline="always")
def _amounts(i, status, billed, billed_ok, mue_denied, fee_full, fee_cut, allowed, ded, copay,
             coins, cob, seq, a):
    """The nine slot amounts of line ``i`` into ``a`` (cents); whether the line is priced.

    Slot 0: MUE denial of excess units (CO-151); 1: fee-schedule reduction of a priced line
    (CO-45, down to the fee before §11 reductions), or the denial/rejection/void row for the
    whole charge; 2: a §11 modifier reduction (CO-45); 3: multiple-procedure or bilateral
    reduction (CO-59); 4-6: deductible, copay, coinsurance (PR-1, -3, -2); 7: coordination
    of benefits (OA-23); 8: sequestration (CO-253). Each reduction is taken after lower of
    charges, so the rows add up to billed - allowed.
    """
    priced = status[i] == PRICED
    b = billed[i] if billed_ok[i] else 0
    mue = mue_denied[i] if priced else 0
    rest = b - mue  # the charge of the units priced
    full = min(rest, fee_full[i]) if priced else 0
    cut = min(rest, fee_cut[i]) if priced else 0
    a[0] = mue
    a[1] = rest - full if priced else b
    a[2] = full - cut
    a[3] = cut - allowed[i, 0]
    a[4] = ded[i, 0]
    a[5] = copay[i, 0]
    a[6] = coins[i, 0]
    a[7] = cob[i, 0]
    a[8] = seq[i, 0]
    return priced


@njit(cache=True, nogil=True)
def adjustment_rows_nb(status, carc_in, policy_step, claim_step, billed, billed_ok, mue_denied,
                       fee_full, fee_cut, allowed, ded, copay, coins, cob, seq):
    """(line index, group, CARC, amount in cents, step) of every adjustment row.

    A slot is a row when its amount is positive; slot 1 always is for a line not priced.
    """
    n = status.shape[0]
    a = np.zeros(SLOTS, np.int64)
    groups = np.array([G_CO, G_CO, G_CO, G_CO, G_PR, G_PR, G_PR, G_OA, G_CO], np.uint8)
    carcs = np.array([151, 45, 45, 59, 1, 3, 2, 23, 253], np.int32)
    steps = np.array([S_MUE, S_FEE, 0, 0, S_DEDUCTIBLE, S_COPAY, S_COINSURANCE, S_COB,
                      S_SEQUESTRATION], np.uint8)
    count = 0
    for i in range(n):  # first pass: how many rows
        priced = _amounts(i, status, billed, billed_ok, mue_denied, fee_full, fee_cut, allowed,
                          ded, copay, coins, cob, seq, a)
        for s in range(SLOTS):
            if a[s] > 0 or (s == 1 and not priced):
                count += 1
    line = np.empty(count, np.int64)
    group = np.empty(count, np.uint8)
    carc = np.empty(count, np.int32)
    amount = np.empty(count, np.int64)
    step = np.empty(count, np.uint8)
    r = 0
    for i in range(n):
        priced = _amounts(i, status, billed, billed_ok, mue_denied, fee_full, fee_cut, allowed,
                          ded, copay, coins, cob, seq, a)
        for s in range(SLOTS):
            if not (a[s] > 0 or (s == 1 and not priced)):
                continue
            line[r] = i
            amount[r] = a[s]
            group[r] = groups[s]
            carc[r] = carcs[s]
            step[r] = steps[s]
            if s == 1 and not priced:  # the line's denial, rejection or void
                carc[r] = carc_in[i]
                if status[i] == VOID:  # a void request's charge: OA-18
                    group[r] = G_OA
                    step[r] = S_VOID
                elif status[i] == REJECTED:
                    step[r] = S_REJECTION
                else:
                    step[r] = S_DENIAL
            elif s == 2:
                step[r] = policy_step[i]
            elif s == 3:  # multiple_procedure, or bilateral for an RT/LT pair
                step[r] = claim_step[i]
            r += 1
    return line, group, carc, amount, step
