"""Synthetic claim lines (pricer.synth): layout, determinism, distributions, defects, sample."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from pricer import synth
from pricer.synth import COLUMNS, DEFECT_COLUMN, DEFECTS, SAMPLE_PATH, SCHEMA, synth_claims

N = 20_000
EM_CODES = [str(c) for c in (*range(99202, 99206), *range(99211, 99216), *range(99221, 99224),
                             *range(99231, 99234), *range(99281, 99286))]
CLAIM_LEVEL = ("member_id", "line_of_business", "date_of_service", "received_date",
               "place_of_service", "locality", "service_state", "service_county", "service_zip",
               "rendering_npi", "qmb")
LOCATION = ("locality", "service_state", "service_county", "service_zip")
# Columns a defect may change (compared with the same frame drawn without defects).
DEFECT_CHANGES = {
    "hcpcs_invalid": {"hcpcs"},
    "hcpcs_missing": {"hcpcs"},
    "units_below_one": {"units"},
    "billed_charge_negative": {"billed_charge"},
    "dos_after_received": {"received_date"},
    "place_of_service_invalid": {"place_of_service"},
    "line_of_business_unknown": {"line_of_business"},
    "member_id_invalid": {"member_id"},
    "locality_invalid": set(LOCATION),
    "anesthesia_minutes_implausible": {"hcpcs", "modifier_1", "modifier_2", "modifier_3",
                                       "modifier_4", "units"},
}


@pytest.fixture(scope="module")
def clean(schedules) -> pl.DataFrame:
    return synth_claims(N, seed=42, schedules=schedules)


@pytest.fixture(scope="module")
def dirty(schedules) -> pl.DataFrame:
    return synth_claims(N, seed=42, invalid_share=0.1, schedules=schedules, label_defects=True)


def share(mask: pl.Series) -> float:
    return float(mask.fill_null(False).mean())


# ---- layout -----------------------------------------------------------------------------------

def test_columns_and_types(clean):
    assert clean.height == N
    assert tuple(clean.columns) == COLUMNS
    assert dict(clean.schema) == SCHEMA


def test_defect_label_column(dirty):
    assert dirty.columns == [*COLUMNS, DEFECT_COLUMN]
    assert dirty.schema[DEFECT_COLUMN] == pl.String


@pytest.mark.parametrize("n", [0, 1, 2, 7])
def test_small_sizes(n, schedules):
    df = synth_claims(n, seed=3, schedules=schedules)
    assert df.height == n
    assert dict(df.schema) == SCHEMA


def test_single_day_window(schedules):
    day = dt.date(2025, 6, 2)
    df = synth_claims(500, seed=1, start=day, end=day, schedules=schedules)
    assert df["date_of_service"].unique().to_list() == [day]


def test_bad_arguments(schedules):
    with pytest.raises(ValueError):
        synth_claims(-1, schedules=schedules)
    with pytest.raises(ValueError):
        synth_claims(10, invalid_share=1.5, schedules=schedules)
    with pytest.raises(ValueError):
        synth_claims(10, start=dt.date(2025, 2, 1), end=dt.date(2025, 1, 1), schedules=schedules)


# ---- determinism ---------------------------------------------------------------------------------

def test_deterministic(clean, schedules):
    again = synth_claims(N, seed=42, schedules=schedules)
    assert again.equals(clean)
    other = synth_claims(N, seed=43, schedules=schedules)
    assert not other.equals(clean)


def test_default_schedules_same_frame(clean):
    assert synth_claims(N, seed=42).equals(clean)


def test_options_have_own_streams(clean, dirty, schedules):
    """Cost shares and defects do not shift the other columns' random draws."""
    more_cs = synth_claims(N, seed=42, cost_share_share=0.8, schedules=schedules)
    rest = [c for c in COLUMNS if c not in ("deductible", "copay", "coinsurance")]
    assert more_cs.select(rest).equals(clean.select(rest))
    ok = dirty.filter(pl.col(DEFECT_COLUMN).is_null()).drop(DEFECT_COLUMN)
    assert ok.equals(clean.filter(dirty[DEFECT_COLUMN].is_null()))


# ---- claims ----------------------------------------------------------------------------------------

def test_claims_contiguous_and_numbered(clean):
    ids = clean["claim_id"]
    runs = int((ids != ids.shift(1)).fill_null(True).sum())
    assert runs == ids.n_unique()                      # each claim is one block of rows
    expected = clean.select(pl.int_range(1, pl.len() + 1).over("claim_id").cast(pl.Int32))
    assert clean["line_number"].equals(expected.to_series(), check_names=False)
    sizes = clean.group_by("claim_id").len()["len"]
    assert sizes.max() <= 6
    assert 2.5 <= N / ids.n_unique() <= 3.3
    assert clean["claim_id"].str.contains(r"^C\d{9}$").all()


def test_claim_level_columns_shared(clean):
    per_claim = clean.group_by("claim_id").agg(
        [pl.col(c).n_unique().alias(c) for c in CLAIM_LEVEL])
    for c in CLAIM_LEVEL:
        assert per_claim[c].max() == 1, c


# ---- values are valid --------------------------------------------------------------------------------

def luhn_npi_ok(npi: str) -> bool:
    digits = [int(d) for d in "80840" + npi]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return total % 10 == 0


def test_values_valid(clean, schedules):
    assert clean["member_id"].str.contains(r"^\d{1,8}$").all()
    assert (clean["member_id"].str.len_chars() < 8).any()       # not always zero-filled
    assert clean["hcpcs"].str.contains(r"^[0-9A-Z]{5}$").all()
    assert set(clean["line_of_business"].unique()) <= set(synth.LOBS)
    assert (clean["units"] >= 1).all()
    assert (clean["billed_charge"] >= 0).all()
    assert (clean["received_date"] >= clean["date_of_service"]).all()
    lag = (clean["received_date"] - clean["date_of_service"]).dt.total_days()
    assert lag.max() <= 60
    assert clean["date_of_service"].min() >= dt.date(2025, 1, 1)
    assert clean["date_of_service"].max() <= dt.date(2026, 12, 31)
    assert clean["place_of_service"].str.contains(r"^\d{2}$").all()
    assert (clean["claim_form"] == "professional").all()
    assert (clean["frequency_code"] == "1").all()
    assert clean["other_payer_paid"].null_count() == N
    npis = clean["rendering_npi"].unique().to_list()
    assert all(len(x) == 10 and x.isdigit() and luhn_npi_ok(x) for x in npis)
    for m in ("modifier_1", "modifier_2", "modifier_3", "modifier_4"):
        assert clean[m].drop_nulls().str.contains(r"^[0-9A-Z]{2}$").all()
    # modifiers fill from modifier_1 on
    assert clean.filter(pl.col("modifier_1").is_null() & pl.col("modifier_2").is_not_null()).is_empty()
    known = set(schedules.localities())
    assert set(clean["locality"].drop_nulls().unique()) <= known


def test_locations_resolve(clean, schedules):
    from pricer.locality import normalize_county, normalize_state, zip_state_county
    for z in clean["service_zip"].drop_nulls().unique():
        assert zip_state_county(z) is not None, z
    pairs = clean.select("service_state", "service_county").drop_nulls().unique().rows()
    for state, county in pairs:
        code = normalize_state(state)
        assert code is not None, state
        assert schedules.locality_for_county(code, normalize_county(county),
                                             dt.date(2025, 6, 1)) is not None, (state, county)


def test_anesthesia_and_drug_lines(clean, schedules):
    anes_codes = set(schedules.vintages("anes_base")[0].table["hcpcs"].to_list())
    anes = clean.filter(pl.col("hcpcs").is_in(sorted(anes_codes)))
    assert anes["units"].min() >= 15 and anes["units"].max() <= 1440
    assert anes["units"].median() > 30                         # minutes, not units
    pay = {"AA", "QK", "QX", "QZ", "QY", "AD"}
    assert share(anes["modifier_1"].is_in(sorted(pay))) > 0.9
    assert share(pl.Series(anes.select(pl.concat_list(pl.col("^modifier_.$")).list.eval(
        pl.element().str.starts_with("P")).list.any()).to_series())) > 0.4
    assert (anes["hcpcs"] == "01967").any()
    asp = set(schedules.vintages("asp")[0].table["hcpcs"].to_list())
    drugs = clean.filter(pl.col("hcpcs").is_in(sorted(asp)) & pl.col("hcpcs").str.starts_with("J"))
    assert share(drugs["ndc"].is_not_null()) > 0.9
    digits = drugs["ndc"].drop_nulls().str.replace_all("-", "")
    assert share(digits.str.contains(r"^\d{11}$")) > 0.95
    assert clean.filter(pl.col("ndc").is_not_null())["hcpcs"].str.starts_with("J").all()
    q1 = drugs["date_of_service"] <= dt.date(2025, 3, 31)
    assert share(q1) > 0.6                                     # most drugs priced as drugs


# ---- distributions ---------------------------------------------------------------------------------

def test_shares(clean):
    lob = clean["line_of_business"]
    for name, target in zip(synth.LOBS, synth.LOB_WEIGHTS):
        assert abs(share(lob == name) - target) < 0.04, name
    mods = clean.select(pl.concat_list(pl.col("^modifier_.$"))).to_series()
    pctc = mods.list.eval(pl.element().is_in(["26", "TC"])).list.any()
    assert abs(share(clean["hcpcs"].is_in(EM_CODES)) - 0.45) < 0.03
    assert abs(share(pctc) - 0.08) < 0.02
    assert abs(share(clean["hcpcs"].str.contains(r"^0[0-1]\d{3}$")) - 0.04) < 0.015
    assert abs(share(clean["ndc"].is_not_null()) - 0.04 * (1 - synth.NDC_MISSING)) < 0.015
    assert abs(share(clean["deductible"].is_not_null()) - 0.30) < 0.02
    cs = clean.filter(pl.col("deductible").is_not_null())
    assert cs["copay"].null_count() == 0 and cs["coinsurance"].null_count() == 0
    pos = clean["place_of_service"]
    assert share(pos == "11") > 0.5
    assert share(clean["locality"].is_not_null()) < 0.45          # mostly null
    for c in LOCATION:
        assert share(clean[c].is_not_null()) > 0.1, c
    assert share(clean.select(pl.all_horizontal(pl.col(LOCATION).is_null())).to_series()) > 0.05
    medicare = clean["line_of_business"].is_in(["medicare", "medicare_cost"])
    qmb_medicare = share(clean.filter(medicare)["qmb"])
    assert 0.0 < qmb_medicare < 0.15
    assert not clean.filter(~medicare)["qmb"].any()
    charge = clean["billed_charge"].cast(pl.Float64)
    assert charge.median() > 50 and charge.quantile(0.99) < 50_000


def test_codes_without_rvus_and_bundled(clean, schedules):
    rvu = schedules.vintages("rvu")[0].table.filter(pl.col("modifier") == "")
    status = dict(zip(rvu["hcpcs"].to_list(), rvu["status"].to_list()))
    st = clean["hcpcs"].replace_strict(status, default="?", return_dtype=pl.String)
    assert (st.is_in(["C", "I", "E", "X", "?"]) & ~clean["hcpcs"].str.starts_with("J")).any()
    assert share(st.is_in(["B", "P", "M"])) > 0.005
    assert (clean["hcpcs"].str.ends_with("99") & (st == "C")).any()      # unlisted codes


# ---- defects --------------------------------------------------------------------------------------

def test_invalid_share_one_defect_each(clean, dirty):
    label = dirty[DEFECT_COLUMN]
    assert abs(share(label.is_not_null()) - 0.1) < 0.015
    assert set(label.drop_nulls().unique()) == set(DEFECTS)
    differs = {c: ~dirty[c].eq_missing(clean[c]) for c in COLUMNS}
    changed = pl.DataFrame(differs)
    # lines without a label are untouched
    assert not changed.filter(label.is_null()).select(pl.any_horizontal(pl.all())).to_series().any()
    for name, allowed in DEFECT_CHANGES.items():
        rows = changed.filter(label == name)
        assert rows.height > 0, name
        assert rows.select(pl.any_horizontal(pl.col(sorted(allowed)))).to_series().all(), name
        others = [c for c in COLUMNS if c not in allowed]
        assert not rows.select(pl.any_horizontal(pl.col(others))).to_series().any(), name


def test_defects_priced_as_labelled(dirty):
    """The engine rejects each defective line with its label and no other line."""
    from pricer import engine
    lines = engine.price(dirty).lines
    label = lines[DEFECT_COLUMN]
    rejected = lines["line_status"].cast(pl.String) == "rejected"
    assert rejected.eq(label.is_not_null()).all()
    bad = lines.filter(label.is_not_null())
    assert bad["reason"].cast(pl.String).equals(bad[DEFECT_COLUMN], check_names=False)


# ---- the bundled sample ------------------------------------------------------------------------------

def test_sample_file_matches_writer(tmp_path):
    assert SAMPLE_PATH.is_file()
    fresh = synth.write_sample(tmp_path / "claims_sample.csv")
    assert fresh.read_bytes() == SAMPLE_PATH.read_bytes()


def test_sample_contents():
    text = pl.read_csv(SAMPLE_PATH, infer_schema=False)
    assert tuple(text.columns) == COLUMNS
    n_hand = len(synth.SAMPLE_HAND_LINES)
    assert text.height == synth.SAMPLE_LINES + n_hand
    body = text.head(synth.SAMPLE_LINES)
    assert body["date_of_service"].str.starts_with("2025-").all()
    hand = text.tail(n_hand)
    assert (hand["units"] == "1.5").any() and (hand["date_of_service"] == "03/15/2025").any()
    assert (hand["billed_charge"] == "12.345").any()


def test_sample_priced_by_engine():
    from pricer import engine
    lines = engine.price(SAMPLE_PATH).lines
    n_hand = len(synth.SAMPLE_HAND_LINES)
    body, hand = lines.head(synth.SAMPLE_LINES), lines.tail(n_hand)
    assert not (body["line_status"].cast(pl.String) == "rejected").any()
    expected = [r or None for _o, r in synth.SAMPLE_HAND_LINES]
    assert hand["reason"].cast(pl.String).to_list() == expected


# ---- benefit plans ----------------------------------------------------------------------------

PLAN_IDS = ["BRONZE", "SILVER", "GOLD"]


@pytest.fixture(scope="module")
def planned(schedules) -> pl.DataFrame:
    return synth_claims(N, seed=42, schedules=schedules, plans=PLAN_IDS, invalid_share=0.02,
                        label_defects=True)


def test_plans_add_their_columns_and_change_no_other(planned, dirty):
    """The plan columns come from a stream of their own: the frame is the one without plans,
    but for the cost shares the plans compute (null on every line)."""
    from pricer.synth import PLAN_COLUMNS
    assert planned.columns == [*COLUMNS, *PLAN_COLUMNS, DEFECT_COLUMN]
    assert all(planned.schema[c] == pl.String for c in PLAN_COLUMNS)
    cost_shares = ["deductible", "copay", "coinsurance"]
    assert planned.select(cost_shares).null_count().row(0) == (N, N, N)
    rest = [c for c in dirty.columns if c not in cost_shares]
    with_plans = synth_claims(N, seed=42, plans=PLAN_IDS, invalid_share=0.1,
                                         label_defects=True)
    assert with_plans.select(rest).equals(dirty.select(rest))
    assert synth_claims(N, seed=42, plans=PLAN_IDS, invalid_share=0.02,
                        label_defects=True).equals(planned)


def test_families_share_a_subscriber_and_a_plan(planned):
    ok = planned.filter(pl.col(DEFECT_COLUMN).is_null() |
                        (pl.col(DEFECT_COLUMN) != "member_id_invalid"))
    per_member = ok.group_by("member_id").agg(pl.col("subscriber_id", "plan_id").n_unique())
    assert per_member["subscriber_id"].max() == 1 and per_member["plan_id"].max() == 1
    families = ok.group_by("subscriber_id").agg(
        pl.col("member_id").n_unique().alias("members"), pl.col("plan_id").n_unique())
    assert families["plan_id"].max() == 1
    sizes = families["members"].value_counts()
    assert sizes["members"].max() > 1 and 1 in sizes["members"].to_list()
    # the subscriber is a member of its own family: its lines name itself
    subscribers = set(families["subscriber_id"].to_list())
    own = ok.filter(pl.col("member_id").is_in(list(subscribers)))
    assert (own["member_id"] == own["subscriber_id"]).all()
    assert set(ok["plan_id"].unique().to_list()) == set(PLAN_IDS)


def test_provider_types_per_rendering_provider(planned):
    from pricer.synth import PROVIDER_TYPES
    per_npi = planned.group_by("rendering_npi").agg(pl.col("rendering_provider_type").n_unique())
    assert per_npi["rendering_provider_type"].max() == 1
    assert set(planned["rendering_provider_type"].unique().to_list()) == set(PROVIDER_TYPES)


def test_plans_argument_checked():
    with pytest.raises(ValueError, match="plans must be"):
        synth_claims(10, plans=[])
    with pytest.raises(ValueError, match="plans must be"):
        synth_claims(10, plans=["A", 3])
