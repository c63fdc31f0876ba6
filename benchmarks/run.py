"""Run every benchmark and write ``benchmarks/results/latest.md`` (and ``latest.json``).

    python benchmarks/run.py                  # 10 M lines
    python benchmarks/run.py --lines 1000000  # a quicker run
    python benchmarks/run.py --from-json benchmarks/results/latest.json   # only rewrite the .md

It runs ``python -m pytest benchmarks --benchmark-enable`` with the options below, keeps
pytest-benchmark's JSON, and turns it into a markdown table: implementation, lines, seconds,
lines/s, peak RSS and speed relative to the polars-only implementation, then the targets, the
time per engine step of pricer's end-to-end run, and the parity check.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

TARGETS = {"kernel_lines_per_s": 50e6, "e2e_lines_per_s": 5e6, "peak_rss_bytes": 4e9}
STEP_NAMES = {
    "read_claims": "read Parquet (pyarrow)",
    "check_columns": "check columns",
    "reference_arrays": "reference tables (cached)",
    "encode_claims": "validate + encode",
    "run_kernel": "kernel",
    "output_columns": "output columns",
    "adjustments_frame": "adjustments frame",
    "write_parquet": "write priced Parquet",
}


def _gib(n: float | None) -> str:
    return "—" if n is None else f"{n / 2**30:.2f} GiB"


def _rate(x: float) -> str:
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.0f} k"


def _memory_total() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_pytest(lines: int, json_path: Path, extra: list[str]) -> int:
    env = dict(os.environ)
    env["PRICER_BENCH_LINES"] = str(lines)
    cmd = [sys.executable, "-m", "pytest", str(HERE), "--benchmark-enable",
           f"--benchmark-json={json_path}", "-p", "no:cacheprovider", "-q", *extra]
    print("$", " ".join(cmd), f"(PRICER_BENCH_LINES={lines})", flush=True)
    return subprocess.run(cmd, cwd=REPO, env=env).returncode


def _by_name(data: dict) -> dict:
    return {b["name"]: b for b in data["benchmarks"]}


def markdown(data: dict, context: dict) -> str:
    b = _by_name(data)
    kernel = b.get("test_kernel_lines_per_second")
    pre = b.get("test_kernel_preallocated_lines_per_second")
    pricer = b.get("test_end_to_end[pricer]")
    polars = b.get("test_end_to_end[polars]")
    k = kernel["extra_info"] if kernel else None
    p = pricer["extra_info"] if pricer else None
    q = polars["extra_info"] if polars else None
    wide = b.get("test_end_to_end[polars+inputs]")
    w = wide["extra_info"] if wide else None

    rows = []  # (implementation, timed, lines, seconds, peak rss, polars seconds of same kind)
    if k:
        rows.append(("pricer kernel", f"`run_kernel` on encoded lines (best of "
                     f"{kernel['stats']['rounds']})", k["lines"], k["seconds_min"], None,
                     q["compute_seconds"] if q else None))
    if pre:
        e = pre["extra_info"]
        rows.append(("pricer kernel", "`run_kernel`, outputs allocated once and reused (best of "
                     f"{pre['stats']['rounds']})", e["lines"], e["seconds_min"], None,
                     q["compute_seconds"] if q else None))
    if p:
        rows.append(("pricer", "`pricer.price` from Parquet (no write)", p["lines"],
                     p["compute_seconds"], p["peak_rss_bytes"], q["compute_seconds"] if q else None))
        rows.append(("pricer", "end to end: Parquet -> priced Parquet", p["lines"], p["seconds"],
                     p["peak_rss_bytes"], q["seconds"] if q else None))
    if q:
        rows.append(("polars-only", "from Parquet (no write)", q["lines"], q["compute_seconds"],
                     q["peak_rss_bytes"], q["compute_seconds"]))
        rows.append(("polars-only", "end to end: Parquet -> result Parquet", q["lines"],
                     q["seconds"], q["peak_rss_bytes"], q["seconds"]))
    if w:
        rows.append(("polars-only", "end to end, every input column written too (like pricer)",
                     w["lines"], w["seconds"], w["peak_rss_bytes"], w["seconds"]))

    out = [
        "# Benchmark results",
        "",
        f"- date: {context.get('date', data.get('datetime', ''))}",
        f"- commit: `{(data.get('commit_info') or {}).get('id', '?')}`"
        f"{' (dirty tree)' if (data.get('commit_info') or {}).get('dirty') else ''}",
        f"- machine: {context.get('cpus', '?')} CPUs, {_gib(context.get('memory'))} RAM, "
        f"{platform.python_implementation()} {data['machine_info'].get('python_version', '')}, "
        f"{context.get('versions', '')}",
        f"- load average before / after: {context.get('load_before', '?')} / "
        f"{context.get('load_after', '?')} (other work on the machine slows every figure)",
        f"- input: `pricer synth --lines N --seed S` Parquet, default contract, bundled CMS tables",
        "",
        "| implementation | what is timed | lines | seconds | lines/s | peak RSS | speed vs polars-only |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for impl, timed, n, sec, rss, ref in rows:
        ratio = "—" if not ref else f"{ref / sec:.2f}x"
        out.append(f"| {impl} | {timed} | {n:,} | {sec:.3f} | {_rate(n / sec)} | {_gib(rss)} | "
                   f"{ratio} |")
    out += [
        "",
        "Peak RSS is the whole child process's own high-water mark (`VmHWM`, `peak.py`): "
        "interpreter, imports, schedules, warm-up and the timed run. The kernel runs in the "
        "pytest process (no separate RSS). Speed vs polars-only = polars-only seconds / seconds, same kind of run (the kernel is "
        "compared with polars-only from Parquet, no write).",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "| --- | ---: | :---: |",
    ]

    def target(name, measured, ok):
        out.append(f"| {name} | {measured} | {'yes' if ok else '**no**'} |")

    if k:
        target("kernel >= 50 M lines/s", _rate(k["lines_per_s"]) + " lines/s",
               k["lines_per_s"] >= TARGETS["kernel_lines_per_s"])
    if pre:
        e = pre["extra_info"]
        target("kernel >= 50 M lines/s (outputs reused)", _rate(e["lines_per_s"]) + " lines/s",
               e["lines_per_s"] >= TARGETS["kernel_lines_per_s"])
    if p:
        target("end to end >= 5 M lines/s", _rate(p["lines_per_s"]) + " lines/s",
               p["lines_per_s"] >= TARGETS["e2e_lines_per_s"])
        target(f"peak memory for {p['lines']:,} lines <= 4 GB", _gib(p["peak_rss_bytes"]),
               p["peak_rss_bytes"] <= TARGETS["peak_rss_bytes"])
    if p and q:
        target("pricer faster than polars-only (end to end)",
               f"{q['seconds'] / p['seconds']:.2f}x", p["seconds"] < q["seconds"])
        if w:
            target("pricer faster than polars-only (end to end, both writing every input column)",
                   f"{w['seconds'] / p['seconds']:.2f}x", p["seconds"] < w["seconds"])
        target("pricer faster than polars-only (no write)",
               f"{q['compute_seconds'] / p['compute_seconds']:.2f}x",
               p["compute_seconds"] < q["compute_seconds"])

    if p:
        out += ["", "## Where pricer's end-to-end time goes", "",
                "| step | seconds | share |", "| --- | ---: | ---: |"]
        steps = dict(p["steps"])
        total = p["seconds"]
        for name, sec in steps.items():
            out.append(f"| {STEP_NAMES.get(name, name)} (`{name}`) | {sec:.3f} | "
                       f"{sec / total:.0%} |")
        rest = total - sum(steps.values())
        out.append(f"| rest: not in a step above (frame assembly in `pricer.engine`) | "
                   f"{rest:.3f} | {rest / total:.0%} |")
        out.append(f"| **total** | **{total:.3f}** | 100% |")
        out += ["", f"Outside the timed run: loading the schedules {p['load_schedules_seconds']:.2f} s, "
                f"warm-up on 2,000 lines (numba load/compile) {p['warmup_seconds']:.2f} s; "
                f"RSS before the timed run {_gib(p['rss_before_bytes'])}; priced Parquet "
                f"{(p['output_bytes'] or 0) / 2**20:.0f} MiB."]
    if q and "parity_mismatches" in q:
        comp = ", ".join(f"{m} {c:,}" for m, c in sorted(q["parity_compared_lines"].items()))
        out += ["", "## Parity (same run)", "",
                f"polars-only vs pricer on the lines both price ({comp}): "
                f"{q['parity_mismatches']} mismatches, {q['parity_uncovered']} common lines "
                f"left unpriced."]
    return "\n".join(out) + "\n"


def _context(load_before=None) -> dict:
    import numba
    import polars
    import pyarrow
    return {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "memory": _memory_total(),
        "versions": f"polars {polars.__version__}, pyarrow {pyarrow.__version__}, "
                    f"numba {numba.__version__}",
        "load_before": load_before,
        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=int(os.environ.get("PRICER_BENCH_LINES",
                                                                    10_000_000)))
    ap.add_argument("--from-json", type=Path, help="only rewrite the markdown from this JSON")
    ap.add_argument("--out", type=Path, default=RESULTS / "latest.md")
    ap.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = ap.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    code = 0
    if args.from_json:
        json_path = args.from_json
    else:
        json_path = args.out.with_suffix(".json")
        load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
        code = run_pytest(args.lines, json_path, args.pytest_args)
        if json_path.exists():  # keep the run's context with pytest-benchmark's data
            data = json.loads(json_path.read_text())
            data["pricer_context"] = _context(load_before)
            json_path.write_text(json.dumps(data, indent=2))
    if not json_path.exists():
        print(f"no benchmark data in {json_path}", file=sys.stderr)
        return code or 1
    data = json.loads(json_path.read_text())
    args.out.write_text(markdown(data, data.get("pricer_context", {})))
    print(f"wrote {args.out}")
    return code


if __name__ == "__main__":
    sys.exit(main())
