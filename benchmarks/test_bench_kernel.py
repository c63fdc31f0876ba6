"""(a) The numba kernel alone, on lines already read and encoded (rule book §5-§10, §12).

Target on the 2-core reference machine: >= 50 M lines/s.
"""
from __future__ import annotations

import gc
import os

import numpy as np
import pytest

from conftest import KERNEL_ROUNDS, lines_per_second


@pytest.fixture(scope="module")
def encoded(claims_parquet, schedules, contract):
    from pricer.claims import check_columns, encode_claims, read_claims
    from pricer.engine import run_kernel
    from pricer.tables import reference_arrays
    table, source, is_text = read_claims(str(claims_parquet))
    check_columns(table, source, is_text)
    arrays = reference_arrays(schedules, contract)
    enc = encode_claims(table, arrays, contract)
    del table
    gc.collect()
    run_kernel(enc, arrays)  # numba: load the cached compilation (or compile)
    return enc, arrays


def test_kernel_lines_per_second(benchmark, encoded):
    from pricer.engine import run_kernel
    enc, arrays = encoded
    out = benchmark.pedantic(run_kernel, args=(enc, arrays), rounds=KERNEL_ROUNDS,
                             warmup_rounds=1, iterations=1)
    assert len(out.allowed) == enc.n
    assert (out.allowed[:, 0] >= 0).all()
    benchmark.extra_info.update(lines_per_second(benchmark, enc.n))
    benchmark.extra_info["threads"] = int(os.environ.get("NUMBA_NUM_THREADS", 0)) or \
        __import__("numba").get_num_threads()
    benchmark.extra_info["priced_share"] = float(np.mean(out.status == 0))


def test_kernel_preallocated_lines_per_second(benchmark, encoded):
    """The pricing alone: output arrays allocated once and reused across rounds, as a batch
    pricing block after block would (first-touch page faults of fresh memory excluded)."""
    from pricer.engine import run_kernel
    from pricer.pricing_nb import allocate_out
    enc, arrays = encoded
    out = allocate_out(enc.n)
    run_kernel(enc, arrays, out)
    benchmark.pedantic(run_kernel, args=(enc, arrays, out), rounds=KERNEL_ROUNDS,
                       warmup_rounds=1, iterations=1)
    assert (out.allowed[:, 0] >= 0).all()
    benchmark.extra_info.update(lines_per_second(benchmark, enc.n))
