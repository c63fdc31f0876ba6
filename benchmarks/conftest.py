"""Benchmark fixtures: one synthetic claims Parquet per session, shared by every benchmark.

Run with ``python -m pytest benchmarks --benchmark-enable`` (the project's pytest options
disable benchmarks by default and collect only ``tests/``). Environment:

- ``PRICER_BENCH_LINES``: lines of the synthetic file (default 10 000 000),
- ``PRICER_BENCH_SEED``: its seed (default 1),
- ``PRICER_BENCH_DIR``: keep the synthetic file there and reuse it across sessions
  (default: a pytest temporary folder, new each session),
- ``PRICER_BENCH_ROUNDS``: rounds of the in-process kernel benchmark (default 5),
- ``PRICER_BENCH_E2E_ROUNDS``: end-to-end runs per implementation (default 1).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for p in (str(REPO), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

LINES = int(os.environ.get("PRICER_BENCH_LINES", 10_000_000))
SEED = int(os.environ.get("PRICER_BENCH_SEED", 1))
KERNEL_ROUNDS = int(os.environ.get("PRICER_BENCH_ROUNDS", 5))
E2E_ROUNDS = int(os.environ.get("PRICER_BENCH_E2E_ROUNDS", 1))


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), str(HERE)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


@pytest.fixture(scope="session")
def bench_lines() -> int:
    return LINES


@pytest.fixture(scope="session")
def bench_dir(tmp_path_factory) -> Path:
    keep = os.environ.get("PRICER_BENCH_DIR")
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("pricer_bench")


@pytest.fixture(scope="session")
def claims_parquet(bench_dir) -> Path:
    """``pricer synth --lines N --seed S`` written once (in a child process, so that the
    synthesis' memory is not held by the benchmark process)."""
    path = bench_dir / f"claims_{LINES}_seed{SEED}.parquet"
    if not path.exists():
        tmp = path.with_suffix(".partial.parquet")
        subprocess.run([sys.executable, "-m", "pricer.cli", "synth", "--lines", str(LINES),
                        "--seed", str(SEED), "-o", str(tmp)], check=True, env=_env(),
                       stdout=subprocess.DEVNULL)
        tmp.rename(path)
    return path


class EndToEnd:
    """Runs ``e2e_child.py`` for an implementation; keeps every run's report."""

    def __init__(self, claims: Path, folder: Path):
        self.claims = claims
        self.folder = folder
        self.runs: dict[str, list[dict]] = {}

    def output(self, name: str) -> Path:
        return self.folder / f"priced_{name}.parquet"

    def registry_output(self, name: str) -> Path:
        return self.output(name).with_suffix(".registry.parquet")

    def run(self, name: str) -> dict:
        proc = subprocess.run(
            [sys.executable, str(HERE / "e2e_child.py"), name, str(self.claims),
             str(self.output(name))],
            check=True, env=_env(), capture_output=True, text=True)
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        self.runs.setdefault(name, []).append(report)
        return report

    def best(self, name: str) -> dict:
        """The fastest run of ``name`` (running it once if it has not run yet)."""
        if name not in self.runs:
            self.run(name)
        return min(self.runs[name], key=lambda r: r["seconds"])


@pytest.fixture(scope="session")
def end_to_end(claims_parquet, bench_dir) -> EndToEnd:
    return EndToEnd(claims_parquet, bench_dir)


def lines_per_second(benchmark, lines: int) -> dict:
    """Throughput from pytest-benchmark's statistics (empty when benchmarks are disabled)."""
    stats = getattr(benchmark, "stats", None)
    if not stats:
        return {}
    s = stats.stats
    return {"lines": lines, "seconds_min": s.min, "seconds_mean": s.mean,
            "lines_per_s": lines / s.min, "lines_per_s_mean": lines / s.mean}
