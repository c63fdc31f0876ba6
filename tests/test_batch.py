"""The nightly batch (pricer.batch, `pricer reprice DIR -o OUT`): streamed parts of whole
claims, crash-safe and resumable, on one process or a real Dask cluster; its output is what
`pricer.price` gives on the same lines, and nothing is lost, duplicated or silently skipped."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pricer
from pricer.batch import run_batch
from pricer.claims import InputError
from pricer.cli import main
from pricer.synth import synth_claims

COMPARED = ["claim_id", "line_number", "hcpcs", "line_status", "pricing_method", "reason",
            "fee_schedule_amount", "allowed_amount", "deductible_applied", "copay_applied",
            "coinsurance_applied", "paid_amount", "member_liability", "flags"]


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(COMPARED).with_columns(
        pl.col(c).cast(pl.String) for c in ("claim_id", "line_status", "pricing_method", "reason"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Three Parquet files of small row groups (claims straddle them) and one CSV."""
    d = tmp_path_factory.mktemp("claims")
    files = []
    for k in range(3):
        frame = synth_claims(6_000, seed=10 + k, invalid_share=0.02)
        path = d / f"day{k}.parquet"
        pq.write_table(frame.to_arrow(), path, row_group_size=701)
        files.append(path)
    csv = tmp_path_factory.mktemp("csv") / "day.csv"
    synth_claims(3_000, seed=20).write_csv(csv)
    return d, files, csv


def parts_of(out: Path, what="lines") -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / what).glob("*.parquet"))}


def test_batch_equals_price_on_the_same_lines(inputs, tmp_path, schedules, contract):
    d, files, csv = inputs
    m = run_batch(files[0], tmp_path / "one", contract, batch_rows=1_500, progress=False)
    assert len(m["parts"]) >= 3                      # several parts, claims cut at row groups
    assert m["rows_in"] == m["rows_out"] == 6_000
    got = pl.read_parquet(tmp_path / "one" / "lines" / "*.parquet")
    want = pricer.price(files[0], contract, schedules).lines
    assert comparable(got).equals(comparable(want))
    adj = pl.read_parquet(tmp_path / "one" / "adjustments" / "*.parquet")
    assert adj.height == pricer.price(files[0], contract, schedules).adjustments.height
    # CSV, streamed in batches of whole claims
    m = run_batch(csv, tmp_path / "csv", contract, batch_rows=700, progress=False)
    got = pl.read_parquet(tmp_path / "csv" / "lines" / "*.parquet")
    assert comparable(got).equals(comparable(pricer.price(csv, contract, schedules).lines))


def test_directory_manifest_and_totals(inputs, tmp_path, schedules, contract):
    d, files, _ = inputs
    out = tmp_path / "all"
    m = run_batch(d, out, contract, batch_rows=2_000, progress=False)
    disk = json.loads((out / "manifest.json").read_text())
    assert disk["complete"] and disk["rows_in"] == disk["rows_out"] == 18_000
    assert [i["rows"] for i in disk["inputs"]] == [6_000] * 3
    assert all(len(i["sha256"]) == 64 for i in disk["inputs"])
    assert {s["kind"] for s in disk["schedules"]} >= {"rvu", "gpci", "asp"}
    assert disk["contract"]["sha256"] == m["settings"]["contract_sha256"]
    assert disk["pricer_version"] == pricer.__version__
    # every part file is listed once, with the bytes it has
    listed = [f["files"]["lines"]["file"] for f in disk["parts"]]
    assert sorted(listed) == sorted(f"lines/{n}" for n in parts_of(out)) and \
        len(set(listed)) == len(listed)
    # money totals by LOB and method are those of pricing everything at once
    whole = pricer.price(pl.concat([pl.read_parquet(f) for f in files]), contract, schedules)
    want = {(r["line_of_business"], r["pricing_method"]): (r["lines"], str(r["paid"]))
            for r in whole.summary().iter_rows(named=True)}
    got = {(r["line_of_business"], r["pricing_method"]): (r["lines"], r["paid"])
           for r in disk["totals"]}
    assert got == want


def test_resume_redoes_only_what_is_missing_or_damaged(inputs, tmp_path, contract):
    d, files, _ = inputs
    out = tmp_path / "r"
    run_batch(d, out, contract, batch_rows=2_000, progress=False)
    before = parts_of(out)
    names = sorted(before)
    (out / "lines" / names[1]).unlink()
    (out / "lines" / names[4]).write_bytes(b"half a file")
    with pytest.raises(InputError, match="pass --resume"):
        run_batch(d, out, contract, batch_rows=2_000, progress=False)
    m = run_batch(d, out, contract, batch_rows=2_000, resume=True, progress=False)
    assert m["timings"]["parts_priced_now"] == 2
    assert parts_of(out) == before
    # a finished run resumed again changes nothing
    stamp = (out / "manifest.json").read_bytes()
    run_batch(d, out, contract, batch_rows=2_000, resume=True, progress=False)
    assert (out / "manifest.json").read_bytes() == stamp and parts_of(out) == before
    with pytest.raises(InputError, match="other inputs, contract, schedules or batch size"):
        run_batch(d, out, contract, batch_rows=3_000, resume=True, progress=False)


def test_bad_inputs_are_named_never_skipped(inputs, tmp_path, contract, capsys):
    d, files, csv = inputs
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in files[:2]:
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "damaged.parquet").write_bytes(files[2].read_bytes()[:5000])
    with pytest.raises(InputError, match="(?s)damaged.parquet.*not a readable Parquet file"):
        run_batch(bad, tmp_path / "o1", contract, progress=False)
    empty = tmp_path / "empty.parquet"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="(?s)empty.parquet.*the file is empty"):
        run_batch(empty, tmp_path / "o2", contract, progress=False)
    missing = tmp_path / "missing.parquet"
    pq.write_table(pq.read_table(files[0]).drop_columns(["hcpcs"]), missing)
    with pytest.raises(InputError, match="(?s)missing.parquet.*'hcpcs'"):
        run_batch(missing, tmp_path / "o3", contract, progress=False)
    mixed = [files[0], csv]
    with pytest.raises(InputError, match="(?s)day.csv.*mixed schemas"):
        run_batch(mixed, tmp_path / "o4", contract, progress=False)
    # --keep-going: the others are priced, the failure is in the manifest, exit code 2
    code = main(["reprice", str(bad), "-o", str(tmp_path / "o5"), "--keep-going"])
    assert code == 2
    assert "damaged.parquet" in capsys.readouterr().err
    m = json.loads((tmp_path / "o5" / "manifest.json").read_text())
    assert [i["status"] for i in m["inputs"]] == ["priced", "priced", "failed"]
    assert "not a readable Parquet file" in m["inputs"][2]["error"]
    assert m["rows_out"] == 12_000 and not m["complete"]


def test_logs_name_no_member_or_claim(inputs, tmp_path, capsys):
    d, files, _ = inputs
    assert main(["reprice", str(files[0]), "-o", str(tmp_path / "log"), "--batch-rows",
                 "2000"]) == 0
    said = capsys.readouterr()
    frame = pl.read_parquet(files[0])
    ids = set(frame["claim_id"].cast(pl.String)) | set(frame["member_id"].cast(pl.String))
    words = set(said.out.replace("|", " ").split()) | set(said.err.replace("|", " ").split())
    assert "parts," in said.err and not (ids & words)


def test_killed_run_resumed_is_byte_identical(inputs, tmp_path):
    d, files, _ = inputs
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    cmd = [sys.executable, "-m", "pricer.cli", "reprice", str(d), "--batch-rows", "700"]
    subprocess.run(cmd + ["-o", str(clean)], check=True, capture_output=True)
    proc = subprocess.Popen(cmd + ["-o", str(killed)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    manifest = killed / "manifest.json"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once a few parts are done, mid-run
        if manifest.exists():
            try:
                if len(json.loads(manifest.read_text())["parts"]) >= 3:
                    break
            except (json.JSONDecodeError, KeyError):
                pass
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not json.loads(manifest.read_text())["complete"]
    subprocess.run(cmd + ["-o", str(killed), "--resume"], check=True, capture_output=True)
    for what in ("lines", "adjustments"):
        assert parts_of(killed, what) == parts_of(clean, what)
    m = json.loads(manifest.read_text())
    assert m["complete"] and m["rows_out"] == sum(
        pq.read_metadata(f).num_rows for f in (killed / "lines").glob("*.parquet")) == 18_000
    assert len({p["name"] for p in m["parts"]}) == len(m["parts"]) == len(parts_of(clean))
    assert m["totals"] == json.loads((clean / "manifest.json").read_text())["totals"]


def test_dask_local_cluster_output_equals_local_run(inputs, tmp_path, contract):
    pytest.importorskip("distributed")
    d, files, _ = inputs
    run_batch(d, tmp_path / "local", contract, batch_rows=2_000, progress=False)
    m = run_batch(d, tmp_path / "dask", contract, batch_rows=2_000, workers=2, progress=False)
    assert m["complete"] and m["rows_out"] == 18_000
    for what in ("lines", "adjustments"):
        assert parts_of(tmp_path / "dask", what) == parts_of(tmp_path / "local", what)


def test_replacements_in_the_batch(inputs, tmp_path, schedules, contract):
    """--prior in the batch: each part reverses the originals its 7/8 claims name."""
    d, files, _ = inputs
    day1 = pricer.price(files[0], contract, schedules)
    lines, adj = tmp_path / "day1.parquet", tmp_path / "day1_adj.parquet"
    day1.write(lines, adjustments=adj)
    first = pl.read_parquet(files[0])
    ids = first["claim_id"].unique(maintain_order=True).head(5)
    day2 = first.filter(pl.col("claim_id").is_in(ids.implode())).with_columns(
        pl.when(pl.col("claim_id") == ids[0]).then(pl.lit("8")).otherwise(pl.lit("7"))
        .alias("frequency_code"))
    src = tmp_path / "day2.parquet"
    day2.write_parquet(src)
    m = run_batch(src, tmp_path / "out", contract, prior=(lines, adj), progress=False)
    rev = pl.read_parquet(tmp_path / "out" / "reversals" / "*.parquet")
    want = pricer.price(src, contract, schedules, prior=day1)
    assert rev.height == want.reversals.height > 0
    assert rev["paid_amount"].to_list() == want.reversals["paid_amount"].to_list()
    assert m["rows_out"] == day2.height


# --- benefit plans: cost shares accumulated over the whole input --------------------------

PLANS_TOML = """
[plan.P1]
deductible = 300
family_deductible = 600
coinsurance = 0.2
out_of_pocket_max = 900
family_out_of_pocket_max = 1500

[plan.P1.copays]
office_visit = 25
emergency_room = 150

[plan.P2]
deductible = 1000
coinsurance = 0.3
plan_year_start = "03-01"
preventive_covered_in_full = true
"""
SHARES = ["claim_id", "line_number", "allowed_amount", "deductible_applied", "copay_applied",
          "coinsurance_applied", "paid_amount", "member_liability", "flags"]


@pytest.fixture(scope="module")
def plan_inputs(tmp_path_factory):
    """Lines of members in families on two plans (and some on none): the lines before a cut
    date in one file (yesterday's run), the rest in three files of small row groups."""
    d = tmp_path_factory.mktemp("plan_claims")
    (d / "plans.toml").write_text(PLANS_TOML)
    frame = pl.concat([synth_claims(3_000, seed=40 + k) for k in range(3)])
    members = frame["member_id"].unique().sort().to_list()
    rng = np.random.default_rng(5)
    plan_of = dict(zip(members, rng.choice(["P1", "p2", None], len(members))))  # any case
    fam_of = dict(zip(members, rng.choice(members, len(members))))
    frame = frame.with_columns(
        pl.col("member_id").replace_strict(plan_of, return_dtype=pl.String).alias("plan_id"),
        pl.col("member_id").replace_strict(fam_of, return_dtype=pl.String).alias("subscriber_id"),
        *[pl.lit(None, pl.String).alias(c) for c in ("deductible", "copay", "coinsurance")])
    days = frame["date_of_service"].unique().sort()
    cut = days[len(days) // 3]
    before = frame.filter(pl.col("date_of_service") < cut)
    after = frame.filter(pl.col("date_of_service") >= cut)
    before.write_parquet(d / "before.parquet")
    batch = d / "batch"
    batch.mkdir()
    third = after.height // 3
    for k in range(3):
        chunk = after.slice(k * third, third if k < 2 else None)
        pq.write_table(chunk.to_arrow(), batch / f"day{k}.parquet", row_group_size=503)
    return d, batch, frame, after


def test_batch_with_plans_equals_price_on_all_lines(plan_inputs, tmp_path, schedules, contract):
    """Parts priced apart, cost shares accumulated as one run over every line: the batch
    (with yesterday's balances) equals `pricer.price` on yesterday's and today's lines."""
    d, batch, frame, after = plan_inputs
    plans = d / "plans.toml"
    yesterday = pricer.price(d / "before.parquet", contract, schedules, plans=plans)
    ytd = tmp_path / "ytd.parquet"
    yesterday.accumulators.write_parquet(ytd)
    m = run_batch(batch, tmp_path / "out", contract, batch_rows=1_000, plans=plans,
                  accumulators=ytd, progress=False)
    assert len(m["parts"]) >= 6 and m["rows_in"] == m["rows_out"] == after.height
    assert m["accumulation"]["plan_lines"] == after.filter(pl.col("plan_id").is_not_null()).height
    one = pricer.price(frame, contract, schedules, plans=plans)
    got = pl.read_parquet(tmp_path / "out" / "lines" / "*.parquet")
    want = one.lines.filter(pl.col("date_of_service") >= after["date_of_service"].min())
    assert got.select(SHARES).equals(want.select(SHARES))
    assert got["deductible_applied"].sum() > 0 and got["copay_applied"].sum() > 0
    assert got["coinsurance_applied"].sum() > 0
    balances = pl.read_parquet(tmp_path / "out" / "accumulators.parquet")
    assert balances.equals(one.accumulators)
    # every line balances, from the adjustments written beside the lines
    adj = pl.read_parquet(tmp_path / "out" / "adjustments" / "*.parquet")
    sums = adj.group_by("claim_id", "line_number").agg(pl.col("amount").sum())
    check = got.join(sums, on=["claim_id", "line_number"], how="left").with_columns(
        pl.col("amount").fill_null(0))
    assert (check["billed_charge"] == check["paid_amount"] + check["amount"]).all()
    want_adj = pricer.price(after, contract, schedules, plans=plans, accumulators=ytd)
    assert adj.height == want_adj.adjustments.height


def test_batch_with_plans_resumes_and_refuses_other_plans(plan_inputs, tmp_path, contract):
    d, batch, _, _ = plan_inputs
    plans = d / "plans.toml"
    out = tmp_path / "r"
    run_batch(batch, out, contract, batch_rows=1_000, plans=plans, progress=False)
    lines, shares = parts_of(out), parts_of(out, "accumulation")
    balances = (out / "accumulators.parquet").read_bytes()
    names = sorted(lines)
    (out / "lines" / names[2]).unlink()       # a lost part: priced again with its shares
    m = run_batch(batch, out, contract, batch_rows=1_000, plans=plans, resume=True,
                  progress=False)
    assert m["timings"]["parts_priced_now"] == 1 and parts_of(out) == lines
    (out / "accumulation" / names[0]).unlink()  # lost cost shares: the whole run again
    m = run_batch(batch, out, contract, batch_rows=1_000, plans=plans, resume=True,
                  progress=False)
    assert m["timings"]["parts_priced_now"] == len(names)
    assert parts_of(out) == lines and parts_of(out, "accumulation") == shares
    assert (out / "accumulators.parquet").read_bytes() == balances
    # a contract's own plans are used as --plans would be
    own = dataclasses.replace(contract, plans=pricer.Plans.from_toml(plans))
    run_batch(batch, tmp_path / "own", own, batch_rows=1_000, progress=False)
    assert parts_of(tmp_path / "own") == lines
    other = tmp_path / "other.toml"
    other.write_text(PLANS_TOML.replace("deductible = 300", "deductible = 350"))
    with pytest.raises(InputError, match="other inputs, contract, schedules or batch size"):
        run_batch(batch, out, contract, batch_rows=1_000, plans=other, resume=True,
                  progress=False)


def test_batch_with_plans_on_dask_equals_local_run(plan_inputs, tmp_path, contract):
    pytest.importorskip("distributed")
    d, batch, _, _ = plan_inputs
    plans = d / "plans.toml"
    run_batch(batch, tmp_path / "local", contract, batch_rows=1_500, plans=plans,
              progress=False)
    m = run_batch(batch, tmp_path / "dask", contract, batch_rows=1_500, plans=plans, workers=2,
                  progress=False)
    assert m["complete"]
    for what in ("lines", "adjustments", "accumulation"):
        assert parts_of(tmp_path / "dask", what) == parts_of(tmp_path / "local", what)
    assert (tmp_path / "dask" / "accumulators.parquet").read_bytes() == \
        (tmp_path / "local" / "accumulators.parquet").read_bytes()


def test_batch_command_with_plans_carries_balances(plan_inputs, tmp_path, capsys):
    d, batch, _, after = plan_inputs
    plans = str(d / "plans.toml")
    args = ["reprice", str(batch), "-o", str(tmp_path / "out"), "--plans", plans,
            "--accumulators-out", str(tmp_path / "next.csv"), "--batch-rows", "2000"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "accumulated" in err
    # both passes report part by part: the first in plan lines, then the pricing in lines
    # (its rate and ETA counted from the end of the accumulation), no IDs either time
    first, _, second = err.partition("accumulated")
    n_parts = len(list((tmp_path / "out" / "lines").glob("*.parquet")))
    assert first.count(" plan lines/s") == n_parts and f"{n_parts}/{n_parts} parts" in first
    assert second.count(" k lines/s") == n_parts
    frame = pl.read_parquet(batch) if Path(batch).is_file() else \
        pl.concat([pl.read_parquet(f) for f in sorted(Path(batch).glob("*.parquet"))])
    ids = set(frame["member_id"].cast(pl.String)) | set(frame["subscriber_id"].cast(pl.String))
    assert not ids & set(err.split())
    written = pl.read_csv(tmp_path / "next.csv", infer_schema=False)
    own = pl.read_parquet(tmp_path / "out" / "accumulators.parquet").cast(pl.String)
    assert written.equals(own.select(written.columns)) and written.height > 0
    # starting balances without plans are refused, naming the option
    assert main(["reprice", str(batch), "-o", str(tmp_path / "o2"),
                 "--accumulators-out", str(tmp_path / "x.csv")]) == 2
    assert "--accumulators-out" in capsys.readouterr().err


def test_batch_skips_all_null_columns_and_splits_oversized_row_groups(tmp_path, schedules,
                                                                     contract):
    """Columns the file's statistics show all null are not read but come out as nulls of
    their type, in their places; a row group larger than the batch is read in batches, not
    whole. The batch's lines equal ``pricer.price``'s."""
    from pricer.claims import all_null_columns
    frame = synth_claims(5_000, seed=31).with_columns(
        pl.lit(None, pl.String).alias("deductible"),
        pl.lit(None, pl.Decimal(18, 2)).alias("other_payer_paid"))
    path = tmp_path / "c.parquet"
    pq.write_table(frame.to_arrow(), path, row_group_size=3_000)  # 3,000 + 2,000 lines
    f = pq.ParquetFile(path)
    assert {"deductible", "other_payer_paid"} <= all_null_columns(f.metadata, f.schema_arrow,
                                                                   f.schema_arrow.names)
    m = run_batch(path, tmp_path / "out", contract, batch_rows=1_000, progress=False)
    assert m["rows_in"] == m["rows_out"] == 5_000
    got = pl.read_parquet(tmp_path / "out" / "lines" / "*.parquet")
    want = pricer.price(path, contract, schedules).lines
    assert got.columns == want.columns
    assert got.schema["other_payer_paid"] == want.schema["other_payer_paid"]
    assert got["deductible"].null_count() == got["other_payer_paid"].null_count() == 5_000
    assert comparable(got).equals(comparable(want))
