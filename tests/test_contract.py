"""The protocol contract holds for every registered protocol: each runs its smoke cases on an ASE calculator
*object* (EMT copper) and on a LAMMPS potential (W_zhou), taking a Target and nothing else, and no protocol
module names an element, loads a potential or threads a calculator factory."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from ase.calculators.emt import EMT

from revem.data import DataUnavailable
from revem.validation.properties import protocols
from revem.validation.protocol import Measurement, Skip

PROPERTIES = Path(__file__).resolve().parent.parent / "revem" / "validation" / "properties"


@pytest.fixture(scope="module")
def emt_cu(target):
    return target(EMT(), name="EMT", elements=["Cu"])


@pytest.mark.parametrize("name", sorted(protocols()))
def test_every_protocol_runs_on_an_ase_calculator_object_and_on_a_lammps_potential(name, emt_cu, target):
    proto = protocols()[name]
    ran = {}
    for t, element in ((emt_cu, "Cu"), (target("W_zhou"), "W")):
        cases = proto.cases(element, "smoke")
        assert cases, f"{name} has no smoke case for {element}"
        ran[element] = 0
        for case in cases:
            try:
                out = proto.run(t, element, case, "smoke")
            except (DataUnavailable, Skip) as exc:  # a case that needs the data mirror when it is absent
                pytest.skip(f"{name} {element} {case}: {exc}")
            assert out and all(isinstance(m, Measurement) for m in out), (name, element, case)
            ran[element] += 1
    assert ran["Cu"] and ran["W"]


FORBIDDEN = [
    (re.compile(r"\bcalc_factory\b"), "threads a calculator factory"),
    (re.compile(r"\bload_potential\b"), "loads a potential itself"),
    (re.compile(r"\brecorded_cache\b|\bSTRUCTURE_HOOKS\b"), "uses a global cache or hook"),
    (re.compile(r"""element\s*[!=]=\s*["'][A-Z][a-z]?["']"""), "branches on an element name"),
    (re.compile(r"""\bkind\s*[!=]=\s*["'](lammps|pace|ase)["']"""), "branches on a potential kind"),
]


@pytest.mark.parametrize("path", sorted(PROPERTIES.glob("*.py")), ids=lambda p: p.name)
def test_protocol_modules_take_a_target_and_nothing_else(path):
    code = "\n".join(ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#"))
    tree = ast.parse(code)
    doc = ast.get_docstring(tree) or ""
    body = code.replace(doc, "") if doc else code
    for pattern, what in FORBIDDEN:
        m = pattern.search(body)
        assert m is None, f"{path.name} {what}: {m.group(0)!r}"
    # no module-level mutable state keyed by potentials (dict/list literals assigned at module level are
    # constants; a module-level cache decorated with lru_cache must not take a target)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
                (isinstance(d, ast.Call) and getattr(d.func, "id", getattr(d.func, "attr", "")) in ("lru_cache", "cache"))
                or getattr(d, "id", getattr(d, "attr", "")) in ("lru_cache", "cache") for d in node.decorator_list):
            params = [a.arg for a in node.args.args]
            assert not {"target", "potential", "spec"} & set(params), \
                f"{path.name}:{node.name} caches per potential outside the run's session"
