"""Claim-line input (§3) and its validation (§4), encoded once into integer arrays.

A claims source is read into a pyarrow table, its columns checked, and every line turned into
the small integers and scaled money the kernel reads. Low-cardinality text columns (codes,
modifiers, LOBs, localities) are dictionary-encoded so that normalisation and look-ups run once
per distinct value, never once per line.
"""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pricer import columns_nb as cnb
from pricer.plans import CAT_NONE, PROVIDER_ALIASES, copay_category
from pricer.replacements import link_claims
from pricer.vocabulary import (EM_FACILITY_CODES, FACILITY_POS, HIGH_LEVEL_EM, INSTITUTIONAL_FORMS,
                               LOBS, MOD, MOD_INVALID, MOD_OTHER, F, R)

REQUIRED = (
    "claim_id", "line_number", "member_id", "line_of_business", "date_of_service",
    "hcpcs", "units", "billed_charge", "place_of_service",
)
OPTIONAL = (
    "modifier_1", "modifier_2", "modifier_3", "modifier_4", "locality", "service_state",
    "service_county", "service_zip", "claim_form", "received_date", "frequency_code", "ndc",
    "rendering_npi", "deductible", "copay", "coinsurance", "qmb", "other_payer_paid",
    "original_claim_id", "plan_id", "subscriber_id", "rendering_provider_type",
)
MODIFIER_COLUMNS = ("modifier_1", "modifier_2", "modifier_3", "modifier_4")
COST_SHARE_COLUMNS = ("deductible", "copay", "coinsurance", "other_payer_paid")
TEXT_COLUMNS = (
    "claim_id", "member_id", "line_of_business", "hcpcs", "place_of_service", *MODIFIER_COLUMNS,
    "locality", "service_state", "service_county", "service_zip", "claim_form",
    "frequency_code", "ndc", "rendering_npi", "plan_id", "subscriber_id",
    "rendering_provider_type",
)

# Text columns read from Parquet as dictionaries: few distinct values per many lines.
DICTIONARY_COLUMNS = tuple(c for c in TEXT_COLUMNS if c not in ("claim_id", "rendering_npi"))

# What each column may be in a typed input (Parquet, Arrow, frames). CSV is all text.
_TEXT, _INT, _NUM, _DATE, _BOOL = "text", "integer", "number", "date", "boolean"
ACCEPTED_TYPES = {
    "claim_id": (_TEXT, _INT), "line_number": (_INT, _TEXT), "member_id": (_TEXT, _INT),
    "line_of_business": (_TEXT,), "date_of_service": (_DATE, _TEXT), "hcpcs": (_TEXT,),
    "units": (_NUM, _TEXT), "billed_charge": (_NUM, _TEXT), "place_of_service": (_TEXT, _INT),
    "modifier_1": (_TEXT,), "modifier_2": (_TEXT,), "modifier_3": (_TEXT,), "modifier_4": (_TEXT,),
    "locality": (_TEXT,), "service_state": (_TEXT,), "service_county": (_TEXT,),
    "service_zip": (_TEXT, _INT), "claim_form": (_TEXT,), "received_date": (_DATE, _TEXT),
    "frequency_code": (_TEXT, _INT), "ndc": (_TEXT, _INT), "rendering_npi": (_TEXT, _INT),
    "deductible": (_NUM, _TEXT), "copay": (_NUM, _TEXT), "coinsurance": (_NUM, _TEXT),
    "qmb": (_BOOL, _TEXT, _INT), "other_payer_paid": (_NUM, _TEXT),
    "original_claim_id": (_TEXT, _INT), "plan_id": (_TEXT, _INT),
    "subscriber_id": (_TEXT, _INT), "rendering_provider_type": (_TEXT,),
}

EPOCH = dt.date(1970, 1, 1)
HIGH_DOLLAR_CLAIM_CENTS = 2_000_000  # §11: claims billing more than $20,000 are reviewed
NO_DATE = np.iinfo(np.int32).min


class InputError(ValueError):
    """A claims file or frame refused before pricing (§4); exit code 2 on the CLI.

    ``problems`` lists every problem found, each naming the source and the column.
    """

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: input refused:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------------------------------------
# reading

def all_null_columns(metadata, schema: pa.Schema, wanted: list[str]) -> set[str]:
    """Flat fixed-width or text columns whose Parquet statistics say every value is null in
    every row group (an optional column the extract leaves empty): they need no reading."""
    empty = set()
    if metadata.num_rows == 0 or metadata.num_row_groups == 0:
        return empty
    leaf = {metadata.schema.column(j).path: j for j in range(metadata.num_columns)}
    for name in wanted:
        j = leaf.get(name)
        if j is None or name not in schema.names or null_column(schema.field(name).type, 0) \
                is None:
            continue
        for g in range(metadata.num_row_groups):
            rg = metadata.row_group(g)
            st = rg.column(j).statistics
            if st is None or not st.has_null_count or st.null_count != rg.num_rows:
                break
        else:
            empty.add(name)
    return empty


def null_column(t: pa.DataType, n: int) -> pa.Array | None:
    """``n`` nulls of type ``t`` on buffers of zeros from ``np.zeros``, which cost no memory
    until written (``pa.nulls`` fills its buffers); None for a type not handled here."""
    validity = pa.py_buffer(np.zeros((n + 7) // 8, np.uint8))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        offsets = np.zeros(n + 1, np.int64 if pa.types.is_large_string(t) else np.int32)
        return pa.Array.from_buffers(t, n, [validity, pa.py_buffer(offsets), pa.py_buffer(b"")],
                                     null_count=n)
    if pa.types.is_boolean(t):
        return pa.Array.from_buffers(t, n, [validity, validity], null_count=n)
    if pa.types.is_nested(t) or pa.types.is_dictionary(t) or pa.types.is_null(t):
        return None
    try:
        width = t.bit_width
    except ValueError:  # binary, views and other variable-width types
        return None
    if width < 8 or width % 8:
        return None
    data = pa.py_buffer(np.zeros(n * width // 8, np.uint8))
    return pa.Array.from_buffers(t, n, [validity, data], null_count=n)


def read_claims(claims, *, columns: list[str] | None = None) -> tuple[pa.Table, str, bool]:
    """Read any supported claims source into a pyarrow table.

    Returns ``(table, source_name, is_text)``; ``is_text`` is True for CSV, whose values are
    checked line by line rather than by column type (§4).
    """
    if isinstance(claims, (str, Path)):
        path = Path(claims)
        if not path.exists():
            raise InputError(str(path), ["file not found"])
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq"):
            try:
                metadata = pq.read_metadata(path)  # the footer, read once
                schema = metadata.schema.to_arrow_schema()
                # Dictionary pages decode straight into dictionary arrays: no hashing of strings.
                # Not for near-unique columns (claim IDs, NPIs): a dictionary there costs more.
                text_cols = [f.name for f in schema if f.name in DICTIONARY_COLUMNS and
                             (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
                wanted = list(columns) if columns is not None else schema.names
                empty = all_null_columns(metadata, schema, wanted)
                table = pq.read_table(path, read_dictionary=text_cols,
                                      columns=[c for c in wanted if c not in empty])
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(str(path), [f"not a readable Parquet file ({exc})"]) from None
            for i, name in enumerate(wanted):  # back in their places, as null columns
                if name in empty:
                    field = schema.field(name)
                    table = table.add_column(i, field, null_column(field.type, metadata.num_rows))
            return table, str(path), False
        if suffix in (".csv", ".txt"):
            try:
                frame = pl.read_csv(path, infer_schema=False, columns=columns)
            except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
                raise InputError(str(path), [f"not a readable CSV file ({exc})"]) from None
            return frame.to_arrow(), str(path), True
        if suffix in (".arrow", ".feather", ".ipc"):
            import pyarrow.feather as feather
            return feather.read_table(path, columns=columns), str(path), False
        raise InputError(str(path), [f"unknown file type {suffix!r} (use .parquet, .csv or .arrow)"])
    if isinstance(claims, pl.DataFrame):
        return claims.to_arrow(), "frame", False
    if isinstance(claims, pl.LazyFrame):
        return claims.collect().to_arrow(), "frame", False
    if isinstance(claims, pa.Table):
        return claims, "table", False
    if isinstance(claims, pa.RecordBatch):
        return pa.Table.from_batches([claims]), "table", False
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        pd = None
    if pd is not None and isinstance(claims, pd.DataFrame):
        return pa.Table.from_pandas(claims, preserve_index=False), "frame", False
    raise TypeError(
        "claims must be a polars or pandas DataFrame, a pyarrow Table, or a path to "
        f"Parquet/CSV, not {type(claims).__name__}"
    )


def _family(t: pa.DataType) -> str | None:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _TEXT
    if pa.types.is_boolean(t):
        return _BOOL
    if pa.types.is_integer(t):
        return _INT
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return _NUM
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return _DATE
    return None


def check_columns(table: pa.Table, source: str, is_text: bool) -> None:
    """Refuse a source missing a required column or with a column of an impossible type."""
    problems = [f"missing required column {c!r}" for c in REQUIRED if c not in table.column_names]
    if not is_text:
        for name in table.column_names:
            accepted = ACCEPTED_TYPES.get(name)
            if accepted is None:
                continue
            fam = _family(table.schema.field(name).type)
            ok = fam == "null" or fam in accepted or (fam == _INT and _NUM in accepted)
            if not ok:
                problems.append(
                    f"column {name!r} has type {table.schema.field(name).type}, "
                    f"which cannot hold {' or '.join(accepted)} values"
                )
    if problems:
        raise InputError(source, problems)


# ---------------------------------------------------------------------------------------------
# column conversions

_NO_BITS = np.zeros(0, np.uint8)


def _chunks(col) -> list[pa.Array]:
    return col.chunks if isinstance(col, pa.ChunkedArray) else [col]


def _bits(arr: pa.Array) -> tuple[np.ndarray, int]:
    """A chunk's validity bits (empty when it has no nulls) and its bit offset."""
    if arr.null_count == 0 or arr.buffers()[0] is None:
        return _NO_BITS, 0
    return np.frombuffer(arr.buffers()[0], np.uint8), arr.offset


def _text_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string or large_string array's own offsets (``len + 1``, int32 or int64) and its
    byte buffer, as numpy views (no copy)."""
    off_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], off_type, count=arr.offset + len(arr) + 1)[arr.offset:]
    data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else _NO_BITS
    return offsets, data


def _values(arr: pa.Array, dtype, width: int = 1) -> np.ndarray:
    """A fixed-width chunk's own slots of its value buffer, as a numpy view (no copy)."""
    count = (arr.offset + len(arr)) * width
    return np.frombuffer(arr.buffers()[1], dtype, count=count)[arr.offset * width:]


def _text_dict(col: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """Dictionary-encode a column as text: (index per line, -1 for null; distinct values).

    Chunks read from Parquet each carry their own dictionary: the dictionaries (small) are
    stacked and made distinct, and each line's index is mapped in one pass, rather than
    unifying the chunks line by line.
    """
    codes, distinct = text_codes(col)
    return codes, distinct.to_pylist()


def text_codes(col: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """``_text_dict`` with the distinct values as an Arrow array."""
    if not pa.types.is_dictionary(col.type):
        if _family(col.type) != _TEXT:
            col = pc.cast(col, pa.string())
        col = pc.dictionary_encode(col)
    chunks = _chunks(col)
    codes = np.empty(len(col), np.int32)
    if not chunks:
        return codes, pa.array([], pa.string())
    dicts = [ch.dictionary for ch in chunks]
    if all(d.equals(dicts[0]) for d in dicts[1:]):
        bases = [0] * len(chunks)
        distinct = dicts[0]
        if distinct.null_count:
            distinct = distinct.fill_null("")  # a null dictionary value reads as blank
        remap = np.arange(len(distinct), dtype=np.int32)
    else:
        bases = np.cumsum([0] + [len(d) for d in dicts[:-1]]).tolist()
        stacked = pc.dictionary_encode(pa.concat_arrays(dicts))
        distinct = stacked.dictionary
        remap = np.asarray(stacked.indices.fill_null(-1).to_numpy(zero_copy_only=False), np.int32)
    start = 0
    for ch, base in zip(chunks, bases):
        idx = ch.indices
        cnb.gather_codes(codes, start, _values(idx, idx.type.to_pandas_dtype()), *_bits(idx),
                         remap, base)
        start += len(ch)
    return codes, distinct


def claim_order(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(line positions claim by claim, or empty when claims are contiguous; claim starts)."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(1, np.int64)
    order = np.zeros(0, np.int64)
    ordered = groups
    if not (groups[1:] >= groups[:-1]).all():
        order = np.argsort(groups, kind="stable").astype(np.int64)
        ordered = groups[order]
    starts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    return order, np.concatenate([[0], starts, [n]]).astype(np.int64)


def _npi_text(col, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rendering NPIs as one text buffer: (offsets [n + 1], bytes, given per line)."""
    if col is None or _family(col.type) == "null":
        return np.zeros(n + 1, np.int64), _NO_BITS, np.zeros(n, bool)
    if not (pa.types.is_large_string(col.type) or pa.types.is_string(col.type)):
        col = pc.cast(col, pa.large_string())
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    offsets, data = _text_buffers(arr)
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
    return offsets.astype(np.int64, copy=False), data, valid


def claim_groups(col: pa.ChunkedArray, ranked: bool = False):
    """Claim number per line (0..k-1, by first appearance; -1 where the ID is null) and k;
    with ``ranked``, also whether the numbers are known to rank the IDs in sorted order
    (text IDs in runs of increasing value, as extracts sorted by claim deliver them).

    Text IDs are grouped in one pass over the text buffer (columns_nb.string_groups); a
    claim split across the input still comes together.
    """
    groups, k, in_order = _claim_groups(col)
    return (groups, k, in_order) if ranked else (groups, k)


def _claim_groups(col: pa.ChunkedArray) -> tuple[np.ndarray, int, bool]:
    n = len(col)
    if n == 0:
        return np.zeros(0, np.int32), 0, True
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        return cnb.string_groups(*_text_buffers(arr), *_bits(arr))
    groups, distinct = _text_dict(col)  # dictionary, integer or other text IDs
    return groups, len(distinct), False


def _lookup(idx: np.ndarray, per_value: list, fill, dtype) -> np.ndarray:
    """Per-line values from per-distinct-value results; ``fill`` where the line is null."""
    return cnb.lookup(np.array(list(per_value) + [fill], dtype=dtype), idx)


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _series(col: pa.ChunkedArray) -> pl.Series:
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    return pl.from_arrow(col) if len(col) else pl.Series([], dtype=pl.String)


_NUMBER_RE = r"^[+-]?\d{1,15}(\.\d*)?$"

_FIXED_INTS = (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32())


def _fixed_ints(col) -> bool:
    return col.type in _FIXED_INTS


def _integers(col, n: int, dtype=np.int64) -> tuple[np.ndarray, np.ndarray]:
    """Values of an integer (or date32) column straight from its buffers, and state 0 ok/1 null."""
    values = np.empty(n, dtype)
    state = np.empty(n, np.uint8)
    start = 0
    np_type = np.int32 if pa.types.is_date32(col.type) else col.type.to_pandas_dtype()
    for ch in _chunks(col):
        cnb.integers(values, state, start, _values(ch, np_type), *_bits(ch))
        start += len(ch)
    return values, state


def _blank_text(col, n: int) -> np.ndarray:
    """True where a value is null, or text that is empty or only whitespace."""
    if _family(col.type) != _TEXT or pa.types.is_dictionary(col.type) or \
            pa.types.is_string_view(col.type):
        if _family(col.type) != _TEXT and not pa.types.is_dictionary(col.type):
            return np.asarray(col.is_null().to_numpy(zero_copy_only=False), bool)
        idx, values = _text_dict(col)
        return _lookup(idx, [_blank(v) for v in values], True, bool)
    out = np.empty(n, bool)
    start = 0
    for ch in _chunks(col):
        cnb.blank_strings(out, start, *_text_buffers(ch), *_bits(ch))
        start += len(ch)
    return out


def _ascii_text(col) -> list[tuple] | None:
    """Per chunk of a string or large_string column (offsets, bytes, validity bits, bit
    offset), when every value is ASCII; None otherwise (dictionaries, views, other text go
    through polars)."""
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return None
    out = []
    for ch in _chunks(col):
        offsets, data = _text_buffers(ch)
        if len(ch) and not (data[offsets[0]:offsets[-1]] < 128).all():
            return None
        out.append((offsets, data, *_bits(ch)))
    return out


def _text_numbers(col, n: int, units: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """Cents (or whole ``units``) and states of ASCII text numbers, in one compiled pass per
    chunk (columns_nb.text_numbers); None when the text is not plain ASCII."""
    chunks = _ascii_text(col)
    if chunks is None:
        return None
    values = np.empty(n, np.int64)
    state = np.empty(n, np.uint8)
    start = 0
    for offsets, data, bits, bit_offset in chunks:
        cnb.text_numbers(values, state, start, offsets, data, bits, bit_offset, units)
        start += len(offsets) - 1
    return values, state


def _decimal_text(s: pl.Series) -> tuple[pl.Series, pl.Series, pl.Series, pl.Series]:
    """Split text numbers: (blank, is_number, integer part with sign, fraction digits)."""
    t = s.cast(pl.String).str.strip_chars()
    blank = t.is_null() | (t == "")
    valid = t.str.contains(_NUMBER_RE).fill_null(False)
    whole = t.str.extract(r"^([+-]?\d+)", 1)
    frac = t.str.extract(r"\.(\d*)$", 1).fill_null("")
    return blank, valid, whole, frac


def money_cents(col: pa.ChunkedArray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cents of a money column and a state per line.

    State: 0 ok, 1 missing, 2 not a number, 3 fraction of a cent. Floats count as the decimal
    they print as (``12.3`` is 12.30; ``12.345`` has a fraction of a cent).
    """
    cents = np.zeros(n, np.int64)
    state = np.zeros(n, np.uint8)
    if col is None or col.null_count == len(col):  # (an empty cost-share column: common)
        state[:] = 1
        return cents, state
    if pa.types.is_decimal128(col.type) and col.type.scale <= 18:
        scale = col.type.scale
        up, down = (10 ** (2 - scale), 1) if scale <= 2 else (1, 10 ** (scale - 2))
        start = 0
        for ch in _chunks(col):
            cnb.decimal_cents(cents, state, start, _values(ch, np.int64, 2), *_bits(ch), up, down)
            start += len(ch)
        return cents, state
    fam = _family(col.type)
    if fam == _INT and _fixed_ints(col):
        values, state = _integers(col, n)
        return values * 100, state
    if fam == _TEXT:  # CSV: one compiled pass over the text (the polars path below is slow)
        read = _text_numbers(col, n, units=False)
        if read is not None:
            return read
    s = _series(col)
    if fam == "null":
        state[:] = 1
    elif fam == _INT:
        state[:] = np.where(s.is_null().to_numpy(), 1, 0)
        cents = s.fill_null(0).cast(pl.Int64).to_numpy() * 100
    elif s.dtype == pl.Decimal or isinstance(s.dtype, pl.Decimal):
        scale = s.dtype.scale
        phys = s.to_physical()
        if scale <= 2:
            raw = phys.fill_null(0).cast(pl.Int64).to_numpy() * 10 ** (2 - scale)
            frac = np.zeros(n, bool)
        else:
            div = 10 ** (scale - 2)
            p = phys.fill_null(0)
            frac = (p % div != 0).to_numpy()
            raw = (p // div).cast(pl.Int64).to_numpy()
        cents = raw
        state = np.where(s.is_null().to_numpy(), 1, np.where(frac, 3, 0)).astype(np.uint8)
    elif fam == _NUM:  # float
        x = s.cast(pl.Float64).to_numpy()
        missing = np.isnan(x)
        with np.errstate(invalid="ignore"):
            k = np.rint(x * 100)
            exact = (k / 100 == x)
        bad = ~np.isfinite(x) & ~missing
        cents = np.where(missing | bad, 0, k).astype(np.int64)
        state = np.select([missing, bad, ~exact], [1, 2, 3], 0).astype(np.uint8)
    else:  # text that is not plain ASCII
        cents, state = _text_cents_polars(s)
    return cents.astype(np.int64), state


def _text_cents_polars(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """money_cents of any text (Unicode digits and blanks too), by polars expressions."""
    blank, valid, whole, frac = _decimal_text(s)
    w = whole.cast(pl.Int64, strict=False).fill_null(0).to_numpy()
    first2 = frac.str.pad_end(2, "0").str.slice(0, 2).cast(pl.Int64, strict=False).fill_null(0)
    rest = frac.str.slice(2).str.replace_all("0", "").str.len_chars().fill_null(0)
    neg = whole.str.starts_with("-").fill_null(False).to_numpy()
    f2 = first2.to_numpy()
    cents = np.where(neg, w * 100 - f2, w * 100 + f2)
    state = np.select(
        [blank.to_numpy(), ~valid.to_numpy(), rest.to_numpy() > 0], [1, 2, 3], 0
    ).astype(np.uint8)
    return np.where(state == 2, 0, cents).astype(np.int64), state


def units_values(col: pa.ChunkedArray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole units per line and a state: 0 ok, 1 missing, 2 not a number, 4 < 1, 5 fractional."""
    fam = _family(col.type)
    if fam == _INT and _fixed_ints(col):
        v, missing = _integers(col, n)
        return v, np.where(missing == 1, 1, np.where(v < 1, 4, 0)).astype(np.uint8)
    if fam == _TEXT:
        read = _text_numbers(col, n, units=True)
        if read is not None:
            return read
    s = _series(col)
    state = np.zeros(n, np.uint8)
    if fam == "null":
        return np.zeros(n, np.int64), np.ones(n, np.uint8)
    if fam == _INT:
        v = s.fill_null(0).cast(pl.Int64).to_numpy()
        state = np.select([s.is_null().to_numpy(), v < 1], [1, 4], 0).astype(np.uint8)
        return v, state
    if fam == _NUM:
        x = s.cast(pl.Float64).to_numpy()
        missing = np.isnan(x)
        with np.errstate(invalid="ignore"):
            whole = np.floor(x) == x
            below = x < 1
        big = np.abs(np.nan_to_num(x)) > 2**53
        v = np.where(missing | ~whole | big, 0, np.nan_to_num(x)).astype(np.int64)
        state = np.select([missing, ~np.isfinite(x) | big, below, ~whole], [1, 2, 4, 5], 0)
        return v, state.astype(np.uint8)
    return _text_units_polars(s)


def _text_units_polars(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """units_values of any text (Unicode digits and blanks too), by polars expressions."""
    blank, valid, whole, frac = _decimal_text(s)
    w = whole.cast(pl.Int64, strict=False).fill_null(0).to_numpy()
    frac_nonzero = (frac.str.replace_all("0", "").str.len_chars().fill_null(0) > 0).to_numpy()
    neg = whole.str.starts_with("-").fill_null(False).to_numpy()
    below = (w < 1) | neg  # 0.x, -0.x and negatives are all below one
    state = np.select(
        [blank.to_numpy(), ~valid.to_numpy(), below, frac_nonzero], [1, 2, 4, 5], 0
    ).astype(np.uint8)
    return np.where(state == 0, w, 0).astype(np.int64), state


def date_days(col: pa.ChunkedArray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970-01-01 per line and a state: 0 ok, 1 missing, 2 not an ISO date."""
    if col is None:
        return np.full(n, NO_DATE, np.int32), np.ones(n, np.uint8)
    if pa.types.is_date32(col.type):
        days, missing = _integers(col, n, np.int32)
        days[missing == 1] = NO_DATE
        return days, missing
    s = _series(col)
    fam = _family(col.type)
    if fam == "null":
        return np.full(n, NO_DATE, np.int32), np.ones(n, np.uint8)
    if fam == _DATE:
        d = s.cast(pl.Date)
        missing = d.is_null().to_numpy()
        days = d.to_physical().fill_null(NO_DATE).cast(pl.Int32).to_numpy()
        return days, missing.astype(np.uint8)
    t = s.cast(pl.String).str.strip_chars()
    blank = (t.is_null() | (t == "")).to_numpy()
    d = t.str.to_date("%Y-%m-%d", strict=False)
    bad = d.is_null().to_numpy() & ~blank
    days = d.to_physical().fill_null(NO_DATE).cast(pl.Int32).to_numpy()
    return days, np.select([blank, bad], [1, 2], 0).astype(np.uint8)


def place_of_service(col: pa.ChunkedArray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """POS as 1..99 and a state: 0 ok, 1 missing, 2 invalid. ``2``, ``02``, ``2.0`` are 02."""
    fam = _family(col.type)
    if fam == _INT:
        s = _series(col)
        v = s.fill_null(0).cast(pl.Int64).to_numpy()
        state = np.select([s.is_null().to_numpy(), (v < 1) | (v > 99)], [1, 2], 0)
        return np.clip(v, 0, 99).astype(np.uint8), state.astype(np.uint8)
    idx, values = _text_dict(col)
    per_value, per_state = [], []
    for v in values:
        t = (v or "").strip()
        if not t:
            per_value.append(0); per_state.append(1)
            continue
        head, _, tail = t.partition(".")
        ok = head.isdigit() and len(head) <= 2 and (not tail or set(tail) == {"0"}) and 1 <= int(head) <= 99
        per_value.append(int(head) if ok else 0)
        per_state.append(0 if ok else 2)
    return _lookup(idx, per_value, 0, np.uint8), _lookup(idx, per_state, 1, np.uint8)


def _present(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    return table.column(name) if name in table.column_names else None


# ---------------------------------------------------------------------------------------------
# encoding

@dataclass
class EncodedLines:
    """Every claim line as the kernel reads it. Arrays have one entry per line."""
    n: int
    reason: np.ndarray        # uint8: rejection reason (vocabulary.REASONS), 0 = valid so far
    flags: np.ndarray         # uint32: flags known before pricing
    lob: np.ndarray           # int8: index in LOBS (0 when unknown; such lines are rejected)
    dos: np.ndarray           # int32 days since epoch
    code: np.ndarray          # int32: code slot in ReferenceArrays (unknown codes: its last slot)
    unlisted: np.ndarray      # bool: CPT ending in 99
    modifiers: np.ndarray     # uint8 [n, 4]: index in MODIFIERS, MOD_OTHER, MOD_INVALID
    units: np.ndarray         # int64
    billed: np.ndarray        # int64 cents (0 when unusable)
    billed_ok: np.ndarray     # bool: billed is a valid cents amount
    deductible: np.ndarray    # int64 cents (0 when not given)
    copay: np.ndarray
    coinsurance: np.ndarray
    qmb: np.ndarray           # bool
    facility: np.ndarray      # bool: facility PE (§6)
    locality: np.ndarray      # int32 index in ReferenceArrays.localities, -1 unresolved
    ndc_ok: np.ndarray        # bool
    member_id: pa.Array       # normalised member IDs (as given where invalid)
    # claim-level policies (§11): lines claim by claim, and each line's rendering NPI as text
    claim_order: np.ndarray   # int64 line positions claim by claim; empty when contiguous
    claim_starts: np.ndarray  # int64 first position of each claim in that order, then n
    npi_offsets: np.ndarray   # int64 [n + 1] offsets into npi_data
    npi_data: np.ndarray      # uint8 text of the NPIs
    npi_valid: np.ndarray     # bool: the line gives an NPI
    # replacement and void claims linked to their originals (replacements.link_claims)
    links: object = None      # polars frame claim_id, frequency_code, original_claim_id, or None
    # member cost share (docs/cost_share.md; pricer.benefits)
    claim: np.ndarray = None             # int32 claim number per line (first appearance), -1 null
    claims_ranked: bool = False          # claim numbers known to be the claim_id sort ranks
    plan: np.ndarray = None              # int16 position in Plans.ids, -1 no plan
    subscriber_id: pa.ChunkedArray = None  # normalised subscriber IDs, or None (no column)
    subscriber_given: np.ndarray = None  # bool: a valid subscriber ID on the line
    member_number: np.ndarray = None     # int32 member ID as a number (-1 not valid), or None
    subscriber_number: np.ndarray = None  # likewise the subscriber ID (None: no column/plans)
    provider: np.ndarray = None          # int8 plans.PROVIDER_TYPES (blank = physician)
    category: np.ndarray = None          # int8 copay category of the code (office visits as such)
    shares_given: np.ndarray = None      # bool: the line gives deductible, copay or coinsurance
    other_payer_paid: np.ndarray = None  # int64 cents (0 when not given)
    other_payer_given: np.ndarray = None  # bool
    benefits: object = None              # benefits.BenefitLines or None (no plan line); a
                                         # Future while being prepared: benefits.walked
    plans: object = None                 # plans.Plans the lines were encoded against, or None


def _normalise_code(v: str | None) -> str:
    return (v or "").strip().upper()


def _valid_code(c: str) -> bool:
    return len(c) == 5 and c.isascii() and c.isalnum()


def _modifier_ids(col: pa.ChunkedArray | None, n: int, index: dict[str, int]) -> np.ndarray:
    if col is None:
        return np.zeros(n, np.uint8)
    idx, values = _text_dict(col)
    ids = []
    for v in values:
        m = _normalise_code(v)
        if not m:
            ids.append(0)
        elif m in index:
            ids.append(index[m])
        elif len(m) == 2 and m.isascii() and m.isalnum():
            ids.append(MOD_OTHER)
        else:
            ids.append(MOD_INVALID)
    return _lookup(idx, ids, 0, np.uint8)


def _member_ids(col: pa.ChunkedArray, n: int, numbers: bool = False
                ) -> tuple[pa.ChunkedArray, np.ndarray, np.ndarray | None]:
    """Normalised member IDs (1-8 digits, zero-filled), state (0 ok, 1 missing, 2 invalid)
    and, when ``numbers``, each valid ID as an integer (int32, -1 where not valid; the
    accumulation's member key: 1-8 digits fit, and zero-filling keeps them one to one).

    Worked chunk by chunk on each chunk's dictionary: the lines keep their dictionary indices
    and get the normalised dictionary; an invalid ID is kept as given, a blank one is null.
    """
    if _family(col.type) != _TEXT:
        col = pc.cast(col, pa.string())
    if not pa.types.is_dictionary(col.type):
        # one chunk: Arrow gives every chunk of an encoded chunked array the whole dictionary,
        # which the loop below would then read once per chunk
        col = pa.chunked_array([pc.dictionary_encode(col.combine_chunks())])
    state = np.empty(n, np.uint8)
    number = np.empty(n if numbers else 0, np.int32)
    no_numbers = np.zeros(1, np.int32)
    chunks, start = [], 0
    for ch in _chunks(col):
        norm, per_value, per_number = _member_values(ch.dictionary.cast(pa.string()))
        blank = per_value[:-1] == 1
        if not numbers:
            per_number = no_numbers
        idx = ch.indices
        indices = _values(idx, idx.type.to_pandas_dtype())
        cnb.value_lookups(state, number, start, indices, *_bits(idx), per_value, per_number)
        if blank.any() or ch.null_count or idx.type != pa.int32():  # rare: blank IDs become null
            codes = np.empty(len(ch), np.int32)
            cnb.gather_codes(codes, 0, indices, *_bits(idx), np.arange(len(norm), dtype=np.int32), 0)
            idx = pa.array(np.maximum(codes, 0), mask=state[start:start + len(ch)] == 1)
        start += len(ch)
        chunks.append(pa.DictionaryArray.from_arrays(idx, norm))
    ids = pa.chunked_array(chunks, pa.dictionary(pa.int32(), pa.string())) if chunks else \
        pa.chunked_array([], pa.dictionary(pa.int32(), pa.string()))
    return ids, state, number if numbers else None


def _member_values(raw: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """A dictionary of member IDs: (normalised values; state and number per value, each
    with a last entry for a null line: state 1, number -1)."""
    offsets, data = _text_buffers(raw)
    if (data[offsets[0]:offsets[-1]] < 128).all():  # ASCII: one compiled pass
        state, number, out_offsets, text = cnb.member_values(offsets, data, *_bits(raw))
        norm = pa.Array.from_buffers(pa.string(), len(raw), [None, pa.py_buffer(out_offsets),
                                                            pa.py_buffer(text)])
        return norm, np.append(state, 1).astype(np.uint8), np.append(number, -1).astype(np.int32)
    # other text: Arrow's Unicode trimming
    trimmed = pc.utf8_trim_whitespace(raw)
    blank = np.asarray(pc.fill_null(pc.equal(trimmed, ""), True).to_numpy(zero_copy_only=False))
    ok = np.asarray(pc.fill_null(pc.match_substring_regex(trimmed, r"^\d{1,8}$"), False)
                    .to_numpy(zero_copy_only=False))
    norm = pc.if_else(pa.array(ok), pc.utf8_lpad(trimmed, 8, "0"), raw)
    state = np.append(np.select([blank, ~ok], [1, 2], 0), 1).astype(np.uint8)
    value = pc.cast(pc.if_else(pa.array(ok), trimmed, None), pa.int32())
    number = np.append(value.fill_null(-1).to_numpy(zero_copy_only=False), -1).astype(np.int32)
    return norm, state, number


def _bools(col: pa.ChunkedArray | None, n: int) -> np.ndarray:
    if col is None:
        return np.zeros(n, bool)
    fam = _family(col.type)
    s = _series(col)
    if fam == _BOOL:
        return s.fill_null(False).to_numpy()
    if fam == _INT:
        return (s.fill_null(0) != 0).to_numpy()
    t = s.cast(pl.String).str.strip_chars().str.to_lowercase()
    return t.is_in(["true", "t", "yes", "y", "1"]).fill_null(False).to_numpy()


def _ndc_ok(col: pa.ChunkedArray | None, n: int) -> np.ndarray:
    if col is None:
        return np.zeros(n, bool)
    idx, values = _text_dict(col)
    ok = []
    for v in values:
        d = (v or "").strip().replace("-", "").replace(" ", "")
        ok.append(len(d) == 11 and d.isdigit())
    return _lookup(idx, ok, False, bool)


def _localities(table: pa.Table, n: int, dos: np.ndarray, arrays, contract) -> np.ndarray:
    """Locality index per line (§2): -1 where a given location cannot be resolved."""
    loc_index = arrays.locality_index
    result = np.full(n, loc_index[contract.default_locality], np.int32) \
        if contract.default_locality in loc_index else np.full(n, -1, np.int32)
    decided = np.zeros(n, bool)

    col = _present(table, "locality")
    if col is not None:
        idx, values = _text_dict(col)
        per = []
        for v in values:
            t = (v or "").strip()
            per.append(-3 if not t else loc_index.get(t, -1))
        li = _lookup(idx, per, -3, np.int32)
        is_given = li != -3
        result[is_given] = li[is_given]
        decided |= is_given

    locco_v = arrays.locco_vintage_of(dos)
    st, co = _present(table, "service_state"), _present(table, "service_county")
    if st is not None and co is not None:
        si, svals = _text_dict(st)
        ci, cvals = _text_dict(co)
        sblank = _lookup(si, [_blank(v) for v in svals], True, bool)
        cblank = _lookup(ci, [_blank(v) for v in cvals], True, bool)
        use = ~decided & ~sblank & ~cblank
        if use.any():
            def county(k):
                s_i, c_i = divmod(k // 64, len(cvals) + 1)
                return arrays.locality_for_county(svals[s_i], cvals[c_i], k % 64)
            key = (si[use].astype(np.int64) * (len(cvals) + 1) + ci[use]) * 64 + locco_v[use]
            result[use] = _resolve_distinct(key, county, loc_index)
            decided |= use

    zp = _present(table, "service_zip")
    if zp is not None:
        if _family(zp.type) == _INT:
            zp = pc.cast(zp, pa.string())
        zi, zvals = _text_dict(zp)
        zblank = _lookup(zi, [_blank(v) for v in zvals], True, bool)
        use = ~decided & ~zblank
        if use.any():
            key = zi[use].astype(np.int64) * 64 + locco_v[use]
            result[use] = _resolve_distinct(
                key, lambda k: arrays.locality_for_zip(zvals[k // 64], k % 64), loc_index)
    return result


def _resolve_distinct(key: np.ndarray, resolve, loc_index: dict) -> np.ndarray:
    """Locality index per line, calling ``resolve`` once per distinct key (-1: unresolved).

    Keys are small non-negative integers (value codes x vintage): a dense table finds the
    distinct ones in one pass, without sorting the lines.
    """
    def index(k):
        loc = resolve(k)
        return loc_index.get(loc, -1) if loc else -1
    size = int(key.max()) + 1
    if size <= 4 * len(key) + 4096:
        seen = np.zeros(size, bool)
        seen[key] = True
        table = np.full(size, -1, np.int32)
        distinct = np.flatnonzero(seen)
        table[distinct] = [index(k) for k in distinct.tolist()]
        return table[key]
    distinct, inverse = np.unique(key, return_inverse=True)
    return np.asarray([index(k) for k in distinct.tolist()], np.int32)[inverse]


def _plan_codes(col, n: int, plans) -> tuple[np.ndarray, np.ndarray]:
    """Plan number per line (-1 none) and state: 0 fine or blank, 2 a plan not in ``plans``."""
    if col is None:
        return np.full(n, -1, np.int16), np.zeros(n, np.uint8)
    idx, values = _text_dict(col)
    ids = {p: i for i, p in enumerate(plans.ids)} if plans is not None else {}
    named = [None if _blank(v) or plans is None else plans.lookup(v) for v in values]
    per_value = [(-1, 0) if _blank(v) else (ids[p], 0) if p is not None else (-1, 2)
                 for v, p in zip(values, named)]
    plan = _lookup(idx, [p for p, _ in per_value], -1, np.int16)
    return plan, _lookup(idx, [s for _, s in per_value], 0, np.uint8)


def _provider_types(col, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``rendering_provider_type`` per line (blank = physician) and state: 0 ok, 2 unknown."""
    if col is None:
        return np.zeros(n, np.int8), np.zeros(n, np.uint8)
    idx, values = _text_dict(col)
    keys = [None if _blank(v) else v.strip().lower() for v in values]
    kind = [0 if k is None else PROVIDER_ALIASES.get(k, 0) for k in keys]
    bad = [k is not None and k not in PROVIDER_ALIASES for k in keys]
    return (_lookup(idx, kind, 0, np.int8),
            _lookup(idx, [2 if b else 0 for b in bad], 0, np.uint8))


def encode_claims(table: pa.Table, arrays, contract, prior=None, plans=None,
                  accumulators=None, accumulate: bool = True) -> EncodedLines:
    """Validate (§4) and encode every line; nothing is dropped, bad lines carry a reason.

    ``prior`` (a ``replacements.Prior``) holds the claims replacement and void claims refer to;
    ``plans`` the benefit plans lines name in ``plan_id`` (default: the contract's), and
    ``accumulators`` their members' starting balances (docs/cost_share.md). ``accumulate``
    False leaves out the accumulation order: the streamed batch accumulates over the whole
    input apart (pricer.batch).

    Claim grouping, localities, NPIs and modifiers depend on no other check: they are worked
    out on a second thread while this one validates the rest (the compiled passes and Arrow
    run without Python's lock); rejections are still applied in rule-book order.
    """
    background = ThreadPoolExecutor(1, thread_name_prefix="pricer-encode")
    try:
        return _encode_claims(table, arrays, contract, prior, plans, accumulators, accumulate,
                              background)
    finally:
        background.shutdown(wait=True, cancel_futures=True)


def _claim_structure(col: pa.ChunkedArray):
    """Claim number per line, count, whether ranked (claim_groups); the claim order."""
    claim, n_claims, claims_ranked = claim_groups(col, ranked=True)
    return claim, n_claims, claims_ranked, claim_order(claim)


def _encode_claims(table, arrays, contract, prior, plans, accumulators, accumulate,
                   background) -> EncodedLines:
    if plans is None:
        plans = contract.plans
    n = table.num_rows
    reason = np.zeros(n, np.uint8)
    flags = np.zeros(n, np.uint32)

    def reject(mask, name):
        cnb.reject_where(reason, mask, R[name])

    claims_later = background.submit(_claim_structure, table.column("claim_id"))
    # 1. missing required values; the other checks below add theirs in rule-book order.
    hc_idx, hc_vals = _text_dict(table.column("hcpcs"))
    norm_codes = [_normalise_code(v) for v in hc_vals]
    units, units_state = units_values(table.column("units"), n)
    billed, billed_state = money_cents(table.column("billed_charge"), n)
    dos, dos_state = date_days(table.column("date_of_service"), n)
    localities_later = background.submit(_localities, table, n, dos, arrays, contract)
    npi_later = background.submit(_npi_text, _present(table, "rendering_npi"), n)
    modifiers_later = background.submit(lambda: np.stack(
        [_modifier_ids(_present(table, c), n, arrays.modifier_index) for c in MODIFIER_COLUMNS],
        axis=1))
    rec, rec_state = date_days(_present(table, "received_date"), n)
    pos, pos_state = place_of_service(table.column("place_of_service"), n)
    lob_idx, lob_vals = _text_dict(table.column("line_of_business"))
    lob_ids = [LOBS.index(v.strip().lower()) if not _blank(v) and v.strip().lower() in LOBS
               else (-2 if _blank(v) else -1) for v in lob_vals]
    lob = _lookup(lob_idx, lob_ids, -2, np.int16)
    # member numbers only for the accumulation of plan cost shares
    member_id, member_state, member_number = _member_ids(table.column("member_id"), n,
                                                         numbers=plans is not None)

    for name in ("claim_id", "line_number"):
        reject(_blank_text(table.column(name), n), f"{name}_missing")
    reject(member_state == 1, "member_id_missing")
    reject(lob == -2, "line_of_business_missing")
    reject(dos_state == 1, "date_of_service_missing")
    hc_blank = _lookup(hc_idx, [not c for c in norm_codes], True, bool)
    reject(hc_blank, "hcpcs_missing")
    reject(units_state == 1, "units_missing")
    reject(billed_state == 1, "billed_charge_missing")
    reject(pos_state == 1, "place_of_service_missing")
    # 2.
    reject(_lookup(hc_idx, [not _valid_code(c) for c in norm_codes], True, bool), "hcpcs_invalid")
    # 3.
    reject(units_state == 2, "units_invalid")
    reject(units_state == 4, "units_below_one")
    reject(units_state == 5, "units_not_whole")
    # 4.
    reject(billed_state == 2, "billed_charge_invalid")
    reject((billed_state != 2) & (billed < 0), "billed_charge_negative")
    # 5.
    reject(dos_state == 2, "date_of_service_invalid")
    reject(rec_state == 2, "received_date_invalid")
    reject((rec_state == 0) & (dos_state == 0) & (dos > rec), "dos_after_received")
    # 6.
    reject(pos_state == 2, "place_of_service_invalid")
    # 7.
    reject(lob == -1, "line_of_business_unknown")
    # 8.
    reject(member_state == 2, "member_id_invalid")
    # 9.
    reject(billed_state == 3, "billed_charge_fraction_of_cent")
    shares, given = {}, {}
    for name in ("deductible", "copay", "coinsurance", "other_payer_paid"):
        cents, state = money_cents(_present(table, name), n)
        reject(state == 2, f"{name}_invalid")
        reject((state != 1) & (cents < 0), f"{name}_negative")
        reject(state == 3, f"{name}_fraction_of_cent")
        shares[name] = np.where(state == 0, np.maximum(cents, 0), 0)
        given[name] = state == 0
    # 10.
    locality = localities_later.result()
    reject(locality < 0, "locality_invalid")
    # 12. benefit plans (docs/cost_share.md)
    plan, plan_state = _plan_codes(_present(table, "plan_id"), n, plans)
    reject(plan_state == 2, "plan_id_unknown")
    subscriber, subscriber_state, subscriber_number = None, np.zeros(n, np.uint8), None
    if _present(table, "subscriber_id") is not None:
        subscriber, subscriber_state, subscriber_number = _member_ids(
            table.column("subscriber_id"), n, numbers=plans is not None)
    reject(subscriber_state == 2, "subscriber_id_invalid")
    provider, provider_state = _provider_types(_present(table, "rendering_provider_type"), n)
    reject(provider_state == 2, "rendering_provider_type_invalid")
    # 11. (anesthesia minutes) is the kernel's: it knows which lines are anesthesia lines.

    code_ids = [arrays.code_index.get(c, arrays.unknown_code) for c in norm_codes]
    code = _lookup(hc_idx, code_ids, arrays.unknown_code, np.int32)
    unlisted = _lookup(hc_idx, [len(c) == 5 and c.isdigit() and c.endswith("99") for c in norm_codes],
                       False, bool)
    modifiers = np.ascontiguousarray(modifiers_later.result())
    # the modifier_invalid data flag; §11 review flags and the denials a line earns on its own
    # (after every rejection)
    cnb.modifier_flags(modifiers, flags, np.array([MOD_INVALID, MOD["22"], MOD["59"]], np.uint8),
                       np.array([F["modifier_invalid"], F["modifier_22"], F["modifier_59"]],
                                np.uint32))
    np.bitwise_or(flags, _lookup(hc_idx, [F["high_level_em"] if c in HIGH_LEVEL_EM else 0
                                          for c in norm_codes], 0, np.uint32), out=flags)
    claim, n_claims, claims_ranked, (order, starts) = claims_later.result()
    claim_billed = cnb.group_sums(claim, billed, (billed_state == 0) & (billed >= 0), n_claims)
    high = (claim >= 0) & (claim_billed[np.maximum(claim, 0)] > HIGH_DOLLAR_CLAIM_CENTS)
    np.bitwise_or(flags, np.where(high, F["high_dollar_claim"], 0).astype(np.uint32), out=flags)
    # §11 replacements and voids: a claim that cannot be linked to its original is rejected;
    # a void request's lines are not priced (after every §4 rejection, before the denials)
    claim_reason, links = link_claims(table, claim, prior)
    if claim_reason is not None:
        np.copyto(reason, claim_reason, where=(reason == 0) & (claim_reason != 0))
    npi_offsets, npi_data, npi_valid = npi_later.result()
    filing_days = np.array([contract.terms(x).timely_filing_days for x in LOBS], np.int64)
    cnb.reject_late(reason, R["timely_filing"], dos, dos_state, rec, rec_state, lob, filing_days)
    form = _present(table, "claim_form")
    if form is not None:
        fi, fvals = _text_dict(form)
        institutional = _lookup(fi, [(v or "").strip().lower() in INSTITUTIONAL_FORMS
                                     for v in fvals], False, bool)
        em = _lookup(hc_idx, [c in EM_FACILITY_CODES for c in norm_codes], False, bool)
        member_lob = (lob == LOBS.index("commercial")) | (lob == LOBS.index("other"))
        reject(institutional & em & member_lob, "em_facility_charge")

    facility_table = np.zeros(100, bool)
    facility_table[list(FACILITY_POS)] = True
    enc = _typed(EncodedLines(
        n=n, reason=reason, flags=flags, lob=np.where(lob < 0, 0, lob).astype(np.int8),
        dos=np.where(dos_state == 0, dos, 0).astype(np.int32), code=code, unlisted=unlisted,
        modifiers=np.ascontiguousarray(modifiers), units=units,
        billed=billed, billed_ok=billed_state == 0,
        deductible=shares["deductible"], copay=shares["copay"], coinsurance=shares["coinsurance"],
        qmb=_bools(_present(table, "qmb"), n), facility=facility_table[pos],
        locality=locality, ndc_ok=_ndc_ok(_present(table, "ndc"), n), member_id=member_id,
        claim_order=order, claim_starts=starts, npi_offsets=npi_offsets, npi_data=npi_data,
        npi_valid=npi_valid, links=links,
        claim=claim, claims_ranked=claims_ranked, plan=plan, subscriber_id=subscriber, subscriber_given=subscriber_state == 0,
        member_number=member_number, subscriber_number=subscriber_number,
        provider=provider,
        category=_lookup(hc_idx, [copay_category(c) for c in norm_codes], CAT_NONE, np.int8),
        shares_given=given["deductible"] | given["copay"] | given["coinsurance"],
        other_payer_paid=shares["other_payer_paid"], other_payer_given=given["other_payer_paid"],
        plans=plans,
    ))
    if plans is not None and accumulate:
        from pricer.benefits import prepare_in_background
        enc.benefits = prepare_in_background(table, enc, plans, accumulators)
    elif accumulators is not None:
        raise InputError("accumulators", ["starting balances need benefit plans (plans=...)"])
    return enc


_DTYPES = {
    "reason": np.uint8, "flags": np.uint32, "lob": np.int8, "dos": np.int32, "code": np.int32,
    "unlisted": np.bool_, "modifiers": np.uint8, "units": np.int64, "billed": np.int64,
    "billed_ok": np.bool_, "deductible": np.int64, "copay": np.int64, "coinsurance": np.int64,
    "qmb": np.bool_, "facility": np.bool_, "locality": np.int32, "ndc_ok": np.bool_,
}


def _typed(enc: EncodedLines) -> EncodedLines:
    """Every array in the dtype the kernel is compiled for (an empty input included)."""
    for name, dtype in _DTYPES.items():
        value = getattr(enc, name)
        if name == "modifiers":
            value = np.asarray(value, dtype).reshape(enc.n, 4)
        setattr(enc, name, np.ascontiguousarray(value, dtype=dtype))
    return enc


def days_of(d: dt.date) -> int:
    """Days since 1970-01-01, the kernel's date unit."""
    return (d - EPOCH).days
