"""(d) What-if pricing (issue 5): a sweep of 20 conversion factors against separate runs.

``pricer.sweep`` reads and encodes the lines once and runs only the kernels per value;
the alternative an analyst would otherwise write is ``pricer.price`` once per value. Both
run in this process on the same Parquet file. Twenty separate 10 M-line runs take many
minutes, so ``PRICER_BENCH_SEPARATE_RUNS`` of them (default 2, the first and last CF) are
timed and their mean times 20 is the separate-runs figure; their totals are asserted equal
to the sweep's rows for the same values.
"""
from __future__ import annotations

import gc
import os
import time
from decimal import Decimal

import pytest

from conftest import lines_per_second

VALUES = [Decimal("50.00") + Decimal("0.75") * k for k in range(20)]  # 50.00 .. 64.25
SEPARATE = int(os.environ.get("PRICER_BENCH_SEPARATE_RUNS", 2))


def _rss_gib() -> float:
    from peak import peak_rss_bytes
    return peak_rss_bytes() / 2**30


@pytest.fixture(scope="module")
def warm(claims_parquet, schedules, contract):
    import pricer
    import polars as pl
    # numba loads its cached compilation; the dense tables of every scenario are built once
    pricer.sweep(pl.read_parquet(claims_parquet, n_rows=2000), contract,
                 "lob.commercial.conversion_factor", VALUES, schedules=schedules)
    return True


@pytest.fixture(scope="module")
def separate_runs(claims_parquet, schedules, contract, warm):
    """``pricer.price`` per value for a few values: seconds and totals of each."""
    import pricer
    runs = {}
    for value in (VALUES[0], VALUES[-1])[:max(SEPARATE, 1)]:
        c = contract.replace_lob("commercial", conversion_factor=value)
        gc.collect()
        t0 = time.perf_counter()
        lines = pricer.price(str(claims_parquet), c, schedules).lines
        allowed, paid = lines["allowed_amount"].sum(), lines["paid_amount"].sum()
        runs[value] = (time.perf_counter() - t0, allowed, paid)
        del lines
    return runs


def test_sweep_20_values(benchmark, claims_parquet, schedules, contract, separate_runs,
                         bench_lines):
    import pricer
    gc.collect()
    result = benchmark.pedantic(
        pricer.sweep, args=(str(claims_parquet), contract, "lob.commercial.conversion_factor",
                            VALUES), kwargs={"schedules": schedules}, rounds=1, iterations=1)
    for value, (_, allowed, paid) in separate_runs.items():
        row = result.filter(result["value"] == value).row(0, named=True)
        assert (row["allowed"], row["paid"]) == (allowed, paid), value
    info = lines_per_second(benchmark, bench_lines)
    if info:
        separate = sum(s for s, _, _ in separate_runs.values()) / len(separate_runs)
        sweep = info["seconds_min"]
        info.update({
            "values": len(VALUES),
            "separate_run_seconds": separate,
            "separate_runs_seconds_estimate": separate * len(VALUES),
            "ratio_separate_over_sweep": separate * len(VALUES) / sweep,
            "scenario_lines_per_s": bench_lines * len(VALUES) / sweep,
            "peak_rss_gib_process": _rss_gib(),
        })
        benchmark.extra_info.update(info)
