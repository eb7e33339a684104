"""The published schemas (revem/schemas): every file revem writes and ships validates, every file it reads is
checked on load with the JSON path of the first violation, format 2 results are still read, the schemas
agree with the code's own lists, ``revem schema`` prints them, and docs/schemas.md shows them as they are."""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from revem import schemas
from revem.potentials import PotentialError, catalog, load_card
from revem.validation import references, results
from revem.validation.references import REFERENCE_DIR, ReferenceFileError
from revem.validation.results import ResultsFileError

ROOT = Path(__file__).resolve().parents[1]
BASELINES = sorted((ROOT / "datasets" / "baselines" / "smoke").rglob("results.json"))  # format 3
#: a results file of the previous format (2), as revem wrote it before results became per tier (a test fixture)
FORMAT2 = sorted((ROOT / "tests" / "data" / "format2").rglob("results.json"))
#: files of reference_data that are not reference files (no property reads them)
NOT_REFERENCES = {"dft_setup_gpaw.json"}
REFERENCE_FILES = sorted(p for p in REFERENCE_DIR.glob("*/*.json") if p.name not in NOT_REFERENCES)
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "revem.cli", "schema", *args], check=False, capture_output=True,
                          text=True, cwd=ROOT, env=ENV, timeout=timeout)


# ==================================================================================================
# the schemas themselves
# ==================================================================================================
def _walk(node, where="#"):
    """(where, subschema) of every subschema that describes a field (a value of some ``properties``), outside
    the conditions of ``if``."""
    if isinstance(node, dict):
        for key, sub in node.items():
            if key == "if":
                continue
            if key == "properties":
                for k, s in sub.items():
                    yield f"{where}/properties/{k}", s
                    yield from _walk(s, f"{where}/properties/{k}")
            else:
                yield from _walk(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _walk(sub, f"{where}/{i}")


@pytest.mark.parametrize("name", list(schemas.NAMES))
def test_schema_is_draft_2020_12_and_documents_every_field(name):
    s = schemas.schema(name)
    Draft202012Validator.check_schema(s)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["$id"] == f"urn:revem:schema:{name}" and s["title"] and len(s["description"]) > 80
    fields = list(_walk(s))
    assert len(fields) > 10
    undocumented = [w for w, sub in fields if not (sub.get("description") or "$ref" in sub)]
    assert not undocumented, undocumented
    for key, node in s.get("$defs", {}).items():
        assert node.get("description"), f"$defs/{key}"


def test_schemas_agree_with_the_code():
    """The lists a schema repeats from the code are the code's: a new kind, key, policy, property or version
    must be published with it."""
    from ase.data import chemical_symbols

    from revem.potentials.core import CARD_KEYS, PRECISIONS
    from revem.potentials.kinds import KINDS
    from revem.validation import coverage, scoring
    from revem.validation.engine import CaseOutcome
    from revem.validation.properties import protocols

    res = schemas.schema("results")
    assert res["properties"]["format"]["const"] == results.FORMAT
    assert res["properties"]["format_version"]["enum"] == list(results.READABLE_VERSIONS)
    assert results.FORMAT_VERSION == max(results.READABLE_VERSIONS)
    record = res["$defs"]["record"]
    assert set(record["properties"]) == {f.name for f in dataclasses.fields(scoring.Record)}
    assert set(record["required"]) == set(results.KEY_FIELDS) | {"value", "unit"}
    assert record["properties"]["policy"]["enum"] == list(scoring.POLICIES)
    assert record["properties"]["domain"]["enum"] == [*coverage.LABELS, None]
    assert set(res["$defs"]["case"]["properties"]["status"]["enum"]) == {"passed", "failed", "skipped"}
    assert {"property", "case", "status", "failures", "reason", "seconds"} <= set(res["$defs"]["case"]["properties"])
    assert set(CaseOutcome.__dataclass_fields__) >= {"status", "failures", "reason", "seconds"}

    card = schemas.schema("card")
    assert set(card["properties"]) == CARD_KEYS
    assert card["properties"]["kind"]["enum"] == list(KINDS)
    assert set(PRECISIONS) | {""} == set(card["properties"]["precision"]["enum"])
    assert card["properties"]["elements"]["items"]["enum"] == chemical_symbols[1:]
    assert [c["if"]["properties"]["kind"]["const"] for c in card["allOf"]] == list(KINDS)

    ref = schemas.schema("reference")
    assert ref["properties"]["property"]["enum"] == sorted(protocols())
    item = ref["properties"]["references"]["items"]
    assert set(references.KNOWN_FIELDS) <= set(item["properties"])
    assert set(references.REQUIRED_KEYS) - {"protocol"} == set(item["required"])


# ==================================================================================================
# what revem ships validates
# ==================================================================================================
def test_the_non_reference_files_of_reference_data_are_named():
    """Every file of reference_data is a reference file read by some property, except the ones named."""
    from revem.validation.properties import protocols

    assert {p.name for p in REFERENCE_DIR.glob("*/*.json")} - {p.name for p in REFERENCE_FILES} == NOT_REFERENCES
    for p in REFERENCE_FILES:
        assert any(p.name.startswith(prop) for prop in protocols()), p


@pytest.mark.parametrize("path", REFERENCE_FILES, ids=[f"{p.parent.name}/{p.name}" for p in REFERENCE_FILES])
def test_every_shipped_reference_file_validates(path):
    doc = json.loads(path.read_text())
    assert schemas.violation("reference", doc) is None
    refs = references.read_file(path)
    assert len(refs) == len(doc["references"]) > 0
    assert path.name.startswith(doc["property"]) and path.parent.name == doc["element"]


@pytest.mark.parametrize("name", sorted(catalog()))
def test_every_shipped_card_validates(name):
    card = yaml.safe_load(catalog()[name].read_text())
    assert schemas.violation("card", card) is None
    assert load_card(catalog()[name]).name == name


@pytest.mark.parametrize("path", FORMAT2, ids=[p.parent.parent.name for p in FORMAT2])
def test_format_2_results_validate_and_load(path):
    doc = json.loads(path.read_text())
    assert doc["format_version"] == 2 and "cases" not in doc
    assert schemas.violation("results", doc) is None
    d = results.load(path)
    assert {(c["property"], c["case"]) for c in d["cases"]} == {(r["property"], r["case"]) for r in d["records"]}


@pytest.mark.parametrize("path", BASELINES, ids=[p.parent.parent.parent.name for p in BASELINES])
def test_committed_baselines_validate_and_load(path):
    doc = json.loads(path.read_text())
    assert doc["format_version"] == 3 and doc["cases"] and doc["planned"]
    assert schemas.violation("results", doc) is None
    assert results.load(path)["records"]


# ==================================================================================================
# what revem writes validates
# ==================================================================================================
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real runs (EMT, Cu, smoke tier, eos): the first with training data (coverage fields), the second
    regression-checked against the first (baseline fields)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    import revem

    d = tmp_path_factory.mktemp("runs")
    frames = []
    for i, s in enumerate((0.97, 1.0, 1.03)):
        a = bulk("Cu", "fcc", a=3.6 * s, cubic=True).repeat(2)
        a.rattle(0.02, seed=i)
        frames.append(a)
    revem.validate(EMT(), element="Cu", tier="smoke", properties=["eos"], report_dir=d / "a", training_data=frames,
                   progress=False)
    first = d / "a" / "EMT" / "Cu" / "smoke" / "results.json"
    revem.validate(EMT(), element="Cu", tier="smoke", properties=["eos"], report_dir=d / "b", baseline=first,
                   progress=False)
    return first, d / "b" / "EMT" / "Cu" / "smoke" / "results.json"


def test_results_written_by_real_runs_validate(runs):
    first, second = runs
    for path in runs:
        doc = json.loads(path.read_text())
        assert doc["format_version"] == results.FORMAT_VERSION == 3
        assert schemas.violation("results", doc) is None
        assert doc["planned"] and doc["cases"] and doc["records"]
        assert results.load(path)["records"] == doc["records"]
    recs = json.loads(first.read_text())["records"]
    assert all(r["domain"] in ("in-domain", "extrapolating") and r["coverage_structures"] > 0 for r in recs)
    assert json.loads(first.read_text())["meta"]["training_domain"]["n_configs"] == 3
    assert all(r["baseline"] and r["baseline"]["direction"] for r in json.loads(second.read_text())["records"])


def test_a_format_2_file_is_still_read(runs, tmp_path):
    doc = json.loads(runs[0].read_text())
    old = {"format": "revem-results", "format_version": 2, "meta": doc["meta"], "records": doc["records"]}
    f = tmp_path / "results.json"
    f.write_text(json.dumps(old))
    d = results.load(f)
    assert {(c["property"], c["case"]) for c in d["cases"]} == {(c["property"], c["case"]) for c in doc["cases"]}
    b = results.Baseline(f, tier="smoke")
    assert b.records("EMT", doc["meta"]["potential"]["sha256"], "Cu")


def test_written_reference_files_validate_and_invalid_ones_are_not_written(tmp_path):
    rows = [{"case": "fcc", "quantity": "a0", "value": 3.61, "unit": "Å", "source": "a test", "protocol": "fcc, relaxed",
             "tolerance": {"rel": 0.01}, "noise": {"abs": 1e-4}, "n_atoms": 4}]
    out = references.write("Cu", "eos", rows, "", out=tmp_path / "Cu" / "eos_test.json", provenance={"by": "test"})
    assert schemas.violation("reference", json.loads(out.read_text())) is None
    assert references.read_file(out)[0].extra == {"n_atoms": 4}
    bad = tmp_path / "Cu" / "eos_bad.json"
    with pytest.raises(ReferenceFileError, match=r"references\[0\]\.tolerance\.rel: 0 is less than or equal to"):
        references.write("Cu", "eos", [{**rows[0], "tolerance": {"rel": 0}}], "", out=bad)
    assert not bad.exists()


def test_cards_written_by_revem_fit_snap_validate(tmp_path):
    import numpy as np

    from revem.fitting import snap

    s = snap.SnapSettings(twojmax=2, zbl_outer=2.0, zbl_inner=1.5)
    card = snap.write_potential(np.zeros(s.n_columns), s, tmp_path, "Wtest",
                                training_data=["fitsnap-WBe/W/EOS_Data.extxyz.gz"], notes="a test")
    assert schemas.violation("card", yaml.safe_load(card.read_text())) is None
    assert load_card(card).name == "Wtest"


# ==================================================================================================
# every file read is checked, naming the JSON path of the first violation
# ==================================================================================================
def _set(path, value):
    def f(d):
        *head, last = path
        for k in head:
            d = d[k]
        if value is KeyError:
            del d[last]
        else:
            d[last] = value
    return f


RESULTS_CASES = [
    ("value-string", _set(["records", 1, "value"], "abc"), "records[1].value: 'abc' is not of type 'number', 'null'"),
    ("unit-missing", _set(["records", 0, "unit"], KeyError), "records[0]: 'unit' is a required property"),
    ("policy", _set(["records", 2, "policy"], "maybe"), "records[2].policy: 'maybe' is not one of ['reference', "),
    ("converged-string", _set(["records", 0, "converged"], "yes"), "records[0].converged: 'yes' is not of type 'boolean'"),
    ("coverage-structures-float", _set(["records", 3, "coverage_structures"], 2.5),
     "records[3].coverage_structures: 2.5 is not of type 'integer', 'null'"),
    ("baseline-direction", _set(["records", 1, "baseline"], {"old": 1.0, "new": 1.0, "direction": "sideways"}),
     "records[1].baseline.direction: 'sideways' is not one of ['towards', 'away', 'unknown']"),
    ("tolerance-spec-key", _set(["records", 0, "tolerance_spec"], {"pct": 5}),
     "records[0].tolerance_spec: Additional properties are not allowed ('pct' was unexpected)"),
    ("status", _set(["cases", 0, "status"], "done"), "cases[0].status: 'done' is not one of ['passed', 'failed', "),
    ("seconds-negative", _set(["cases", 0, "seconds"], -1), "cases[0].seconds: -1 is less than the minimum of 0"),
    ("planned-pair", _set(["planned", 0], ["eos"]), "planned[0]: ['eos'] is too short"),
    ("cases-missing-v3", _set(["cases"], KeyError), "top level: 'cases' is a required property"),
    ("version", _set(["format_version"], 4), "format_version: 4 is not one of [2, 3]"),
    ("sha256", _set(["meta", "potential", "sha256"], "abc"), "meta.potential.sha256: 'abc' does not match"),
    ("element", _set(["meta", "element"], "copper"), "meta.element: 'copper' does not match '^[A-Z][a-z]?$'"),
    ("protocol-version", _set(["meta", "protocol_versions", "my prop"], 1.5),
     "meta.protocol_versions[\"my prop\"]: 1.5 is not of type 'integer'"),
    ("records-object", _set(["records"], {"a": 1}), "records: {'a': 1} is not of type 'array'"),
]


@pytest.mark.parametrize("mutate, needle", [c[1:] for c in RESULTS_CASES], ids=[c[0] for c in RESULTS_CASES])
def test_malformed_results_name_the_file_and_the_path(runs, tmp_path, mutate, needle):
    doc = json.loads(runs[1].read_text())
    mutate(doc)
    f = tmp_path / "results.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(ResultsFileError) as exc:
        results.load(f)
    msg = str(exc.value)
    assert msg.startswith(f"results file {f}: ") and needle in msg and "\n" not in msg, msg


@pytest.mark.parametrize("token", ["NaN", "Infinity"])
def test_results_numbers_are_finite(runs, tmp_path, token):
    doc = json.loads(runs[0].read_text())
    doc["records"][2]["noise"] = "__X__"
    f = tmp_path / "results.json"
    f.write_text(json.dumps(doc).replace('"__X__"', token))
    with pytest.raises(ResultsFileError, match=r"records\[2\]\.noise: (nan|inf) is not a finite number"):
        results.load(f)


def test_first_violation_in_document_order(runs):
    doc = json.loads(runs[0].read_text())
    doc["records"][5]["value"] = "late"
    doc["records"][1]["unit"] = 7
    doc["meta"]["tier"] = 3
    assert schemas.violation("results", doc) == "meta.tier: 3 is not of type 'string'"
    doc["meta"]["tier"] = "smoke"
    assert schemas.violation("results", doc) == "records[1].unit: 7 is not of type 'string'"


def test_a_long_offending_value_is_shortened(runs):
    doc = json.loads(runs[0].read_text())
    doc["meta"]["potential"] = ["x" * 5000]
    msg = schemas.violation("results", doc)
    assert msg.startswith("meta.potential: ['xxx") and msg.endswith("is not of type 'object'") and len(msg) < 200


def _ref_doc(**changes) -> dict:
    r = {"case": "bcc", "quantity": "C11", "value": 500.0, "unit": "GPa", "tolerance": {"rel": 0.1},
         "noise": {"abs": 0.5}, "source": "my DFT", "protocol": "mine"}
    r.update(changes)
    return {"property": "elastic", "element": "W", "references": [r]}


REFERENCE_CASES = [
    ("property-typo", {**_ref_doc(), "property": "elastc"}, "property: 'elastc' is not one of ['cohesive', "),
    ("top-level-typo", {**_ref_doc(), "referencs": []}, "top level: Additional properties are not allowed ('referencs'"),
    ("source-missing", {**_ref_doc(), "references": [{"case": "bcc", "quantity": "C11", "value": 1.0, "unit": "GPa"}]},
     "references[0]: 'source' is a required property"),
    ("strict-string", _ref_doc(strict="yes"), "references[0].strict: 'yes' is not of type 'boolean'"),
    ("kind", _ref_doc(kind="guess"), "references[0].kind: 'guess' is not one of ['dft', 'experiment']"),
    ("n-atoms", _ref_doc(n_atoms=0), "references[0].n_atoms: 0 is less than the minimum of 1"),
    ("rel-of-zero", _ref_doc(value=0.0), "references[0].tolerance: a relative tolerance of a zero reference value"),
    ("infinite-value", json.dumps(_ref_doc()).replace("500.0", "1e999"), "references[0].value: inf is not a finite"),
]


@pytest.mark.parametrize("content, needle", [c[1:] for c in REFERENCE_CASES], ids=[c[0] for c in REFERENCE_CASES])
def test_malformed_reference_files_name_the_file_and_the_path(tmp_path, content, needle):
    f = tmp_path / "W" / "elastic_mine.json"
    f.parent.mkdir()
    f.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ReferenceFileError) as exc:
        references.read_file(f)
    assert str(exc.value).startswith(f"reference file {f}: ") and needle in str(exc.value), str(exc.value)


CARD = {"name": "t", "elements": ["W"], "kind": "lammps", "files_from": "lammps",
        "lammps": {"pair_style": "eam/alloy", "pair_coeff": "* * W_zhou.eam.alloy W"}}
CARD_CASES = [  # the schema alone: the data model
    ("name", {**CARD, "name": "../x"}, "name: '../x' does not match '^[A-Za-z0-9._-]+$' (Name of the potential"),
    ("name-dots", {**CARD, "name": ".."}, "name: '..' should not be valid under"),
    ("elements-int", {**CARD, "elements": 74}, "elements: 74 is not of type 'array', 'string'"),
    ("elements-symbol", {**CARD, "elements": ["Xx"]}, "elements[0]: 'Xx' is not one of the 118 allowed values"),
    ("elements-twice", {**CARD, "elements": ["W", "W"]}, "elements: ['W', 'W'] has non-unique elements"),
    ("kind", {**CARD, "kind": "gulp"}, "kind: 'gulp' is not one of ['lammps', 'pace', 'ase']"),
    ("section-missing", {**CARD, "kind": "pace"}, "top level: 'pace' is a required property"),
    ("unknown-key", {**CARD, "lamps": "x"}, "top level: Additional properties are not allowed ('lamps' was unexpected)"),
    ("lammps-key", {**CARD, "lammps": {**CARD["lammps"], "shell": "x"}}, "lammps: Additional properties are not allowed"),
    ("pair-coeff-missing", {**CARD, "lammps": {"pair_style": "zero 4.0"}}, "lammps: 'pair_coeff' is a required property"),
    ("multi-line", {**CARD, "lammps": {**CARD["lammps"], "mass": "1 1\nshell x"}}, "lammps.mass: '1 1\\nshell x' does "),
    ("ase-callable", {**CARD, "kind": "ase", "ase": "emt"}, "ase: 'emt' does not match"),
    ("ase-mapping", {**CARD, "kind": "ase", "ase": {"callable": "a:B", "command": "x"}},
     "ase: Additional properties are not allowed ('command' was unexpected)"),
    ("published", {**CARD, "published": {"a0": 3.1}}, "published.a0: 3.1 is not of type 'object'"),
    ("published-source", {**CARD, "published": {"a0": {"value": 3.1, "unit": "Å"}}},
     "published.a0: 'source' is a required property"),
    ("precision", {**CARD, "precision": "float16"}, "precision: 'float16' is not one of ['float64', 'float32', '']"),
    ("files-from", {**CARD, "files_from": "/etc"}, "files_from: '/etc' is not one of ['lammps', None]"),
    ("training-empty", {**CARD, "training_data": []}, "training_data: [] should be non-empty"),
    ("training-both", {**CARD, "training_data": [{"name": "a", "file": "b"}]}, "training_data[0]: {'name': 'a', "),
    ("training-every", {**CARD, "training_data": [{"name": "a", "every": 0}]},
     "training_data[0].every: 0 is less than the minimum of 1"),
]


@pytest.mark.parametrize("card, needle", [c[1:] for c in CARD_CASES], ids=[c[0] for c in CARD_CASES])
def test_card_schema_names_the_path(card, needle):
    v = schemas.violation("card", card)
    assert v is not None and v.startswith(needle), v


def test_card_loader_checks_the_schema_after_its_own_checks(tmp_path):
    """A card the loader's own checks accept but the data model refuses: refused on load, naming the path."""
    f = tmp_path / "t.yaml"
    f.write_text(yaml.safe_dump({**CARD, "published": {"lattice_constant": {"value": 3.165, "unit": "Å"}}}))
    with pytest.raises(PotentialError, match=r"^potential card .*t\.yaml: published\.lattice_constant: 'source' is a "
                                             r"required property$"):
        load_card(f)
    f.write_text(yaml.safe_dump({**CARD, "published": {}}))
    assert load_card(f).name == "t"


def test_baseline_refusal_through_the_cli_is_one_line(runs, tmp_path):
    """`revem validate --baseline BAD`: usage error 4, one line naming the file and the path."""
    doc = json.loads(runs[0].read_text())
    doc["records"][1]["value"] = "abc"
    f = tmp_path / "b.json"
    f.write_text(json.dumps(doc))
    p = subprocess.run([sys.executable, "-m", "revem.cli", "validate", "--element", "W", "--potential", "W_zhou",
                        "--property", "verification", "--tier", "smoke", "--report-dir", str(tmp_path / "r"),
                        "--baseline", str(f)], check=False, capture_output=True, text=True, cwd=ROOT, env=ENV,
                       timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 4, out[-2000:]
    assert f"results file {f}: records[1].value: 'abc' is not of type 'number', 'null'" in out
    assert "Traceback" not in out and "INTERNALERROR" not in out


# ==================================================================================================
# cost, CLI, docs
# ==================================================================================================
def test_checking_the_largest_results_file_is_cheap():
    """The largest results file the suite makes (a smoke-tier baseline, 385 records) is checked in well under a
    second (about 0.15 s here); measured, printed with -s."""
    path = max(BASELINES, key=lambda p: p.stat().st_size)
    doc = json.loads(path.read_text())
    schemas.violation("results", copy.deepcopy(doc))  # the validator is built once per process
    t = time.perf_counter()
    assert schemas.violation("results", doc) is None
    dt = time.perf_counter() - t
    print(f"\n{path.relative_to(ROOT)}: {len(doc['records'])} records checked in {dt * 1e3:.0f} ms")
    assert dt < 2.0


@pytest.mark.parametrize("name", list(schemas.NAMES))
def test_revem_schema_prints_the_shipped_schema(name):
    p = _cli(name)
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout == schemas.path(name).read_text()
    assert json.loads(p.stdout)["$id"] == f"urn:revem:schema:{name}"


def test_revem_schema_check(tmp_path):
    good = catalog()["W_zhou"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**CARD, "published": {"a0": 3.1}}))
    p = _cli("card", "--check", str(good))
    assert p.returncode == 0 and p.stdout.startswith(f"{good}: ok: potential W_zhou (lammps, W)"), p.stderr
    p = _cli("card", "--check", str(good), str(bad))
    assert p.returncode == 2 and f"{good}: ok" in p.stdout
    assert p.stderr.strip() == (f"revem schema card --check: potential card {bad}: published.a0: 3.1 is not of type "
                                "'object'")
    p = _cli("reference", "--check", str(REFERENCE_FILES[0]))
    assert p.returncode == 0 and "references of" in p.stdout
    p = _cli("results", "--check", str(FORMAT2[0]), str(tmp_path / "missing.json"))
    assert p.returncode == 2 and "results format 2, W smoke" in p.stdout and "missing.json" in p.stderr
    assert "Traceback" not in p.stderr
    p = _cli("nonsense")
    assert p.returncode == 2 and "invalid choice" in p.stderr


def test_docs_tables_are_generated_from_the_schemas():
    from revem.schemas.markdown import BEGIN, END, render

    doc = (ROOT / "docs" / "schemas.md").read_text()
    for name in schemas.NAMES:
        block = f"{BEGIN.format(name=name)}\n{render(name)}{END}"
        assert block in doc, f"docs/schemas.md is stale: run python -m revem.schemas.markdown docs/schemas.md ({name})"
    assert "| `value` | number or null | yes |" in render("results")
