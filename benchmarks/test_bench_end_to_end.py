"""(b) and (c): every registry implementation from the claims Parquet to its output Parquet.

Each run is a fresh process (``e2e_child.py``) so that its peak RSS is its own: it warms up on
a few lines, then one timed run reads the Parquet, prices, and writes the output Parquet
(pricer: every input and output column of the priced lines). pytest-benchmark's own timing is
the child's wall time (interpreter start, imports, warm-up included); ``extra_info`` holds the
timed run alone (``seconds``, ``lines_per_s``), the run without the write
(``compute_seconds``), the peak RSS and, for pricer, the time per engine step.

Targets for pricer on the 2-core reference machine with 10 M lines: >= 5 M lines/s end to end,
peak RSS <= 4 GB, faster than the polars-only implementation.

The implementations other than pricer are then checked against pricer's output of the same
run: identical methods and allowed amounts on the lines both price. ``polars+inputs`` and
``duckdb+inputs`` are the same implementations writing every input column before their
result columns, as pricer writes a priced line (like for like on the write).
"""
from __future__ import annotations

import polars as pl
import pytest

from conftest import E2E_ROUNDS
from implementations import IMPLEMENTATIONS, WITH_INPUTS, compare, locality_given


@pytest.mark.parametrize("name", [*IMPLEMENTATIONS, *WITH_INPUTS])
def test_end_to_end(benchmark, end_to_end, name):
    benchmark.pedantic(end_to_end.run, args=(name,), rounds=E2E_ROUNDS, iterations=1)
    best = end_to_end.best(name)
    benchmark.extra_info.update(best)
    benchmark.extra_info["peak_rss_gib"] = best["peak_rss_bytes"] / 2**30
    benchmark.extra_info["runs_seconds"] = [r["seconds"] for r in end_to_end.runs[name]]
    if name == "pricer":
        return
    # (c) same amounts as pricer on the lines both price
    end_to_end.best("pricer")
    results = {n: pl.read_parquet(end_to_end.registry_output(n)) for n in ("pricer", name)}
    compared, mismatches, uncovered = compare(results, locality_given(end_to_end.claims))
    benchmark.extra_info["parity_compared_lines"] = compared[name]
    benchmark.extra_info["parity_mismatches"] = mismatches.height
    benchmark.extra_info["parity_uncovered"] = uncovered.height
    with pl.Config(tbl_cols=-1, tbl_rows=30, tbl_width_chars=200):
        assert mismatches.height == 0, f"{name} differs from pricer:\n{mismatches.head(30)}"
        assert uncovered.height == 0, f"{name} leaves common lines unpriced:\n{uncovered.head(30)}"
