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


@njit(cache=True, nogil=True)
def gather_codes(out, start, indices, bits, bit_offset, remap, base):
    """``out[start + i] = remap[base + indices[i]]``; -1 where the slot is null."""
    has_bits = bits.shape[0] > 0
    for i in range(indices.shape[0]):
        if _is_valid(bits, bit_offset + i, has_bits):
            out[start + i] = remap[base + indices[i]]
        else:
            out[start + i] = -1


@njit(cache=True, inline="always")
def _space(b):
    """ASCII whitespace as Arrow's utf8_trim_whitespace trims it."""
    return b == 32 or (9 <= b <= 13) or (28 <= b <= 31)


@njit(cache=True, nogil=True)
def member_values(offsets, data, bits, bit_offset):
    """Member IDs of a dictionary (ASCII text): per value the state (0 ok: 1-8 digits once
    blanks are trimmed, 1 blank or null, 2 invalid), the number (-1 unless ok) and the
    normalised text: an ok ID zero-filled to 8 digits, any other value as given. Returns
    (state, number, text offsets, text bytes)."""
    n = offsets.shape[0] - 1
    has_bits = bits.shape[0] > 0
    state = np.empty(n, np.uint8)
    number = np.full(n, -1, np.int32)
    out_offsets = np.zeros(n + 1, np.int32)
    size = 0
    for i in range(n):
        a, b = offsets[i], offsets[i + 1]
        while a < b and _space(data[a]):
            a += 1
        while b > a and _space(data[b - 1]):
            b -= 1
        if not _is_valid(bits, bit_offset + i, has_bits) or a == b:
            state[i] = 1
        elif b - a > 8:
            state[i] = 2
        else:
            v = 0
            ok = True
            for k in range(a, b):
                d = data[k] - 48
                if d < 0 or d > 9:
                    ok = False
                    break
                v = v * 10 + d
            state[i] = 0 if ok else 2
            if ok:
                number[i] = v
        size += 8 if state[i] == 0 else offsets[i + 1] - offsets[i]
        out_offsets[i + 1] = size
    text = np.empty(size, np.uint8)
    for i in range(n):
        at = out_offsets[i]
        if state[i] == 0:
            v = number[i]
            for k in range(7, -1, -1):
                text[at + k] = 48 + v % 10
                v //= 10
        else:
            for k in range(offsets[i], offsets[i + 1]):
                text[at + k - offsets[i]] = data[k]
    return state, number, out_offsets, text


@njit(cache=True, nogil=True)
def value_lookups(state_out, number_out, start, indices, bits, bit_offset, per_state,
                  per_number):
    """Per line of a dictionary chunk: ``per_state`` and (when ``number_out`` is not empty)
    ``per_number`` of its dictionary value; the tables' last entry where the line is null."""
    has_bits = bits.shape[0] > 0
    numbers = number_out.shape[0] > 0
    last = per_state.shape[0] - 1
    for i in range(indices.shape[0]):
        k = indices[i] if _is_valid(bits, bit_offset + i, has_bits) else last
        state_out[start + i] = per_state[k]
        if numbers:
            number_out[start + i] = per_number[k]


@njit(cache=True, nogil=True)
def lookup(table, codes):
    """``table[codes]``, with code -1 (null) taking the table's last entry (the fill value)."""
    out = np.empty(codes.shape[0], table.dtype)
    last = table.shape[0] - 1
    for i in range(codes.shape[0]):
        k = codes[i]
        out[i] = table[k] if k >= 0 else table[last]
    return out


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, inline="always")
def _decimal_text(data, a, b):
    """Read ASCII text ``data[a:b]`` as claims._NUMBER_RE reads it, blanks around it trimmed
    (as polars' strip_chars trims ASCII): ``[+-]?`` 1-15 digits, then an optional ``.`` and
    digits. Returns (state, negative, integer part, first two fraction digits as a number,
    a nonzero digit after those two): state 0 a number, 1 blank, 2 not a number."""
    while a < b and (data[a] == 32 or (9 <= data[a] <= 13)):
        a += 1
    while b > a and (data[b - 1] == 32 or (9 <= data[b - 1] <= 13)):
        b -= 1
    if a == b:
        return 1, False, 0, 0, False
    neg = data[a] == 45  # '-'
    if data[a] == 43 or neg:  # '+' or '-'
        a += 1
    whole = 0
    digits = 0
    while a < b and 48 <= data[a] <= 57:
        whole = whole * 10 + (data[a] - 48)
        digits += 1
        a += 1
    if digits == 0 or digits > 15:
        return 2, False, 0, 0, False
    first2 = 0
    rest = False
    if a < b:
        if data[a] != 46:  # '.'
            return 2, False, 0, 0, False
        a += 1
        k = 0
        while a < b:
            d = data[a] - 48
            if d < 0 or d > 9:
                return 2, False, 0, 0, False
            if k < 2:
                first2 = first2 * 10 + d
            elif d != 0:
                rest = True
            k += 1
            a += 1
        if k == 1:
            first2 *= 10  # "12.5" is 12.50
    return 0, neg, whole, first2, rest


@njit(cache=True, nogil=True)
def text_numbers(values_out, state_out, start, offsets, data, bits, bit_offset, units):
    """Numbers written as ASCII text: money in cents, or with ``units`` whole units.

    Money state: 0 ok, 1 blank or null, 2 not a number, 3 a fraction of a cent (the value
    then holds the whole cents the text's first two fraction digits give). Units state: 0 ok,
    1 blank or null, 2 not a number, 4 below one (zero, negative, 0.x), 5 a fraction; the
    value 0 unless ok.
    """
    has_bits = bits.shape[0] > 0
    for i in range(offsets.shape[0] - 1):
        k = start + i
        values_out[k] = 0
        if not _is_valid(bits, bit_offset + i, has_bits):
            state_out[k] = 1
            continue
        state, neg, whole, first2, rest = _decimal_text(data, offsets[i], offsets[i + 1])
        if state == 0 and units:
            if neg or whole < 1:
                state = 4
            elif first2 != 0 or rest:
                state = 5
            else:
                values_out[k] = whole
        elif state == 0:
            cents = whole * 100 + first2
            values_out[k] = -cents if neg else cents
            state = 3 if rest else 0
        state_out[k] = state


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def reject_where(reason, mask, code):
    """Give ``code`` to lines with ``mask`` that have no reason yet (first failure wins)."""
    for i in range(reason.shape[0]):
        if mask[i] and reason[i] == 0:
            reason[i] = code


@njit(cache=True, inline="always")
def _same(offsets, data, i, j):
    a, b, c, d = offsets[i], offsets[i + 1], offsets[j], offsets[j + 1]
    if b - a != d - c:
        return False
    for k in range(b - a):
        if data[a + k] != data[c + k]:
            return False
    return True


@njit(cache=True, inline="always")
def _compare(offsets, data, i, j):
    """-1, 0 or 1 as string i sorts before, equal to or after string j (bytewise)."""
    a, b, c, d = offsets[i], offsets[i + 1], offsets[j], offsets[j + 1]
    for k in range(min(b - a, d - c)):
        if data[a + k] != data[c + k]:
            return -1 if data[a + k] < data[c + k] else 1
    if b - a == d - c:
        return 0
    return -1 if b - a < d - c else 1


@njit(cache=True, nogil=True)
def string_groups(offsets, data, bits, bit_offset):
    """Group number per line of equal strings (by first appearance; -1 where null), count, and
    whether the strings came in runs of strictly increasing value (then the group numbers
    are also the ranks of the strings in sorted order).

    Lines of a claim are usually adjacent: a line equal to the one before joins its group
    without hashing; the first line of each run is looked up in an open-addressing hash table
    (FNV-1a over the bytes), so equal strings far apart still meet.
    """
    n = offsets.shape[0] - 1
    groups = np.empty(n, np.int32)
    has_bits = bits.shape[0] > 0
    # First pass: runs of equal adjacent strings. When the runs come in strictly increasing
    # order (input sorted by claim), every run is a claim of its own: no hashing at all.
    runs = 0
    ordered = not has_bits
    prev = -1  # first line of the previous run
    for i in range(n):
        if i > 0 and _same(offsets, data, i - 1, i):
            groups[i] = runs - 1
            continue
        if ordered and prev >= 0 and _compare(offsets, data, prev, i) >= 0:
            ordered = False
        prev = i
        runs += 1
        groups[i] = runs - 1
    if ordered:
        return groups, runs, True
    size = 16
    while size < 2 * runs:
        size <<= 1
    first = np.full(size, -1, np.int64)  # line of the first string of the slot's group
    slot_group = np.empty(size, np.int32)
    mask = np.uint64(size - 1)
    n_groups = 0
    for i in range(n):
        if not _is_valid(bits, bit_offset + i, has_bits):
            groups[i] = -1
            continue
        if i > 0 and groups[i - 1] >= 0 and _same(offsets, data, i - 1, i):
            groups[i] = groups[i - 1]
            continue
        a, b = offsets[i], offsets[i + 1]
        h = np.uint64(14695981039346656037)
        for p in range(a, b):
            h = (h ^ np.uint64(data[p])) * np.uint64(1099511628211)
        slot = h & mask
        while True:
            j = first[slot]
            if j < 0:
                first[slot] = i
                slot_group[slot] = n_groups
                groups[i] = n_groups
                n_groups += 1
                break
            if _same(offsets, data, j, i):
                groups[i] = slot_group[slot]
                break
            slot = (slot + np.uint64(1)) & mask
    return groups, n_groups, False


@njit(cache=True, nogil=True)
def group_sums(groups, values, ok, n_groups):
    """Sum of ``values`` where ``ok``, per group (groups < 0 are left out)."""
    sums = np.zeros(n_groups, np.int64)
    for i in range(groups.shape[0]):
        g = groups[i]
        if g >= 0 and ok[i]:
            sums[g] += values[i]
    return sums


@njit(cache=True, nogil=True)
def modifier_flags(modifiers, flags, ids, bits):
    """OR ``bits[k]`` into a line's flags when one of its modifiers is ``ids[k]``."""
    for i in range(modifiers.shape[0]):
        f = flags[i]
        for j in range(modifiers.shape[1]):
            m = modifiers[i, j]
            for k in range(ids.shape[0]):
                if m == ids[k]:
                    f |= bits[k]
        flags[i] = f


@njit(cache=True, nogil=True)
def reject_late(reason, code, dos, dos_state, received, received_state, lob, limit_days):
    """§11 timely filing: ``code`` where received more than the LOB's limit after the DOS."""
    for i in range(reason.shape[0]):
        if reason[i] == 0 and dos_state[i] == 0 and received_state[i] == 0 and lob[i] >= 0 \
                and np.int64(received[i]) - np.int64(dos[i]) > limit_days[lob[i]]:
            reason[i] = code
