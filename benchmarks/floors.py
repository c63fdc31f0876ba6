"""What this machine can do at all: the floors under the end-to-end speed targets.

    python benchmarks/floors.py                      # 10 M lines (synthesized if missing)
    python benchmarks/floors.py --data /tmp/scale    # where the synthetic input lives

Measures, on the 10 M-line synthetic input and in one process:

- **read**: ``polars.read_parquet`` of the claims file (all its columns), wall and CPU seconds;
- **write**: ``result.lines`` (the 47 columns interfaces.md fixes: every input column and the
  output columns) written by ``DataFrame.write_parquet``, once as pricer writes it (zstd level
  1, statistics) and once as fast as polars writes at all (uncompressed, no statistics), wall
  and CPU seconds. polars is the fastest Parquet writer here (pyarrow took 11-13 s for the same
  table and DuckDB's ``COPY`` 10.7 s in session 17);
- **size** of ``result.lines`` in memory (polars' own estimate): Decimal(18,2) is 16 bytes;
- **memory bandwidth** (numba, all threads): write, copy and read GB/s, and the bytes per line
  the line kernel reads and writes (its encoded inputs and ``allocate_out``'s arrays).

From these it derives the most lines/s any implementation writing that output could reach here,
and compares them with the targets of issues 2 and 4. Writes ``results/floors.md`` and
``results/floors.json``. No pricing rule is involved: a floor holds for every implementation.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))
LINES = 10_000_000
GB = 1e9


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, rounds: int = 2) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of ``rounds`` calls."""
    best = None
    for _ in range(rounds):
        gc.collect()
        c, t = _cpu(), time.perf_counter()
        fn()
        run = (time.perf_counter() - t, _cpu() - c)
        best = run if best is None or run[0] < best[0] else best
    return best


def bandwidth() -> dict:
    """GB/s of a parallel fill, copy and sum over 2 GiB arrays (best of 5), all threads."""
    import numba
    import numpy as np
    from numba import njit, prange

    @njit(parallel=True, nogil=True)
    def fill(a, v):
        for i in prange(a.size):
            a[i] = v

    @njit(parallel=True, nogil=True)
    def copy(a, b):
        for i in prange(a.size):
            b[i] = a[i]

    @njit(parallel=True, nogil=True)
    def total(a):
        s = 0
        for i in prange(a.size):
            s += a[i]
        return s
    n = 1 << 28
    a, b = np.ones(n, np.int64), np.zeros(n, np.int64)
    fill(a[:8], 1), copy(a[:8], b[:8]), total(a[:8])  # compile
    gbs = {}
    for name, fn, nbytes in (("write", lambda: fill(b, 3), 8 * n),
                             ("copy", lambda: copy(a, b), 16 * n),
                             ("read", lambda: total(a), 8 * n)):
        gbs[name] = nbytes / timed(fn, 5)[0] / GB
    gbs["threads"] = numba.get_num_threads()
    return gbs


def kernel_bytes(claims: Path) -> dict:
    """Bytes per line the line kernel reads (encoded claims) and writes (its outputs)."""
    import numpy as np

    import pricer
    from pricer.claims import check_columns, encode_claims, read_claims
    from pricer.pricing_nb import allocate_out
    from pricer.tables import reference_arrays
    table, source, is_text = read_claims(str(claims))
    check_columns(table, source, is_text)
    contract = pricer.default_contract()
    enc = encode_claims(table, reference_arrays(pricer.load_schedules(), contract), contract)
    del table
    read = ("reason flags lob dos code unlisted modifiers units billed billed_ok deductible copay "
            "coinsurance qmb facility locality ndc_ok").split()
    out = allocate_out(enc.n)
    written = [v for v in out if isinstance(v, np.ndarray) and v.shape[:1] == (enc.n,)]
    return {"read": sum(getattr(enc, k).nbytes for k in read) / enc.n,
            "written": sum(v.nbytes for v in written) / enc.n, "arrays_written": len(written)}


def measure(claims: Path) -> dict:
    import polars as pl

    import pricer
    from pricer.result import OUTPUT_COLUMNS
    n = pl.scan_parquet(claims).select(pl.len()).collect().item()
    floors = {"lines": n}
    floors["read"] = timed(lambda: pl.read_parquet(claims))
    lines = pricer.price(str(claims)).lines
    floors["columns"] = lines.width
    floors["result_bytes"] = lines.estimated_size()
    target = Path(os.environ.get("TMPDIR", "/tmp")) / f"pricer_floor_{os.getpid()}.parquet"
    try:
        floors["write_pricer"] = timed(lambda: lines.write_parquet(
            target, compression="zstd", compression_level=1))
        floors["write_fastest"] = timed(lambda: lines.write_parquet(
            target, compression="uncompressed", statistics=False))
        # the output columns alone (no input column carried through), fastest
        outputs = lines.select(OUTPUT_COLUMNS)
        floors["output_columns"] = outputs.width
        floors["write_outputs_fastest"] = timed(lambda: outputs.write_parquet(
            target, compression="uncompressed", statistics=False))
        del outputs
    finally:
        target.unlink(missing_ok=True)
    del lines
    gc.collect()
    floors["kernel_bytes"] = kernel_bytes(claims)
    floors["bandwidth"] = bandwidth()
    return floors


def report(f: dict) -> str:
    n = f["lines"]
    read_w, read_c = f["read"]
    fast_w, fast_c = f["write_fastest"]
    ours_w, ours_c = f["write_pricer"]
    cores = os.cpu_count()
    # the best case: the read and the write alone, overlapped on every core, nothing else done
    io_wall = (read_c + fast_c) / cores
    out_w, out_c = f["write_outputs_fastest"]
    out_wall = (read_c + out_c) / cores
    kb = f["kernel_bytes"]
    bw = f["bandwidth"]
    traffic = kb["read"] + kb["written"]
    kernel_floor = n * (kb["read"] / bw["read"] + kb["written"] / bw["write"]) / GB
    rows = [
        ("read the claims Parquet (polars)", f"{read_w:.2f} s", f"{read_c:.2f} s", f"{n / read_w / 1e6:.1f} M"),
        (f"write `result.lines`, {f['columns']} columns, as pricer does (zstd 1)",
         f"{ours_w:.2f} s", f"{ours_c:.2f} s", f"{n / ours_w / 1e6:.2f} M"),
        (f"write `result.lines`, {f['columns']} columns, fastest (uncompressed, no statistics)",
         f"{fast_w:.2f} s", f"{fast_c:.2f} s", f"{n / fast_w / 1e6:.2f} M"),
        (f"read + fastest write, their CPU spread over {cores} cores", f"{io_wall:.2f} s", f"{read_c + fast_c:.2f} s",
         f"**{n / io_wall / 1e6:.2f} M**"),
        (f"write the {f['output_columns']} output columns only, fastest", f"{out_w:.2f} s",
         f"{out_c:.2f} s", f"{n / out_w / 1e6:.2f} M"),
        (f"read + that write, their CPU spread over {cores} cores", f"{out_wall:.2f} s",
         f"{read_c + out_c:.2f} s", f"**{n / out_wall / 1e6:.2f} M**"),
    ]
    size = f["result_bytes"]
    lines = [
        f"# Floors of this machine ({dt.date.today().isoformat()}, {platform.machine()}, "
        f"{cores} cores, {n:,} lines)",
        "",
        "`python benchmarks/floors.py`. What any implementation writing the output of interfaces.md "
        "needs here at the least, before it prices anything.",
        "",
        "| step | wall | CPU | lines/s at most |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        f"- `result.lines` in memory: {size / GB:.2f} GB ({size / 2**30:.2f} GiB), "
        f"{size / n:.0f} bytes a line (Decimal(18,2) is 16 bytes in polars).",
        f"- Memory bandwidth ({bw['threads']} threads): write {bw['write']:.1f} GB/s, copy "
        f"{bw['copy']:.1f} GB/s, read {bw['read']:.1f} GB/s.",
        f"- The line kernel reads {kb['read']:.0f} and writes {kb['written']:.0f} bytes a line "
        f"({kb['arrays_written']} output arrays): {traffic:.0f} bytes, "
        f"{kernel_floor:.3f} s for {n:,} lines at those rates "
        f"({n / kernel_floor / 1e6:.0f} M lines/s).",
        "",
        "## Against the targets",
        "",
        "| target | needs | floor here | reachable |",
        "| --- | --- | --- | --- |",
        f"| issue 2: end to end >= 5 M lines/s | {n / 5e6:.1f} s | {io_wall:.2f} s (read + write "
        f"alone); {out_wall:.2f} s writing only the output columns | "
        f"{'yes' if out_wall <= n / 5e6 else '**no**'} |",
        f"| issue 2: peak <= 4 GB for `pricer.price` on {n:,} lines | 4.00 GB | "
        f"{size / GB:.2f} GB (`result.lines` alone) | {'yes' if size <= 4 * GB else '**no**'} |",
        f"| issue 4: end to end >= 10 M lines/s | {n / 10e6:.1f} s | {io_wall:.2f} s; "
        f"{out_wall:.2f} s writing only the output columns | "
        f"{'yes' if out_wall <= n / 10e6 else '**no**'} |",
        f"| issue 2: kernel >= 50 M lines/s | {n / 50e6:.2f} s | {kernel_floor:.3f} s (memory "
        f"traffic alone) | {'not by bandwidth' if kernel_floor <= n / 50e6 else '**no**'} |",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get(
        "PRICER_BENCH_DIR", "/tmp/pricer_scale")))
    ap.add_argument("--lines", type=int, default=LINES)
    args = ap.parse_args(argv)
    from scale import inputs
    claims = inputs(args.data, args.lines)
    floors = measure(claims)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "floors.json").write_text(json.dumps(floors, indent=1) + "\n")
    text = report(floors)
    (RESULTS / "floors.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
