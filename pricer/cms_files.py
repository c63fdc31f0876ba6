"""Parsers for the CMS reference files, in the layouts CMS publishes them (rule book §2).

One reader per kind of file, ``read_<kind>(path) -> polars.DataFrame``:

========== ================================================ =====================================
kind       CMS file                                         reader
========== ================================================ =====================================
rvu        PPRRVU (national physician RVU file)             :func:`read_rvu`
gpci       GPCI (Addendum E)                                :func:`read_gpci`
anes_cf    ANES (anesthesia CF by locality)                 :func:`read_anes_cf`
anes_base  anesthesia base units by CPT code                :func:`read_anes_base`
asp        Part B drug payment allowance limits             :func:`read_asp`
locco      county-to-locality crosswalk (LOCCO)             :func:`read_locco`
oppscap    OPPS cap amounts for imaging (OPPSCAP)           :func:`read_oppscap`
========== ================================================ =====================================

Columns are found by their header text, never by position: CMS moves them between years
(CONV FACTOR is the 25th column of the 2025 PPRRVU and the 26th of 2026, which added PRIC IND)
and splits headers over several lines ("WORK" above "RVU"). Preambles, blank spacer rows,
trailing footnotes, CRLF or LF line ends, a trailing Ctrl-Z, cells padded with spaces
("02402 ") and leading zeros that CMS's spreadsheets dropped ("2102" for MAC 02102) are all
tolerated. Anything else is refused with :class:`ScheduleError`, whose message names the file,
the 1-based line and the column: a table that is quietly wrong would price every claim wrong.

Decimals are parsed from their text straight into scaled integers (units of
:mod:`pricer.money`); no value passes through binary floating point.

What the bundled 2025/2026 files need, besides the LOCCO quirks listed in :func:`read_locco`:

- PPRRVU: 10 lines before the data (title, AMA/ADA notices, release date, then a header split
  over 5 lines whose bottom cells hold the ends of the names); PPRRVU25_JAN has LF line ends,
  the others CRLF; PRIC IND is new in 2026.
- GPCI: values printed with as few decimals as needed ("1", "0.56"); 2025 has only the
  "with 1.0 Floor" work column, 2026 both; footnotes and a "MAC Assignments as of ..." row
  after the data.
- ANES: every cell padded ("02402 ,02 ,...,21.54 "); 2026 has a QP and a non-QP CF column;
  rows of empty cells at the end.
- Anesthesia base units: tab-separated, header "CODE / 2022 BASE UNIT" split over 3 lines.
- ASP: Windows-1252 text with a no-break space inside a dosage ("1 million PFU"); A9606's
  limit is "N/A" and its Notes cell is quoted over two lines.
- OPPSCAP: CMS spells the header "NON-FACILTY PRICE".
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NoReturn

import polars as pl

from pricer.locality import normalize_county, normalize_state
from pricer.money import ASP_SCALE, CENTS, CF_SCALE, GPCI_SCALE, RVU_SCALE

__all__ = [
    "KINDS", "READERS", "ScheduleError", "read_anes_base", "read_anes_cf", "read_asp",
    "read_gpci", "read_kind", "read_locco", "read_oppscap", "read_rvu",
]


class ScheduleError(ValueError):
    """A CMS file that cannot be read as the kind of table it is said to be."""


def _fail(path: Path, line: int, column: str, what: str) -> NoReturn:
    raise ScheduleError(f"{path}: line {line}, column '{column}': {what}")


# --------------------------------------------------------------------------------------------
# Generic table reader
# --------------------------------------------------------------------------------------------

# The header must start within this many non-empty rows (the PPRRVU header ends on row 10).
_HEADER_SEARCH = 60


@dataclass(frozen=True)
class _Col:
    """A column wanted from a file: output field, name for messages, header-name test."""

    field: str
    label: str
    match: Callable[[str], bool]
    required: bool = True


@dataclass(frozen=True)
class _Table:
    """The wanted columns of a file's data rows, as stripped text, plus each row's line."""

    path: Path
    df: pl.DataFrame          # one String column per found field, and Int64 "_line"
    header_line: int
    labels: dict[str, str]    # field -> header text as printed in the file


def _canon(name: str) -> str:
    """Header name reduced to letters and digits: "CO- SURG" and "CO-SURG" both -> "COSURG"."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def _named(*names: str) -> Callable[[str], bool]:
    keys = frozenset(_canon(n) for n in names)
    return keys.__contains__


def _decode(raw: bytes) -> str:
    # CMS publishes Windows-1252 text (the ASP file has a 0xA0 no-break space in a dosage);
    # Latin-1 as the last resort decodes any byte, and the cell checks judge the result.
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")


def _records(path: Path, text: str) -> tuple[list[str], list[int]]:
    """Split text into CSV records (a quoted cell may span lines) with each one's first line.

    Empty and all-blank lines are dropped here; rows of empty cells (",,,,") are kept and
    dropped later, after the header is found, because they separate header blocks.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not any(line.count('"') % 2 for line in lines):
        # Fast path, every record on one line (the 19 000-row PPRRVU files).
        starts = [n for n, line in enumerate(lines, start=1) if line.strip()]
        return [lines[n - 1] for n in starts], starts
    records: list[str] = []
    starts = []
    open_quote = 0
    for number, line in enumerate(lines, start=1):
        if open_quote:
            records[-1] += "\n" + line
        elif line.strip():
            records.append(line)
            starts.append(number)
        else:
            continue
        if line.count('"') % 2:
            open_quote = 0 if open_quote else starts[-1]
    if open_quote:
        _fail(path, open_quote, "?", "quoted cell never closed (file truncated?)")
    return records, starts


def _read_table(path: str | Path, columns: list[_Col], key_patterns: tuple[str, ...]) -> _Table:
    """Find the header of a CMS file by column names and return its data rows as text.

    ``columns[0]`` is the key column: its name anchors the header search, and a row is a data
    row when its key cell matches every regex in ``key_patterns``. Rows after the last data
    row that are not data rows are footnotes and are dropped; such a row *before* the last
    data row is an error.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScheduleError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    # Ctrl-Z (0x1A) is the DOS end-of-file mark CMS leaves on some PPRRVU files.
    text = _decode(data).replace("\x1a", "")
    records, starts = _records(path, text)
    head = records[:_HEADER_SEARCH]
    sep = "\t" if sum(r.count("\t") for r in head) > sum(r.count(",") for r in head) else ","
    rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO("\n".join(head)), delimiter=sep)]
    if len(rows) != len(head):
        _fail(path, 1, columns[0].label, "could not split the first rows into cells")
    blank = [not any(row) for row in rows]

    key = columns[0]
    anchor = next((i for i, row in enumerate(rows) if any(key.match(_canon(c)) for c in row)), None)
    if anchor is None:
        _fail(path, starts[0] if starts else 1, key.label,
              f"header not found: no column named {key.label!r} in the first {_HEADER_SEARCH} rows")
    key_at = next(i for i, c in enumerate(rows[anchor]) if key.match(_canon(c)))
    key_regexes = [re.compile(p) for p in key_patterns]

    def is_key(value: str) -> bool:
        return all(r.search(value) for r in key_regexes)

    first = next((i for i in range(anchor + 1, len(rows))
                  if len(rows[i]) > key_at and is_key(rows[i][key_at])), None)
    if first is None:
        _fail(path, starts[anchor] + 1, key.label, "no data rows after the header (file truncated?)")

    # The header is the block of non-blank rows ending just above the first data row. A split
    # header ("NON-FAC" above "PE RVU") is joined per column, bottom up, over the cells that
    # touch each other: the preamble above a column's name is separated from it by a blank
    # cell, and a name written at the top of the block ("CODE" over two empty cells) is
    # still found.
    last = max(i for i in range(anchor, first) if not blank[i])
    top = last
    while top > 0 and not blank[top - 1]:
        top -= 1
    width = max(len(rows[i]) for i in range(top, last + 1))
    names: list[str] = []
    for c in range(width):
        parts: list[str] = []
        for i in range(last, top - 1, -1):
            cell = rows[i][c] if c < len(rows[i]) else ""
            if cell:
                parts.append(cell)
            elif parts:
                break
        names.append(" ".join(reversed(parts)))
    canon = [_canon(n) for n in names]

    header_line = starts[last]
    found: dict[str, int] = {}
    for col in columns:
        hits = [i for i, k in enumerate(canon) if k and col.match(k)]
        if len(hits) > 1:
            _fail(path, header_line, col.label,
                  f"column found more than once (as {', '.join(repr(names[i]) for i in hits)})")
        if hits:
            found[col.field] = hits[0]
        elif col.required:
            _fail(path, header_line, col.label, "missing required column")
    if found.get(key.field) != key_at:
        _fail(path, header_line, key.label, "key column not where the header search found it")

    body = "\n".join(records[first:]).encode()
    schema = {f"c{i}": pl.String for i in range(width)}
    try:
        cells = pl.read_csv(body, has_header=False, schema=schema, separator=sep, quote_char='"',
                          truncate_ragged_lines=True, empty_string_is_null=False)
    except Exception as exc:  # polars' own parse errors carry no line number: add ours
        _fail(path, starts[first], key.label, f"cannot be read as CSV: {exc}")
    if cells.height != len(records) - first:
        _fail(path, starts[first], key.label, "rows could not be split (stray quote?)")
    df = cells.select(
        [pl.col(f"c{i}").fill_null("").str.strip_chars().alias(f) for f, i in found.items()]
        + [pl.Series("_line", starts[first:], dtype=pl.Int64)]
    )
    fields = list(found)
    df = df.filter(pl.any_horizontal([pl.col(f) != "" for f in fields]))
    keyed = pl.lit(True)
    for p in key_patterns:
        keyed = keyed & pl.col(key.field).str.contains(p)
    flags = df.select(keyed.alias("k"))["k"]
    last_data = flags.arg_true().max()
    bad = (~flags.head(last_data + 1)).arg_true()
    if len(bad):
        i = bad[0]
        _fail(path, df["_line"][i], names[key_at], f"{df[key.field][i]!r} is not a valid {key.label}")
    # A footnote has text in the key column at most; a trailing row with values in other
    # wanted columns is a damaged data row, not a footnote.
    tail = df.slice(last_data + 1)
    others = [f for f in fields if f != key.field]
    if tail.height and others:
        valued = tail.select(pl.any_horizontal([pl.col(f) != "" for f in others]).alias("v"))["v"]
        if valued.any():
            i = valued.arg_true()[0]
            _fail(path, tail["_line"][i], names[key_at],
                  f"{tail[key.field][i]!r} is not a valid {key.label}")
    df = df.head(last_data + 1)
    return _Table(path, df, header_line, {f: names[i] for f, i in found.items()})


# --------------------------------------------------------------------------------------------
# Value conversions: one vectorised pass per file; the first bad value is then reported
# with its line and column (only a failing file pays for finding it).
# --------------------------------------------------------------------------------------------

_NUMBER = r"^(\d+\.?\d*|\.\d+)$"


@dataclass(frozen=True)
class _Conv:
    """How one output column is made from one text field, and what makes a value bad."""

    field: str
    value: pl.Expr
    ok: pl.Expr
    why: Callable[[str], str]


def _number(field: str, scale: int, dtype: pl.DataType = pl.Int64) -> _Conv:
    """Exact count of ``1/scale`` units in a decimal text column.

    Same rule as :func:`pricer.money.to_scaled`: extra decimals are allowed only when they
    are zeros ("1.500" GPCI is 1500/1000); anything not exact is refused, never rounded.
    """
    places = len(str(scale)) - 1
    col = pl.col(field)
    # The regex admits exactly the values that fit the unit (at most `places` significant
    # decimals, trailing zeros allowed); to_decimal then only drops those zeros.
    value = col.str.to_decimal(scale=places).to_physical().cast(pl.Int64, strict=False)
    frac = rf"\.\d{{0,{places}}}0*"
    ok = col.str.contains(rf"^(\d{{1,12}}({frac})?|{frac})$") & value.is_not_null()
    if dtype == pl.Int8:
        ok = ok & (value <= 127)

    def why(v: str) -> str:
        if v == "":
            return "empty value, a number is required (file truncated?)"
        if not re.match(_NUMBER, v):
            return f"{v!r} is not a non-negative number"
        if len(v.partition(".")[2].rstrip("0")) > places:
            return f"{v!r} has more than {places} decimals" if places else f"{v!r} is not a whole number"
        return f"{v!r} is out of range"

    return _Conv(field, pl.when(ok).then(value).cast(dtype, strict=False), ok, why)


def _code(field: str, width: int = 5, what: str = "HCPCS code", blank_ok: bool = False) -> _Conv:
    """Upper-cased code of ``width`` characters [0-9A-Z]; an all-digit code shorter than that
    regains the leading zeros a spreadsheet dropped ("100" -> "00100", "2" -> "02")."""
    col = pl.col(field).str.to_uppercase()
    value = pl.when(col.str.contains(r"^\d+$")).then(col.str.zfill(width)).otherwise(col)
    ok = value.str.contains(rf"^[0-9A-Z]{{{width}}}$")
    if blank_ok:
        ok = ok | (value == "")
    return _Conv(field, value, ok, lambda v: f"{v!r} is not a valid {what}")


def _digits(field: str, width: int, what: str) -> _Conv:
    """Numeric code of fixed width; leading zeros CMS dropped ("2102" -> "02102") restored."""
    col = pl.col(field)
    return _Conv(field, col.str.zfill(width), col.str.contains(rf"^\d{{1,{width}}}$"),
                 lambda v: f"{v!r} is not a {what}")


def _pattern(field: str, pattern: str, what: str) -> _Conv:
    """Upper-cased text that must match ``pattern`` (status codes, USPS states)."""
    col = pl.col(field).str.to_uppercase()
    return _Conv(field, col, col.str.contains(pattern), lambda v: f"{v!r} is not a {what}")


def _text(field: str) -> _Conv:
    # Cells are already trimmed; runs of spaces (and the odd no-break space) become one space.
    return _Conv(field, pl.col(field).str.replace_all(r"\s+", " "), pl.lit(True), str)


def _convert(t: _Table, convs: dict[str, _Conv]) -> pl.DataFrame:
    """Build the output columns in one pass; refuse the file at its first bad value."""
    res = t.df.select(
        [c.value.alias(name) for name, c in convs.items()]
        + [c.ok.alias(f"_ok{i}") for i, c in enumerate(convs.values())]
    )
    for i, c in enumerate(convs.values()):
        ok = res[f"_ok{i}"]
        if not ok.all():
            row = (~ok).arg_true()[0]
            _fail(t.path, t.df["_line"][row], t.labels[c.field], c.why(t.df[c.field][row]))
    return res.select(list(convs))


def _unique(t: _Table, out: pl.DataFrame, keys: list[str], label: str) -> None:
    """Refuse a table whose key repeats, naming the second occurrence and the first."""
    again = out.select((~pl.struct(keys).is_first_distinct()).alias("d"))["d"].arg_true()
    if len(again):
        second = again[0]
        same = pl.all_horizontal([pl.col(k) == out[k][second] for k in keys])
        first = out.select(same.alias("s"))["s"].arg_true()[0]
        shown = "/".join(repr(out[k][second]) for k in keys)
        _fail(t.path, t.df["_line"][second], label,
              f"duplicated key {shown} (first on line {t.df['_line'][first]})")


_HCPCS_KEY = (r"^[0-9A-Za-z]{1,5}$", r"\d")   # "A0021", "0001F", "99213"; not "CODE"/"HCPCS"
_MAC_KEY = (r"^\d{1,5}$",)


def _is_mac(k: str) -> bool:
    # "Medicare Administrative Contractor (MAC)", "Contractor", LOCCO's "Medicare Adminstrative
    # Contractor" (CMS's spelling), OPPSCAP's "CARRIER".
    return k in {"MAC", "CARRIER", "CONTRACTOR"} or "CONTRACTOR" in k


# --------------------------------------------------------------------------------------------
# rvu: PPRRVU
# --------------------------------------------------------------------------------------------

_RVU_COLUMNS = [
    _Col("hcpcs", "HCPCS", _named("HCPCS")),
    _Col("modifier", "MOD", _named("MOD", "MODIFIER")),
    _Col("status", "STATUS CODE", _named("STATUS CODE")),
    _Col("not_used", "NOT USED FOR MEDICARE PAYMENT", _named("NOT USED FOR MEDICARE PAYMENT"), False),
    _Col("work", "WORK RVU", _named("WORK RVU")),
    _Col("pe_nf", "NON-FAC PE RVU", _named("NON-FAC PE RVU", "NON-FACILITY PE RVU")),
    _Col("pe_f", "FACILITY PE RVU", _named("FACILITY PE RVU")),
    _Col("mp", "MP RVU", _named("MP RVU")),
    _Col("pctc", "PCTC IND", _named("PCTC IND")),
    _Col("glob", "GLOB DAYS", _named("GLOB DAYS", "GLOBAL DAYS")),
    _Col("mult", "MULT PROC", _named("MULT PROC")),
    _Col("bilat", "BILAT SURG", _named("BILAT SURG")),
    _Col("asst", "ASST SURG", _named("ASST SURG")),
    _Col("co", "CO-SURG", _named("CO-SURG")),
    _Col("team", "TEAM SURG", _named("TEAM SURG")),
    _Col("endo", "ENDO BASE", _named("ENDO BASE")),
    _Col("cf", "CONV FACTOR", _named("CONV FACTOR", "CONVERSION FACTOR")),
    _Col("diag", "DIAGNOSTIC IMAGING FAMILY INDICATOR",
         _named("DIAGNOSTIC IMAGING FAMILY INDICATOR"), False),
]


def read_rvu(path: str | Path) -> pl.DataFrame:
    """Read a PPRRVU national RVU file (any quarterly release, 2025 or 2026 layout).

    Returns
    -------
    polars.DataFrame
        hcpcs, modifier ("" when blank), status, work_rvu, pe_nonfacility_rvu,
        pe_facility_rvu, mp_rvu (Int64, 1/100), pctc_ind, mult_proc, bilat_surg, asst_surg,
        co_surg, team_surg (Int8), global_days, endo_base ("" when blank),
        conversion_factor (Int64, 1/10 000), diag_imaging_family, not_used_for_medicare.
        (hcpcs, modifier) is unique. NA indicators are not kept: the rule book prices with
        the PE RVU the file gives.
    """
    t = _read_table(path, _RVU_COLUMNS, _HCPCS_KEY)
    optional = {f: (_text(f) if f in t.labels else _Conv(f, pl.lit(""), pl.lit(True), str))
                for f in ("diag", "not_used")}
    out = _convert(t, {
        "hcpcs": _code("hcpcs"),
        "modifier": _code("modifier", 2, "modifier", blank_ok=True),
        "status": _pattern("status", r"^[A-Z]$", "status code"),
        "work_rvu": _number("work", RVU_SCALE),
        "pe_nonfacility_rvu": _number("pe_nf", RVU_SCALE),
        "pe_facility_rvu": _number("pe_f", RVU_SCALE),
        "mp_rvu": _number("mp", RVU_SCALE),
        "pctc_ind": _number("pctc", 1, pl.Int8),
        "mult_proc": _number("mult", 1, pl.Int8),
        "bilat_surg": _number("bilat", 1, pl.Int8),
        "asst_surg": _number("asst", 1, pl.Int8),
        "co_surg": _number("co", 1, pl.Int8),
        "team_surg": _number("team", 1, pl.Int8),
        "global_days": _pattern("glob", r"^[0-9A-Z]{3}$", "global days code"),
        "endo_base": _code("endo", what="ENDO BASE code", blank_ok=True),
        "conversion_factor": _number("cf", CF_SCALE),
        "diag_imaging_family": optional["diag"],
        "not_used_for_medicare": optional["not_used"],
    })
    _unique(t, out, ["hcpcs", "modifier"], f"{t.labels['hcpcs']}+{t.labels['modifier']}")
    return out


# --------------------------------------------------------------------------------------------
# gpci: Addendum E
# --------------------------------------------------------------------------------------------

def _is_work_gpci(k: str) -> bool:
    return "PWGPCI" in k or "WORKGPCI" in k


_GPCI_COLUMNS = [
    _Col("mac", "Medicare Administrative Contractor (MAC)", _is_mac),
    _Col("state", "State", _named("State")),
    _Col("number", "Locality Number", _named("Locality Number")),
    _Col("name", "Locality Name", _named("Locality Name")),
    # "2025 PW GPCI (with 1.0 Floor)" -> ...WITH10FLOOR; "(without 1.0 Floor)" -> ...WITHOUT10FLOOR
    _Col("work_floor", "PW GPCI (with 1.0 Floor)",
         lambda k: _is_work_gpci(k) and "WITH10FLOOR" in k, False),
    _Col("work_no_floor", "PW GPCI (without 1.0 Floor)",
         lambda k: _is_work_gpci(k) and "WITHOUT" in k, False),
    _Col("work_plain", "PW GPCI", lambda k: _is_work_gpci(k) and "FLOOR" not in k, False),
    _Col("pe", "PE GPCI", lambda k: "PEGPCI" in k),
    _Col("mp", "MP GPCI", lambda k: "MPGPCI" in k),
]


def read_gpci(path: str | Path) -> pl.DataFrame:
    """Read a GPCI file (Addendum E).

    Returns
    -------
    polars.DataFrame
        mac (5 digits), locality_number (2 digits), locality ("MAC-LL"), state (USPS),
        locality_name, work_gpci (the "with 1.0 Floor" column), work_gpci_no_floor (the
        "without 1.0 Floor" column, null when the file has none, as in 2025), pe_gpci,
        mp_gpci; GPCIs Int64 in 1/1000. A file with a single work column that mentions no
        floor (as CMS prints years without one) gives that column for both.
    """
    t = _read_table(path, _GPCI_COLUMNS, _MAC_KEY)
    if "work_floor" in t.labels:
        work = _number("work_floor", GPCI_SCALE)
        no_floor = (_number("work_no_floor", GPCI_SCALE) if "work_no_floor" in t.labels
                    else _Conv("work_floor", pl.lit(None, pl.Int64), pl.lit(True), str))
    elif "work_plain" in t.labels:
        work = no_floor = _number("work_plain", GPCI_SCALE)
    else:
        _fail(t.path, t.header_line, "PW GPCI (with 1.0 Floor)", "missing required column")
    out = _convert(t, {
        "mac": _digits("mac", 5, "MAC number"),
        "locality_number": _digits("number", 2, "locality number"),
        "state": _pattern("state", r"^[A-Z]{2}$", "USPS state code"),
        "locality_name": _text("name"),
        "work_gpci": work,
        "work_gpci_no_floor": no_floor,
        "pe_gpci": _number("pe", GPCI_SCALE),
        "mp_gpci": _number("mp", GPCI_SCALE),
    })
    out = out.with_columns(locality=pl.col("mac") + "-" + pl.col("locality_number")).select(
        "mac", "locality_number", "locality", "state", "locality_name", "work_gpci",
        "work_gpci_no_floor", "pe_gpci", "mp_gpci")
    _unique(t, out, ["locality"], f"{t.labels['mac']}+{t.labels['number']}")
    return out


# --------------------------------------------------------------------------------------------
# anes_cf: ANES
# --------------------------------------------------------------------------------------------

def _is_anes_cf(k: str) -> bool:
    # 2025 has one CF column ("National Anes CF of 20.3178"); 2026 has a Qualifying APM and a
    # Non-Qualifying APM column and the rule book prices with the non-QP one, so the QP column
    # is not a match at all.
    if "ANESCF" not in k and "ANESTHESIACF" not in k:
        return False
    return not ("QUALIFYING" in k and "NONQUALIFYING" not in k)


_ANES_CF_COLUMNS = [
    _Col("mac", "Contractor", _is_mac),
    _Col("number", "Locality", _named("Locality", "Locality Number")),
    _Col("name", "Locality Name", _named("Locality Name")),
    _Col("cf", "Anes CF (non-qualifying APM where split)", _is_anes_cf),
]


def read_anes_cf(path: str | Path) -> pl.DataFrame:
    """Read an ANES file (anesthesia conversion factor by locality).

    Returns
    -------
    polars.DataFrame
        locality ("MAC-LL"), locality_name, anesthesia_cf (Int64, 1/10 000). For files with
        Qualifying and Non-Qualifying APM columns (2026) the Non-Qualifying one.
    """
    t = _read_table(path, _ANES_CF_COLUMNS, _MAC_KEY)
    out = _convert(t, {
        "mac": _digits("mac", 5, "MAC number"),
        "number": _digits("number", 2, "locality number"),
        "locality_name": _text("name"),
        "anesthesia_cf": _number("cf", CF_SCALE),
    })
    out = out.select((pl.col("mac") + "-" + pl.col("number")).alias("locality"),
                     "locality_name", "anesthesia_cf")
    _unique(t, out, ["locality"], f"{t.labels['mac']}+{t.labels['number']}")
    return out


# --------------------------------------------------------------------------------------------
# anes_base: anesthesia base units
# --------------------------------------------------------------------------------------------

_ANES_BASE_COLUMNS = [
    _Col("hcpcs", "CODE", _named("CODE", "CPT CODE", "ANESTHESIA CODE", "HCPCS", "HCPCS CODE")),
    _Col("base", "BASE UNIT", lambda k: "BASE" in k and "UNIT" in k),
]


def read_anes_base(path: str | Path) -> pl.DataFrame:
    """Read CMS's anesthesia base units by CPT code (tab- or comma-separated).

    Returns
    -------
    polars.DataFrame
        hcpcs, base_units (Int64, whole units). hcpcs is unique.
    """
    t = _read_table(path, _ANES_BASE_COLUMNS, _HCPCS_KEY)
    out = _convert(t, {"hcpcs": _code("hcpcs"), "base_units": _number("base", 1)})
    _unique(t, out, ["hcpcs"], t.labels["hcpcs"])
    return out


# --------------------------------------------------------------------------------------------
# asp: Part B drug payment allowance limits
# --------------------------------------------------------------------------------------------

_ASP_COLUMNS = [
    _Col("hcpcs", "HCPCS Code", _named("HCPCS Code", "HCPCS")),
    _Col("dosage", "HCPCS Code Dosage", _named("HCPCS Code Dosage", "Dosage")),
    _Col("limit", "Payment Limit", _named("Payment Limit")),
    _Col("coins", "Co-insurance Percentage", _named("Co-insurance Percentage", "Coinsurance Percentage")),
]


def read_asp(path: str | Path) -> pl.DataFrame:
    """Read a quarterly ASP payment allowance limit file.

    Returns
    -------
    polars.DataFrame
        hcpcs, dosage, payment_limit (Int64, 1/1000 dollars; already includes the 6 %
        add-on), coinsurance_pct (Int64, 1/1000 percent). Rows whose limit is "N/A" are left
        out (rule book §8: not listed). hcpcs is unique.
    """
    t = _read_table(path, _ASP_COLUMNS, _HCPCS_KEY)
    listed = t.df["limit"].str.to_uppercase() != "N/A"
    t = _Table(t.path, t.df.filter(listed), t.header_line, t.labels)
    out = _convert(t, {
        "hcpcs": _code("hcpcs"),
        "dosage": _text("dosage"),
        "payment_limit": _number("limit", ASP_SCALE),
        "coinsurance_pct": _number("coins", 1000),
    })
    _unique(t, out, ["hcpcs"], t.labels["hcpcs"])
    return out


# --------------------------------------------------------------------------------------------
# oppscap: OPPS cap amounts
# --------------------------------------------------------------------------------------------

_OPPSCAP_COLUMNS = [
    _Col("hcpcs", "HCPCS", _named("HCPCS")),
    _Col("modifier", "MOD", _named("MOD", "MODIFIER")),
    _Col("mac", "CARRIER", _is_mac),
    _Col("number", "LOCALITY", _named("LOCALITY")),
    _Col("facility", "FACILITY PRICE", _named("FACILITY PRICE")),
    # CMS's header reads "NON-FACILTY PRICE" (sic); accept it and the correct spelling.
    _Col("nonfacility", "NON-FACILITY PRICE", lambda k: k.startswith("NONFACIL") and k.endswith("PRICE")),
]


def read_oppscap(path: str | Path) -> pl.DataFrame:
    """Read an OPPSCAP file (OPPS-capped imaging amounts by carrier and locality).

    Returns
    -------
    polars.DataFrame
        hcpcs, modifier ("" when blank), locality ("MAC-LL"), facility_price,
        nonfacility_price (Int64 cents). (hcpcs, modifier, locality) is unique.
    """
    t = _read_table(path, _OPPSCAP_COLUMNS, _HCPCS_KEY)
    out = _convert(t, {
        "hcpcs": _code("hcpcs"),
        "modifier": _code("modifier", 2, "modifier", blank_ok=True),
        "mac": _digits("mac", 5, "MAC number"),
        "number": _digits("number", 2, "locality number"),
        "facility_price": _number("facility", CENTS),
        "nonfacility_price": _number("nonfacility", CENTS),
    })
    out = out.select("hcpcs", "modifier", (pl.col("mac") + "-" + pl.col("number")).alias("locality"),
                     "facility_price", "nonfacility_price")
    _unique(t, out, ["hcpcs", "modifier", "locality"],
            f"{t.labels['hcpcs']}+{t.labels['modifier']}+{t.labels['mac']}+{t.labels['number']}")
    return out


# --------------------------------------------------------------------------------------------
# locco: counties included in each locality
# --------------------------------------------------------------------------------------------

_LOCCO_COLUMNS = [
    _Col("mac", "Medicare Administrative Contractor", _is_mac),
    _Col("number", "Locality Number", _named("Locality Number", "Locality")),
    _Col("state", "State", _named("State")),
    _Col("area", "Fee Schedule Area", _named("Fee Schedule Area")),
    _Col("counties", "Counties", _named("Counties", "County")),
]

# "... IN VIRGINIA" at the end of a part of the DC row: those counties belong to that state.
_IN_STATE = re.compile(r"^(.*?)\s+IN\s+([A-Z .]+)$")
# Separators of a county list: "SUTTER, YUBA", "SAN FRANCISCO/ALAMEDA", "DADE AND MONROE",
# "PALM BEACH, AND ST. LUCIE". \b keeps "ANDERSON" whole.
_COUNTY_SPLIT = re.compile(r",|/|\bAND\b")


def read_locco(path: str | Path) -> pl.DataFrame:
    """Read a LOCCO file (counties included in each payment locality), one county per row.

    Returns
    -------
    polars.DataFrame
        locality ("MAC-LL"), state (USPS), county (normalised as
        :func:`pricer.locality.normalize_county`; the CMS wording "ALL COUNTIES" /
        "ALL OTHER COUNTIES" / "ALL COUNTY EQUIVALENTS" on all-other rows), all_other (True
        for the rows that take every county of the state not listed elsewhere),
        locality_name (the file's "Fee Schedule Area"). (state, county) is unique and every
        state has exactly one all-other locality.

    Notes
    -----
    What the 2025 and 2026 files need (all handled here, nothing is edited in the files):

    - The state is printed only on a state's first row ("CALIFORNIA", then blanks; one NY
      row has a single space): it is carried down. Names carry trailing spaces.
    - 2025 dropped leading zeros (MAC "2102", locality "5"); 2026 keeps them.
    - "HAWAII/GUAM" is one row for two areas: it is given to both HI and GU.
    - The DC row lists counties of three states: "DISTRICT OF COLUMBIA; ALEXANDRIA CITY,
      ARLINGTON, FAIRFAX, FAIRFAX CITY, FALLS CHURCH CITY IN VIRGINIA; MONTGOMERY AND PRINCE
      GEORGE'S IN MARYLAND": each ";" part ending "IN <STATE>" goes to that state. DC itself
      has no "all counties" row; its one county-equivalent, "DISTRICT OF COLUMBIA", is made
      the DC all-other row.
    - "ALL COUNTIES, EXCEPT ..." (Virginia) and "ALL OTHER COUNTIES EXCEPT ..." (Maryland)
      are all-other rows; the excepted counties are the ones the DC row lists for that state.
    - "LOS ANGELES /ORAGNGE CNTY": a CMS typo for Orange; "CNTY" is dropped and ORAGNGE is
      corrected through :data:`pricer.locality.COUNTY_ALIASES`.
    - Missouri's "REST OF STATE*" row appears twice (the locality has two carriers): the
      exact duplicate is dropped. A county given two different localities is refused.
    - Lists are split on ",", "/", ";" and the word "AND": "PALM BEACH, AND ST. LUCIE",
      "SAN FRANCISCO/ALAMEDA/CONTRA COSTA/SAN MATEO".
    """
    t = _read_table(path, _LOCCO_COLUMNS, _MAC_KEY)
    codes = _convert(t, {"mac": _digits("mac", 5, "MAC number"),
                         "number": _digits("number", 2, "locality number")})
    macs, numbers = codes["mac"], codes["number"]
    label = t.labels
    out: dict[tuple[str, str], tuple[str, bool, str, int]] = {}   # (state, county) -> row
    first_line: dict[str, int] = {}

    def add(state: str, county: str, all_other: bool, locality: str, name: str, line: int) -> None:
        key = (state, county)
        if key in out and out[key][0] != locality:
            _fail(t.path, line, label["counties"],
                  f"county {county!r} of {state} given locality {locality} and {out[key][0]} "
                  f"(line {out[key][3]})")
        out.setdefault(key, (locality, all_other, name, line))
        first_line.setdefault(state, line)

    states: list[str] = []
    for i, (state_cell, area, counties, line) in enumerate(
        t.df.select("state", "area", "counties", "_line").iter_rows()
    ):
        if state_cell:
            states = []
            for part in state_cell.split("/"):     # "HAWAII/GUAM"
                code = normalize_state(part)
                if code is None:
                    _fail(t.path, line, label["state"], f"{state_cell!r} is not a state")
                states.append(code)
        if not states:
            _fail(t.path, line, label["state"], "no state given on or above this row")
        locality = f"{macs[i]}-{numbers[i]}"
        name = re.sub(r"\s+", " ", area).strip()
        text = re.sub(r"\s+", " ", counties.replace("\u2019", "'")).strip().upper()
        if not text:
            _fail(t.path, line, label["counties"], "no county given")
        if text.startswith("ALL "):
            wording = re.split(r",?\s*\bEXCEPT\b", text)[0].strip(" ,")
            for state in states:
                add(state, wording, True, locality, name, line)
            continue
        for part in text.split(";"):
            part = part.strip()
            part_states = states
            m = _IN_STATE.match(part)
            if m and normalize_state(m.group(2)):
                part, part_states = m.group(1), [normalize_state(m.group(2))]
            for county in _COUNTY_SPLIT.split(part):
                county = normalize_county(county)
                if not county:
                    continue
                for state in part_states:
                    # The District is one county-equivalent: its row is also DC's all-other row.
                    whole = state == "DC" and county == "DISTRICT OF COLUMBIA"
                    add(state, county, whole, locality, name, line)

    rows = [(loc_, s, c, a, n) for (s, c), (loc_, a, n, _) in out.items()]
    df = pl.DataFrame(rows, schema={"locality": pl.String, "state": pl.String, "county": pl.String,
                                    "all_other": pl.Boolean, "locality_name": pl.String}, orient="row")
    others = df.filter(pl.col("all_other")).group_by("state").agg(pl.col("locality").n_unique().alias("n"))
    for state in sorted(set(df["state"]) - set(others["state"])):
        _fail(t.path, first_line[state], label["counties"],
              f"{state} has no 'ALL COUNTIES' / 'ALL OTHER COUNTIES' row")
    for state in others.filter(pl.col("n") > 1)["state"].sort():
        _fail(t.path, first_line[state], label["counties"],
              f"{state} has more than one all-other locality")
    return df


# --------------------------------------------------------------------------------------------

READERS: dict[str, Callable[[str | Path], pl.DataFrame]] = {
    "rvu": read_rvu,
    "gpci": read_gpci,
    "anes_cf": read_anes_cf,
    "anes_base": read_anes_base,
    "asp": read_asp,
    "locco": read_locco,
    "oppscap": read_oppscap,
}
KINDS: tuple[str, ...] = tuple(READERS)


def read_kind(kind: str, path: str | Path) -> pl.DataFrame:
    """Parse ``path`` with the reader of ``kind`` (one of :data:`KINDS`)."""
    try:
        reader = READERS[kind]
    except KeyError:
        raise ScheduleError(f"unknown schedule kind {kind!r}; expected one of {', '.join(KINDS)}") from None
    return reader(path)
