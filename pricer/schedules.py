"""The CMS reference tables and their vintages (rule book §2).

The raw CMS files live in ``fee_schedules/`` and ``gpci/``; ``fee_schedules/manifest.toml``
lists each one with its kind, release name, dates of service it is effective for, source and
sha256. Adding next quarter's file is a manifest entry (or :func:`add_schedule`), never a
code change.

Example
-------
>>> s = load_schedules()
>>> s.covering("rvu", date(2025, 6, 1)).release
'RVU25A'
>>> s.locality_for_county("WA", "King County", date(2025, 6, 1))
'02402-02'
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from pricer.cms_files import KINDS, ScheduleError, read_kind
from pricer.locality import normalize_county, normalize_state, zip_state_county

__all__ = [
    "MANIFEST", "Schedules", "Vintage", "add_schedule", "bundled_root", "list_schedules",
    "load_schedules", "validate_schedules",
]

MANIFEST = "manifest.toml"
# Kinds whose files live in gpci/ beside fee_schedules/ (the repository's layout).
_GPCI_FOLDER_KINDS = frozenset({"gpci", "locco", "oppscap"})
# Release name prefixes for add_schedule when no release is given.
_PREFIX = {"rvu": "RVU", "gpci": "GPCI", "anes_cf": "ANES", "anes_base": "ANESBASE", "asp": "ASP",
           "locco": "LOCCO", "oppscap": "OPPSCAP"}
_ENTRY_KEYS = ("kind", "release", "path", "effective_from", "effective_to", "work_floor_through",
               "source", "sha256")


@dataclass(frozen=True)
class Vintage:
    """One CMS file and the dates of service it prices.

    Attributes
    ----------
    kind, release : str
        e.g. ``"rvu"``, ``"RVU25A"``.
    effective_from, effective_to : date, date or None
        Inclusive; ``effective_to`` None means open-ended.
    path : Path
        The file (absolute).
    source, sha256 : str
        From the manifest.
    table : polars.DataFrame
        The parsed file (schemas in :mod:`pricer.cms_files`).
    work_floor_through : date or None
        GPCI only: last date of service of the 1.0 work-GPCI floor (``work_gpci``);
        ``work_gpci_no_floor`` applies after it.
    """

    kind: str
    release: str
    effective_from: date
    effective_to: date | None
    path: Path
    source: str
    sha256: str
    table: pl.DataFrame = field(repr=False, compare=False, hash=False)
    work_floor_through: date | None = None

    def covers(self, dos: date) -> bool:
        """True when ``effective_from <= dos <= effective_to`` (open end: no upper bound)."""
        dos = _as_date(dos)
        return self.effective_from <= dos and (self.effective_to is None or dos <= self.effective_to)


class Schedules:
    """All vintages listed in one manifest, with date-of-service and locality lookups."""

    def __init__(self, root: Path, vintages: list[Vintage]):
        self.root = root
        self._by_kind: dict[str, list[Vintage]] = {k: [] for k in KINDS}
        for v in vintages:
            self._by_kind.setdefault(v.kind, []).append(v)
        for vs in self._by_kind.values():
            vs.sort(key=lambda v: v.effective_from)
        self._locco_maps: dict[str, tuple[dict[tuple[str, str], str], dict[str, str]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        n = sum(len(v) for v in self._by_kind.values())
        return f"Schedules({str(self.root)!r}, {n} vintages)"

    def vintages(self, kind: str) -> list[Vintage]:
        """Vintages of ``kind`` sorted by ``effective_from`` (empty list for none)."""
        return list(self._by_kind.get(kind, []))

    def vintage(self, release: str) -> Vintage | None:
        """The vintage with this release name, if any."""
        return next((v for vs in self._by_kind.values() for v in vs if v.release == release), None)

    def covering(self, kind: str, dos: date) -> Vintage | None:
        """The vintage of ``kind`` whose dates hold ``dos`` (the latest-starting one if several)."""
        dos = _as_date(dos)
        hits = [v for v in self._by_kind.get(kind, []) if v.covers(dos)]
        return hits[-1] if hits else None

    def localities(self) -> list[str]:
        """Sorted union of the "MAC-LL" localities of every GPCI vintage."""
        found: set[str] = set()
        for v in self._by_kind.get("gpci", []):
            found.update(v.table["locality"].to_list())
        return sorted(found)

    def _locco(self, dos: date) -> Vintage | None:
        # The LOCCO covering the DOS; else the newest one already in force; else the oldest:
        # county lines change rarely, and a DOS before every file still needs a locality.
        vs = self._by_kind.get("locco", [])
        if not vs:
            return None
        hit = self.covering("locco", dos)
        if hit is not None:
            return hit
        started = [v for v in vs if v.effective_from <= dos]
        return started[-1] if started else vs[0]

    def _maps(self, v: Vintage) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
        maps = self._locco_maps.get(v.release)
        if maps is None:
            with self._lock:
                t = v.table
                counties = dict(zip(zip(t["state"].to_list(), t["county"].to_list()), t["locality"].to_list()))
                other = t.filter(pl.col("all_other"))
                others = dict(zip(other["state"].to_list(), other["locality"].to_list()))
                maps = self._locco_maps[v.release] = (counties, others)
        return maps

    def locality_for_county(self, state: str, county: str | None, dos: date) -> str | None:
        """Locality ("MAC-LL") of a county through the LOCCO crosswalk for the date of service.

        Parameters
        ----------
        state : str
            USPS code or full name, any case and spacing.
        county : str or None
            Any case, with or without "County"/"CNTY". A county the file does not list (or
            none) gets the state's "all other counties" / statewide locality.
        dos : date

        Returns
        -------
        str or None
            None for a state that is unknown or has no locality.
        """
        code = normalize_state(state)
        if code is None:
            return None
        v = self._locco(_as_date(dos))
        if v is None:
            return None
        counties, others = self._maps(v)
        return counties.get((code, normalize_county(county))) or others.get(code)

    def locality_for_zip(self, zip_code: str, dos: date) -> str | None:
        """Locality of a 5-digit ZIP or ZIP+4 (state and county from the ``zipcodes`` data).

        None when the ZIP is malformed or unknown, or its state has no CMS locality.
        """
        found = zip_state_county(zip_code)
        if found is None:
            return None
        return self.locality_for_county(found[0], found[1], dos)


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------

def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


def bundled_root() -> Path:
    """Folder of the bundled ``manifest.toml``.

    ``pricer/_data/fee_schedules`` inside an installed wheel (pyproject force-includes the
    repository's ``fee_schedules`` and ``gpci`` there), else ``<repo>/fee_schedules``.
    """
    here = Path(__file__).resolve().parent
    installed = here / "_data" / "fee_schedules"
    if (installed / MANIFEST).is_file():
        return installed
    return here.parent / "fee_schedules"


def _manifest_path(path: str | Path | None) -> Path:
    p = Path(path) if path is not None else bundled_root()
    return p if p.suffix == ".toml" or p.is_file() else p / MANIFEST


def _read_manifest(manifest: Path) -> list[dict]:
    """Manifest entries with dates as ``date``; refuses entries that cannot be used."""
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScheduleError(f"{manifest}: no such manifest") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{manifest}: not valid TOML: {exc}") from None
    entries = data.get("file", [])
    if not isinstance(entries, list):
        raise ScheduleError(f"{manifest}: 'file' must be an array of tables ([[file]])")
    out = []
    for n, raw in enumerate(entries, start=1):
        e = dict(raw)
        where = f"{manifest}: [[file]] #{n} ({e.get('release', '?')})"
        for key in ("kind", "release", "path", "effective_from"):
            if not e.get(key):
                raise ScheduleError(f"{where}: '{key}' is missing")
        if e["kind"] not in KINDS:
            raise ScheduleError(f"{where}: kind {e['kind']!r} is not one of {', '.join(KINDS)}")
        for key in ("effective_from", "effective_to", "work_floor_through"):
            if e.get(key) is not None:
                try:
                    e[key] = _as_date(e[key])
                except ValueError:
                    raise ScheduleError(f"{where}: '{key}' = {e[key]!r} is not a date") from None
        if e.get("effective_to") is not None and e["effective_to"] < e["effective_from"]:
            raise ScheduleError(f"{where}: effective_to is before effective_from")
        out.append(e)
    releases = [e["release"] for e in out]
    for r in releases:
        if releases.count(r) > 1:
            raise ScheduleError(f"{manifest}: release {r!r} is listed more than once")
    return out


def _toml(value) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def _write_manifest(manifest: Path, entries: list[dict]) -> None:
    """Rewrite the manifest (keeping its leading comment block), atomically."""
    head: list[str] = []
    if manifest.is_file():
        for line in manifest.read_text(encoding="utf-8").splitlines():
            if line.startswith("#") or not line.strip():
                head.append(line)
            else:
                break
    lines = [*head] if head else ["# CMS reference tables: see pricer/schedules.py", ""]
    while lines and not lines[-1].strip():
        lines.pop()
    for e in entries:
        lines += ["", "[[file]]"]
        keys = [k for k in _ENTRY_KEYS if e.get(k) is not None] + [k for k in e if k not in _ENTRY_KEYS]
        lines += [f"{k} = {_toml(e[k])}" for k in keys if e.get(k) is not None]
    tmp = manifest.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, manifest)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _vintage(root: Path, e: dict, table: pl.DataFrame) -> Vintage:
    return Vintage(
        kind=e["kind"], release=e["release"], effective_from=e["effective_from"],
        effective_to=e.get("effective_to"), path=(root / e["path"]).resolve(),
        source=e.get("source", ""), sha256=e.get("sha256", ""), table=table,
        work_floor_through=e.get("work_floor_through"),
    )


# --------------------------------------------------------------------------------------------
# Loading (cached per manifest while no file changes)
# --------------------------------------------------------------------------------------------

_CACHE: dict[Path, tuple[tuple, Schedules]] = {}
_CACHE_LOCK = threading.Lock()


def _signature(manifest: Path, entries: list[dict]) -> tuple:
    parts = []
    for p in [manifest] + [manifest.parent / e["path"] for e in entries]:
        try:
            st = p.stat()
            parts.append((str(p), st.st_mtime_ns, st.st_size))
        except OSError:
            parts.append((str(p), None, None))
    return tuple(parts)


def load_schedules(path: str | Path | None = None) -> Schedules:
    """Load every vintage listed in a manifest.

    Parameters
    ----------
    path : str or Path, optional
        A folder holding ``manifest.toml``, or the manifest itself. Default: the bundled
        tables (:func:`bundled_root`).

    Returns
    -------
    Schedules
        Cached per manifest for as long as neither the manifest nor any listed file changes
        (modification time and size); a changed file is read again.

    Raises
    ------
    ScheduleError
        A manifest entry that cannot be used, a file whose sha256 differs from the manifest
        (an entry without sha256 is not checked; :func:`validate_schedules` reports it), or
        a file that does not parse.
    """
    manifest = _manifest_path(path).resolve()
    entries = _read_manifest(manifest)
    sig = _signature(manifest, entries)
    with _CACHE_LOCK:
        hit = _CACHE.get(manifest)
        if hit is not None and hit[0] == sig:
            return hit[1]
    root = manifest.parent
    vintages = []
    for e in entries:
        file = root / e["path"]
        if not file.is_file():
            raise ScheduleError(f"{manifest}: {e['release']}: file {e['path']} not found")
        if e.get("sha256") and _sha256(file) != e["sha256"]:
            raise ScheduleError(
                f"{file}: sha256 differs from the manifest entry {e['release']}: the file was "
                "changed; restore it or record the new file with add_schedule")
        vintages.append(_vintage(root, e, read_kind(e["kind"], file)))
    schedules = Schedules(root, vintages)
    with _CACHE_LOCK:
        _CACHE[manifest] = (sig, schedules)
    return schedules


def list_schedules(path: str | Path | None = None) -> pl.DataFrame:
    """One row per vintage: kind, release, effective_from, effective_to, rows, path, sha256."""
    s = load_schedules(path)
    rows = [
        (v.kind, v.release, v.effective_from, v.effective_to, v.table.height,
         os.path.relpath(v.path, s.root), v.sha256)
        for kind in KINDS for v in s.vintages(kind)
    ]
    return pl.DataFrame(rows, orient="row", schema={
        "kind": pl.String, "release": pl.String, "effective_from": pl.Date, "effective_to": pl.Date,
        "rows": pl.Int64, "path": pl.String, "sha256": pl.String})


def validate_schedules(path: str | Path | None = None) -> list[str]:
    """Re-hash and re-parse every listed file; report what is wrong.

    Also checks that no two vintages of a kind overlap, and that the localities of each
    LOCCO and ANES file match the GPCI file in force on its first day (every GPCI locality
    reachable from some county, no unknown locality).

    Returns
    -------
    list of str
        One message per problem; empty when everything is in order.
    """
    manifest = _manifest_path(path).resolve()
    try:
        entries = _read_manifest(manifest)
    except ScheduleError as exc:
        return [str(exc)]
    root = manifest.parent
    problems: list[str] = []
    vintages: list[Vintage] = []
    for e in entries:
        file = root / e["path"]
        if not file.is_file():
            problems.append(f"{e['release']}: file {e['path']} not found")
            continue
        digest = _sha256(file)
        if not e.get("sha256"):
            problems.append(f"{e['release']}: no sha256 in the manifest (file has {digest})")
        elif digest != e["sha256"]:
            problems.append(f"{e['release']}: {e['path']} sha256 {digest} differs from the manifest {e['sha256']}")
        try:
            vintages.append(_vintage(root, e, read_kind(e["kind"], file)))
        except (ScheduleError, OSError) as exc:
            problems.append(f"{e['release']}: {exc}")
    s = Schedules(root, vintages)
    for kind in KINDS:
        vs = s.vintages(kind)
        for a, b in zip(vs, vs[1:]):
            if a.effective_to is None or a.effective_to >= b.effective_from:
                problems.append(f"{kind}: {a.release} and {b.release} overlap (both cover {b.effective_from})")
    for kind in ("locco", "anes_cf"):
        for v in s.vintages(kind):
            g = s.covering("gpci", v.effective_from)
            if g is None:
                problems.append(f"{v.release}: no GPCI vintage covers {v.effective_from}")
                continue
            have, want = set(v.table["locality"]), set(g.table["locality"])
            if want - have:
                problems.append(f"{v.release}: GPCI localities missing: {', '.join(sorted(want - have))}")
            if have - want:
                problems.append(f"{v.release}: localities not in {g.release}: {', '.join(sorted(have - want))}")
    return problems


# --------------------------------------------------------------------------------------------
# Adding a file
# --------------------------------------------------------------------------------------------

def _release_name(kind: str, start: date, taken: set[str]) -> str:
    prefix = _PREFIX[kind]
    if kind == "rvu":      # CMS letters its quarterly releases A (January) to D (October)
        name = f"RVU{start:%y}{'ABCD'[(start.month - 1) // 3]}"
    elif kind == "asp":
        name = f"ASP{start.year}Q{(start.month - 1) // 3 + 1}"
    else:
        name = f"{prefix}{start.year}"
    if name in taken:
        name = f"{prefix}{start:%Y%m%d}"
    if name in taken:
        raise ScheduleError(f"release {name!r} already exists; pass release=")
    return name


def add_schedule(file: str | Path, kind: str, effective_from: date, *, release: str | None = None,
                 root: str | Path | None = None, effective_to: date | None = None,
                 source: str | None = None) -> Vintage:
    """Add a CMS file as a new vintage: parse it, copy it in, list it in the manifest.

    The file is parsed first, so a bad file changes nothing. It is copied (same name) into
    the manifest's folder, or into ``gpci/`` beside it for gpci, locco and oppscap files.
    The vintage of the same kind in force the day before ``effective_from`` is closed that
    day; with no ``effective_to``, the new vintage runs until the next later one starts
    (open when there is none).

    Parameters
    ----------
    file : str or Path
        The CMS file, as CMS publishes it.
    kind : str
        One of rvu, gpci, anes_cf, anes_base, asp, locco, oppscap.
    effective_from : date
    release : str, optional
        Default from kind and date: RVU27A, ASP2027Q1, GPCI2027, ...
    root : str or Path, optional
        Folder of the manifest (or the manifest). Default: the bundled tables.
    effective_to : date, optional
    source : str, optional
        Where the file came from; default "added from <file name>".

    Returns
    -------
    Vintage

    Raises
    ------
    ScheduleError
        Unknown kind, a file that does not parse, dates that overlap a vintage that does not
        end before, a release name or file name already taken by a different file.
    """
    src = Path(file)
    effective_from = _as_date(effective_from)
    effective_to = _as_date(effective_to) if effective_to is not None else None
    if effective_to is not None and effective_to < effective_from:
        raise ScheduleError(f"effective_to {effective_to} is before effective_from {effective_from}")
    table = read_kind(kind, src)                      # refuse a bad file before touching anything
    manifest = _manifest_path(root).resolve()
    entries = _read_manifest(manifest)
    folder = manifest.parent
    dest_dir = folder.parent / "gpci" if kind in _GPCI_FOLDER_KINDS else folder
    dest = dest_dir / src.name
    rel = os.path.relpath(dest, folder).replace(os.sep, "/")
    digest = _sha256(src)

    taken = {e["release"] for e in entries}
    if release is None:
        release = _release_name(kind, effective_from, taken)
    elif release in taken:
        raise ScheduleError(f"{manifest}: release {release!r} already exists")
    for e in entries:
        if os.path.normpath(folder / e["path"]) == os.path.normpath(dest):
            raise ScheduleError(f"{dest} is already listed in the manifest as {e['release']}")
    if dest.exists() and _sha256(dest) != digest:
        raise ScheduleError(f"{dest} already exists with different content; rename the new file")

    same = [e for e in entries if e["kind"] == kind]
    for e in same:
        if e["effective_from"] == effective_from:
            raise ScheduleError(f"{e['release']} already starts on {effective_from}")
        if e["effective_from"] > effective_from and effective_to is not None and e["effective_from"] <= effective_to:
            raise ScheduleError(f"{release} would overlap {e['release']} (from {e['effective_from']})")
    for e in same:
        ends = e.get("effective_to")
        if e["effective_from"] < effective_from and (ends is None or ends >= effective_from):
            e["effective_to"] = effective_from - timedelta(days=1)
    if effective_to is None:
        later = [e["effective_from"] for e in same if e["effective_from"] > effective_from]
        if later:
            effective_to = min(later) - timedelta(days=1)

    entry = {"kind": kind, "release": release, "path": rel, "effective_from": effective_from,
             "effective_to": effective_to, "source": source or f"added from {src.name}",
             "sha256": digest}
    dest_dir.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        shutil.copyfile(src, dest)
    _write_manifest(manifest, entries + [entry])
    with _CACHE_LOCK:
        _CACHE.pop(manifest, None)
    return _vintage(folder, entry, table)
