"""Locality of a service location: state + county through LOCCO, ZIP through `zipcodes` (§2)."""
from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from pricer import schedules as sch
from pricer.locality import normalize_county, normalize_state, zip_state_county

D25 = date(2025, 6, 1)
D26 = date(2026, 6, 1)


@pytest.fixture(scope="module")
def s():
    return sch.load_schedules()


@pytest.mark.parametrize("dos", [D25, D26])
@pytest.mark.parametrize("state, county, locality", [
    ("WA", "King County", "02402-02"),
    ("WA", "king county", "02402-02"),
    ("Washington", "KING", "02402-02"),
    (" washington ", " King  CNTY ", "02402-02"),
    ("wa", "Spokane", "02402-99"),
    ("WA", "Spokane County", "02402-99"),
    ("WA", None, "02402-99"),
    ("CA", "Los Angeles County", "01182-18"),
    ("California", "Orange", "01182-18"),           # CMS: "LOS ANGELES /ORAGNGE CNTY"
    ("CA", "San Mateo", "01112-05"),
    ("CA", "Sutter", "01112-70"),
    ("CA", "Alpine", "01112-75"),
    ("IL", "Cook", "06102-16"),
    ("IL", "DuPage County", "06102-15"),
    ("IL", "St. Clair", "06102-12"),
    ("IL", "Champaign", "06102-99"),
    ("VA", "Arlington County", "12202-01"),
    ("VA", "Alexandria city", "12202-01"),
    ("VA", "Fairfax County", "12202-01"),
    ("VA", "Fairfax city", "12202-01"),
    ("VA", "Richmond city", "11302-00"),
    ("MD", "Montgomery County", "12202-01"),
    ("MD", "Prince George's County", "12202-01"),
    ("MD", "Baltimore city", "12302-01"),
    ("MD", "Garrett", "12302-99"),
    ("DC", "District of Columbia", "12202-01"),
    ("District of Columbia", None, "12202-01"),
    ("MO", "St. Louis city", "05302-01"),
    ("MO", "Saint Louis County", "05302-01"),
    ("MO", "Jackson", "05302-02"),
    ("MO", "Greene", "05302-99"),
    ("FL", "Miami-Dade County", "09102-04"),
    ("FL", "St Lucie", "09102-03"),
    ("NY", "New York County", "13202-01"),
    ("NY", "Queens", "13292-04"),
    ("NY", "Albany", "13282-99"),
    ("LA", "St. Bernard Parish", "07202-01"),
    ("OR", "Washington", "02302-01"),
    ("TX", "Harris", "04412-18"),
    ("GU", None, "01212-01"),
    ("Hawaii", "Honolulu", "01212-01"),
    ("Puerto Rico", "San Juan Municipio", "09202-20"),
    ("AK", "Anchorage", "02102-01"),
])
def test_county_to_locality(s, state, county, locality, dos):
    assert s.locality_for_county(state, county, dos) == locality


@pytest.mark.parametrize("state", ["XX", "Atlantis", "", None, "W A"])
def test_unknown_state(s, state):
    assert s.locality_for_county(state, "King", D25) is None


def test_state_without_cms_locality(s):
    assert s.locality_for_county("AS", "Eastern District", D25) is None   # American Samoa


@pytest.mark.parametrize("zip_code, locality", [
    ("98101", "02402-02"),
    ("98101-1234", "02402-02"),
    ("981011234", "02402-02"),
    (" 98004 ", "02402-02"),        # Bellevue, King County
    ("99201", "02402-99"),          # Spokane
    ("90001", "01182-18"),
    ("60601", "06102-16"),
    ("20001", "12202-01"),          # DC
    ("22301", "12202-01"),          # Alexandria city, VA
    ("20814", "12202-01"),          # Bethesda, Montgomery County MD
    ("63101", "05302-01"),          # St. Louis city
    ("33101", "09102-04"),          # Miami-Dade
    ("10001", "13202-01"),
    ("96910", "01212-01"),          # Guam: no county in the ZIP data -> all counties
    ("00901", "09202-20"),
])
def test_zip_to_locality(s, zip_code, locality):
    assert s.locality_for_zip(zip_code, D25) == locality
    assert s.locality_for_zip(zip_code, D26) == locality


@pytest.mark.parametrize("zip_code", ["", "9810", "981O1", "98101-12", "abcde", "00000", None, "09000"])
def test_bad_zip(s, zip_code):
    assert s.locality_for_zip(zip_code, D25) is None


def test_locco_vintage_outside_its_years(s):
    # Before every LOCCO: the oldest; after every LOCCO: the newest in force.
    assert s.locality_for_county("WA", "King", date(2020, 1, 1)) == "02402-02"
    assert s.locality_for_county("WA", "King", date(2031, 1, 1)) == "02402-02"


@pytest.mark.parametrize("year", [2025, 2026])
def test_every_gpci_locality_is_reachable_from_locco(s, year):
    gpci = s.vintage(f"GPCI{year}").table
    locco = s.vintage(f"LOCCO{year}").table
    assert set(gpci["locality"]) == set(locco["locality"])
    # ... and through the lookup itself, for one county (or the all-other row) of each.
    first = locco.group_by("locality", maintain_order=True).first()
    for loc, state, county in first.select("locality", "state", "county").iter_rows():
        assert s.locality_for_county(state, county, date(year, 6, 1)) == loc


@pytest.mark.parametrize("year", [2025, 2026])
def test_locco_table(s, year):
    t = s.vintage(f"LOCCO{year}").table
    assert dict(t.schema) == {"locality": pl.String, "state": pl.String, "county": pl.String,
                              "all_other": pl.Boolean, "locality_name": pl.String}
    assert t.select(pl.struct("state", "county").is_unique().all()).item()
    states = set(t["state"])
    assert len(states) == 54                      # 50 states, DC, PR, VI, GU
    assert set(t.filter(pl.col("all_other"))["state"]) == states
    assert t.filter(pl.col("all_other")).group_by("state").len()["len"].max() == 1
    assert not t["county"].str.contains(r"\b(CNTY|COUNTY)$|,|;| AND ").any()
    dc = t.filter(pl.col("locality") == "12202-01")
    assert set(zip(dc["state"], dc["county"])) == {
        ("DC", "DISTRICT OF COLUMBIA"), ("VA", "ALEXANDRIA CITY"), ("VA", "ARLINGTON"),
        ("VA", "FAIRFAX"), ("VA", "FAIRFAX CITY"), ("VA", "FALLS CHURCH CITY"),
        ("MD", "MONTGOMERY"), ("MD", "PRINCE GEORGE'S")}


def test_normalize_state():
    assert normalize_state("Washington") == "WA"
    assert normalize_state(" new  york ") == "NY"
    assert normalize_state("dc") == "DC"
    assert normalize_state("Puerto Rico") == "PR"
    assert normalize_state("Wash") is None


def test_normalize_county():
    assert normalize_county("King County") == "KING"
    assert normalize_county("LOS ANGELES CNTY") == "LOS ANGELES"
    assert normalize_county("St.Louis city") == "ST. LOUIS CITY"
    assert normalize_county("Stanislaus") == "STANISLAUS"
    assert normalize_county("Miami-Dade County") == "DADE"
    assert normalize_county(None) == ""


def test_zip_lookup_is_memoized():
    zip_state_county.cache_clear()
    assert zip_state_county("98101") == ("WA", "KING")
    assert zip_state_county("98101") == ("WA", "KING")
    assert zip_state_county.cache_info().hits == 1


def test_zip_index_cache_gives_the_same_index(tmp_path, monkeypatch):
    """The ZIP index kept in the cache folder is the one the package's table builds."""
    from pricer import locality
    monkeypatch.setenv("PRICER_CACHE_DIR", str(tmp_path))
    locality._zip_index.cache_clear()
    built = locality._zip_index()
    assert list(tmp_path.glob("zip_index-*.json"))
    locality._zip_index.cache_clear()
    loaded = locality._zip_index()
    locality._zip_index.cache_clear()
    assert loaded == built and loaded["98101"] == ("WA", "King County")
