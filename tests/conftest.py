"""Test helpers; the schedules and contract fixtures are in the repository's conftest.py."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
ORACLE = SHARED / "data" / "cms" / "oracle" / "PFWA25A_WA_payment_amounts_sample.csv"


def claim_lines(*rows: dict, **common) -> pl.DataFrame:
    """A claims frame from a few dicts; unspecified required columns get plain defaults."""
    base = {
        "claim_id": "C1", "member_id": "12345", "line_of_business": "commercial",
        "date_of_service": dt.date(2025, 3, 1), "units": 1, "billed_charge": "10000.00",
        "place_of_service": "11", "locality": "02402-02",
        "modifier_1": None, "modifier_2": None, "modifier_3": None, "modifier_4": None,
    }
    out = []
    for i, r in enumerate(rows, start=1):
        line = {**base, **common, "line_number": i, **r}
        out.append(line)
    return pl.DataFrame(out, infer_schema_length=None)
