"""Numba kernels that turn Arrow column buffers into the encoder's per-line arrays.

Plain loops over the raw buffers of one Arrow chunk: values, validity bits (empty when the
chunk has no nulls) and the chunk's offset into the whole column. Reading the buffers directly
avoids the copies and per-value objects a general conversion would make.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _is_valid(bits, bit, has_bits):
    return (not has_bits) or ((bits[bit >> 3] >> (bit & 7)) & 1) == 1


@njit(cache=True)
def gather_codes(out, start, indices, bits, bit_offset, remap, base):
    """``out[start + i] = remap[base + indices[i]]``; -1 where the slot is null."""
    has_bits = bits.shape[0] > 0
    for i in range(indices.shape[0]):
        if _is_valid(bits, bit_offset + i, has_bits):
            out[start + i] = remap[base + indices[i]]
        else:
            out[start + i] = -1


@njit(cache=True)
def lookup(table, codes):
    """``table[codes]``, with code -1 (null) taking the table's last entry (the fill value)."""
    out = np.empty(codes.shape[0], table.dtype)
    last = table.shape[0] - 1
    for i in range(codes.shape[0]):
        k = codes[i]
        out[i] = table[k] if k >= 0 else table[last]
    return out


@njit(cache=True)
def integers(values_out, state_out, start, values, bits, bit_offset):
    """Integer values and state (0 ok, 1 missing)."""
    has_bits = bits.shape[0] > 0
    for i in range(values.shape[0]):
        if _is_valid(bits, bit_offset + i, has_bits):
            values_out[start + i] = values[i]
            state_out[start + i] = 0
        else:
            values_out[start + i] = 0
            state_out[start + i] = 1


@njit(cache=True)
def decimal_cents(cents_out, state_out, start, words, bits, bit_offset, up, down):
    """Cents of decimal128 values (low, high int64 words per value).

    ``up``/``down`` rescale to cents (one of them is 1). State: 0 ok, 1 missing, 2 too large
    for cents, 3 a fraction of a cent.
    """
    has_bits = bits.shape[0] > 0
    for i in range(words.shape[0] // 2):
        k = start + i
        cents_out[k] = 0
        if not _is_valid(bits, bit_offset + i, has_bits):
            state_out[k] = 1
            continue
        low = words[2 * i]
        high = words[2 * i + 1]
        if high != (low >> 63) or low > 9_000_000_000_000_000_000 // up \
                or low < -9_000_000_000_000_000_000 // up:
            state_out[k] = 2
        elif down > 1 and low % down != 0:
            state_out[k] = 3
        else:
            cents_out[k] = low * up // down
            state_out[k] = 0


@njit(cache=True)
def blank_strings(out, start, offsets, data, bits, bit_offset):
    """True where a string is null, empty or only ASCII whitespace."""
    has_bits = bits.shape[0] > 0
    for i in range(offsets.shape[0] - 1):
        blank = True
        if _is_valid(bits, bit_offset + i, has_bits):
            for p in range(offsets[i], offsets[i + 1]):
                c = data[p]
                if not (c == 32 or (9 <= c and c <= 13)):
                    blank = False
                    break
        out[start + i] = blank


@njit(cache=True)
def reject_where(reason, mask, code):
    """Give ``code`` to lines with ``mask`` that have no reason yet (first failure wins)."""
    for i in range(reason.shape[0]):
        if mask[i] and reason[i] == 0:
            reason[i] = code


@njit(cache=True)
def string_runs(offsets, data, bits, bit_offset):
    """Run number per line: a new run starts where the string differs from the line before.

    Null lines each start a run of their own (nothing to group them by).
    """
    n = offsets.shape[0] - 1
    runs = np.empty(n, np.int32)
    has_bits = bits.shape[0] > 0
    r = -1
    prev_valid = False
    for i in range(n):
        valid = _is_valid(bits, bit_offset + i, has_bits)
        same = False
        if valid and prev_valid and i > 0:
            a0, a1 = offsets[i - 1], offsets[i]
            b1 = offsets[i + 1]
            if a1 - a0 == b1 - a1:
                same = True
                for k in range(a1 - a0):
                    if data[a0 + k] != data[a1 + k]:
                        same = False
                        break
        if not same:
            r += 1
        runs[i] = r
        prev_valid = valid
    return runs


@njit(cache=True)
def group_sums(groups, values, ok, n_groups):
    """Sum of ``values`` where ``ok``, per group (groups < 0 are left out)."""
    sums = np.zeros(n_groups, np.int64)
    for i in range(groups.shape[0]):
        g = groups[i]
        if g >= 0 and ok[i]:
            sums[g] += values[i]
    return sums
