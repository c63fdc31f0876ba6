"""The nightly repricing batch: claim files in, a partitioned priced Parquet dataset out.

The input (Parquet files, a directory or glob of them, or CSV) is cut into *parts*: a run of
row groups of one Parquet file (about ``batch_rows`` lines), or one CSV file. Each part is
priced in record batches of whole claims (a claim's lines never straddle two batches or two
parts, so every claim-level rule sees all of them) by the one pricing path,
:func:`pricer.engine.price_table`, and written to ``OUT/lines/part-FFFFF-RRRRR.parquet`` (its
adjustments to ``OUT/adjustments/``, reversals to ``OUT/reversals/``) under a temporary name,
renamed when complete. ``OUT/manifest.json`` records what was done; ``resume`` skips the parts
it proves complete (the file's sha256 matches), so a killed run resumed writes the same bytes
as an uninterrupted one. The same part function runs in this process or as a Dask task farm.

A claim's lines must be contiguous within a file (as claim extracts deliver them): lines of
one claim ID that are apart are priced as separate claims.
"""
from __future__ import annotations

import datetime as dt
import glob as globmod
import hashlib
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pricer.claims import (DICTIONARY_COLUMNS, InputError, all_null_columns, check_columns,
                           null_column)

MANIFEST = "manifest.json"
FORMAT = 1  # manifest layout version


@dataclass(frozen=True)
class Part:
    """One unit of work: row groups [first, stop) of a Parquet file, or a whole CSV file."""
    name: str            # part-FFFFF-RRRRR: input file number, first row group (CSV: 0)
    path: str
    kind: str            # "parquet" or "csv"
    first: int = 0
    stop: int = 0


@dataclass
class Job:
    """Everything a part needs, picklable for Dask workers (tables load once per process)."""
    out: str
    contract: object
    schedules_root: str | None
    batch_rows: int
    prior: object = None   # (lines, adjustments) paths, or None
    key: str = ""          # fingerprint of contract + schedules (worker cache key)
    plans: object = None   # benefit plans (pricer.plans.Plans): cost shares accumulated over
                           # the whole input first (OUT/accumulation/), then applied per part


# ---------------------------------------------------------------------------------------------
# inputs

def expand_inputs(spec) -> list[Path]:
    """Files named by a path, a directory (its *.parquet, *.pq and *.csv, sorted) or a glob."""
    specs = spec if isinstance(spec, (list, tuple)) else [spec]
    files: list[Path] = []
    for s in specs:
        p = Path(s)
        if p.is_dir():
            found = sorted(q for q in p.iterdir()
                           if q.suffix.lower() in (".parquet", ".pq", ".csv") and q.is_file())
            if not found:
                raise InputError(str(p), ["the directory holds no .parquet or .csv file"])
            files += found
        elif any(ch in str(s) for ch in "*?["):
            found = sorted(Path(q) for q in globmod.glob(str(s)) if Path(q).is_file())
            if not found:
                raise InputError(str(s), ["the pattern matches no file"])
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(str(p), ["file not found"])
    return files


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt"):
        return "csv"
    raise InputError(str(path), [f"unknown file type {suffix!r} (use .parquet or .csv)"])


def _csv_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        import csv
        try:
            return next(csv.reader(f))
        except StopIteration:
            raise InputError(str(path), ["the file is empty"]) from None
        except UnicodeDecodeError as exc:
            raise InputError(str(path), [f"not a readable CSV file ({exc})"]) from None


def input_schema(path: Path) -> pa.Schema:
    """The schema a file's lines are read with (CSV: every column text), checked (§4)."""
    if path.stat().st_size == 0:
        raise InputError(str(path), ["the file is empty"])
    kind = _kind(path)
    if kind == "csv":
        schema = pa.schema([(c, pa.string()) for c in _csv_header(path)])
    else:
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(str(path), [f"not a readable Parquet file ({exc})"]) from None
    check_columns(schema.empty_table(), str(path), kind == "csv")
    return schema


def plan(files: list[Path], batch_rows: int) -> tuple[list[Part], dict[str, int]]:
    """The parts of every file, in file order, and each file's line count (CSV: None)."""
    parts, rows = [], {}
    for f_no, path in enumerate(files):
        kind = _kind(path)
        if kind == "csv":
            parts.append(Part(f"part-{f_no:05d}-00000", str(path), "csv"))
            rows[str(path)] = None
            continue
        meta = pq.ParquetFile(path).metadata
        rows[str(path)] = meta.num_rows
        first, n = 0, 0
        for rg in range(meta.num_row_groups):
            n += meta.row_group(rg).num_rows
            if n >= batch_rows or rg == meta.num_row_groups - 1:
                parts.append(Part(f"part-{f_no:05d}-{first:05d}", str(path), "parquet", first, rg + 1))
                first, n = rg + 1, 0
        if meta.num_row_groups == 0:
            parts.append(Part(f"part-{f_no:05d}-00000", str(path), "parquet", 0, 0))
    return parts, rows


def sha256_file(path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# whole claims out of a stream of record batches

def _unequal(ids, value) -> np.ndarray:
    """Positions of ``ids`` that are not ``value`` (nulls never are)."""
    eq = pc.fill_null(pc.equal(ids, pa.scalar(value, ids.type)), False)
    return np.flatnonzero(~np.asarray(eq.to_numpy(zero_copy_only=False), bool))


def _leading(ids: pa.ChunkedArray | pa.Array, value) -> int:
    """How many leading entries of ``ids`` equal ``value`` (nulls never do)."""
    if value is None or len(ids) == 0:
        return 0
    miss = _unequal(ids, value)
    return int(miss[0]) if len(miss) else len(ids)


def _trailing_start(ids) -> int:
    """Where the last claim's run of lines starts (len(ids) when the last ID is null)."""
    last = ids[len(ids) - 1].as_py()
    if last is None:
        return len(ids)
    miss = _unequal(ids, last)
    return int(miss[-1]) + 1 if len(miss) else 0


def whole_claims(tables, batch_rows: int):
    """Re-cut a stream of tables into tables of whole claims, about ``batch_rows`` lines."""
    pending: list[pa.Table] = []
    held = 0
    for t in tables:
        if t.num_rows == 0:
            continue
        pending.append(t)
        held += t.num_rows
        if held < batch_rows:
            continue
        table = pa.concat_tables(pending) if len(pending) > 1 else pending[0]
        cut = _trailing_start(table.column("claim_id"))
        if cut == 0:  # one claim as long as the batch: keep reading
            pending, held = [table], table.num_rows
            continue
        yield table.slice(0, cut)
        rest = table.slice(cut)
        pending, held = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
    if pending:
        yield pa.concat_tables(pending) if len(pending) > 1 else pending[0]


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if f.name in DICTIONARY_COLUMNS and
            (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]


def part_tables(part: Part, batch_rows: int):
    """The lines of a part as record batches, with the claim that straddles its start left to
    the part before and the claim that straddles its end completed from the row groups after."""
    if part.kind == "csv":
        names = _csv_header(Path(part.path))
        reader = pacsv.open_csv(
            part.path, read_options=pacsv.ReadOptions(block_size=1 << 24),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in names}, strings_can_be_null=True,
                null_values=[""], quoted_strings_can_be_null=True))
        for batch in reader:
            yield pa.Table.from_batches([batch])
        return
    pf = pq.ParquetFile(part.path, read_dictionary=_dictionary_columns(pq.read_schema(part.path)))
    schema = pf.schema_arrow
    # columns the file's statistics show all null (an optional column left empty) are not
    # read: nulls of their type on untouched zero pages take their places
    empty = all_null_columns(pf.metadata, schema, schema.names)
    read = [c for c in schema.names if c not in empty]

    def complete(t: pa.Table) -> pa.Table:
        for i, name in enumerate(schema.names):
            if name in empty:
                t = t.add_column(i, schema.field(name), null_column(schema.field(name).type,
                                                                     t.num_rows))
        return t

    before = None
    if part.first > 0:
        ids = pf.read_row_group(part.first - 1, columns=["claim_id"]).column(0)
        before = ids[len(ids) - 1].as_py() if len(ids) else None
    last = None
    skipping = before is not None
    if part.stop > part.first:
        for t in _row_group_tables(pf, range(part.first, part.stop), batch_rows, read):
            t = complete(t)
            if skipping:
                m = _leading(t.column("claim_id"), before)
                if m == t.num_rows:
                    continue
                t, skipping = t.slice(m), False
            if t.num_rows:
                last = t.column("claim_id")[t.num_rows - 1].as_py()
                yield t
    for rg in range(part.stop, pf.metadata.num_row_groups):  # the last claim's other lines
        if last is None:
            break
        ids = pf.read_row_group(rg, columns=["claim_id"]).column(0)
        m = _leading(ids, last)
        if m == 0:
            break
        yield complete(pf.read_row_group(rg, columns=read).slice(0, m))
        if m < len(ids):
            break


def _row_group_tables(pf: pq.ParquetFile, groups, batch_rows: int, columns: list[str]):
    """Tables of runs of whole row groups of about ``batch_rows`` lines (one read of a run
    decodes its columns in parallel); a row group larger than that in batches of it."""
    run, rows = [], 0
    for g in groups:
        size = pf.metadata.row_group(g).num_rows
        if size > batch_rows:  # bounded memory: never a whole oversized row group
            if run:
                yield pf.read_row_groups(run, columns=columns)
                run, rows = [], 0
            for batch in pf.iter_batches(batch_size=batch_rows, row_groups=[g], columns=columns):
                yield pa.Table.from_batches([batch])
            continue
        if run and rows + size > batch_rows:
            yield pf.read_row_groups(run, columns=columns)
            run, rows = [], 0
        run.append(g)
        rows += size
    if run:
        yield pf.read_row_groups(run, columns=columns)


# ---------------------------------------------------------------------------------------------
# one part

_LOADED: dict[str, tuple] = {}  # per process: the job's contract, schedules and prior
_LOADING = threading.Lock()


def _loaded(job: Job):
    # the first pass prices two parts at a time: one loads, the other waits
    with _LOADING:
        if job.key not in _LOADED:
            from pricer.replacements import read_prior
            from pricer.schedules import load_schedules
            from pricer.tables import reference_arrays
            schedules = (load_schedules(job.schedules_root) if job.schedules_root
                         else load_schedules())
            reference_arrays(schedules, job.contract)  # build the dense tables once
            prior = read_prior(job.prior) if job.prior is not None else None
            _LOADED.clear()
            _LOADED[job.key] = (job.contract, schedules, prior)
        return _LOADED[job.key]


class _Writer:
    """A part's Parquet file: its batches gathered, written once (polars, all cores) under a
    temporary name and renamed when complete. A part holds about ``batch_rows`` lines."""

    def __init__(self, path: Path):
        self.path = path
        self.tables: list[pa.Table] = []

    def write(self, table: pa.Table) -> None:
        self.tables.append(table)

    def close(self) -> dict:
        if not self.tables:
            return {"rows": 0}
        table = pa.concat_tables(self.tables) if len(self.tables) > 1 else self.tables[0]
        self.tables = []
        return _write_parquet(table, self.path, self.path.parents[1])


def _text_member_ids(table: pa.Table) -> pa.Table:
    """Member and subscriber IDs as text (as ``result.lines`` has them); the gap-fill source
    as text too: a mostly-null dictionary column is not written to the same bytes twice by
    pyarrow."""
    for name in ("member_id", "subscriber_id", "gap_fill_source"):
        if name in table.column_names and pa.types.is_dictionary(table.schema.field(name).type):
            i = table.column_names.index(name)
            table = table.set_column(i, name, table.column(i).cast(pa.string()))
    return table


def _totals(lines: pa.Table) -> pl.DataFrame:
    """Lines and money by LOB (as given: normalised on the few groups) and method."""
    from pricer.result import summarize
    cols = ["line_of_business", "pricing_method", "billed_charge", "allowed_amount",
            "paid_amount", "member_liability"]
    frame = pl.from_arrow(lines.select(cols))
    if not isinstance(frame.schema["billed_charge"], pl.Decimal):
        return summarize(frame)
    groups = frame.group_by("line_of_business", "pricing_method").agg(
        pl.len().alias("lines"), pl.col("billed_charge").sum(), pl.col("allowed_amount").sum(),
        pl.col("paid_amount").sum(), pl.col("member_liability").sum())
    return summarize(groups.with_columns(pl.col("lines").cast(pl.Int64)), counted="lines")


def price_part(part: Part, job: Job) -> dict:
    """Price one part and write its files; returns its manifest record."""
    return write_part(*compute_part(part, job))


def plan_part(part: Part, job: Job) -> pa.Table:
    """First pass with benefit plans: a part's lines that name a plan, priced without plan
    cost shares (``benefits.plan_line_table``; ``row`` counts from the part's first line)."""
    from pricer.engine import plan_lines
    contract, schedules, prior = _loaded(job)
    tables, rows = [], 0
    for table in whole_claims(part_tables(part, job.batch_rows), job.batch_rows):
        tables.append(plan_lines(table, contract, schedules, plans=job.plans,
                                 source=f"{part.path} ({part.name})",
                                 is_text=part.kind == "csv", prior=prior, first_row=rows))
        rows += table.num_rows
    if not tables:
        return None
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def _shares_path(out: Path, name: str) -> Path:
    return out / "accumulation" / f"{name}.parquet"


def compute_part(part: Part, job: Job) -> tuple[dict, dict]:
    """Price one part: (its record so far, its writers holding the priced tables)."""
    from pricer.engine import price_table
    t0 = time.perf_counter()
    contract, schedules, prior = _loaded(job)
    out = Path(job.out)
    writers = {what: _Writer(out / what / f"{part.name}.parquet")
               for what in ("lines", "adjustments", "reversals")}
    rows_in = 0
    totals = []
    source = f"{part.path} ({part.name})"
    is_text = part.kind == "csv"
    shares = pq.read_table(_shares_path(out, part.name)) if job.plans is not None else None
    batches = whole_claims(part_tables(part, job.batch_rows), job.batch_rows)
    empty = True
    for table in batches:
        empty = False
        result = price_table(table, contract, schedules, source=source, is_text=is_text,
                             prior=prior, plans=job.plans,
                             shares=(shares, rows_in) if shares is not None else None)
        rows_in += table.num_rows
        lines = _text_member_ids(result.table)
        writers["lines"].write(lines)
        writers["adjustments"].write(result.adjustments_table.drop_columns(["line_index"]))
        if prior is not None and result.reversals.height:
            writers["reversals"].write(result.reversals.to_arrow())
        totals.append(_totals(lines))
    if empty:  # no line: still a file with the output's columns
        schema = input_schema(Path(part.path))
        result = price_table(schema.empty_table(), contract, schedules, source=source,
                             is_text=is_text, prior=prior, plans=job.plans,
                             shares=(shares, 0) if shares is not None else None)
        writers["lines"].write(_text_member_ids(result.table))
        writers["adjustments"].write(result.adjustments_table.drop_columns(["line_index"]))
    return {
        "name": part.name, "input": part.path, "row_groups": [part.first, part.stop],
        "rows_in": rows_in, "totals": _money_rows(pl.concat(totals) if totals else None),
        "seconds": round(time.perf_counter() - t0, 3),
    }, writers


def write_part(record: dict, writers: dict) -> dict:
    """Write a computed part's files (temporary names, renamed); its complete record."""
    t0 = time.perf_counter()
    files = {what: w.close() for what, w in writers.items()}
    return {**record, "rows_out": files["lines"]["rows"], "files": files,
            "seconds": round(record["seconds"] + time.perf_counter() - t0, 3)}


def _money_rows(frame: pl.DataFrame | None) -> list[dict]:
    if frame is None or frame.height == 0:
        return []
    frame = frame.group_by("line_of_business", "pricing_method").agg(
        pl.col("lines").sum(), pl.col("billed").sum(), pl.col("allowed").sum(),
        pl.col("paid").sum(), pl.col("member_liability").sum()).sort(
        "line_of_business", "pricing_method")
    return [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()}
            for row in frame.iter_rows(named=True)]


# ---------------------------------------------------------------------------------------------
# the run

def contract_fingerprint(contract) -> str:
    """sha256 of the contract's terms (tables included), stable across processes."""
    h = hashlib.sha256()
    h.update(f"{contract.name}|{contract.default_locality}".encode())
    for lob in sorted(contract.lobs):
        terms = contract.lobs[lob]
        h.update(f"|{lob}:{terms!r}".encode())
        for frame in (terms.gap_fill, terms.mue):
            if frame is not None:
                h.update(frame.write_csv().encode())
    return h.hexdigest()


def _schedules_used(schedules) -> list[dict]:
    from pricer.cms_files import KINDS
    return [{"kind": v.kind, "release": v.release, "sha256": v.sha256}
            for kind in KINDS for v in schedules.vintages(kind)]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


@dataclass
class Progress:
    """Lines/s and ETA: a bar on a terminal, a plain line per part otherwise (no IDs)."""
    total: int | None
    stream: object = field(default_factory=lambda: sys.stderr)
    done: int = 0
    parts: int = 0
    t0: float = field(default_factory=time.perf_counter)
    what: str = "lines"    # what ``rows`` counts

    def update(self, rows: int, n_parts: int) -> None:
        self.done += rows
        self.parts += 1
        secs = max(time.perf_counter() - self.t0, 1e-9)
        rate = self.done / secs
        eta = ""
        if self.total:
            left = max(self.total - self.done, 0) / rate if rate > 0 else 0
            eta = f", ETA {dt.timedelta(seconds=round(left))}"
        text = (f"{self.parts}/{n_parts} parts, {self.done:,} {self.what}, "
                f"{rate / 1000:,.0f} k {self.what}/s{eta}")
        if getattr(self.stream, "isatty", lambda: False)():
            frac = self.done / self.total if self.total else self.parts / n_parts
            bar = "#" * int(30 * min(frac, 1)) + "." * (30 - int(30 * min(frac, 1)))
            self.stream.write(f"\r[{bar}] {text}   ")
            if self.parts == n_parts:
                self.stream.write("\n")
        else:
            self.stream.write(f"pricer: {text}\n")
        self.stream.flush()


def run_batch(inputs, out, contract=None, schedules_root=None, *, batch_rows: int = 1_000_000,
              resume: bool = False, keep_going: bool = False, workers: int | None = None,
              scheduler: str | None = None, prior=None, plans=None, accumulators=None,
              progress: bool = True) -> dict:
    """Price every line of ``inputs`` into the dataset ``out``; returns the manifest.

    Parameters
    ----------
    inputs : path, directory, glob, or a list of them
        Parquet or CSV claim files (rule book §3). All files must have the same columns.
    out : path
        The output directory: ``lines/``, ``adjustments/``, ``reversals/`` and
        ``manifest.json``. It must be new or empty unless ``resume``.
    contract : Contract, optional
    schedules_root : path, optional
        A schedules folder (default: the bundled CMS tables).
    batch_rows : int
        Lines priced at a time (memory is about 1 kB per line in flight).
    resume : bool
        Skip the parts the manifest in ``out`` proves complete; price the rest.
    keep_going : bool
        A file that cannot be read or has other columns is listed as failed in the manifest
        and the others are priced (otherwise the run stops at the first).
    workers, scheduler :
        Price the parts on a local Dask cluster of ``workers`` processes, or on the Dask
        scheduler at ``scheduler``; the output is the same.
    plans : Plans or path, optional
        Benefit plans (default: the contract's). Cost shares then accumulate over the whole
        input, in the order ``pricer.price`` uses on all the lines at once: a first pass
        prices every part and keeps its plan lines, one accumulation runs over them
        (``OUT/accumulation/``), and the parts are priced with those cost shares. The ending
        balances are ``OUT/accumulators.parquet`` (docs/batch.md).
    accumulators : frame, Arrow table or Parquet/CSV path, optional
        Starting balances, as ``OUT/accumulators.parquet`` of an earlier run.

    Examples
    --------
    >>> import pricer, tempfile
    >>> from pricer.cli import SAMPLE
    >>> m = pricer.run_batch(SAMPLE, tempfile.mkdtemp() + "/out", progress=False)
    >>> m["rows_in"] == m["rows_out"] == 316
    True
    """
    from pricer import __version__
    from pricer.benefits import read_balances
    from pricer.contract import default_contract
    from pricer.plans import load_plans
    from pricer.schedules import load_schedules
    t_start = time.perf_counter()
    contract = contract if contract is not None else default_contract()
    plans = load_plans(plans) if plans is not None else contract.plans
    if accumulators is not None and plans is None:
        raise InputError("accumulators", ["starting balances need benefit plans (plans=...)"])
    balances = read_balances(accumulators, plans) if accumulators is not None else None
    schedules = load_schedules(schedules_root) if schedules_root else load_schedules()
    out = Path(out)
    manifest_path = out / MANIFEST

    if prior is not None and not (isinstance(prior, (tuple, list)) and len(prior) == 2
                                  and all(isinstance(p, (str, Path)) for p in prior)):
        raise InputError("prior", ["the batch takes prior as (lines, adjustments) file paths, "
                                   "which every worker reads"])
    # every file is checked before any is priced: a damaged one, or one with other columns
    files = expand_inputs(inputs)
    good, failed, schema = [], [], None
    for path in files:
        try:
            s = input_schema(path)
            if schema is None:
                schema = s
            elif not s.equals(schema):
                raise InputError(str(path), [_schema_difference(schema, s, files[0])])
            good.append(path)
        except InputError as exc:
            if not keep_going:
                raise
            failed.append({"path": str(path), "status": "failed", "error": str(exc)})
    parts, file_rows = plan(good, batch_rows)
    fingerprint = contract_fingerprint(contract)
    inputs_meta = [{"path": str(p), "sha256": sha256_file(p), "rows": file_rows[str(p)],
                    "status": "priced"} for p in good] + failed
    settings = {"batch_rows": batch_rows, "contract_sha256": fingerprint,
                "schedules": _schedules_used(schedules),
                "inputs": [(i["path"], i.get("sha256")) for i in inputs_meta],
                "prior": [str(p) for p in prior] if prior is not None else None}
    if plans is not None:  # only then: the settings of earlier runs stay as they were
        settings["plans_sha256"] = plans.sha256()
        settings["accumulators_sha256"] = (
            hashlib.sha256(balances.write_csv().encode()).hexdigest()
            if balances is not None else None)

    done: dict[str, dict] = {}
    accumulated = None
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if not resume:
            raise InputError(str(out), ["holds a run already (manifest.json): pass --resume to "
                                        "finish it, or name a new output directory"])
        if old.get("settings") != json.loads(json.dumps(settings, default=str)):
            raise InputError(str(out), ["the run there was made with other inputs, contract, "
                                        "schedules or batch size: name a new output directory"])
        for rec in old.get("parts", []):
            if _complete(out, rec):
                done[rec["name"]] = rec
        accumulated = old.get("accumulation")
        if accumulated is not None and not _complete(out, accumulated):
            accumulated = None
        if plans is not None and accumulated is None:  # the parts' cost shares are gone:
            done = {}                                  # every part again
        if old.get("complete") and all(p.name in done for p in parts):
            return old  # a finished run: nothing to do, nothing rewritten
    elif out.exists() and any(out.iterdir()):
        raise InputError(str(out), ["the output directory is not empty"])
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob("*/.*.tmp"), *out.glob(".*.parquet.tmp")]:  # left by a killed run
        stale.unlink()

    manifest = {
        "format": FORMAT, "pricer_version": __version__, "started": _now(), "finished": None,
        "complete": False, "settings": settings,
        "contract": {"name": contract.name, "sha256": fingerprint,
                     "source": str(contract.source) if contract.source else None,
                     "illustrative": contract.illustrative},
        "schedules": settings["schedules"], "inputs": inputs_meta,
        "parts": [done[p.name] for p in parts if p.name in done],
    }
    if accumulated is not None:
        manifest["accumulation"] = accumulated
    _write_json(manifest_path, manifest)

    job = Job(str(out), contract, str(schedules_root) if schedules_root else None, batch_rows,
              prior=tuple(str(p) for p in prior) if prior is not None else None,
              key=f"{fingerprint}|{schedules_root}|{prior}", plans=plans)
    todo = [p for p in parts if p.name not in done]
    total = sum(r for r in file_rows.values() if r) if all(file_rows.values()) else None
    bar = Progress(total) if progress else None

    def record(rec):
        manifest["parts"].append(rec)
        manifest["parts"].sort(key=lambda r: r["name"])
        _write_json(manifest_path, manifest)
        if bar is not None:
            bar.update(rec["rows_in"], len(todo))

    client, cluster = _dask_client(workers, scheduler) if workers or scheduler else (None, None)
    try:
        if plans is not None and accumulated is None:
            manifest["accumulation"] = _accumulate(parts, job, balances, client, bar)
            _write_json(manifest_path, manifest)
            if bar is not None:  # the pricing pass's lines/s and ETA count from here
                bar.t0 = time.perf_counter()
        if client is not None:
            _run_dask(todo, job, record, client)
        else:
            _run_local(todo, job, record)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    rows_in = sum(r["rows_in"] for r in manifest["parts"])
    rows_out = sum(r["rows_out"] for r in manifest["parts"])
    expected = sum(r for r in file_rows.values() if r is not None)
    if rows_out != rows_in or (all(v is not None for v in file_rows.values()) and rows_in != expected):
        raise RuntimeError(f"rows in {rows_in:,} (files {expected:,}) != rows out {rows_out:,}")
    manifest.update(
        rows_in=rows_in, rows_out=rows_out,
        totals=_money_rows(_totals_frame(manifest["parts"])),
        finished=_now(), complete=not failed,
        timings={"seconds": round(time.perf_counter() - t_start, 3),
                 "parts_priced_now": len(todo), "parts_resumed": len(done)})
    _write_json(manifest_path, manifest)
    return manifest


def _totals_frame(parts: list[dict]) -> pl.DataFrame | None:
    rows = [r for p in parts for r in p["totals"]]
    if not rows:
        return None
    money = pl.Decimal(38, 2)
    return pl.DataFrame(rows).with_columns(
        pl.col(c).cast(money) for c in ("billed", "allowed", "paid", "member_liability"))


def _complete(out: Path, rec: dict) -> bool:
    """The part's files are there, whole (sha256 as recorded)."""
    for f in rec.get("files", {}).values():
        if "file" not in f:
            continue
        path = out / f["file"]
        if not path.exists() or sha256_file(path) != f["sha256"]:
            return False
    return True


def _schema_difference(a: pa.Schema, b: pa.Schema, first: Path) -> str:
    names_a, names_b = set(a.names), set(b.names)
    what = []
    if names_b - names_a:
        what.append(f"columns not in {first.name}: {', '.join(sorted(names_b - names_a))}")
    if names_a - names_b:
        what.append(f"missing columns of {first.name}: {', '.join(sorted(names_a - names_b))}")
    for n in sorted(names_a & names_b):
        if a.field(n).type != b.field(n).type:
            what.append(f"column {n!r} is {b.field(n).type}, {a.field(n).type} in {first.name}")
    if not what:
        what.append(f"the columns are in another order than in {first.name}")
    return "mixed schemas: " + "; ".join(what)


def _run_local(parts, job, record) -> None:
    """Price the parts in this process: one is written (polars, off the GIL) while the next
    one is priced."""
    with ThreadPoolExecutor(1) as pool:
        writing = None
        for part in parts:
            computed = compute_part(part, job)
            if writing is not None:
                record(writing.result())
            writing = pool.submit(write_part, *computed)
        if writing is not None:
            record(writing.result())


def _accumulate(parts, job, balances, client, bar) -> dict:
    """Cost shares of every plan line of the input, in one accumulation over all the parts'
    plan lines (``plan_part``), written per part to ``OUT/accumulation/`` with the ending
    balances ``OUT/accumulators.parquet``; returns the manifest's record of those files."""
    from pricer.benefits import accumulate_plan_lines, no_plan_lines
    t0 = time.perf_counter()
    # the first pass reports per part as the pricing pass does, counting plan lines
    first = Progress(None, stream=bar.stream, what="plan lines") if bar is not None else None

    def read(table):
        if first is not None:
            first.update(table.num_rows if table is not None else 0, len(parts))
        return table
    if client is not None:
        from distributed import as_completed
        futures = [client.submit(plan_part, p, job, key=f"plan-{p.name}-{job.key[:16]}",
                                 pure=False) for p in parts]
        for future in as_completed(futures):
            read(future.result())
        tables = client.gather(futures)
    else:
        # two parts at a time: reading and encoding one overlaps the other's kernels
        # (10 M lines: 5.9-6.4 s one at a time, 5.1-5.5 s two)
        with ThreadPoolExecutor(2) as pool:
            tables = [read(t) for t in pool.map(lambda p: plan_part(p, job), parts)]
    present = [t for t in tables if t is not None and t.num_rows]
    lines = pa.concat_tables(present) if present else no_plan_lines()
    shares, ending = accumulate_plan_lines(lines, job.plans, balances)
    out = Path(job.out)
    starts = np.cumsum([0] + [t.num_rows if t is not None else 0 for t in tables])
    # every part gets its file, empty when none of its lines names a plan; two written at a
    # time (a file's encoding and its fsync overlap)
    with ThreadPoolExecutor(2) as pool:
        written = pool.map(lambda k: _write_parquet(
            shares.slice(starts[k], starts[k + 1] - starts[k]), _shares_path(out, parts[k].name),
            out), range(len(parts)))
        files = {p.name: rec for p, rec in zip(parts, written)}
    start = int(starts[-1])
    files["accumulators"] = _write_parquet(ending.to_arrow(), out / "accumulators.parquet", out)
    if bar is not None:
        bar.stream.write(f"pricer: cost shares of {start:,} plan lines accumulated in "
                         f"{time.perf_counter() - t0:,.1f} s\n")
    return {"files": files, "plan_lines": start,
            "seconds": round(time.perf_counter() - t0, 3)}


def _write_parquet(table: pa.Table, path: Path, out: Path) -> dict:
    """A file written under a temporary name and renamed; its manifest record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pl.from_arrow(table).write_parquet(tmp, compression="zstd", compression_level=1)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return {"file": str(path.relative_to(out)), "rows": table.num_rows,
            "sha256": sha256_file(path)}


def _dask_client(workers, scheduler):
    """(client, cluster or None): the Dask cluster the parts are farmed out to."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - an optional extra
        raise RuntimeError("--workers/--scheduler need Dask: pip install 'pricer[dask]'") from None
    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster


def _run_dask(parts, job, record, client) -> None:
    """The same part function as a task farm on a Dask cluster."""
    from distributed import as_completed
    futures = [client.submit(price_part, p, job, key=f"{p.name}-{job.key[:16]}", pure=False)
               for p in parts]
    for fut in as_completed(futures):
        record(fut.result())
