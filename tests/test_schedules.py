"""The bundled CMS tables: parsers, manifest, vintages, refusal of damaged files, add_schedule.

Expected values are the ones listed in shared/data/cms/SOURCES.md.
"""
from __future__ import annotations

import csv
import hashlib
import shutil
import time
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest

from pricer import cms_files, schedules as sch
from pricer.cms_files import ScheduleError

REPO = Path(__file__).resolve().parents[1]
FEE = REPO / "fee_schedules"
GPCI = REPO / "gpci"
ORACLE = Path(__file__).parents[2] / "shared/data/cms/oracle/PFWA25A_WA_payment_amounts_sample.csv"

D25 = date(2025, 6, 1)
D26 = date(2026, 6, 1)


@pytest.fixture(scope="module")
def s():
    sch._CACHE.clear()
    t0 = time.perf_counter()
    loaded = sch.load_schedules()
    print(f"\nload_schedules(): all bundled tables parsed in {time.perf_counter() - t0:.3f} s")
    return loaded


def row(df: pl.DataFrame, **keys) -> dict:
    hit = df.filter(pl.all_horizontal([pl.col(k) == v for k, v in keys.items()]))
    assert hit.height == 1, (keys, hit)
    return hit.row(0, named=True)


# --------------------------------------------------------------------------------------------
# Manifest and vintages
# --------------------------------------------------------------------------------------------

def test_manifest_lists_every_file_with_matching_sha256(s):
    releases = {v.release: v for k in cms_files.KINDS for v in s.vintages(k)}
    assert set(releases) == {"RVU25A", "RVU25D", "RVU26C", "GPCI2025", "GPCI2026", "ANES2025",
                             "ANES2026", "ANESBASE2022", "ASP2025Q1", "LOCCO2025", "LOCCO2026",
                             "OPPSCAP2025"}
    for v in releases.values():
        assert v.path.is_file(), v.path
        assert hashlib.sha256(v.path.read_bytes()).hexdigest() == v.sha256, v.release
        assert v.source
    assert sch.validate_schedules() == []


def test_files_are_the_shared_cms_files_byte_for_byte():
    shared = Path(__file__).parents[2] / "shared/data/cms"
    if not shared.is_dir():
        pytest.skip("shared/data/cms not beside the checkout")
    bundled = {"PPRRVU25_JAN.csv", "PPRRVU2025_Oct.csv", "PPRRVU2026_Jul_nonQPP.csv", "ANES2025.csv",
               "ANES2026.csv", "CY2022_Anesthesia_Base_Units.txt", "ASP_2025Q1_Jan2025_payment_limits.csv"}
    gpci = {"GPCI2025.csv", "GPCI2026.csv", "25LOCCO.csv", "26LOCCO.csv", "OPPSCAP_2025_WA.csv"}
    for folder, names in ((FEE, bundled), (GPCI, gpci)):
        for name in names:
            (orig,) = list(shared.glob(f"*/{name}"))
            assert (folder / name).read_bytes() == orig.read_bytes(), name


def test_vintage_dates(s):
    want = {
        "RVU25A": (date(2025, 1, 1), date(2025, 9, 30)),
        "RVU25D": (date(2025, 10, 1), date(2025, 12, 31)),
        "RVU26C": (date(2026, 1, 1), date(2026, 12, 31)),
        "ANESBASE2022": (date(2022, 1, 1), None),
        "ASP2025Q1": (date(2025, 1, 1), date(2025, 3, 31)),
        "OPPSCAP2025": (date(2025, 1, 1), date(2025, 12, 31)),
    }
    for release, (start, end) in want.items():
        v = s.vintage(release)
        assert (v.effective_from, v.effective_to) == (start, end), release
    for year in (2025, 2026):
        for prefix in ("GPCI", "ANES", "LOCCO"):
            v = s.vintage(f"{prefix}{year}")
            assert (v.effective_from, v.effective_to) == (date(year, 1, 1), date(year, 12, 31))
    assert s.vintage("GPCI2025").work_floor_through == date(2025, 12, 31)
    assert s.vintage("GPCI2026").work_floor_through == date(2026, 1, 31)
    assert [v.release for v in s.vintages("rvu")] == ["RVU25A", "RVU25D", "RVU26C"]


@pytest.mark.parametrize("kind, dos, release", [
    ("rvu", date(2025, 1, 1), "RVU25A"),
    ("rvu", date(2025, 9, 30), "RVU25A"),
    ("rvu", date(2025, 10, 1), "RVU25D"),
    ("rvu", date(2026, 7, 1), "RVU26C"),
    ("rvu", date(2024, 12, 31), None),
    ("rvu", date(2027, 1, 1), None),
    ("gpci", date(2026, 2, 1), "GPCI2026"),
    ("anes_cf", date(2025, 12, 31), "ANES2025"),
    ("anes_base", date(2031, 5, 5), "ANESBASE2022"),
    ("asp", date(2025, 3, 31), "ASP2025Q1"),
    ("asp", date(2025, 4, 1), None),
    ("oppscap", date(2026, 1, 1), None),
])
def test_covering(s, kind, dos, release):
    v = s.covering(kind, dos)
    assert (v.release if v else None) == release
    if v:
        assert v.covers(dos)


def test_list_schedules(s):
    df = sch.list_schedules()
    assert df.columns == ["kind", "release", "effective_from", "effective_to", "rows", "path", "sha256"]
    assert df.height == 12
    assert row(df, release="RVU25A")["rows"] == 18865
    assert row(df, release="GPCI2026")["path"] == "../gpci/GPCI2026.csv"


def test_load_is_cached_until_a_file_changes(s):
    assert sch.load_schedules() is s
    assert sch.load_schedules(FEE / "manifest.toml") is s


def test_bundled_root():
    assert sch.bundled_root() == FEE
    assert (sch.bundled_root() / "manifest.toml").is_file()


# --------------------------------------------------------------------------------------------
# Each kind from the real file
# --------------------------------------------------------------------------------------------

RVU_SCHEMA = {
    "hcpcs": pl.String, "modifier": pl.String, "status": pl.String, "work_rvu": pl.Int64,
    "pe_nonfacility_rvu": pl.Int64, "pe_facility_rvu": pl.Int64, "mp_rvu": pl.Int64,
    "pctc_ind": pl.Int8, "mult_proc": pl.Int8, "bilat_surg": pl.Int8, "asst_surg": pl.Int8,
    "co_surg": pl.Int8, "team_surg": pl.Int8, "global_days": pl.String, "endo_base": pl.String,
    "conversion_factor": pl.Int64, "diag_imaging_family": pl.String, "not_used_for_medicare": pl.String,
}


@pytest.mark.parametrize("release, rows, cf", [("RVU25A", 18865, 323465), ("RVU25D", 19090, 323465),
                                               ("RVU26C", 19356, 334009)])
def test_rvu_files(s, release, rows, cf):
    t = s.vintage(release).table
    assert dict(t.schema) == RVU_SCHEMA
    assert t.height == rows
    assert t["conversion_factor"].unique().to_list() == [cf]
    assert t.select(pl.struct("hcpcs", "modifier").is_unique().all()).item()
    assert set(t["modifier"].unique()) <= {"", "26", "TC", "53"}
    assert t["hcpcs"].str.contains(r"^[0-9A-Z]{5}$").all()


@pytest.mark.parametrize("release, code, mod, work, nf, fac, mp", [
    ("RVU25A", "99213", "", 130, 135, 57, 10),
    ("RVU25D", "99213", "", 130, 135, 57, 10),
    ("RVU25A", "99214", "", 192, 180, 83, 15),
    ("RVU26C", "99213", "", 130, 146, 33, 9),
    ("RVU26C", "99214", "", 192, 200, 47, 14),
    ("RVU26C", "71046", "26", 21, 8, 8, 1),
    ("RVU26C", "71046", "TC", 0, 68, 68, 1),
])
def test_rvu_values(s, release, code, mod, work, nf, fac, mp):
    r = row(s.vintage(release).table, hcpcs=code, modifier=mod)
    assert (r["work_rvu"], r["pe_nonfacility_rvu"], r["pe_facility_rvu"], r["mp_rvu"]) == (work, nf, fac, mp)
    assert r["status"] == "A"


def test_rvu_indicators(s):
    r = row(s.vintage("RVU25A").table, hcpcs="99213", modifier="")
    assert (r["pctc_ind"], r["mult_proc"], r["global_days"], r["endo_base"]) == (0, 0, "XXX", "")
    assert row(s.vintage("RVU26C").table, hcpcs="71046", modifier="26")["pctc_ind"] == 1
    # 2026 adds PRIC IND before ENDO BASE: the columns after it still land by name.
    t26, t25 = s.vintage("RVU26C").table, s.vintage("RVU25D").table
    assert t26["diag_imaging_family"].is_in(t25["diag_imaging_family"].unique().implode()).all()
    assert (t26["endo_base"] != "").sum() > 0


def test_2025_and_2026_rvu_layouts_agree_on_unchanged_rows(s):
    a = s.vintage("RVU25A").table.filter(pl.col("hcpcs") == "99213")
    d = s.vintage("RVU25D").table.filter(pl.col("hcpcs") == "99213")
    assert a.equals(d)


@pytest.mark.parametrize("release, seattle, rest", [
    ("GPCI2025", (1043, None, 1220, 853), (1007, None, 1040, 803)),
    ("GPCI2026", (1050, 1050, 1227, 817), (1013, 1013, 1053, 761)),
])
def test_gpci(s, release, seattle, rest):
    t = s.vintage(release).table
    assert t.columns == ["mac", "locality_number", "locality", "state", "locality_name", "work_gpci",
                         "work_gpci_no_floor", "pe_gpci", "mp_gpci"]
    assert t.height == 109 and t["locality"].n_unique() == 109
    for loc, want in (("02402-02", seattle), ("02402-99", rest)):
        r = row(t, locality=loc)
        assert (r["work_gpci"], r["work_gpci_no_floor"], r["pe_gpci"], r["mp_gpci"]) == want
        assert r["state"] == "WA" and r["mac"] == "02402"
    assert row(t, locality="02402-02")["locality_name"] == "SEATTLE (KING CNTY)"
    assert row(t, locality="02102-01")["work_gpci"] == 1500      # Alaska's 1.5 floor


def test_gpci_2026_floor_columns(s):
    t = s.vintage("GPCI2026").table
    al = row(t, locality="10112-00")
    assert (al["work_gpci"], al["work_gpci_no_floor"]) == (1000, 988)
    assert s.vintage("GPCI2025").table["work_gpci_no_floor"].null_count() == 109


def test_anes_cf(s):
    t25, t26 = s.vintage("ANES2025").table, s.vintage("ANES2026").table
    assert t25.columns == ["locality", "locality_name", "anesthesia_cf"]
    assert t25.height == t26.height == 109
    assert row(t25, locality="02402-02")["anesthesia_cf"] == 215400
    assert row(t25, locality="02402-99")["anesthesia_cf"] == 203000
    # 2026: the Non-Qualifying APM column, not the QP one (21.85 / 20.65)
    assert row(t26, locality="02402-02")["anesthesia_cf"] == 217400
    assert row(t26, locality="02402-99")["anesthesia_cf"] == 205400
    assert row(t25, locality="02102-01")["anesthesia_cf"] == 278600   # "02102 ,01 ," padded cells


def test_anes_base(s):
    t = s.vintage("ANESBASE2022").table
    assert t.columns == ["hcpcs", "base_units"] and t.height == 276
    units = dict(zip(t["hcpcs"], t["base_units"]))
    assert {c: units[c] for c in ("00840", "00790", "01967", "01968", "01996", "01999")} == \
        {"00840": 6, "00790": 7, "01967": 5, "01968": 2, "01996": 3, "01999": 0}


def test_asp(s):
    t = s.vintage("ASP2025Q1").table
    assert dict(t.schema) == {"hcpcs": pl.String, "dosage": pl.String, "payment_limit": pl.Int64,
                              "coinsurance_pct": pl.Int64}
    assert t.height == 876                      # 877 rows, A9606's "N/A" left out
    assert "A9606" not in t["hcpcs"].to_list()
    for code, dose, limit in [("J1885", "15 MG", 751), ("J0696", "250 MG", 446), ("J1100", "1 MG", 108),
                              ("J2405", "1 MG", 90), ("J9035", "10 MG", 73190)]:
        r = row(t, hcpcs=code)
        assert (r["dosage"], r["payment_limit"], r["coinsurance_pct"]) == (dose, limit, 20000)
    assert t["dosage"].str.contains("\u00a0").sum() == 0      # CMS's no-break space normalised


def test_oppscap(s):
    t = s.vintage("OPPSCAP2025").table
    assert t.columns == ["hcpcs", "modifier", "locality", "facility_price", "nonfacility_price"]
    assert t.height == 280
    assert set(t["locality"]) == {"02402-02", "02402-99"}
    r = row(t, hcpcs="0633T", modifier="TC", locality="02402-02")
    assert (r["facility_price"], r["nonfacility_price"]) == (12971, 12971)


def test_localities(s):
    locs = s.localities()
    assert len(locs) == 109 and locs == sorted(locs)
    assert {"02402-02", "02402-99", "12202-01", "01182-18"} <= set(locs)


@pytest.mark.skipif(not ORACLE.is_file(), reason="CMS oracle not beside the checkout")
def test_cms_payment_file_sample_reproduced(s):
    """The parsed RVU25A + GPCI2025 tables reproduce CMS's own PFWA25A amounts (145 rows)."""
    rvu = s.vintage("RVU25A").table
    gpci = s.vintage("GPCI2025").table
    cf = Decimal(rvu["conversion_factor"][0]) / 10000
    n = 0
    with ORACLE.open(newline="") as f:
        for rec in csv.DictReader(f):
            r = row(rvu, hcpcs=rec["hcpcs"], modifier=rec["modifier"].strip())
            g = row(gpci, locality=f"{rec['carrier']}-{rec['locality']}")
            for pe, col in (("pe_nonfacility_rvu", "nonfacility_fee_amount"), ("pe_facility_rvu", "facility_fee_amount")):
                adj = (Decimal(r["work_rvu"]) * g["work_gpci"] + Decimal(r[pe]) * g["pe_gpci"]
                       + Decimal(r["mp_rvu"]) * g["mp_gpci"]) / 100_000
                got = (adj * cf).quantize(Decimal("0.01"), ROUND_HALF_UP)
                assert got == Decimal(rec[col]), (rec["hcpcs"], rec["modifier"], rec["locality"], col)
            n += 1
    assert n == 145


# --------------------------------------------------------------------------------------------
# Layout tolerance and refusal of damaged files
# --------------------------------------------------------------------------------------------

def lines_of(path: Path) -> list[str]:
    return path.read_bytes().decode("cp1252").replace("\r\n", "\n").split("\n")


def write(tmp_path: Path, name: str, lines: list[str], eol: str = "\n") -> Path:
    p = tmp_path / name
    p.write_bytes(eol.join(lines).encode("cp1252"))
    return p


def line_no(lines: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(lines, start=1) if line.startswith(prefix))


def test_crlf_ctrl_z_blank_rows_footnotes_and_padding_are_tolerated(tmp_path):
    lines = lines_of(FEE / "PPRRVU2026_Jul_nonQPP.csv")
    want = cms_files.read_rvu(FEE / "PPRRVU2026_Jul_nonQPP.csv")
    k = line_no(lines, "99213,")
    padded = lines[:k - 1] + ["", ",,,,,,", lines[k - 1].replace("99213,,", "99213 ,  ,").replace(",1.30,", ", 1.30 ,")] \
        + lines[k:] + ["", "* footnote: values are illustrative,,,", "\x1a"]
    got = cms_files.read_rvu(write(tmp_path, "lf.csv", padded, "\n"))
    assert got.equals(want)
    got = cms_files.read_rvu(write(tmp_path, "crlf.csv", padded, "\r\n"))
    assert got.equals(want)


def test_leading_zeros_restored(tmp_path):
    lines = lines_of(FEE / "ANES2026.csv")
    k = line_no(lines, "02402 ,02")
    lines[k - 1] = lines[k - 1].replace("02402 ,02 ", "2402,2")
    t = cms_files.read_anes_cf(write(tmp_path, "anes.csv", lines))
    assert row(t, locality="02402-02")["anesthesia_cf"] == 217400


def damaged(tmp_path, mutate) -> tuple[Path, list[str], int]:
    lines = lines_of(FEE / "PPRRVU25_JAN.csv")
    k = line_no(lines, "99213,")
    lines = mutate(lines, k)
    return write(tmp_path, "PPRRVU_damaged.csv", lines), lines, k


def replacing(old: str, new: str, count: int = -1):
    """A ``damaged`` mutation: ``old`` -> ``new`` in the 99213 line."""
    def mutate(lines, k):
        lines[k - 1] = lines[k - 1].replace(old, new, count)
        return lines
    return mutate


def refused(path: Path, reader=cms_files.read_rvu) -> str:
    with pytest.raises(ScheduleError) as err:
        reader(path)
    assert isinstance(err.value, ValueError)
    msg = str(err.value)
    assert path.name in msg
    return msg


def test_non_numeric_rvu_is_refused(tmp_path):
    path, _, k = damaged(tmp_path, replacing(",1.30,1.35,", ",1.3O,1.35,"))
    msg = refused(path)
    assert f"line {k}," in msg and "'WORK RVU'" in msg and "'1.3O' is not a non-negative number" in msg


def test_too_many_decimals_is_refused(tmp_path):
    path, _, k = damaged(tmp_path, replacing(",0.57,", ",0.575,"))
    msg = refused(path)
    assert f"line {k}," in msg and "'FACILITY PE RVU'" in msg and "more than 2 decimals" in msg


def test_extra_zero_decimals_are_exact_not_refused(tmp_path):
    path, _, _ = damaged(tmp_path, replacing(",0.57,", ",0.5700,"))
    assert row(cms_files.read_rvu(path), hcpcs="99213", modifier="")["pe_facility_rvu"] == 57


def test_missing_column_is_refused(tmp_path):
    def mutate(lines, k):
        # Header line 9 holds "CONV", line 10 "FACTOR": break the name.
        lines[8] = lines[8].replace(",CONV,", ",CONX,")
        return lines
    path, _, _ = damaged(tmp_path, mutate)
    msg = refused(path)
    assert "line 10," in msg and "'CONV FACTOR'" in msg and "missing required column" in msg


def test_truncated_file_is_refused(tmp_path):
    def mutate(lines, k):
        return lines[:k - 1] + ["99213,,,A,,1.30,1.35"]
    path, _, k = damaged(tmp_path, mutate)
    msg = refused(path)
    assert f"line {k}," in msg and "'FACILITY PE RVU'" in msg and "truncated" in msg


def test_file_cut_in_the_preamble_is_refused(tmp_path):
    path, _, _ = damaged(tmp_path, lambda lines, k: lines[:6])
    msg = refused(path)
    assert "line 1," in msg and "'HCPCS'" in msg and "header not found" in msg


def test_duplicated_key_is_refused(tmp_path):
    def mutate(lines, k):
        return lines[:k] + [lines[k - 1].replace(",1.30,", ",1.31,")] + lines[k:]
    path, _, k = damaged(tmp_path, mutate)
    msg = refused(path)
    assert f"line {k + 1}," in msg and "duplicated key '99213'/''" in msg and f"first on line {k}" in msg
    assert "'HCPCS+MOD'" in msg


def test_bad_code_inside_the_data_is_refused(tmp_path):
    path, _, k = damaged(tmp_path, replacing("99213,", "99 13,", 1))
    msg = refused(path)
    assert f"line {k}," in msg and "'HCPCS'" in msg and "'99 13'" in msg


def test_damaged_gpci_and_locco_are_refused(tmp_path):
    lines = lines_of(GPCI / "GPCI2025.csv")
    k = line_no(lines, "02402,WA,02")
    lines[k - 1] = lines[k - 1].replace("1.043", "one")
    msg = refused(write(tmp_path, "GPCI_bad.csv", lines), cms_files.read_gpci)
    assert f"line {k}," in msg and "PW GPCI (with 1.0 Floor)" in msg

    lines = lines_of(GPCI / "25LOCCO.csv")
    k = line_no(lines, "2402,99")
    lines[k - 1] = "2402,99,NARNIA,REST OF STATE ,ALL OTHER COUNTIES "
    msg = refused(write(tmp_path, "LOCCO_bad.csv", lines), cms_files.read_locco)
    assert f"line {k}," in msg and "'State'" in msg and "NARNIA" in msg

    lines = lines_of(GPCI / "25LOCCO.csv")
    k = line_no(lines, "2402,99")
    del lines[k - 1]                       # Washington without its rest-of-state row
    msg = refused(write(tmp_path, "LOCCO_no_rest.csv", lines), cms_files.read_locco)
    assert "WA has no 'ALL COUNTIES'" in msg


def test_wrong_kind_is_refused():
    with pytest.raises(ScheduleError, match="header not found"):
        cms_files.read_rvu(GPCI / "GPCI2025.csv")
    with pytest.raises(ScheduleError, match="unknown schedule kind"):
        cms_files.read_kind("pfs", FEE / "PPRRVU25_JAN.csv")


# --------------------------------------------------------------------------------------------
# add_schedule
# --------------------------------------------------------------------------------------------

@pytest.fixture
def copy_root(tmp_path) -> Path:
    shutil.copytree(FEE, tmp_path / "fee_schedules")
    shutil.copytree(GPCI, tmp_path / "gpci")
    return tmp_path / "fee_schedules"


def test_add_schedule_new_rvu_quarter(copy_root, tmp_path):
    lines = lines_of(FEE / "PPRRVU2026_Jul_nonQPP.csv")
    k = line_no(lines, "99213,")
    lines[k - 1] = lines[k - 1].replace(",1.30,", ",1.40,")
    new = write(tmp_path, "PPRRVU2027_Jan.csv", lines, "\r\n")

    v = sch.add_schedule(new, "rvu", date(2027, 1, 1), root=copy_root, source="test file")
    assert (v.kind, v.release, v.effective_from, v.effective_to) == ("rvu", "RVU27A", date(2027, 1, 1), None)
    assert (copy_root / "PPRRVU2027_Jan.csv").read_bytes() == new.read_bytes()
    assert v.sha256 == hashlib.sha256(new.read_bytes()).hexdigest()

    s = sch.load_schedules(copy_root)
    assert s.covering("rvu", date(2027, 3, 1)).release == "RVU27A"
    assert row(s.covering("rvu", date(2027, 3, 1)).table, hcpcs="99213", modifier="")["work_rvu"] == 140
    assert s.covering("rvu", date(2026, 12, 31)).release == "RVU26C"
    assert sch.validate_schedules(copy_root) == []
    assert 'release = "RVU27A"' in (copy_root / "manifest.toml").read_text()


def test_add_schedule_closes_the_open_vintage(copy_root, tmp_path):
    lines = lines_of(FEE / "CY2022_Anesthesia_Base_Units.txt")
    k = line_no(lines, "00840\t")
    lines[k - 1] = "00840\t7"
    new = write(tmp_path, "CY2026_Anesthesia_Base_Units.txt", lines)
    v = sch.add_schedule(new, "anes_base", date(2026, 1, 1), root=copy_root)
    assert v.release == "ANESBASE2026" and v.effective_to is None
    s = sch.load_schedules(copy_root / "manifest.toml")
    old = s.vintage("ANESBASE2022")
    assert old.effective_to == date(2025, 12, 31)
    assert row(s.covering("anes_base", date(2025, 12, 31)).table, hcpcs="00840")["base_units"] == 6
    assert row(s.covering("anes_base", date(2026, 1, 1)).table, hcpcs="00840")["base_units"] == 7
    assert sch.validate_schedules(copy_root) == []


def test_add_schedule_gpci_goes_to_gpci_folder(copy_root, tmp_path):
    new = tmp_path / "GPCI2027.csv"
    shutil.copyfile(GPCI / "GPCI2026.csv", new)
    v = sch.add_schedule(new, "gpci", date(2027, 1, 1), root=copy_root)
    assert v.release == "GPCI2027"
    assert (tmp_path / "gpci" / "GPCI2027.csv").is_file()
    assert sch.list_schedules(copy_root).filter(pl.col("release") == "GPCI2027")["path"][0] == "../gpci/GPCI2027.csv"


def test_add_schedule_refuses_a_bad_file_and_changes_nothing(copy_root, tmp_path):
    before = (copy_root / "manifest.toml").read_bytes()
    lines = lines_of(FEE / "ASP_2025Q1_Jan2025_payment_limits.csv")
    k = line_no(lines, "J9035,")
    lines[k - 1] = lines[k - 1].replace("73.190", "73.1905")
    bad = write(tmp_path, "ASP_2025Q2.csv", lines)
    with pytest.raises(ScheduleError, match=rf"line {k}, column 'Payment Limit'"):
        sch.add_schedule(bad, "asp", date(2025, 4, 1), root=copy_root)
    assert (copy_root / "manifest.toml").read_bytes() == before
    assert not (copy_root / "ASP_2025Q2.csv").exists()


def test_changed_file_is_noticed(copy_root):
    s1 = sch.load_schedules(copy_root)
    f = copy_root / "ANES2025.csv"
    f.write_bytes(f.read_bytes().replace(b"21.54", b"21.55"))
    with pytest.raises(ScheduleError, match="sha256"):
        sch.load_schedules(copy_root)
    problems = sch.validate_schedules(copy_root)
    assert len(problems) == 1 and "ANES2025" in problems[0]
    assert s1.vintage("ANES2025") is not None


def test_damaged_last_row_is_not_taken_for_a_footnote(tmp_path):
    def mutate(lines, k):
        return lines[:k - 1] + [lines[k - 1].replace("99213,", "99 13,", 1)]
    path, _, k = damaged(tmp_path, mutate)
    msg = refused(path)
    assert f"line {k}," in msg and "'99 13' is not a valid HCPCS" in msg


def test_missing_file_is_a_schedule_error(tmp_path):
    with pytest.raises(ScheduleError, match="cannot be read"):
        cms_files.read_gpci(tmp_path / "nope.csv")
