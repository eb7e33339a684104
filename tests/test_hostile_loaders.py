"""Hostile inputs to revem's loaders (issue #19): the bounded extxyz reader (label, fit, select, diversity,
experiment and a card's ``training_data`` all read through it), read-only databases, user reference files,
baselines, ``kind: ase`` classes, and the output discipline itself (:mod:`revem.safe_io`).

Each refusal must be one line naming the file and the limit or problem, and leave the file (and every
other file of the sandbox) byte-identical; nothing a loader reads may make it write.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hostile_tools import Sandbox, foreign_sqlite, gzip_bomb, labelled_frames, write_frames

from revem import data, safe_io
from revem.safe_io import Refused

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def box(tmp_path, monkeypatch):
    sb = Sandbox(tmp_path)
    monkeypatch.chdir(sb.cwd)
    return sb


def _one_line(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


# ==================================================================================================
# the bounded extxyz reader (revem.data.read_extxyz_fast / revem.safe_io.read_extxyz)
# ==================================================================================================
def test_reader_gzip_bomb_stops_at_the_cap_fast(box, monkeypatch):
    bomb = gzip_bomb(box.root / "b.extxyz.gz", 40 << 20)
    assert bomb.stat().st_size < 200_000
    monkeypatch.setenv("REVEM_MAX_READ_BYTES", str(4 << 20))
    box.snap()
    t0 = time.perf_counter()
    with pytest.raises(data.DataCorrupt) as exc:
        data.read_extxyz_fast(bomb)
    assert time.perf_counter() - t0 < 5
    msg = _one_line(exc)
    assert "b.extxyz.gz" in msg and "more than 4 MiB once decompressed" in msg and "REVEM_MAX_READ_BYTES" in msg
    box.check()


def test_reader_default_cap_is_applied(box):
    """Without the variable the default (512 MiB) holds: a 600 MiB bomb is refused, not inflated."""
    bomb = gzip_bomb(box.root / "b.extxyz.gz", 600 << 20)
    with pytest.raises(data.DataCorrupt, match=r"more than 512 MiB once decompressed"):
        data.read_extxyz_fast(bomb)


def test_reader_plain_file_over_the_cap(box, monkeypatch):
    f = write_frames(box.root / "big.extxyz", labelled_frames(12))
    monkeypatch.setenv("REVEM_MAX_READ_BYTES", "1000")
    with pytest.raises(data.DataCorrupt, match=r"big\.extxyz: more than 1000 bytes \(limit 1000 bytes"):
        data.read_extxyz_fast(f)


def test_reader_frame_cap(box, monkeypatch):
    f = write_frames(box.root / "many.extxyz", labelled_frames(12))
    monkeypatch.setenv("REVEM_MAX_FRAMES", "11")
    with pytest.raises(data.DataCorrupt, match=r"many\.extxyz: more than 11 frames \(limit REVEM_MAX_FRAMES\)"):
        data.read_extxyz_fast(f)
    monkeypatch.setenv("REVEM_MAX_FRAMES", "12")
    assert len(data.read_extxyz_fast(f)) == 12


@pytest.mark.parametrize("value", ["0", "-3", "lots"])
def test_reader_limit_variable_must_be_a_positive_number(box, monkeypatch, value):
    f = write_frames(box.root / "a.extxyz", labelled_frames(2))
    monkeypatch.setenv("REVEM_MAX_FRAMES", value)
    with pytest.raises(Refused, match="REVEM_MAX_FRAMES"):
        data.read_extxyz_fast(f)


@pytest.mark.parametrize("target, kind", [("/dev/zero", "character device"), ("/dev/null", "character device")])
def test_reader_link_to_a_device_is_refused(box, target, kind):
    (box.root / "x.extxyz.gz").symlink_to(target)
    with pytest.raises(data.DataCorrupt) as exc:
        data.read_extxyz_fast(box.root / "x.extxyz.gz")
    assert "x.extxyz.gz" in _one_line(exc) and kind in str(exc.value)


def test_reader_fifo_is_refused_without_blocking(box):
    os.mkfifo(box.root / "p.extxyz")
    t0 = time.perf_counter()
    with pytest.raises(data.DataCorrupt, match=r"p\.extxyz is a FIFO"):
        data.read_extxyz_fast(box.root / "p.extxyz")
    assert time.perf_counter() - t0 < 2


def test_reader_directory_and_dangling_link(box):
    (box.root / "d.extxyz").mkdir()
    with pytest.raises(data.DataCorrupt, match=r"d\.extxyz is a directory"):
        data.read_extxyz_fast(box.root / "d.extxyz")
    (box.root / "gone.extxyz").symlink_to(box.root / "nothing")
    with pytest.raises(data.DataCorrupt, match=r"gone\.extxyz does not exist \(a dangling symbolic link\)"):
        data.read_extxyz_fast(box.root / "gone.extxyz")


@pytest.mark.parametrize("content, needle", [
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xffgarbage-not-deflate", "damaged gzip data"),
    (b"2\nLattice=\"3 0 0 0 3 0 0 0 3\" Properties=species:S:1:pos:R:3\nCu 0 0 0\n\xff\xfe\n", "not UTF-8 text"),
    (b"2\nProperties=species:S:1:pos:R:3\nCu 0 0\n", "cannot be read as extxyz"),
])
def test_reader_damaged_files_name_the_problem(box, content, needle):
    f = box.root / "bad.extxyz.gz"
    f.write_bytes(content)
    with pytest.raises(data.DataCorrupt) as exc:
        data.read_extxyz_fast(f)
    assert "bad.extxyz.gz" in _one_line(exc) and needle in str(exc.value)


def test_card_training_data_is_read_with_the_decompressed_cap(box, monkeypatch, write_card):
    """The coverage domain of a card's training_data: the card loader's 256 MiB cap counts compressed bytes,
    the reader caps what they inflate to."""
    from revem.potentials import load_card
    from revem.validation.target import Target

    folder = box.root / "card"
    folder.mkdir()
    gzip_bomb(folder / "train.extxyz.gz", 8 << 20)
    card = write_card("name: cu_emt\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\n"
                      "training_data: [train.extxyz.gz]\n", folder=folder)
    pot = load_card(card)
    monkeypatch.setenv("REVEM_MAX_READ_BYTES", str(1 << 20))
    box.snap()
    with pytest.raises(data.DataCorrupt) as exc:
        Target.of(pot).training_frames()
    assert "train.extxyz.gz" in _one_line(exc) and "once decompressed" in str(exc.value)
    box.check()


# ==================================================================================================
# databases: read-only until known
# ==================================================================================================
def test_open_database_never_writes_a_foreign_sqlite_file(box):
    db = foreign_sqlite(box.root / "notes.db")
    box.snap()
    with pytest.raises(Refused, match=r"notes\.db is an SQLite file but not an ASE or revem database \(tables: notes\)"):
        data.open_database(db)
    box.check()
    con = sqlite3.connect(db)
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["notes"]
    con.close()


def test_ase_database_is_read_through_read_only_connections(box):
    import ase.db

    db = box.root / "a.db"
    with ase.db.connect(str(db)) as con:
        for a in labelled_frames(3):
            con.write(a)
    os.chmod(db, 0o444)  # root can write anyway; the mode=ro connection must not even try
    box.snap()
    opened = data.open_database(db)
    assert opened.kind == "ase-db" and len(list(opened.rows())) == 3
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        with opened.db.managed_connection() as con:
            con.execute("CREATE TABLE evil (x)")
    box.check()


def test_damaged_sqlite_file_is_named(box):
    f = box.root / "cut.db"
    f.write_bytes(b"SQLite format 3\x00" + b"\x10\x00" + b"\x01" * 200)
    with pytest.raises(Refused) as exc:
        data.open_database(f)
    assert "cut.db" in _one_line(exc)


def test_sqlite_file_with_only_revem_meta_is_refused(box):
    f = box.root / "half.db"
    con = sqlite3.connect(f)
    with con:
        con.execute("CREATE TABLE revem_meta (key TEXT PRIMARY KEY, value TEXT)")
    con.close()
    with pytest.raises(Refused, match=r"half\.db is not a complete revem database \(no revem_streams, systems table\)"):
        data.open_database(f)


# ==================================================================================================
# user references (REVEM_REFERENCE_DIR)
# ==================================================================================================
def _ref_doc(**changes) -> dict:
    r = {"case": "bcc", "quantity": "C11", "value": 500.0, "unit": "GPa", "tolerance": {"rel": 0.1},
         "noise": {"abs": 0.5}, "source": "my DFT", "protocol": "mine"}
    r.update(changes)
    return {"property": "elastic", "element": "W", "references": [r]}


@pytest.fixture
def user_refs(tmp_path, monkeypatch):
    from revem.validation import references

    d = tmp_path / "refs"
    (d / "W").mkdir(parents=True)
    monkeypatch.setenv("REVEM_REFERENCE_DIR", str(d))
    references._load_file.cache_clear()
    yield d / "W"
    references._load_file.cache_clear()


REFERENCE_CASES = [
    ("tolerance-infinity", '{"property": "elastic", "element": "W", "references": [{"case": "bcc", "quantity": "C11", '
     '"value": 500, "unit": "GPa", "source": "s", "tolerance": {"abs": Infinity}}]}', "Infinity is not a JSON number"),
    ("tolerance-overflow", json.dumps(_ref_doc(tolerance={"abs": 1})).replace('"abs": 1', '"abs": 1e999'),
     "references[0].tolerance.abs: inf is not a finite number"),
    ("tolerance-negative", _ref_doc(tolerance={"abs": -5}), "references[0].tolerance.abs: -5 is less than or equal to the minimum of 0"),
    ("tolerance-zero", _ref_doc(tolerance={"rel": 0}), "references[0].tolerance.rel: 0 is less than or equal to the minimum of 0"),
    ("tolerance-list", _ref_doc(tolerance=[0.1]), "references[0].tolerance: [0.1] is not of type 'object', 'null'"),
    ("tolerance-unknown-key", _ref_doc(tolerance={"pct": 5}), "references[0].tolerance: Additional properties are not allowed ('pct' was unexpected)"),
    ("tolerance-string", _ref_doc(tolerance={"abs": "5"}), "references[0].tolerance.abs: '5' is not of type 'number'"),
    ("rel-of-zero", _ref_doc(value=0.0, tolerance={"rel": 0.1}), "relative tolerance of a zero reference"),
    ("noise-negative", _ref_doc(noise={"abs": -1}), "references[0].noise.abs: -1 is less than the minimum of 0"),
    ("value-nan", '{"property": "elastic", "element": "W", "references": [{"case": "bcc", "quantity": "C11", '
     '"value": NaN, "unit": "GPa", "source": "s"}]}', "NaN is not a JSON number"),
    ("value-string", _ref_doc(value="500"), "references[0].value: '500' is not of type 'number'"),
    ("case-list", _ref_doc(case=["bcc"]), "references[0].case: ['bcc'] is not of type 'string'"),
    ("quantity-empty", _ref_doc(quantity=""), "references[0].quantity: '' should be non-empty"),
    ("unit-number", _ref_doc(unit=1), "references[0].unit: 1 is not of type 'string'"),
    ("element-list", {"property": "elastic", "element": ["W"], "references": []}, "element: ['W'] is not of type 'string'"),
    ("deep-nesting", '{"property": "elastic", "element": "W", "references": [], "x": ' + "[" * 3000 + "]" * 3000 + "}",
     "nested 3001 levels deep (limit 16)"),
    ("not-utf8", b'{"property": "elastic", "element": "W\xff", "references": []}', "not UTF-8 text"),
]


@pytest.mark.parametrize("content, needle", [c[1:] for c in REFERENCE_CASES], ids=[c[0] for c in REFERENCE_CASES])
def test_user_reference_file_is_refused_naming_it(user_refs, content, needle):
    from revem.validation import references

    f = user_refs / "elastic_mine.json"
    raw = content if isinstance(content, bytes) else (content if isinstance(content, str) else json.dumps(content)).encode()
    f.write_bytes(raw)
    with pytest.raises(references.ReferenceFileError) as exc:
        references.load("W", "elastic")
    msg = _one_line(exc)
    assert "elastic_mine.json" in msg and needle in msg, msg
    assert f.read_bytes() == raw


@pytest.mark.parametrize("make, needle", [
    (lambda f: f.mkdir(), "is a directory, not a regular file"),
    (lambda f: f.symlink_to("/dev/zero"), "is a character device, not a regular file"),
    (lambda f: os.mkfifo(f), "is a FIFO"),
    (lambda f: f.write_bytes(b" " * (8 * 1024 * 1024 + 1)), "more than 8 MiB"),
], ids=["directory", "dev-zero", "fifo", "oversized"])
def test_user_reference_path_that_is_not_a_small_regular_file(user_refs, make, needle):
    from revem.validation import references

    make(user_refs / "elastic_x.json")
    t0 = time.perf_counter()
    with pytest.raises(references.ReferenceFileError) as exc:
        references.load("W", "elastic")
    assert "elastic_x.json" in _one_line(exc) and needle in str(exc.value)
    assert time.perf_counter() - t0 < 5


def test_user_reference_tolerance_is_recorded_as_given(user_refs):
    from revem.validation import references, scoring

    (user_refs / "elastic_mine.json").write_text(json.dumps(_ref_doc(tolerance={"abs": 20.0, "rel": 0.01})))
    ref = references.find("W", "elastic", "bcc", "C11")[-1]
    rec = scoring.score(505.0, ref, test_id="t", potential="p", element="W", prop="elastic", case="bcc",
                        quantity="C11", unit="GPa")
    d = rec.to_json()
    assert d["tolerance_spec"] == {"abs": 20.0, "rel": 0.01} and d["tolerance"] == 20.0 and d["passed"] is True
    assert "user file" in d["reference_source"]


# ==================================================================================================
# baselines and results files
# ==================================================================================================
BASE = ROOT / "datasets" / "baselines" / "smoke" / "W_zhou" / "W" / "smoke" / "results.json"


def _base() -> dict:
    return json.loads(BASE.read_text())


def _mut(fn):
    d = _base()
    fn(d)
    return d


BASELINE_CASES = [
    ("potential-string", lambda d: d["meta"].__setitem__("potential", "W_zhou"), "meta.potential: 'W_zhou' is not of type 'object'"),
    ("protocol-versions-list", lambda d: d["meta"].__setitem__("protocol_versions", ["eos"]),
     "meta.protocol_versions: ['eos'] is not of type 'object'"),
    ("protocol-version-string", lambda d: d["meta"]["protocol_versions"].__setitem__("eos", "1"),
     "meta.protocol_versions.eos: '1' is not of type 'integer'"),
    ("tier-number", lambda d: d["meta"].__setitem__("tier", 1), "meta.tier: 1 is not of type 'string'"),
    ("potential-name-list", lambda d: d["meta"]["potential"].__setitem__("name", ["x"]),
     "meta.potential.name: ['x'] is not of type 'string'"),
    ("case-list", lambda d: d["records"][0].__setitem__("case", ["bcc"]), "records[0].case: ['bcc'] is not of type 'string'"),
    ("value-string", lambda d: d["records"][0].__setitem__("value", "1.0"),
     "records[0].value: '1.0' is not of type 'number', 'null'"),
    ("noise-negative", lambda d: d["records"][0].__setitem__("noise", -1.0), "records[0].noise: -1.0 is less than the minimum of 0"),
]


@pytest.mark.parametrize("mutate, needle", [c[1:] for c in BASELINE_CASES], ids=[c[0] for c in BASELINE_CASES])
def test_malformed_baseline_is_refused_naming_it(tmp_path, mutate, needle):
    from revem.validation import results

    f = tmp_path / "results.json"
    f.write_text(json.dumps(_mut(mutate)))
    raw = f.read_bytes()
    with pytest.raises(results.ResultsFileError) as exc:
        results.Baseline(f)
    msg = _one_line(exc)
    assert str(f) in msg and needle in msg, msg
    assert f.read_bytes() == raw


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_baseline_values_that_cannot_flag_a_regression_are_refused(tmp_path, token):
    from revem.validation import results

    d = _base()
    d["records"][3]["value"] = "__X__"
    f = tmp_path / "results.json"
    f.write_text(json.dumps(d).replace('"__X__"', token))
    with pytest.raises(results.ResultsFileError, match=r"records\[3\]\.value: (nan|inf|-inf) is not a finite number"):
        results.load(f)


@pytest.mark.parametrize("make, needle", [
    (lambda f: f.symlink_to("/dev/zero"), "character device, not a regular file"),
    (lambda f: os.mkfifo(f), "FIFO"),
    (lambda f: f.write_text('{"format": "revem-results", "x": ' + "[" * 100 + "]" * 100 + "}"), "nested 101 levels deep"),
], ids=["dev-zero", "fifo", "deep"])
def test_baseline_path_read_within_bounds(tmp_path, make, needle):
    from revem.validation import results

    f = tmp_path / "results.json"
    make(f)
    with pytest.raises(results.ResultsFileError) as exc:
        results.load(f)
    assert str(f) in _one_line(exc) and needle in str(exc.value)


def test_baseline_over_the_size_cap(tmp_path, monkeypatch):
    from revem.validation import results

    f = tmp_path / "results.json"
    f.write_text(json.dumps(_base()))
    monkeypatch.setattr(results, "MAX_RESULTS_BYTES", 1000)
    with pytest.raises(results.ResultsFileError, match=r"more than 1000 bytes"):
        results.load(f)


def test_committed_baselines_still_load():
    from revem.validation import results

    b = results.Baseline(ROOT / "datasets" / "baselines" / "smoke")
    assert len(b.files) >= 2


@pytest.mark.parametrize("mutate, needle", [c[1:] for c in BASELINE_CASES[:2]], ids=[c[0] for c in BASELINE_CASES[:2]])
def test_malformed_baseline_through_the_harness_is_a_usage_error(tmp_path, mutate, needle):
    """The harness itself (pytest plugin): exit 4 naming the file, no INTERNALERROR, nothing run."""
    f = tmp_path / "base.json"
    f.write_text(json.dumps(_mut(mutate)))
    p = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "validation"), "-p", "no:cacheprovider",
                        "--property=verification", "--report-dir", str(tmp_path / "r"), "--potential", "W_zhou",
                        "--baseline", str(f)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    text = p.stdout + p.stderr
    assert p.returncode == 4 and needle in text and str(f) in text and "INTERNALERROR" not in text, text[-3000:]
    assert not (tmp_path / "r" / "W_zhou").exists()


# ==================================================================================================
# kind: ase -- classes, not modules
# ==================================================================================================
@pytest.mark.parametrize("spec, kwargs, needle", [
    ("ase.calculators.checkpoint:CheckpointCalculator", {"calculator": "EMT"}, "writes an ASE database 'checkpoints.db'"),
    ("ase.calculators.loggingcalc:LoggingCalculator", {"calculator": "EMT"}, "writes JSON logs"),
    ("ase.calculators.mixing:SumCalculator", {"calcs": []}, "not on revem's list of in-process calculator classes"),
    ("ase.calculators.test:FreeElectrons", {}, "not on revem's list"),
])
def test_ase_classes_outside_the_allow_list_are_refused_before_anything_is_written(box, write_card, spec, kwargs, needle):
    import yaml

    from revem.potentials import UnsafeCommand, load_card

    card = write_card(yaml.safe_dump({"name": "t", "elements": ["Cu"], "kind": "ase",
                                      "ase": {"callable": spec, "kwargs": kwargs}}), folder=box.root / "cards")
    box.snap()
    with pytest.raises(UnsafeCommand) as exc:
        load_card(card).calculator()
    assert needle in _one_line(exc) and "REVEM_TRUST_EXTERNAL" in str(exc.value)
    box.check()
    assert not (box.cwd / "checkpoints.db").exists()


# ==================================================================================================
# the output discipline (revem.safe_io) on its own
# ==================================================================================================
def test_json_depth_ignores_brackets_inside_strings():
    assert safe_io.json_depth(b'{"a": "[[[[[[", "b": [1, [2]]}') == 3
    assert safe_io.json_depth(b'["\\"[[[", {}]') == 2
    assert safe_io.json_depth(b"17") == 0


def test_output_folder_refuses_a_name_that_leaves_the_folder(tmp_path):
    f = safe_io.OutputFolder(tmp_path / "o")
    for name in ("../x", "a/b", "", ".", "..", safe_io.MANIFEST):
        with pytest.raises(Refused, match="not a plain file name"):
            f.plan(name)
    assert not (tmp_path / "o").exists()


def test_output_folder_changed_file_of_revem_is_not_replaced(tmp_path):
    f = safe_io.OutputFolder(tmp_path / "o")
    f.write_bytes("a.txt", "revem's")
    f.finish()
    (tmp_path / "o" / "a.txt").write_text("edited by the user")
    g = safe_io.OutputFolder(tmp_path / "o")
    with pytest.raises(Refused, match="a.txt exists and was not written by revem \\(or was changed since\\)"):
        g.plan("a.txt")
    assert (tmp_path / "o" / "a.txt").read_text() == "edited by the user"


def test_output_folder_failed_writer_leaves_nothing(tmp_path):
    f = safe_io.OutputFolder(tmp_path / "o")

    def writer(tmp):
        Path(tmp).write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(safe_io.OutputError) as exc:
        f.write_with("x.txt", writer)
    assert "No space left on device" in _one_line(exc) and "x.txt" in str(exc.value)
    assert os.listdir(tmp_path / "o") == []
    f.abort()
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("value", ["a\nb", "a\r\nb", "x\u2028y", "", "back\\slash", "tab\there", "q\"uote'", "\x00nul",
                                   "  ", "é ü", "a=b c=d"])
def test_extxyz_writer_never_writes_an_unreadable_comment_line(tmp_path, value):
    import ase.io

    frames = labelled_frames(2)
    for a in frames:
        a.info["note"] = value
        a.info["after"] = 7
    f = tmp_path / "o.extxyz"
    notes = safe_io.write_extxyz(frames, f)
    got = ase.io.read(str(f), index=":")
    assert len(got) == 2 and got[1].info["after"] == 7
    assert np.allclose(got[0].get_forces(), frames[0].get_forces())
    if "note" in got[0].info and isinstance(got[0].info["note"], str) and got[0].info["note"] != value:
        assert notes and "'note'" in notes[0]
