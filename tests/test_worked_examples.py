"""Worked vectors whose amounts come from CMS files and manuals, not from this code.

Sources: CMS PFS payment amount file PFWA25A (99213, Washington 2025), CMS SOURCES.md sanity
values, 42 CFR 414.46 / Claims Processing Manual ch. 12 §50 for anesthesia, the CMS ASP
file for J9035 (73.190 per 10 mg, January 2025).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

import pricer
from conftest import claim_lines

D = Decimal


@pytest.mark.parametrize("locality,pos,expected", [
    ("02402-02", "11", "99.89"), ("02402-02", "21", "69.11"),
    ("02402-99", "11", "90.36"), ("02402-99", "21", "64.12"),
])
def test_99213_medicare_2025(schedules, contract, locality, pos, expected):
    claims = claim_lines({"hcpcs": "99213", "locality": locality, "place_of_service": pos},
                         line_of_business="medicare")
    line = pricer.price(claims, contract, schedules).lines.row(0, named=True)
    assert line["pricing_method"] == "rbrvs"
    assert line["allowed_amount"] == D(expected)
    assert line["schedule_version"] == "RVU25A"
    assert line["conversion_factor"] == D("32.3465")


@pytest.mark.parametrize("hcpcs,mod,seattle", [("71046", "26", "10.92"), ("71046", "TC", "28.14")])
def test_pctc_rows_2026(schedules, contract, hcpcs, mod, seattle):
    claims = claim_lines({"hcpcs": hcpcs, "modifier_1": mod}, line_of_business="medicare",
                         date_of_service=dt.date(2026, 8, 1))
    line = pricer.price(claims, contract, schedules).lines.row(0, named=True)
    assert line["allowed_amount"] == D(seattle)
    assert line["schedule_version"] == "RVU26C"


def test_medicare_anesthesia_00840(schedules, contract):
    claims = claim_lines(
        {"hcpcs": "00840", "units": 117, "modifier_1": "AA"},
        {"hcpcs": "00840", "units": 117, "modifier_1": "QK"},
        line_of_business="medicare", place_of_service="21")
    lines = pricer.price(claims, contract, schedules).lines
    assert lines["pricing_method"].cast(str).to_list() == ["anesthesia", "anesthesia"]
    assert lines["allowed_amount"].to_list() == [D("297.25"), D("148.63")]
    assert lines["anesthesia_base_units"].to_list() == [D("6.0"), D("6.0")]
    assert lines["anesthesia_time_units"].to_list() == [D("7.8"), D("7.8")]
    assert lines["conversion_factor"].to_list() == [D("21.54"), D("21.54")]


def test_commercial_neuraxial_labor_01967(schedules, contract):
    claims = claim_lines({"hcpcs": "01967", "units": 240, "modifier_1": "AA"},
                         place_of_service="21")
    line = pricer.price(claims, contract, schedules).lines.row(0, named=True)
    assert line["anesthesia_base_units"] == D("5.0")
    assert line["anesthesia_time_units"] == D("8.0")
    cf = contract.terms("commercial").anesthesia_conversion_factor
    assert line["allowed_amount"] == (D(13) * cf).quantize(D("0.01"))


def test_j9035_drug_2025q1(schedules, contract):
    claims = claim_lines({"hcpcs": "J9035", "units": 40, "ndc": "50242-0060-01"},
                         line_of_business="medicare", date_of_service=dt.date(2025, 2, 10))
    line = pricer.price(claims, contract, schedules).lines.row(0, named=True)
    assert line["pricing_method"] == "drug"
    assert line["allowed_amount"] == D("2927.60")
    assert line["schedule_version"] == "ASP2025Q1"
    assert line["drug_coinsurance_pct"] == D("20.000")
