"""`pricer whatif` and pricer.report on the bundled sample: report.md, its numbers, its charts."""
from __future__ import annotations

import doctest
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pricer
from pricer import report
from pricer.cli import SAMPLE, main
from pricer.report import money, percent

CONTRACTS = Path(pricer.__file__).parent / "contracts"
PNG = b"\x89PNG\r\n\x1a\n"


def _contract_files(folder: Path) -> tuple[Path, Path]:
    """current.toml (the bundled contract) and proposed.toml (CF +3 %, radiology carve-out)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(CONTRACTS / "gap_fill_illustrative.csv", folder)
    text = (CONTRACTS / "default.toml").read_text()
    current = folder / "current.toml"
    current.write_text(text)
    cf = "conversion_factor = 58.00            # dollars per GPCI-adjusted RVU"
    carve = '  { hcpcs = "A0425", percent_of_charges = 0.80 },  # ground'
    assert cf in text and carve in text
    proposed = folder / "proposed.toml"
    proposed.write_text(text.replace(cf, "conversion_factor = 59.74", 1).replace(
        carve, '  { hcpcs_range = "70010-79999", percent_of_medicare = 1.10 },\n' + carve, 1))
    return current, proposed


def _png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG) and len(data) > 2_000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``pricer whatif`` on the sample with two contract files, run once."""
    folder = tmp_path_factory.mktemp("whatif")
    current, proposed = _contract_files(folder / "contracts")
    out = folder / "out"
    code = main(["whatif", str(SAMPLE), "--contract", str(current), "--contract", str(proposed),
                 "-o", str(out)])
    contracts = {"current": pricer.Contract.from_toml(current),
                 "proposed": pricer.Contract.from_toml(proposed)}
    return code, out, contracts


def test_whatif_writes_report_and_charts(run):
    code, out, _ = run
    assert code == 0
    for name in ("compare_paid.png", "compare_allowed.png", "percent_of_medicare.png"):
        assert _png(out / name), name
        assert f"]({name})" in (out / "report.md").read_text()  # linked relatively


def test_report_totals_are_compare_totals(run):
    _, out, contracts = run
    text = (out / "report.md").read_text()
    t = pricer.compare(SAMPLE, contracts).row(0, named=True)
    assert f"{t['lines']:,} lines" in text
    row = (f"| proposed | {money(t['allowed_proposed'])} | {money(t['paid_proposed'])} | "
           f"{money(t['allowed_change_proposed'], signed=True)} | "
           f"{percent(t['allowed_change_pct_proposed'], 2, signed=True)} | "
           f"{money(t['paid_change_proposed'], signed=True)} | "
           f"{percent(t['paid_change_pct_proposed'], 2, signed=True)} |")
    assert row in text
    assert f"| current (baseline) | {money(t['allowed_current'])} | {money(t['paid_current'])} |" \
        in text
    # exact Decimal formatting, thousands separators
    assert money(t["paid_current"]) == f"{t['paid_current']:,.2f}" and "," in money(t["billed"])
    for c in contracts.values():
        assert c.sha256() in text


def test_report_by_category_and_percent_of_medicare(run):
    _, out, contracts = run
    text = (out / "report.md").read_text()
    by = pricer.compare(SAMPLE, contracts, by="service_category")
    for r in by.iter_rows(named=True):
        assert (f"| {r['service_category']} | {r['lines']:,} | {money(r['billed'])} | "
                f"{money(r['allowed_current'])} | {money(r['paid_current'])} |") in text
    for name, c in contracts.items():
        total = pricer.percent_of_medicare(SAMPLE, c).row(0, named=True)
        assert f"### {name}" in text
        assert f"**{money(total['medicare_allowed'])}** | **{percent(total['percent_of_medicare'])}**" \
            in text


def test_one_contract_and_default_names(tmp_path, capsys):
    current, _ = _contract_files(tmp_path / "a")
    assert main(["whatif", "--contract", str(current), "-o", str(tmp_path / "one")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "one" / "report.md")
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == [
        "percent_of_medicare.png", "report.md"]
    # the same file name twice: scenario names made unique; --by another column
    other, _ = _contract_files(tmp_path / "b")
    assert main(["whatif", "--contract", str(current), "--contract", str(other),
                 "--by", "line_of_business", "-o", str(tmp_path / "two")]) == 0
    text = (tmp_path / "two" / "report.md").read_text()
    assert "| current_2 |" in text and "| line_of_business |" in text


def test_names_given(tmp_path):
    current, proposed = _contract_files(tmp_path)
    assert main(["whatif", "--contract", str(current), "--contract", str(proposed),
                 "--name", "today", "--name", "offer", "--by", "", "-o", str(tmp_path / "o")]) == 0
    text = (tmp_path / "o" / "report.md").read_text()
    assert "| today (baseline) |" in text and "| offer |" in text and "## By" not in text


def test_bad_contract_exit_2(tmp_path, capsys):
    current, _ = _contract_files(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[lob.commercial]\nconversion_factr = 58\n')
    assert main(["whatif", "--contract", str(current), "--contract", str(bad),
                 "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "lob.commercial.conversion_factr" in err and "bad.toml" in err
    assert not (tmp_path / "o").exists()


def test_refused_inputs_exit_2(tmp_path, capsys):
    current, proposed = _contract_files(tmp_path)
    assert main(["whatif", str(tmp_path / "nope.csv"), "--contract", str(current),
                 "-o", str(tmp_path / "o")]) == 2
    assert "nope.csv" in capsys.readouterr().err
    bad = tmp_path / "claims.csv"
    bad.write_text("claim_id,line_number\nA,1\n")
    assert main(["whatif", str(bad), "--contract", str(current), "-o", str(tmp_path / "o")]) == 2
    assert "missing required column" in capsys.readouterr().err
    assert main(["whatif", "--contract", str(current), "--by", "nope",
                 "-o", str(tmp_path / "o")]) == 2
    assert "'nope'" in capsys.readouterr().err
    assert main(["whatif", "--contract", str(current), "--contract", str(proposed),
                 "--name", "a", "-o", str(tmp_path / "o")]) == 2
    assert "--name" in capsys.readouterr().err


def test_missing_input_exit_2_from_the_shell(tmp_path):
    """The installed entry point as an operator runs it."""
    current, _ = _contract_files(tmp_path)
    p = subprocess.run([sys.executable, "-m", "pricer.cli", "whatif", str(tmp_path / "none.parquet"),
                        "--contract", str(current), "-o", str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert "none.parquet" in p.stderr and "file not found" in p.stderr


def test_docstring_examples():
    failures, tried = doctest.testmod(report, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0
