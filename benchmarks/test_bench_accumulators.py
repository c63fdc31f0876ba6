"""(e) Member cost share (issue 6): the accumulator kernel, and pricing with plans end to end.

The synthetic claims get 500 k members (each claim's lines stay one member's; 1 M lines per
100 k members, so 10 M lines have 500 k) in families of about two, three benefit plans with
deductibles, family limits, copays and out-of-pocket maximums, and no cost shares of their
own (the plans price every line). Two files are written from the session's claims: one with
``plan_id`` and ``subscriber_id``, and the same lines without them (pricing only).

- kernel: ``accumulate_nb`` alone on lines already priced (best of ``PRICER_BENCH_ROUNDS``);
  issue 6's target is >= 20 M lines/s;
- end to end: ``pricer.price(path, plans=...)`` against ``pricer.price(path)`` on the lines
  without plans, in this process (best of 2 each); the target: with plans at least 80 % of
  the pricing-only throughput.
"""
from __future__ import annotations

import gc
import time

import polars as pl
import pytest

from conftest import KERNEL_ROUNDS, lines_per_second

PLANS = {"plan": {
    "BRONZE": {"deductible": 3000, "family_deductible": 6000, "coinsurance": 0.3,
               "out_of_pocket_max": 7500, "family_out_of_pocket_max": 15000,
               "copays": {"emergency_room": 250}},
    "SILVER": {"deductible": 1500, "family_deductible": 3000, "coinsurance": 0.2,
               "out_of_pocket_max": 5000, "family_out_of_pocket_max": 10000,
               "preventive_covered_in_full": True,
               "copays": {"office_visit": 25, "specialist_office_visit": 50, "therapy": 30}},
    "GOLD": {"deductible": 500, "coinsurance": 0.1, "out_of_pocket_max": 3000,
             "plan_year_start": "07-01", "preventive_covered_in_full": True,
             "copays": {"office_visit": 15, "emergency_room": 100}},
}}


@pytest.fixture(scope="module")
def plan_files(claims_parquet, bench_dir, bench_lines):
    with_plans = bench_dir / f"claims_{bench_lines}_plans.parquet"
    without = bench_dir / f"claims_{bench_lines}_members.parquet"
    if not (with_plans.exists() and without.exists()):
        members = max(bench_lines // 20, 1)  # 500 k for 10 M lines
        frame = pl.scan_parquet(claims_parquet).with_columns(
            (pl.col("claim_id").rank("dense") % members).alias("_m"),
            *[pl.lit(None, pl.String).alias(c) for c in ("deductible", "copay", "coinsurance")],
        ).with_columns(pl.col("_m").cast(pl.String).alias("member_id"))
        frame.drop("_m").sink_parquet(without)
        frame.with_columns(
            pl.col("_m").map_batches(lambda m: (m // 2) * 2).cast(pl.String).alias("subscriber_id"),
            pl.when(pl.col("_m") % 3 == 0).then(pl.lit("BRONZE"))
            .when(pl.col("_m") % 3 == 1).then(pl.lit("SILVER")).otherwise(pl.lit("GOLD"))
            .alias("plan_id"),
        ).with_columns(  # families share one plan: the subscriber's
            pl.when(pl.col("subscriber_id").cast(pl.Int64) % 3 == 0).then(pl.lit("BRONZE"))
            .when(pl.col("subscriber_id").cast(pl.Int64) % 3 == 1).then(pl.lit("SILVER"))
            .otherwise(pl.lit("GOLD")).alias("plan_id"),
        ).drop("_m").sink_parquet(with_plans)
    return with_plans, without


@pytest.fixture(scope="module")
def plans():
    from pricer.plans import Plans
    return Plans.from_dict(PLANS)


def test_accumulator_kernel(benchmark, plan_files, plans, schedules, contract):
    from pricer.claims import encode_claims, read_claims
    from pricer.engine import accumulate, run_kernel
    from pricer.tables import reference_arrays
    table, _, _ = read_claims(str(plan_files[0]))
    arrays = reference_arrays(schedules, contract)
    enc = encode_claims(table, arrays, contract, plans=plans)
    out = run_kernel(enc, arrays)
    b = enc.benefits
    accumulate(enc, out)  # compile / load
    benchmark.pedantic(accumulate, args=(enc, out), rounds=KERNEL_ROUNDS, iterations=1)
    n = len(b.order)
    benchmark.extra_info.update({
        **lines_per_second(benchmark, n),
        "families": len(b.fam_starts) - 1, "members": int(b.member.max()) + 1,
        "deductible_lines": int((out.deductible[:, 0] > 0).sum()),
        "copay_lines": int((out.copay[:, 0] > 0).sum()),
    })
    assert (out.deductible[:, 0] > 0).any() and (out.copay[:, 0] > 0).any()


def test_price_with_plans_against_pricing_only(benchmark, plan_files, plans, schedules,
                                               contract, bench_lines):
    import pricer
    with_plans, without = plan_files
    small = pl.read_parquet(with_plans, n_rows=2000)
    pricer.price(small, contract, schedules, plans=plans)  # warm: numba loads, tables built

    def run(path, **kw):
        gc.collect()
        t0 = time.perf_counter()
        lines = pricer.price(str(path), contract, schedules, **kw).lines
        seconds = time.perf_counter() - t0
        paid = lines["paid_amount"].sum()
        del lines
        return seconds, paid

    only = min(run(without)[0] for _ in range(2))
    timed = []

    def priced():
        timed.append(run(with_plans, plans=plans))
    benchmark.pedantic(priced, rounds=2, iterations=1)
    best = min(s for s, _ in timed)
    benchmark.extra_info.update({
        "lines": bench_lines, "seconds_with_plans": best, "seconds_pricing_only": only,
        "lines_per_s_with_plans": bench_lines / best, "lines_per_s_pricing_only": bench_lines / only,
        "throughput_ratio": only / best,
    })
    assert timed[0][1] == timed[-1][1]  # the same paid total every run


def _batch_run(args: list[str]) -> tuple[float, float]:
    """`pricer reprice ARGS` in a fresh process: (wall seconds, peak RSS GiB of that process)."""
    import subprocess
    import sys
    from pathlib import Path

    from peak import peak_of_stderr
    t0 = time.perf_counter()
    # peak.py runs the CLI and reports the child's own peak (ru_maxrss would start at this
    # pytest process's peak)
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("peak.py")), "reprice",
                           *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, (args, proc.stderr[-2000:])
    return time.perf_counter() - t0, peak_of_stderr(proc.stderr) / 2**30


def test_batch_with_plans_against_pricing_only(benchmark, plan_files, bench_dir, bench_lines,
                                               tmp_path):
    """The streamed batch (one process): two passes with plans against one without, each
    Parquet in, dataset out; peak memory of each run's process."""
    with_plans, without = plan_files
    plans = tmp_path / "plans.toml"
    plans.write_text("\n".join(
        f"[plan.{pid}]\n" + "\n".join(f"{k} = {v!r}".replace("True", "true")
                                      for k, v in terms.items() if k != "copays")
        + f"\n[plan.{pid}.copays]\n" + "\n".join(f"{k} = {v}" for k, v in terms["copays"].items())
        + "\n" for pid, terms in PLANS["plan"].items()))
    only = _batch_run([str(without), "-o", str(tmp_path / "only")])
    timed = []

    def priced():
        out = tmp_path / f"plans{len(timed)}"
        timed.append(_batch_run([str(with_plans), "-o", str(out), "--plans", str(plans)]))
    benchmark.pedantic(priced, rounds=1, iterations=1)
    seconds, rss = timed[0]
    benchmark.extra_info.update({
        "lines": bench_lines, "seconds_with_plans": seconds, "seconds_pricing_only": only[0],
        "peak_rss_gib_with_plans": rss, "peak_rss_gib_pricing_only": only[1],
        "lines_per_s_with_plans": bench_lines / seconds,
        "lines_per_s_pricing_only": bench_lines / only[0], "throughput_ratio": only[0] / seconds,
    })
    got = pl.scan_parquet(tmp_path / "plans0" / "lines" / "*.parquet")
    assert got.select(pl.len()).collect().item() == bench_lines
    assert got.select(pl.col("deductible_applied").sum()).collect().item() > 0
