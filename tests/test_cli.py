"""The `pricer` command line: what an operator runs, with its exit codes."""
from __future__ import annotations

import polars as pl
import pytest

from pricer.cli import main


def test_reprice_bundled_sample_prints_summary(capsys):
    assert main(["reprice"]) == 0
    out = capsys.readouterr().out
    assert "claims_sample.csv" in out
    assert "| line_of_business" in out and "rbrvs" in out and "rejected" in out


def test_reprice_writes_parquet_and_adjustments(tmp_path, capsys):
    from pricer.synth import synth_claims
    claims = tmp_path / "claims.parquet"
    synth_claims(2_000, seed=3, invalid_share=0.02).write_parquet(claims)
    out, adj = tmp_path / "out" / "priced.parquet", tmp_path / "adj.parquet"
    assert main(["reprice", str(claims), "-o", str(out), "--adjustments", str(adj)]) == 0
    priced = pl.read_parquet(out)
    assert priced.height == 2_000
    assert priced["allowed_amount"].dtype == pl.Decimal(18, 2)
    assert pl.read_parquet(adj)["line_index"].max() < 2_000


def test_reprice_csv_out(tmp_path):
    out = tmp_path / "priced.csv"
    assert main(["reprice", "-o", str(out)]) == 0
    priced = pl.read_csv(out, infer_schema=False)
    assert "flags" in priced.columns and "paid_amount" in priced.columns


def test_missing_column_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("claim_id,line_number\nA,1\n")
    assert main(["reprice", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "missing required column 'hcpcs'" in err and "bad.csv" in err


def test_unreadable_file_exit_2(tmp_path, capsys):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 not really parquet")
    assert main(["reprice", str(bad)]) == 2
    assert "broken.parquet" in capsys.readouterr().err


def test_bad_contract_exit_2(tmp_path, capsys):
    c = tmp_path / "c.toml"
    c.write_text('name = "x"\n[lob.commercial]\nconversion_factr = 58\n')
    assert main(["reprice", "--contract", str(c)]) == 2
    assert "conversion_factr" in capsys.readouterr().err


def test_synth_and_schedules(tmp_path, capsys):
    out = tmp_path / "s.parquet"
    assert main(["synth", "--lines", "500", "--seed", "4", "-o", str(out)]) == 0
    assert pl.read_parquet(out).height == 500
    assert main(["schedules", "list"]) == 0
    listing = capsys.readouterr().out
    assert "RVU25A" in listing and "ASP2025Q1" in listing
    assert main(["schedules", "validate"]) == 0


def test_synth_with_plans_then_reprice_with_them(tmp_path, capsys):
    """A newcomer's way to try benefit plans: synthetic members with the file's plans, priced
    with the same file; a plans file that is not there is refused (exit 2)."""
    plans = tmp_path / "plans.toml"
    plans.write_text('[plan.SILVER]\ndeductible = 150.00\ncoinsurance = 0.2\n'
                     '[plan.SILVER.copays]\noffice_visit = 25.00\n'
                     '[plan.GOLD]\ncoinsurance = 0.1\n')
    claims, priced, ytd = tmp_path / "c.parquet", tmp_path / "p.parquet", tmp_path / "ytd.csv"
    assert main(["synth", "--lines", "800", "--seed", "4", "-o", str(claims),
                 "--plans", str(plans)]) == 0
    frame = pl.read_parquet(claims)
    assert set(frame["plan_id"].unique().to_list()) == {"SILVER", "GOLD"}
    assert main(["reprice", str(claims), "-o", str(priced), "--plans", str(plans),
                 "--accumulators-out", str(ytd)]) == 0
    lines = pl.read_parquet(priced)
    assert lines.height == 800 and (lines["deductible_applied"] > 0).any()
    assert (lines["copay_applied"] > 0).any()
    assert pl.read_csv(ytd).height > 0
    capsys.readouterr()
    assert main(["synth", "--lines", "10", "-o", str(claims), "--plans",
                 str(tmp_path / "none.toml")]) == 2
    assert "plans file not found" in capsys.readouterr().err


def test_schedules_add_needs_arguments(capsys):
    assert main(["schedules", "add"]) == 2


def test_unknown_command_is_usage_error():
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2
