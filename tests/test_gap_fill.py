"""Gap fill (§9): row matching by date and modifier, by fee and by RVUs, engine = reference."""
from __future__ import annotations

from decimal import Decimal

import polars as pl

import pricer
from test_reference_parity import assert_same

GAP_FILL = """hcpcs,modifier,effective_from,effective_to,fee,work_rvu,pe_rvu_nonfacility,pe_rvu_facility,mp_rvu
0101T,,2025-01-01,,100.00,,,,
0101T,XS,2025-01-01,,500.00,,,,
0101T,RT,2025-01-01,,300.00,,,,
0101T,,2025-06-01,,120.00,,,,
0521T,,2025-01-01,2025-12-31,,1.50,2.00,0.50,0.10
"""


def contract_with_gap_fill(tmp_path, contract):
    (tmp_path / "gf.csv").write_text(GAP_FILL)
    return contract.replace_lob("commercial", gap_fill=str(tmp_path / "gf.csv"))


def test_gap_fill_rows_match_by_modifier_then_latest_date(tmp_path, schedules, contract):
    c = contract_with_gap_fill(tmp_path, contract)
    rows = [("0101T", "XS", "2025-03-01"), ("0101T", "RT", "2025-03-01"),
            ("0101T", None, "2025-03-01"), ("0101T", None, "2025-07-01"),
            ("0101T", "GY", "2025-07-01"), ("0521T", None, "2025-07-01"),
            ("0521T", None, "2026-02-01")]
    claims = pl.DataFrame(
        [{"claim_id": "G", "line_number": str(i), "member_id": "1",
          "line_of_business": "commercial", "date_of_service": d, "hcpcs": h, "units": "2",
          "billed_charge": "5000.00", "place_of_service": "11", "locality": "02402-02",
          "modifier_1": m} for i, (h, m, d) in enumerate(rows, 1)],
        schema={k: pl.String for k in ("claim_id", "line_number", "member_id", "line_of_business",
                                       "date_of_service", "hcpcs", "units", "billed_charge",
                                       "place_of_service", "locality", "modifier_1")})
    lines = assert_same(claims, c, schedules).lines
    assert lines["pricing_method"].cast(str).to_list()[:6] == ["gap_fill"] * 6
    assert lines["allowed_amount"].to_list()[:5] == [
        Decimal("1000.00"), Decimal("600.00"), Decimal("200.00"), Decimal("240.00"),
        Decimal("240.00")]
    # RVU row, Seattle 2025: 1.5*1.043 + 2.00*1.22 + 0.10*0.853 = 4.0898 -> 4.09;
    # 4.09 x 58.00 = 237.22 per unit, x 2 units
    assert lines["allowed_amount"][5] == Decimal("474.44")
    assert lines["total_rvu"][5] == Decimal("4.09")
    # 2026: the RVU row has ended; 0521T has no RVUs: percent of charges
    assert lines["pricing_method"][6] == "percent_of_charges"
    assert lines["gap_fill_source"][0].endswith("gf.csv:2")  # file and data row
