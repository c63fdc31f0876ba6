"""Replacement (frequency 7) and void (8) claims against prior priced lines (rule book §11).

The 837 marks a corrected claim with claim frequency code 7 and a cancelled one with 8, and
names the claim it corrects (REF*F8); the payer's 835 reverses the original, every amount
negated (claim status 22), then reports the new adjudication. The round trip below checks
that what the runs pay, summed with their reversals, is what pricing the final state of the
claims from scratch pays: nothing counted twice, nothing lost.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

import pricer
from pricer.claims import InputError
from pricer.cli import main

MONEY = ("billed_charge", "fee_schedule_amount", "allowed_amount", "deductible_applied",
         "copay_applied", "coinsurance_applied", "paid_amount", "member_liability")


def claim(cid, lines, freq="1", orig=None, lob="commercial", received=None):
    """Lines (hcpcs, billed[, modifier]) of one claim; surgery codes rank for MPPR."""
    rows = []
    for n, spec in enumerate(lines, 1):
        code, billed, *mod = spec
        rows.append(dict(claim_id=cid, line_number=n, member_id="1234", line_of_business=lob,
                         date_of_service=dt.date(2025, 3, 3), hcpcs=code, units=1,
                         billed_charge=Decimal(billed), place_of_service="11",
                         locality="02402-02", modifier_1=mod[0] if mod else None,
                         frequency_code=freq, original_claim_id=orig,
                         received_date=received or dt.date(2025, 3, 20),
                         rendering_npi="1234567893", copay=Decimal("10.00") if n == 1 else None))
    return rows


def frame(*claims):
    return pl.DataFrame([r for c in claims for r in c], schema_overrides={
        "billed_charge": pl.Decimal(18, 2), "modifier_1": pl.String,
        "original_claim_id": pl.String, "copay": pl.Decimal(18, 2)})


A = [("11042", "400.00"), ("11045", "150.00"), ("99213", "180.00")]
B = [("99214", "260.00"), ("36415", "15.00")]
C = [("17000", "120.00"), ("17003", "40.00"), ("17003", "40.00")]
D = [("99215", "900.00")]


def total(df, col="paid_amount"):
    return sum(df[col].to_list(), Decimal(0))


def balances(lines, adjustments):
    """billed = paid + adjustments on every line (by claim_id, line_number)."""
    adj = adjustments.group_by(pl.col("claim_id").cast(pl.String), "line_number").agg(
        pl.col("amount").sum().alias("adj"))
    joined = lines.with_columns(pl.col("claim_id").cast(pl.String)).join(
        adj, on=["claim_id", "line_number"], how="left")
    for row in joined.iter_rows(named=True):
        assert Decimal(row["billed_charge"]) == row["paid_amount"] + (row["adj"] or 0), row


@pytest.fixture(scope="module")
def runs(schedules, contract):
    day1 = pricer.price(frame(claim("A", A), claim("B", B), claim("C", C), claim("D", D)),
                        contract, schedules)
    # day 2: A replaced under its own number (a line dropped, a charge changed), B replaced
    # by a new claim B2 naming it, C voided by V1
    day2_in = frame(claim("A", [A[0], ("99213", "120.00")], "7"),
                    claim("B2", [("99215", "400.00"), ("36415", "15.00")], "7", "B"),
                    claim("V1", C, "8", "C"))
    day2 = pricer.price(day2_in, contract, schedules, prior=day1)
    # day 3: the lines in effect are day 1's D and day 2's A and B2; B2 is voided, A replaced
    in_effect = (day1.lines.filter(pl.col("claim_id") == "D"), day1.adjustments.filter(
        pl.col("claim_id") == "D"))
    prior3 = (pl.concat([in_effect[0], day2.lines.filter(pl.col("claim_id").is_in(["A", "B2"]))]),
              pl.concat([in_effect[1], day2.adjustments.filter(
                  pl.col("claim_id").is_in(["A", "B2"]))]))
    day3 = pricer.price(frame(claim("V2", [("99215", "400.00")], "8", "B2"),
                              claim("A", [("11042", "380.00")], "7")),
                        contract, schedules, prior=prior3)
    final = pricer.price(frame(claim("A", [("11042", "380.00")]), claim("D", D)),
                         contract, schedules)
    return day1, day2, day3, final


def test_paid_over_the_runs_nets_to_the_final_state(runs):
    day1, day2, day3, final = runs
    net = sum((total(r.claim_changes, "net_paid") for r in (day1, day2, day3)), Decimal(0))
    assert net == total(final.lines)
    allowed = sum((total(r.claim_changes, "net_allowed") for r in (day1, day2, day3)), Decimal(0))
    assert allowed == total(final.lines, "allowed_amount")
    # and per run, the net is the new lines plus the (negative) reversals
    for r in (day1, day2, day3):
        assert total(r.claim_changes, "net_paid") == total(r.lines) + total(r.reversals)


def test_reversal_rows_are_the_original_lines_negated(runs):
    day1, day2, _, _ = runs
    rev = day2.reversals
    assert rev["line_status"].unique().to_list() == ["reversed"]
    assert rev.select("claim_id", "line_number", "reversed_by_claim_id").rows() == [
        ("A", 1, "A"), ("A", 2, "A"), ("A", 3, "A"),
        ("B", 1, "B2"), ("B", 2, "B2"),
        ("C", 1, "V1"), ("C", 2, "V1"), ("C", 3, "V1")]
    orig = day1.lines.filter(pl.col("claim_id").is_in(["A", "B", "C"]))
    for c in MONEY:
        mine = [None if v is None else -Decimal(v) for v in orig[c].to_list()]
        assert rev[c].to_list() == mine, c
    assert rev["pricing_method"].cast(pl.String).to_list() == \
        orig["pricing_method"].cast(pl.String).to_list()
    # reversal adjustments: the originals', negated; the reversal rows balance like any line
    adj = day2.reversal_adjustments
    day1_adj = day1.adjustments.filter(pl.col("claim_id").is_in(["A", "B", "C"]))
    assert adj["amount"].to_list() == [-a for a in day1_adj["amount"].to_list()]
    assert adj["step"].cast(pl.String).to_list() == day1_adj["step"].cast(pl.String).to_list()
    balances(rev, adj)


def test_input_rows_stay_the_input_rows(runs):
    _, day2, day3, _ = runs
    assert day2.lines.height == 7 and day3.lines.height == 2
    assert day2.lines["claim_id"].to_list() == ["A", "A", "B2", "B2", "V1", "V1", "V1"]
    balances(day2.lines, day2.adjustments)
    balances(day3.lines, day3.adjustments)


def test_void_lines_are_not_adjudicated(runs):
    _, day2, _, _ = runs
    void = day2.lines.filter(pl.col("claim_id") == "V1")
    assert set(void["line_status"].cast(pl.String)) == {"void"}
    assert set(void["pricing_method"].cast(pl.String)) == {"void"}
    assert set(void["reason"].cast(pl.String)) == {"void_request"}
    assert total(void) == 0 and total(void, "member_liability") == 0
    assert void["fee_schedule_amount"].null_count() == 3
    adj = day2.adjustments.filter(pl.col("claim_id") == "V1")
    assert adj.select("group_code", "carc", "step").unique().rows() == [("OA", 18, "void")]
    assert adj["amount"].to_list() == [Decimal("120.00"), Decimal("40.00"), Decimal("40.00")]


def test_claim_changes(runs):
    day1, day2, _, _ = runs
    ch = {r["claim_id"]: r for r in day2.claim_changes.iter_rows(named=True)}
    assert list(ch) == ["A", "B2", "V1"]
    old = {c: total(day1.lines.filter(pl.col("claim_id") == c)) for c in "ABC"}
    new = {c: total(day2.lines.filter(pl.col("claim_id") == c)) for c in ("A", "B2", "V1")}
    assert (ch["A"]["frequency_code"], ch["A"]["original_claim_id"]) == ("7", "A")
    assert ch["A"]["reversed_paid"] == -old["A"] and ch["A"]["net_paid"] == new["A"] - old["A"]
    assert ch["B2"]["original_claim_id"] == "B" and ch["B2"]["net_paid"] == new["B2"] - old["B"]
    assert ch["V1"]["frequency_code"] == "8" and ch["V1"]["net_paid"] == -old["C"]
    assert ch["V1"]["reversed_lines"] == 3
    # an original claim changes nothing but itself
    first = day1.claim_changes.row(0, named=True)
    assert first["frequency_code"] == "1" and first["original_claim_id"] is None
    assert first["net_paid"] == first["paid"] and first["reversed_lines"] == 0


def test_replacement_is_priced_as_a_claim_of_its_own(runs, schedules, contract):
    _, day2, _, _ = runs
    fresh = pricer.price(frame(claim("A", [A[0], ("99213", "120.00")])), contract, schedules)
    assert day2.lines.filter(pl.col("claim_id") == "A")["paid_amount"].to_list() == \
        fresh.lines["paid_amount"].to_list()


def reasons(result):
    return result.lines["reason"].cast(pl.String).to_list()


def test_original_not_found_is_rejected(schedules, contract, runs):
    day1 = runs[0]
    claims = frame(claim("Z", D, "7", "NOPE"), claim("Y", D, "8"))
    for prior in (None, day1):
        r = pricer.price(claims, contract, schedules, prior=prior)
        assert reasons(r) == ["original_claim_not_found"] * 2
        assert set(r.lines["line_status"].cast(pl.String)) == {"rejected"}
        assert r.adjustments.select("group_code", "carc").unique().rows() == [("CO", 16)]
        assert r.reversals.height == 0 and r.reversal_adjustments.height == 0
        assert total(r.claim_changes, "net_paid") == 0


def test_void_of_a_void_and_two_claims_for_one_original(schedules, contract, runs):
    day1, day2, _, _ = runs
    r = pricer.price(frame(claim("V1", C, "8")), contract, schedules, prior=day2)
    assert reasons(r) == ["original_claim_voided"] * 3
    r = pricer.price(frame(claim("D", D, "7"), claim("D2", D, "8", "D")), contract, schedules,
                     prior=day1)
    assert reasons(r) == ["original_claim_referenced_twice"] * 2
    assert r.reversals.height == 0


def test_frequency_codes_checked(schedules, contract, runs):
    day1 = runs[0]
    mixed = claim("D", [D[0], ("99213", "100.00")], "7")
    mixed[1]["frequency_code"] = "1"
    bad = claim("E", D, "X")
    blank = claim("F", D, " ")
    r = pricer.price(frame(mixed, bad, blank), contract, schedules, prior=day1)
    assert reasons(r) == ["claim_frequency_inconsistent"] * 2 + ["frequency_code_invalid", None]
    assert r.lines["line_status"].cast(pl.String).to_list()[-1] == "priced"


def test_line_rejections_come_first_and_void_outranks_denials(schedules, contract, runs):
    day1 = runs[0]
    repl = claim("A", [("11042", "400.00"), ("ZZ", "10.00")], "7")
    late = claim("C", C, "8", received=dt.date(2027, 1, 1))  # past 365 days: still a void
    r = pricer.price(frame(repl, late), contract, schedules, prior=day1)
    assert reasons(r) == [None, "hcpcs_invalid"] + ["void_request"] * 3
    assert r.reversals["reversed_by_claim_id"].to_list() == ["A"] * 3 + ["C"] * 3


def test_rejected_prior_lines_are_not_reversed(schedules, contract):
    first = pricer.price(frame(claim("R", [("99213", "100.00"), ("ZZ", "10.00")])),
                         contract, schedules)
    assert reasons(first) == [None, "hcpcs_invalid"]
    r = pricer.price(frame(claim("R", [("99213", "100.00")], "8")), contract, schedules,
                     prior=first)
    assert r.reversals["line_number"].to_list() == [1]


def test_prior_from_files_equals_prior_from_the_result(schedules, contract, runs, tmp_path):
    day1, day2, _, _ = runs
    claims = frame(claim("A", [A[0], ("99213", "120.00")], "7"),
                   claim("B2", [("99215", "400.00"), ("36415", "15.00")], "7", "B"),
                   claim("V1", C, "8", "C"))
    for suffix in ("parquet", "csv"):
        lines, adj = tmp_path / f"l.{suffix}", tmp_path / f"a.{suffix}"
        day1.write(lines, adjustments=adj)
        r = pricer.price(claims, contract, schedules, prior=(lines, adj))
        assert r.reversals["paid_amount"].to_list() == day2.reversals["paid_amount"].to_list()
        assert r.reversal_adjustments["amount"].to_list() == \
            day2.reversal_adjustments["amount"].to_list()
        assert r.claim_changes["net_paid"].to_list() == day2.claim_changes["net_paid"].to_list()


def test_prior_refused_with_a_clear_message(schedules, contract, runs):
    day1 = runs[0]
    claims = frame(claim("D", D, "7"))
    with pytest.raises(InputError, match="reversals need both"):
        pricer.price(claims, contract, schedules, prior=day1.lines)
    with pytest.raises(InputError, match="missing column 'paid_amount'"):
        pricer.price(claims, contract, schedules,
                     prior=(day1.lines.drop("paid_amount"), day1.adjustments))
    twice = pl.concat([day1.lines, day1.lines.filter(pl.col("claim_id") == "D")])
    with pytest.raises(InputError, match="claim 'D' line 1 appears more than once"):
        pricer.price(claims, contract, schedules, prior=(twice, day1.adjustments))
    floats = day1.lines.with_columns(pl.col("paid_amount").cast(pl.Float64))
    with pytest.raises(InputError, match="'paid_amount' is floating point"):
        pricer.price(claims, contract, schedules, prior=(floats, day1.adjustments))
    text = day1.lines.with_columns(pl.col("paid_amount").cast(pl.String).replace("90.34", "9O"))
    text = day1.lines.with_columns(pl.lit("abc").alias("paid_amount"))
    with pytest.raises(InputError, match="'paid_amount', row 1: 'abc' is not an amount"):
        pricer.price(claims, contract, schedules, prior=(text, day1.adjustments))


def test_explain_names_the_reversal(runs):
    _, day2, _, _ = runs
    text = day2.explain("B2")
    old = -day2.claim_changes.filter(pl.col("claim_id") == "B2")["reversed_paid"][0]
    assert f"This replacement (frequency 7) reverses claim B: 2 line(s)" in text
    assert f"paid -{old:,.2f}" in text
    assert "Net change:" in text
    assert "reverses" not in pricer.price(frame(claim("B", B)), day2.contract,
                                          day2.schedules).explain("B")


def test_cli_writes_reversals_beside_the_output(tmp_path, runs, capsys):
    day1 = runs[0]
    lines, adj = tmp_path / "day1.parquet", tmp_path / "day1_adj.parquet"
    day1.write(lines, adjustments=adj)
    src = tmp_path / "day2.parquet"
    frame(claim("D", [("99215", "800.00")], "7")).write_parquet(src)
    out, out_adj = tmp_path / "day2_priced.parquet", tmp_path / "day2_adj.parquet"
    assert main(["reprice", str(src), "--prior", str(lines)]) == 2
    assert "--prior needs --prior-adjustments" in capsys.readouterr().err
    assert main(["reprice", str(src), "-o", str(out), "--adjustments", str(out_adj),
                 "--prior", str(lines), "--prior-adjustments", str(adj)]) == 0
    said = capsys.readouterr().out
    assert "1 replacement/void claim(s) reversed 1 prior line(s)" in said
    rev = pl.read_parquet(tmp_path / "day2_priced.reversals.parquet")
    assert rev.select("claim_id", "line_status").rows() == [("D", "reversed")]
    assert rev["paid_amount"][0] == -day1.lines.filter(pl.col("claim_id") == "D")["paid_amount"][0]
    rev_adj = pl.read_parquet(tmp_path / "day2_adj.reversals.parquet")
    assert total(rev_adj, "amount") == -total(day1.adjustments.filter(pl.col("claim_id") == "D"),
                                              "amount")
    assert pl.read_parquet(out).height == 1
