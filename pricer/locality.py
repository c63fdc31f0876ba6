"""State, county and ZIP normalisation for the county-to-locality crosswalk (rule book §2).

CMS's LOCCO file names states in full ("WASHINGTON ") and counties in upper case without the
word "County" ("KING "); the `zipcodes` package answers "WA" and "King County"; claims carry
whatever the provider typed. Everything is brought to one form here so that the lookups in
:mod:`pricer.schedules` are plain dictionary hits:

- state: the USPS two-letter code (``normalize_state``),
- county: upper case, single spaces, no "County"/"CNTY"/"Parish"/"Borough" suffix, "SAINT"
  and "ST" spelled "ST." as CMS does (``normalize_county``).
"""
from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path

# USPS codes of the states and territories CMS localities cover, plus the other USPS areas
# (AS, MP, FM, MH, PW and the military AA/AE/AP) so that a valid code is recognised as a state
# even where no locality exists for it (the lookup then answers None instead of guessing).
STATE_NAMES: dict[str, str] = {
    "AL": "ALABAMA", "AK": "ALASKA", "AZ": "ARIZONA", "AR": "ARKANSAS", "CA": "CALIFORNIA",
    "CO": "COLORADO", "CT": "CONNECTICUT", "DE": "DELAWARE", "DC": "DISTRICT OF COLUMBIA",
    "FL": "FLORIDA", "GA": "GEORGIA", "HI": "HAWAII", "ID": "IDAHO", "IL": "ILLINOIS",
    "IN": "INDIANA", "IA": "IOWA", "KS": "KANSAS", "KY": "KENTUCKY", "LA": "LOUISIANA",
    "ME": "MAINE", "MD": "MARYLAND", "MA": "MASSACHUSETTS", "MI": "MICHIGAN", "MN": "MINNESOTA",
    "MS": "MISSISSIPPI", "MO": "MISSOURI", "MT": "MONTANA", "NE": "NEBRASKA", "NV": "NEVADA",
    "NH": "NEW HAMPSHIRE", "NJ": "NEW JERSEY", "NM": "NEW MEXICO", "NY": "NEW YORK",
    "NC": "NORTH CAROLINA", "ND": "NORTH DAKOTA", "OH": "OHIO", "OK": "OKLAHOMA", "OR": "OREGON",
    "PA": "PENNSYLVANIA", "RI": "RHODE ISLAND", "SC": "SOUTH CAROLINA", "SD": "SOUTH DAKOTA",
    "TN": "TENNESSEE", "TX": "TEXAS", "UT": "UTAH", "VT": "VERMONT", "VA": "VIRGINIA",
    "WA": "WASHINGTON", "WV": "WEST VIRGINIA", "WI": "WISCONSIN", "WY": "WYOMING",
    "PR": "PUERTO RICO", "VI": "VIRGIN ISLANDS", "GU": "GUAM", "AS": "AMERICAN SAMOA",
    "MP": "NORTHERN MARIANA ISLANDS", "FM": "FEDERATED STATES OF MICRONESIA",
    "MH": "MARSHALL ISLANDS", "PW": "PALAU",
    "AA": "ARMED FORCES AMERICAS", "AE": "ARMED FORCES EUROPE", "AP": "ARMED FORCES PACIFIC",
}
_CODE_BY_NAME: dict[str, str] = {name: code for code, name in STATE_NAMES.items()}
# Spellings seen on claims and in CMS files that are not the USPS name.
_CODE_BY_NAME.update({
    "WASHINGTON DC": "DC", "WASHINGTON D.C.": "DC", "D.C.": "DC",
    "US VIRGIN ISLANDS": "VI", "U.S. VIRGIN ISLANDS": "VI",
    "VIRGIN ISLANDS OF THE UNITED STATES": "VI", "COMMONWEALTH OF PUERTO RICO": "PR",
})

_SPACES = re.compile(r"\s+")
# Suffixes that name the kind of county, not the county: "King County", "ORANGE CNTY",
# "St. Bernard Parish" (Louisiana), "Juneau Borough" (Alaska). "city" is NOT removed: in
# Virginia, Maryland and Missouri "Fairfax city" and "Fairfax" are different places with
# different localities ("ST. LOUIS CITY" vs "ST. LOUIS").
_SUFFIX = re.compile(r"\s+(COUNTY|CNTY|CNTYS|PARISH|BOROUGH|CITY AND BOROUGH|CENSUS AREA|MUNICIPIO)$")
_SAINT = re.compile(r"^(SAINT\s+|ST\.\s*|ST\s+)")  # not "STANISLAUS"
# Names that differ between the CMS file and the ZIP data (or CMS typos), mapped to the CMS form.
COUNTY_ALIASES: dict[str, str] = {
    "MIAMI-DADE": "DADE",      # zipcodes: "Miami-Dade County"; LOCCO: "DADE"
    "MIAMI DADE": "DADE",
    "ORAGNGE": "ORANGE",       # LOCCO 2025/2026: "LOS ANGELES /ORAGNGE CNTY"
    "DU PAGE": "DUPAGE",
    "DE KALB": "DEKALB",
    "PRINCE GEORGES": "PRINCE GEORGE'S",
}


def normalize_state(value: str | None) -> str | None:
    """USPS code of a state given as a code or a full name, any case; None when unknown.

    Examples
    --------
    >>> normalize_state(" washington ")
    'WA'
    >>> normalize_state("wa")
    'WA'
    >>> normalize_state("Atlantis") is None
    True
    """
    if value is None:
        return None
    text = _SPACES.sub(" ", str(value)).strip().upper()
    if text in STATE_NAMES:
        return text
    return _CODE_BY_NAME.get(text)


def normalize_county(value: str | None) -> str:
    """County name in the form CMS's LOCCO file uses: upper case, no "County"/"CNTY" suffix.

    Examples
    --------
    >>> normalize_county("King County")
    'KING'
    >>> normalize_county("saint louis city")
    'ST. LOUIS CITY'
    >>> normalize_county("Prince George\\u2019s County")
    "PRINCE GEORGE'S"
    """
    if value is None:
        return ""
    text = str(value).replace("\u2019", "'").replace("\u2018", "'")
    text = _SPACES.sub(" ", text).strip().upper()
    text = _SUFFIX.sub("", text).strip()
    text = _SAINT.sub("ST. ", text)
    return COUNTY_ALIASES.get(text, text)


_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")


@lru_cache(maxsize=1)
def _zip_index() -> dict[str, tuple[str, str]]:
    """ZIP5 -> (USPS state, county as the package spells it), built once per process.

    ``zipcodes.matching`` scans its whole table on every call (about 0.7 ms); the same records
    put in a dict answer in well under a microsecond, which matters for claim files with
    thousands of distinct ZIPs.
    """
    import zipcodes  # imported late: loading its table costs ~0.5 s, paid only when a ZIP is used

    # the index is kept in the user's cache folder, by package version: loading it takes a
    # few milliseconds where building it takes half a second (every CLI run and batch worker)
    version = getattr(zipcodes, "__version__", "0")
    cache = _cache_dir() / f"zip_index-{version}.json" if _cache_dir() else None
    if cache is not None and cache.exists():
        try:
            return {z: tuple(v) for z, v in json.loads(cache.read_text()).items()}
        except (OSError, ValueError):
            pass
    index = {z["zip_code"]: (z["state"], z["county"] or "") for z in zipcodes.list_all()}
    if cache is not None:
        try:
            tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(index))
            os.replace(tmp, cache)
        except OSError:  # a read-only home: build it each time
            pass
    return index


def _cache_dir() -> Path | None:
    """``$PRICER_CACHE_DIR``, else ``$XDG_CACHE_HOME/pricer``, else ``~/.cache/pricer``."""
    root = os.environ.get("PRICER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "pricer")
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return Path(root)


@lru_cache(maxsize=65536)
def zip_state_county(zip_code: str | None) -> tuple[str, str] | None:
    """(USPS state, normalised county) of a 5-digit ZIP or ZIP+4; None if malformed or unknown.

    Territories without counties in the ZIP data (GU, VI) answer an empty county, which the
    crosswalk sends to the state's all-counties locality.

    Examples
    --------
    >>> zip_state_county("98101-1234")
    ('WA', 'KING')
    >>> zip_state_county("9810") is None
    True
    """
    if zip_code is None:
        return None
    match = _ZIP.match(str(zip_code).strip())
    if match is None:
        return None
    found = _zip_index().get(match.group(1))
    if found is None:
        return None
    state, county = found
    return state, normalize_county(county)
