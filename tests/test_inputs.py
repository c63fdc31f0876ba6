"""Every claims source the API accepts prices the same lines the same way."""
from __future__ import annotations

import polars as pl
import pytest

import pricer
from pricer.synth import synth_claims


@pytest.fixture(scope="module")
def claims():
    return synth_claims(1_500, seed=21, invalid_share=0.02)


@pytest.fixture(scope="module")
def expected(claims, contract, schedules):
    return pricer.price(claims, contract, schedules).lines


def _same(result, expected):
    lines = result.lines
    assert lines.height == expected.height
    for col in ("line_status", "pricing_method", "allowed_amount", "paid_amount", "reason"):
        assert lines[col].cast(pl.String).to_list() == expected[col].cast(pl.String).to_list(), col


@pytest.mark.parametrize("kind", ["pandas", "arrow", "lazy", "parquet", "csv", "priced_again"])
def test_sources_agree(kind, claims, expected, contract, schedules, tmp_path):
    if kind == "pandas":
        source = claims.to_pandas()
    elif kind == "arrow":
        source = claims.to_arrow()
    elif kind == "lazy":
        source = claims.lazy()
    elif kind == "parquet":
        source = tmp_path / "c.parquet"
        claims.write_parquet(source)
    elif kind == "csv":
        source = tmp_path / "c.csv"
        claims.write_csv(source)
    else:  # a priced file fed back in: its output columns are recomputed, not duplicated
        source = expected
    result = pricer.price(source, contract, schedules)
    _same(result, expected)
    if kind == "priced_again":
        assert result.lines.columns == expected.columns


def test_empty_input(claims, contract, schedules):
    result = pricer.price(claims.head(0), contract, schedules)
    assert result.lines.height == 0 and result.adjustments.height == 0
    assert result.summary().height == 0


def test_not_a_claims_source(contract, schedules):
    with pytest.raises(TypeError, match="claims must be"):
        pricer.price(42, contract, schedules)


def test_lines_take_over_the_arrow_table(claims, contract, schedules, tmp_path):
    """Building ``lines`` hands the Arrow columns to the frame (one copy of 10 M lines, not
    two); what else reads the result sees the same lines, whichever is asked for first."""
    source = tmp_path / "c.parquet"  # read from Parquet: columns in chunks, IDs as dictionaries
    claims.write_parquet(source, row_group_size=400)
    first = pricer.price(source, contract, schedules)
    empty_first = first.reversals  # before the lines exist
    lines = first.lines
    assert first._table is None
    assert lines.schema["member_id"] == pl.String
    assert empty_first.height == 0
    assert empty_first.schema == pl.Schema({**lines.schema, "reversed_by_claim_id": pl.String})
    second = pricer.price(source, contract, schedules)
    assert second.lines.n_chunks() > 1  # the table's chunks are kept, not copied together
    assert second.reversals.schema == empty_first.schema
    assert second.reversal_adjustments.columns[:2] == ["claim_id", "line_number"]
    assert second.table.num_rows == lines.height == claims.height  # the frame's Arrow view
    assert repr(second) == f"PricingResult({claims.height} lines)"
    assert second.lines.equals(lines)
    _same(second, pricer.price(claims, contract, schedules).lines)


def test_all_null_parquet_columns_are_not_read(claims, contract, schedules, tmp_path):
    """Columns whose Parquet statistics say they are all null in every row group (optional
    columns an extract leaves empty) come back as nulls of their type, in their place,
    without reading them; the lines price as when they are read."""
    import pyarrow.parquet as pq

    from pricer.claims import all_null_columns, read_claims
    frame = claims.with_columns(
        pl.lit(None, pl.Decimal(18, 2)).alias("copay"), pl.lit(None, pl.String).alias("ndc"),
        pl.lit(None, pl.Date).alias("received_date"))
    path = tmp_path / "c.parquet"
    frame.write_parquet(path, row_group_size=500)
    schema = pq.read_schema(path)
    empty = all_null_columns(pq.read_metadata(path), schema, schema.names)
    assert {"copay", "ndc", "received_date", "other_payer_paid"} <= empty
    assert "deductible" not in empty and "claim_id" not in empty
    table, _, _ = read_claims(path)
    assert table.schema.names == schema.names
    assert pl.from_arrow(table).equals(pl.read_parquet(path))
    _same(pricer.price(path, contract, schedules), pricer.price(frame, contract, schedules).lines)


def test_output_columns_on_two_threads_equal_one(claims, contract, schedules, monkeypatch):
    """From ``THREADED_FROM`` lines the output columns are built on two threads: every
    column (nulls, decimals, names, flags) equals the one-thread build."""
    from pricer import result
    monkeypatch.setattr(result, "THREADED_FROM", 0)
    threaded = pricer.price(claims, contract, schedules).lines
    monkeypatch.setattr(result, "THREADED_FROM", 10**12)
    one = pricer.price(claims, contract, schedules).lines
    assert threaded.equals(one, null_equal=True)
    assert one["total_rvu"].null_count() > 0 and one["total_rvu"].null_count() < one.height
    assert one["flags"].list.len().sum() > 0


@pytest.mark.parametrize("n", [0, 1, 7, 8, 13, 1000])
def test_negative_null_is_the_mask_of_negative_values(n):
    """The compiled validity pass of kernel outputs (-1 = null) packs the same bits as the
    mask ``values >= 0``, for lengths on and off a byte boundary."""
    import numpy as np

    from pricer.result import decimal_array
    rng = np.random.default_rng(n)
    words = np.zeros((n, 2), np.int64)
    words[:, 0] = np.where(rng.random(n) < 0.3, -1, rng.integers(0, 10**6, n))
    words[:, 1] = words[:, 0] >> 63
    got = decimal_array(words, 2, negative_null=True)
    want = decimal_array(words, 2, words[:, 0] >= 0)
    assert got.equals(want) and got.null_count == want.null_count


def _in_fresh_interpreter(code: str, variable: str, value: str | None) -> list[str]:
    """What ``code`` prints, run in a new interpreter with environment ``variable`` set to
    ``value`` (or unset): the allocator settings below are per process."""
    import os
    import subprocess
    import sys
    environ = {k: v for k, v in os.environ.items() if k != variable}
    if value is not None:
        environ[variable] = value
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                          text=True, check=True).stdout.split()


@pytest.mark.parametrize("env, advice", [(None, False), ("1", True), ("0", False)])
def test_numpy_hugepage_advice_is_off_unless_the_user_chose(env, advice):
    """Pricing turns off numpy's huge-page advice (docs/decisions.md, "Huge pages") but
    leaves numpy's own switch, ``NUMPY_MADVISE_HUGEPAGE``, to the user."""
    code = ("import pricer.engine\n"
            "try:\n    from numpy._core.multiarray import _set_madvise_hugepage\n"
            "except ImportError:\n    from numpy.core.multiarray import _set_madvise_hugepage\n"
            "print(_set_madvise_hugepage(True), pricer.engine.NUMPY_HUGEPAGE_ADVICE_OFF)\n")
    out = _in_fresh_interpreter(code, "NUMPY_MADVISE_HUGEPAGE", env)
    assert out == [str(advice), str(not advice)]


@pytest.mark.parametrize("env, backend", [(None, "system"), ("mimalloc", "mimalloc")])
def test_arrow_pool_is_the_system_allocator_unless_the_user_chose(env, backend):
    """Pricing makes the system allocator pyarrow's default pool (docs/decisions.md, "Huge
    pages") but leaves pyarrow's own switch, ``ARROW_DEFAULT_MEMORY_POOL``, to the user."""
    code = ("import pricer.engine, pyarrow as pa\n"
            "print(pa.default_memory_pool().backend_name, pricer.engine.ARROW_POOL)\n")
    assert _in_fresh_interpreter(code, "ARROW_DEFAULT_MEMORY_POOL", env) == [backend, backend]
