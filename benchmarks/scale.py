"""pricer against the alternatives at batch scale: Parquet in, Parquet out, in one run.

    python benchmarks/scale.py                           # 1 M, 10 M and 100 M (streamed) lines
    python benchmarks/scale.py --sizes 1000000 10000000  # a quicker run
    python benchmarks/scale.py --data /tmp/scale         # where the synthetic inputs live

Three implementations of the same RBRVS + percent-of-charges rules (the registry of
``implementations.py``, whose amounts ``tests/test_polars_reference_parity.py`` asserts
identical): this engine as the nightly batch runs it (``pricer.run_batch``: streamed parts,
manifest), the plain polars implementation and the DuckDB SQL implementation. Each run is a
fresh process (as a nightly job is), timed from start to the last byte written, with its peak
resident memory. 100 M lines are ten files of 10 M: the batch streams them; polars and DuckDB
price them file by file (each whole file in memory). The amounts of the three are compared on
the 1 M run's common lines. Writes ``results/scale.md``, ``results/scale.json`` and
``results/scale.png``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
IMPLS = ("pricer", "polars", "duckdb", "polars+inputs", "duckdb+inputs")
sys.path.insert(0, str(HERE))
from peak import peak_rss_bytes  # noqa: E402
FILE_LINES = 10_000_000  # inputs above this are several files of this many lines


def inputs(data: Path, lines: int) -> Path:
    """The synthetic input of ``lines`` lines: one file, or a directory of 10 M-line files."""
    data.mkdir(parents=True, exist_ok=True)

    def synth(n, seed, path):
        if not path.exists():
            subprocess.run([sys.executable, "-m", "pricer.cli", "synth", "--lines", str(n),
                            "--seed", str(seed), "-o", str(path)], check=True)
        return path
    if lines <= FILE_LINES:
        return synth(lines, 1, data / f"claims_{lines}_seed1.parquet")
    folder = data / f"claims_{lines}"
    folder.mkdir(exist_ok=True)
    for k in range(lines // FILE_LINES):
        target = folder / f"part{k + 1:02d}.parquet"
        if k == 0 and not target.exists():  # the 10 M file of seed 1 serves as the first
            os.link(synth(FILE_LINES, 1, data / f"claims_{FILE_LINES}_seed1.parquet"), target)
        synth(FILE_LINES, k + 1, target)
    return folder


def child(impl: str, source: str, out: str) -> None:
    """In a fresh process: price ``source`` into ``out``; print seconds, lines, peak RSS."""
    t0 = time.perf_counter()
    sys.path.insert(0, str(HERE))
    import pricer
    from implementations import implementation
    contract, schedules = pricer.default_contract(), pricer.load_schedules()
    src, dst = Path(source), Path(out)
    if impl == "pricer":
        m = pricer.run_batch(src, dst, contract, progress=False)
        lines = m["rows_out"]
    else:
        files = sorted(src.glob("*.parquet")) if src.is_dir() else [src]
        dst.mkdir(parents=True, exist_ok=True)
        lines = 0
        for k, f in enumerate(files):
            lines += implementation(impl)(f, contract, schedules,
                                           output=dst / f"part-{k:05d}.parquet").height
    seconds = time.perf_counter() - t0
    peak = peak_rss_bytes()  # this child's own peak, not its parent's (peak.py)
    print(json.dumps({"seconds": seconds, "lines": lines, "peak_rss": peak}))


def measure(impl: str, source: Path, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run([sys.executable, __file__, "--child", impl, str(source), str(out)],
                          check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parity(source: Path, outs: dict[str, Path]) -> dict:
    """The 1 M run's outputs compared on the lines every implementation prices."""
    import polars as pl
    sys.path.insert(0, str(HERE))
    from implementations import compare, locality_given, pricer_lines
    results = {}
    for impl, out in outs.items():
        if impl.endswith("+inputs"):  # the same implementation, writing more columns
            continue
        if impl == "pricer":
            results[impl] = pricer_lines(pl.read_parquet(out / "lines" / "*.parquet"))
        else:
            frame = pl.read_parquet(out / "*.parquet")
            results[impl] = frame.select("line_index", "pricing_method", "allowed_amount")
    compared, mismatches, uncovered = compare(results, locality_given(source))
    return {"compared": {k: sum(v.values()) for k, v in compared.items()},
            "mismatches": mismatches.height, "uncovered": uncovered.height}


def markdown(report: dict) -> str:
    rows = report["runs"]
    out = [f"# pricer against polars and DuckDB, Parquet -> Parquet ({report['date']})", "",
           f"Machine: {report['machine']}. Each run a fresh process (imports, table loading "
           "and writing included); peak RSS of that process. pricer runs as the nightly batch "
           "(`pricer.run_batch`, default batch of 1 M lines); polars and DuckDB price each "
           "10 M-line file whole.", "",
           "Not like for like in pricer's disfavour: pricer prices every line by every rule "
           "(§5-§12, the §11 claim-level policies included) and writes every input column, "
           "the 19 output columns, the 835 adjustments and a manifest with sha256 of every "
           "file; polars and DuckDB price RBRVS and percent of charges only and write their "
           "few result columns (27.6 MB against 4.3 MB a million lines). `polars+inputs` and "
           "`duckdb+inputs` are the same two writing every input column before their result "
           "columns, as pricer writes a priced line: like for like on the write of the lines "
           "(pricer still writes its 19 output columns and the adjustments besides).", "",
           "| lines | implementation | seconds | lines/s | peak RSS | pricer speed vs it |",
           "| ---: | --- | ---: | ---: | ---: | ---: |"]
    for size in sorted({r["size"] for r in rows}):
        at = {r["impl"]: r for r in rows if r["size"] == size}
        for impl in IMPLS:
            if impl not in at:
                continue
            r = at[impl]
            ratio = at["pricer"]["lines_per_s"] / r["lines_per_s"] if "pricer" in at else None
            out.append(f"| {size:,} | {impl} | {r['seconds']:.1f} | "
                       f"{r['lines_per_s'] / 1e3:,.0f} k | {r['peak_rss'] / 2**30:.2f} GiB | "
                       f"{'—' if impl == 'pricer' or ratio is None else f'{ratio:.2f}x'} |")
    p = report.get("parity")
    if p:
        out += ["", f"Parity (1 M run): on the lines each prices, polars and DuckDB give pricer's "
                f"method and allowed amount: {p['compared']} lines compared, "
                f"{p['mismatches']} mismatches, {p['uncovered']} common lines left unpriced."]
    out += ["", "Targets of issue 4: end to end >= 10 M lines/s; >= 3x polars; faster than "
            "DuckDB; 100 M lines streamed under 4 GB peak RSS.", ""]
    return "\n".join(out)


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for impl in IMPLS:
        rs = sorted((r for r in report["runs"] if r["impl"] == impl), key=lambda r: r["size"])
        if rs:
            a.plot([r["size"] for r in rs], [r["lines_per_s"] / 1e3 for r in rs], "o-", label=impl)
            b.plot([r["size"] for r in rs], [r["peak_rss"] / 2**30 for r in rs], "o-", label=impl)
    for ax, title in ((a, "lines per second (thousands)"), (b, "peak RSS (GiB)")):
        ax.set_xscale("log")
        ax.set_xlabel("lines, Parquet in -> Parquet out")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    b.axhline(4, color="grey", linestyle="--", linewidth=1)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+",
                    default=[1_000_000, 10_000_000, 100_000_000])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("PRICER_BENCH_DIR",
                                                                     "/tmp/pricer-scale")))
    ap.add_argument("--impls", nargs="+", default=list(IMPLS))
    ap.add_argument("--from-json", type=Path, help="only rewrite scale.md and scale.png")
    ap.add_argument("--child", nargs=3, metavar=("IMPL", "INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        (RESULTS / "scale.md").write_text(markdown(report))
        plot(report, RESULTS / "scale.png")
        return 0
    report = {"date": dt.date.today().isoformat(),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                         f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
              "runs": []}
    for size in args.sizes:
        source = inputs(args.data, size)
        outs = {}
        for impl in args.impls:
            out = args.data / f"out_{impl}_{size}"
            r = measure(impl, source, out)
            r.update(impl=impl, size=size, lines_per_s=r["lines"] / r["seconds"])
            report["runs"].append(r)
            outs[impl] = out
            print(f"{size:>11,} {impl:13s} {r['seconds']:8.1f} s {r['lines_per_s'] / 1e3:9,.0f} k "
                  f"lines/s {r['peak_rss'] / 2**30:6.2f} GiB", flush=True)
        if size == min(args.sizes) and len(outs) > 1 and source.is_file():
            report["parity"] = parity(source, outs)
        for out in outs.values():
            shutil.rmtree(out, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(report, indent=1))
    (RESULTS / "scale.md").write_text(markdown(report))
    plot(report, RESULTS / "scale.png")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
