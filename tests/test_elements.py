"""Material-agnostic validation: element selection, packaged and user references, per-element protocols.

* ``-k W`` selects exactly element W's tests, whatever the potential or case names contain (``twist``,
  ``maml-MoNbTaW``, ``WBe_Wood_PRB2019``'s other element); ``-k "Mo and vacancy"`` Mo's vacancy.
* References ship inside the package (a wheel install finds them); ``REVEM_REFERENCE_DIR`` adds or overrides
  them, and the record names the user file.
* Each element's lattice drives its protocols; Re and Os references load and parametrize.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from revem.validation import references
from revem.validation.properties import protocols
from revem.validation.properties.common import ground_lattice

ROOT = Path(__file__).resolve().parent.parent
ELEMENTS = {"W": "bcc", "Mo": "bcc", "Ta": "bcc", "Nb": "bcc", "Al": "fcc", "Cu": "fcc", "Ni": "fcc",
            "Be": "hcp", "Re": "hcp", "Os": "hcp", "C": "diamond"}


def _collect(*args, env=None) -> tuple[int, list[str]]:
    """Collected test ids of ``pytest validation <args> --collect-only`` (a subprocess, as a user runs it)."""
    e = {**os.environ, **(env or {})}
    r = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "validation"), "--collect-only", "-q",
                        "-p", "no:cacheprovider", "-p", "no:xdist", *args],
                       capture_output=True, text=True, cwd=ROOT, env=e, timeout=300)
    ids = [ln for ln in r.stdout.splitlines() if "::" in ln]
    return r.returncode, ids


def _element(test_id: str) -> str:
    """Element of ``...test_x[<potential>-<element>-<case>]`` (potential names contain no '-')."""
    return test_id.split("[", 1)[1].split("-")[1]


@pytest.mark.parametrize("lattice", [ELEMENTS])
def test_ground_lattices(lattice):
    assert {el: ground_lattice(el) for el in lattice} == lattice
    with pytest.raises(ValueError, match="not a chemical symbol"):
        ground_lattice("Xx")


def test_k_element_is_exact_over_the_whole_catalog():
    """``-k W`` over every catalog potential: only element W, though Mo/Ta potentials have ``twist`` GB
    cases and ``maml-MoNbTaW`` dataset groups, and WBe covers another element."""
    rc, ids = _collect("-k", "W", "--tier", "standard")
    assert rc == 0 and ids
    assert {_element(i) for i in ids} == {"W"}, [i for i in ids if _element(i) != "W"][:5]
    # the substring meaning is kept for everything else: W's own twist boundaries are there
    assert any("twist" in i for i in ids) and any("maml-MoNbTaW" in i for i in ids)


def test_k_element_and_case():
    rc, ids = _collect("-k", "Mo and vacancy", "--tier", "smoke")
    assert rc == 0 and ids
    assert all(_element(i) == "Mo" and "vacancy" in i.lower() for i in ids), ids
    # "not W" no longer drops Ta's or Mo's 'twist'/'MoNbTaW' cases by substring
    rc, ids = _collect("-k", "not W and MoNbTaW", "--tier", "smoke")
    assert rc == 0 and ids and "W" not in {_element(i) for i in ids} and {"Mo", "Ta"} <= {_element(i) for i in ids}


def test_selection_of_nothing_exits_nonzero():
    rc, ids = _collect("-k", "Xe", "--tier", "smoke")
    assert rc == 5 and not ids


def test_default_catalog_with_element_keeps_only_its_potentials():
    """``--element Mo`` without ``--potential``: the catalog's Mo potentials, no usage error for the others."""
    rc, ids = _collect("--element", "Mo", "--tier", "smoke", "--property", "nve")
    assert rc == 0 and ids and all(_element(i) == "Mo" for i in ids)


def test_packaged_references_load_with_source_and_protocol():
    els = references.elements()
    assert set(ELEMENTS) <= set(els), f"no references for {set(ELEMENTS) - set(els)}"
    n = 0
    for f in sorted(references.REFERENCE_DIR.glob("*/*.json")):
        doc = json.loads(f.read_text())
        if "references" not in doc:  # e.g. the GPAW setup record
            continue
        assert doc["element"] == f.parent.name, f
        for r in references._load_file(f):
            assert r.source and r.unit is not None and r.origin.startswith("package:"), (f, r.case)
            n += 1
    assert n > 100


@pytest.mark.parametrize("element", ["Re", "Os"])
def test_re_os_references_parametrize(element):
    """No element-specific potential covers Re or Os (only the optional universal CHGNet_0.3.0); their references
    still load and give cases, and every case of
    their hcp lattice is collected (reported where no reference is stored)."""
    cases = {name: p.cases(element, "full") for name, p in protocols().items()}
    assert cases["grain_boundaries"] and cases["nve"] and cases["eos"], cases
    for c in cases["grain_boundaries"] + cases["nve"]:  # expensive cases run only where referenced
        assert references.has(element, "grain_boundaries", c) or references.has(element, "nve", c), c
    refs = {r.case for r in references.load(element, "eos")}
    assert refs <= set(cases["eos"]) and {"hcp", "fcc", "bcc"} <= set(cases["eos"])
    assert "vacancy" in cases["defects"] and {"0001", "10-10"} <= set(cases["surfaces"])


def test_nve_temperature_from_melting_point():
    from revem.validation.properties import nve

    assert nve.case_name("W") == nve.CASE == "bcc16_3000K"  # the paper's W run
    assert nve.case_name("Al") == "fcc32_800K" and nve.case_name("Be") == "hcp16_1300K"
    assert nve.case_name("Re") == "hcp16_2800K"  # the orthogonal hcp cell x (2, 1, 2)
    assert (nve.dt_scale("W"), nve.dt_scale("Ta"), nve.dt_scale("Cu"), nve.dt_scale("C")) == (1.0, 1.0, 0.5, 0.25)
    assert nve.element_settings("smoke", "W")["dts_fs"] == (1.0, 2.0, 4.0)  # W's sweep unchanged
    for el in ELEMENTS:  # a hot solid: below the melting point, above half of it
        t, tm = nve.temperature_K(el), nve.melting_point_K(el)
        assert 0.7 * tm < t < 0.9 * tm, (el, t, tm)


def test_user_reference_dir_overrides_and_is_named(tmp_path, monkeypatch):
    user = tmp_path / "refs"
    (user / "W").mkdir(parents=True)
    (user / "W" / "cohesive_mine.json").write_text(json.dumps({
        "property": "cohesive", "element": "W",
        "references": [{"case": "bcc", "quantity": "E_coh", "value": 8.0, "unit": "eV/atom", "kind": "dft",
                        "tolerance": {"rel": 0.1}, "source": "my PBE calculation", "protocol": "relaxed bcc"}]}))
    (user / "Xy").mkdir()
    monkeypatch.setenv("REVEM_REFERENCE_DIR", str(user))
    refs = references.find("W", "cohesive", "bcc", "E_coh")
    assert [r.value for r in refs] == [8.0] and refs[0].origin.endswith("cohesive_mine.json")
    # the harness records it: the record's reference_source names the user file
    out = tmp_path / "rep"
    r = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "validation"), "-q", "-p", "no:cacheprovider",
                        "-p", "no:xdist", "--element", "W", "--property", "cohesive", "--potential", "W_zhou",
                        "--tier", "smoke", "--report-dir", str(out)],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, "REVEM_REFERENCE_DIR": str(user)},
                       timeout=300)
    recs = json.loads((out / "W_zhou" / "W" / "smoke" / "results.json").read_text())["records"]
    rec = next(x for x in recs if x["quantity"] == "E_coh")
    assert rec["reference"] == 8.0 and "user file" in rec["reference_source"] and "cohesive_mine.json" in rec["reference_source"]
    assert rec["policy"] == "reference", r.stdout[-2000:]


@pytest.mark.parametrize("content,match", [
    ("{not json", "not valid JSON"),
    ('[1, 2]', "expected an object"),
    ('{"property": "eos", "element": "W", "references": [{"case": "bcc"}]}', "references\[0\]: 'quantity' is a required property"),
    ('{"property": "eos", "element": "W", "references": [{"case": "bcc", "quantity": "a0", "value": "3.1", '
     '"unit": "Å", "source": "x"}]}', "references\[0\].value: '3.1' is not of type 'number'"),
])
def test_bad_user_reference_file_is_named(tmp_path, monkeypatch, content, match):
    (tmp_path / "W").mkdir()
    bad = tmp_path / "W" / "eos_bad.json"
    bad.write_text(content)
    monkeypatch.setenv("REVEM_REFERENCE_DIR", str(tmp_path))
    with pytest.raises(references.ReferenceFileError, match=match) as exc:
        references.load("W", "eos")
    assert str(bad) in str(exc.value)


def test_missing_user_reference_dir_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("REVEM_REFERENCE_DIR", str(tmp_path / "nope"))
    with pytest.raises(references.ReferenceFileError, match="not a folder"):
        references.load("W", "eos")


@pytest.mark.slow
def test_wheel_ships_the_references(tmp_path):
    """A wheel built from this checkout contains every packaged reference file."""
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(tmp_path.glob("revem-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {f"revem/validation/reference_data/{p.parent.name}/{p.name}" for p in references.REFERENCE_DIR.glob("*/*.json")}
    assert packaged and packaged <= names, sorted(packaged - names)[:5]


def test_property_without_cases_for_the_element_is_not_collected():
    """Diamond C has no stacking-fault line: ``--property gsfe`` collects nothing (exit 5), no placeholder item."""
    pot = "C_SNAP_2021.10.15.quadratic"
    rc, ids = _collect("--element", "C", "--property", "gsfe", "--potential", pot, "--tier", "smoke")
    assert rc == 5 and not ids
    rc, ids = _collect("--element", "C", "--potential", pot, "--tier", "smoke")
    assert rc == 0 and ids and not any("NOTSET" in i or "gsfe" in i for i in ids)
