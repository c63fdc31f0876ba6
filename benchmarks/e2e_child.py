"""One end-to-end run of one registry implementation, in a fresh process.

    python benchmarks/e2e_child.py IMPLEMENTATION CLAIMS.parquet OUTPUT.parquet

Loads the schedules and the default contract, warms up on the first lines of the file (numba
loads or compiles its kernels, reference tables get built and cached), then times one run
from the claims Parquet to the implementation's output Parquet. Afterwards (not timed) it
writes the registry columns to ``OUTPUT.registry.parquet`` for the parity check. Prints one
JSON object on stdout: seconds, peak RSS of this process, and for pricer the time spent in each
function ``pricer.engine`` calls (read, validate/encode, kernel, result columns, ...).
"""
from __future__ import annotations

import functools
import gc
import json
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

WARMUP_LINES = 2_000


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _peak_rss() -> int:
    # this process's own peak: ru_maxrss would start at the pytest parent's (peak.py)
    from peak import peak_rss_bytes
    return peak_rss_bytes()


class StepTimer:
    """Wraps the functions ``pricer.engine`` calls; records time at the outermost level."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.depth = 0
        self.active = False

    def wrap(self, name, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if not self.active or self.depth:
                self.depth += bool(self.active)
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.depth -= bool(self.active)
            self.depth = 1
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t
                self.depth = 0
        return timed

    def install(self):
        import inspect

        import pricer.engine as engine
        skip = {"price", "price_table", "_defaults"}
        for name, obj in list(vars(engine).items()):
            if name in skip or inspect.isclass(obj) or not callable(obj):
                continue
            module = getattr(obj, "__module__", "") or ""
            if module.startswith("pricer") or hasattr(obj, "py_func"):
                setattr(engine, name, self.wrap(name, obj))


def main(argv: list[str]) -> int:
    name, claims, output = argv[1], Path(argv[2]), Path(argv[3])
    t_start = time.perf_counter()
    import polars as pl
    import pyarrow.parquet as pq

    from implementations import implementation
    from pricer.contract import default_contract
    from pricer.schedules import load_schedules
    impl = implementation(name)
    t = time.perf_counter()
    schedules = load_schedules()
    contract = default_contract()
    load_seconds = time.perf_counter() - t

    import implementations
    timer = StepTimer()
    timer.install()
    # the write, and the registry columns built after it (not part of the end-to-end time)
    implementations.write_output = timer.wrap("write_parquet", implementations.write_output)
    implementations.pricer_lines = timer.wrap("registry_columns", implementations.pricer_lines)

    # warm-up on a small slice (JIT load/compile, cached reference tables)
    t = time.perf_counter()
    head = pl.from_arrow(pq.ParquetFile(claims).read_row_group(0)).head(WARMUP_LINES)
    impl(head, contract, schedules)
    del head
    warmup_seconds = time.perf_counter() - t
    gc.collect()
    rss_before = _rss()

    timer.active = True
    t = time.perf_counter()
    frame = impl(str(claims), contract, schedules, output=output)
    seconds = time.perf_counter() - t
    timer.active = False
    seconds -= timer.seconds.pop("registry_columns", 0.0)
    peak = _peak_rss()

    lines = frame.height
    frame.select("line_index", "pricing_method", "allowed_amount").write_parquet(
        output.with_suffix(".registry.parquet"))
    print(json.dumps({
        "implementation": name,
        "lines": lines,
        "seconds": seconds,
        "lines_per_s": lines / seconds,
        # the same run without writing the output Parquet
        "compute_seconds": seconds - timer.seconds.get("write_parquet", 0.0),
        "peak_rss_bytes": peak,
        "rss_before_bytes": rss_before,
        "warmup_seconds": warmup_seconds,
        "load_schedules_seconds": load_seconds,
        "process_seconds": time.perf_counter() - t_start,
        "steps": timer.seconds,
        "output_bytes": output.stat().st_size if output.exists() else None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
