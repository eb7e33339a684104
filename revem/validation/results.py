"""``results.json``: the file format of a validation run, baselines and merging.

A results file is one JSON object (one per potential, element and tier:
``<report-dir>/<potential>/<element>/<tier>/results.json``)::

    {"format": "revem-results", "format_version": 3,
     "meta": {"revem": "0.1.0", "tier": "smoke", "element": "W",
              "potential": {"name", "kind", "source", "sha256", "elements", "citation", "trust"},
              "protocol_versions": {"eos": 1, ...}, "versions": {"lammps", "pyace", "ase", "numpy", "python"},
              "command": "...", "date": "...", "host": "..."},
     "planned": [[property, case], ...],   # every case the tier collects for the element
     "cases": [{"property", "case", "status": "passed"|"failed"|"skipped", "failures", "reason", "seconds",
                "run_id"}, ...],
     "records": [{"element", "property", "case", "quantity", "value", "unit", "uncertainty", "noise",
                  "converged", "policy", "reference", "tolerance", "passed", ...}, ...]}

Format 2 (no ``cases``, one folder per potential and element) is still read: baselines made with it work.
The format is published as a JSON Schema (``revem schema results``, :mod:`revem.schemas`); every file is
checked against it on load, with a message naming the file and the JSON path of the first violation.

Records are identified by physics -- (element, property, case, quantity) -- never by the potential's
name, so a renamed potential is compared with its predecessor record by record.

While a run goes on, each finished case is appended to ``journal.jsonl`` beside ``results.json``; at the
end of the run (or of the next run, after a kill) the journal is merged into ``results.json`` case by
case, so a killed run loses nothing it had computed and a narrower run (``-k vacancy``) updates its
cases without dropping the others (:mod:`revem.validation.writer`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

FORMAT = "revem-results"
FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)  # the schema's format_version enum (tests/test_schemas.py keeps them equal)
KEY_FIELDS = ("element", "property", "case", "quantity")
JOURNAL = "journal.jsonl"
MAX_RESULTS_BYTES = 256 * 1024 * 1024


class ResultsFileError(ValueError):
    """A results/baseline file that is not a usable revem results file; the message names it."""


def record_key(r: dict) -> tuple[str, str, str, str]:
    return tuple(str(r[k]) for k in KEY_FIELDS)


def check_name(name: str, what: str = "potential name") -> str:
    """A name that is safe as one folder of the report tree: ``[A-Za-z0-9._-]+``, not ``.``/``..``."""
    from ..potentials.core import NAME_PATTERN  # the one rule for names that become folders

    if not isinstance(name, str) or not NAME_PATTERN.match(name) or name in (".", ".."):
        raise ResultsFileError(f"{what} {name!r} is not allowed: use letters, digits, '.', '_' and '-' only "
                               "(it names a folder of the report directory)")
    return name


def report_folder(report_dir: str | Path, potential: str, element: str, tier: str) -> Path:
    """``<report_dir>/<potential>/<element>/<tier>``, refusing any name that would leave ``report_dir``."""
    check_name(potential)
    check_name(element, "element")
    check_name(tier, "tier")
    root = Path(report_dir).resolve()
    out = (root / potential / element / tier).resolve()
    if root not in out.parents:
        raise ResultsFileError(f"report folder {out} would lie outside --report-dir {root}")
    return out


MAX_DEPTH = 32  # a results file is about 6 levels deep (records' data included)


def _parse(path: Path) -> object:
    """The JSON of a results file, read within bounds (:func:`revem.safe_io.load_json`: a regular file
    checked on the opened descriptor, so a link to ``/dev/zero`` or a FIFO is refused; at most
    :data:`MAX_RESULTS_BYTES` counted while reading; nesting at most :data:`MAX_DEPTH`)."""
    from ..safe_io import Refused, load_json

    try:
        return load_json(path, "results file", limit=MAX_RESULTS_BYTES, max_depth=MAX_DEPTH, allow_nan=True)
    except Refused as exc:
        raise ResultsFileError(str(exc)) from None


def validate(data: object, path: Path | str) -> dict:
    """Check a parsed results file against the published schema (``revem schema results``, format 2 or 3) and
    the values a verdict rests on; return it, with the ``cases`` of a format-2 file reconstructed from its
    records.  Every refusal names the file and the JSON path of the first violation; ``value``, ``noise`` and
    ``tolerance`` must also be finite (a baseline whose values are NaN could never flag a regression), which a
    JSON Schema cannot say."""
    import math

    from .. import schemas

    if isinstance(data, list):
        raise ResultsFileError(
            f"results file {path}: a bare list of records (the format of revem before results format 2, without "
            f"'meta'); regenerate it with this revem (e.g. `make baseline`)")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ResultsFileError(f"results file {path}: not a revem results file (expected a JSON object with "
                               f"\"format\": \"{FORMAT}\", \"meta\" and \"records\")")
    schemas.check("results", data, f"results file {path}", ResultsFileError)
    for i, r in enumerate(data["records"]):
        for k in ("value", "noise", "tolerance"):
            v = r.get(k)
            if v is not None and not math.isfinite(v):
                raise ResultsFileError(f"results file {path}: records[{i}].{k}: {v!r} is not a finite number "
                                       f"(null for no number) in record {record_key(r)}")
    if data.get("cases") is None:
        data["cases"] = cases_of_records(data["records"])
    return data


def cases_of_records(records: list[dict]) -> list[dict]:
    """The case list of a format-2 file (no ``cases``): one per (property, case) of its records, failed when
    a record failed."""
    out: dict = {}
    for r in records:
        k = (str(r["property"]), str(r["case"]))
        c = out.setdefault(k, {"property": k[0], "case": k[1], "status": "passed", "failures": [], "reason": "",
                               "seconds": None})
        if r.get("passed") is False or (r.get("baseline") or {}).get("regression"):
            c["status"] = "failed"
    return list(out.values())


def load(path: str | Path) -> dict:
    path = Path(path)
    return validate(_parse(path), path)


def find_files(path: str | Path) -> list[Path]:
    """The results files of ``path``: the file itself, or every ``*/*/results.json`` under a report dir."""
    path = Path(path)
    if not path.exists():
        raise ResultsFileError(f"baseline {path}: no such file or directory")
    if path.is_file():
        return [path]
    files = sorted(path.rglob("results.json"))
    if not files:
        raise ResultsFileError(f"baseline {path}: no results.json below this directory")
    return files


def dump(path: Path, meta: dict, records: list[dict], cases: list[dict] | None = None,
         planned: list | None = None) -> None:
    """Write a results file atomically (a crash never leaves half a file).  ``planned``: every (property,
    case) the tier collects for the element (the report is complete when each has a case entry)."""
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "meta": meta,
            "planned": [list(k) for k in planned] if planned is not None else None,
            "cases": sorted(cases if cases is not None else cases_of_records(records),
                            key=lambda c: (c["property"], c["case"])),
            "records": sorted(records, key=lambda r: (r["property"], r["case"], r["quantity"], r.get("reference_source") or "",
                                         str(r.get("test_id") or "")))}
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path`` (readers never see half a
    file; :func:`revem.safe_io.atomic_file`)."""
    from ..safe_io import atomic_file

    atomic_file(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), "results file")


# -- journal ---------------------------------------------------------------------------------------
def append_journal(folder: Path, outcome: dict, meta: dict) -> None:
    """Append one finished case (its outcome with its records) to the folder's journal, flushed to disk."""
    folder.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"meta": meta, "outcome": outcome})
    with open(folder / JOURNAL, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_journal(folder: Path) -> list[tuple[dict, dict]]:
    """(meta, outcome) entries of the folder's journal; a torn or damaged line is skipped, later lines kept.
    An entry of the previous journal format (meta + records) becomes an outcome whose status its records say."""
    p = folder / JOURNAL
    if not p.is_file():
        return []
    out = []
    with open(p, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(e, dict) or not isinstance(e.get("meta"), dict):
                continue
            o = e.get("outcome")
            if isinstance(o, dict) and isinstance(o.get("records"), list) and isinstance(o.get("case"), dict):
                out.append((e["meta"], o))
            elif isinstance(e.get("records"), list) and e["records"]:
                r0 = e["records"][0]
                c = cases_of_records(e["records"])[0]
                out.append((e["meta"], {"case": {"potential": r0.get("potential"), "element": r0.get("element"),
                                                 "property": c["property"], "case": c["case"]},
                                        "status": c["status"], "records": e["records"], "failures": [], "reason": "",
                                        "seconds": None}))
    return out


def incompatible(old_meta: dict, new_meta: dict) -> str | None:
    """Why two runs' records may not be merged into one file (None when they may)."""
    for k in ("tier", "element"):
        if old_meta.get(k) != new_meta.get(k):
            return f"{k} {old_meta.get(k)!r} != {new_meta.get(k)!r}"
    if (old_meta.get("potential") or {}).get("sha256") != (new_meta.get("potential") or {}).get("sha256"):
        return "the potential's content (sha256) changed"
    return None


def source_case(r: dict) -> tuple[str, str]:
    """(property, case) of the case of a run that produced record ``r``, which may differ from the record's own
    ``case`` (elastic case ``C12`` gives a record of case ``bcc``): its ``from_case``; in files written before
    records carried it, the case of its test id ``test_<property>[<potential>-<element>-<case>]``; else the
    record's ``case``."""
    prop = str(r.get("property"))
    if r.get("from_case"):
        return prop, str(r["from_case"])
    tid = str(r.get("test_id") or "")
    head = f"test_{prop}[{r.get('potential')}-{r.get('element')}-"
    if tid.startswith(head) and tid.endswith("]"):
        return prop, tid[len(head):-1]
    return prop, str(r.get("case"))


def merge(old: list[dict], new: list[dict], protocol_versions: dict, ran: set | None = None) -> list[dict]:
    """Records of ``new`` replace every old record produced by the same case of a run (:func:`source_case`; and
    by the cases in ``ran``, which may have produced no record: a skip); old records of other cases are kept
    when their property's protocol version is unchanged.  (Matching on the record's own ``case`` would let
    elastic case ``C12``, whose records are of case ``bcc``, drop the records of ``C11``.)"""
    ran = set(ran or ()) | {source_case(r) for r in new}
    kept = [r for r in old if source_case(r) not in ran
            and r.get("protocol_version") == protocol_versions.get(r["property"], r.get("protocol_version"))]
    return kept + list(new)


# -- baselines -------------------------------------------------------------------------------------
class Baseline:
    """The results files of ``--baseline``, matched to each validated (potential, element).

    A potential is matched to the baseline file of the same name, else of the same content
    (sha256), else -- when the baseline holds exactly one potential for the element -- to that one,
    so a renamed or re-fitted potential is compared with its predecessor.
    """

    def __init__(self, path: str | Path, tier: str | None = None):
        self.path = Path(path)
        self._records: dict = {}
        self.files = []
        for f in find_files(self.path):
            self.files.append((f, load(f)))
        if tier is not None and len(self.files) > 1:  # a report dir holds every tier side by side: take this tier's
            same = [(f, d) for f, d in self.files if d["meta"].get("tier") == tier]
            if not same:
                tiers = sorted({str(d["meta"].get("tier")) for _, d in self.files})
                raise ResultsFileError(f"baseline {self.path} holds results of tier {', '.join(tiers)}, none of tier "
                                       f"'{tier}': numbers of different protocols are not comparable")
            self.files = same
        empty = [str(f) for f, d in self.files if not d["records"]]
        if empty:
            raise ResultsFileError(f"baseline {', '.join(empty)}: holds no records; nothing could be compared")

    def check_against(self, tier: str, protocol_versions: dict) -> None:
        for f, d in self.files:
            if d["meta"]["tier"] != tier:
                raise ResultsFileError(f"baseline {f} was made with tier '{d['meta']['tier']}', this run is tier "
                                       f"'{tier}': numbers of different protocols are not comparable")
            changed = {p: (v, protocol_versions[p]) for p, v in d["meta"]["protocol_versions"].items()
                       if p in protocol_versions and protocol_versions[p] != v}
            if changed:
                desc = ", ".join(f"{p} v{a} -> v{b}" for p, (a, b) in sorted(changed.items()))
                raise ResultsFileError(f"baseline {f} was made with other protocol versions ({desc}); regenerate it")

    def match(self, name: str, sha256: str, element: str) -> tuple[Path, dict] | None:
        cands = [(f, d) for f, d in self.files if d["meta"]["element"] == element]
        for f, d in cands:
            if d["meta"]["potential"].get("name") == name:
                return f, d
        for f, d in cands:
            if sha256 and d["meta"]["potential"].get("sha256") == sha256:
                return f, d
        if len(cands) == 1:
            return cands[0]
        return None

    def records(self, name: str, sha256: str, element: str) -> dict[tuple, dict]:
        """The matched baseline's records by key (built once per potential and element)."""
        memo = self._records
        if (name, sha256, element) not in memo:
            m = self.match(name, sha256, element)
            out = {}
            for r in (m[1]["records"] if m is not None else []):
                out.setdefault(record_key(r), r)
            memo[(name, sha256, element)] = out
        return memo[(name, sha256, element)]
