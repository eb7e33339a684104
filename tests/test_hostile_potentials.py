"""Hostile potentials ("safe by construction"): cards and files written to run commands, read other files,
write outside the report folder, exhaust memory or time, or crash LAMMPS.

Every hostile case asserts two things: the error names the problem (file, line or key, and what is wrong),
and nothing was executed or written -- the payloads would create ``tmp_path/PWNED`` (the *flag*) if they
ran, and the test asserts that the flag does not exist. Refusals happen while the potential is loaded,
before any calculator is built and before LAMMPS opens a file. Each case failed on the code before this
change (which accepted, crashed on or hung on it).

The new names of the API (``validate_name``, ``FileOutsideRoots``, ``UntrustedCalculator``,
``MalformedPotentialFile``, ``Potential.trust``) are looked up inside the tests, so that each case fails on
its own where they are missing.

A few *accepted* cases at the end (marked ``still accepted``) pin what must keep working: in-process ASE
calculators, revem's own ``${var}`` substitution, a good funcfl file, a card folder with a space.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.build import bulk

from revem import potentials
from revem.potentials import PotentialError, UnsafeCommand, load_card, load_file, load_potential

ROOT = Path(__file__).resolve().parent.parent
ZHOU = "W_zhou.eam.alloy"
FUNCFL = "Cu_u3.eam"
FS = "Fe_mm.eam.fs"
SNAP = "W_2940_2017_2"


def new(name: str):
    """An attribute of revem.potentials added by the safe-by-construction change (fails clearly if absent)."""
    return getattr(potentials, name)


@pytest.fixture
def flag(tmp_path) -> Path:
    """The file a payload would create if it ran (outside the card folder)."""
    return tmp_path / "PWNED"


@pytest.fixture
def cards(tmp_path) -> Path:
    d = tmp_path / "cards"
    d.mkdir()
    return d


def refused(load, exc, pattern: str, flag: Path, secrets=(), kind: str | None = None) -> str:
    """Assert ``load()`` raises ``exc`` matching ``pattern`` (and, if given, of the new class ``kind``), ran
    nothing and echoed no secret; return the message."""
    with pytest.raises(exc, match=pattern) as info:
        load()
    if kind is not None:
        assert isinstance(info.value, new(kind)), f"{type(info.value).__name__} is not a {kind}"
    msg = str(info.value)
    assert not flag.exists(), "a refused potential ran its payload"
    for s in secrets:
        assert s not in msg, f"the error echoes file content {s!r}"
    return msg


def lammps_card(body: str, elements: str = "[W]") -> str:
    indented = "\n".join("  " + ln for ln in textwrap.dedent(body).strip("\n").splitlines())
    return f"name: t\nelements: {elements}\nkind: lammps\ncitation: test\nlammps: |\n{indented}\n"


def ase_card(callable_: str, kwargs=None, element: str = "W") -> str:
    spec = {"callable": callable_}
    if kwargs is not None:
        spec["kwargs"] = kwargs
    return yaml.safe_dump({"name": "evil", "elements": [element], "kind": "ase", "ase": spec})


# ======================================================================================================
# 1. kind: ase -- no calculator that can launch a program or take LAMMPS/shell command lists
# ======================================================================================================

ASE_CASES = [
    # (id, callable, kwargs (FLAG is replaced by the flag path), message)
    ("lammpsrun-command", "ase.calculators.lammpsrun:LAMMPS", {"command": "sh -c 'touch FLAG'"},
     r"ase\.calculators\.lammpsrun:LAMMPS runs external programs or LAMMPS command lists; use 'kind: lammps'"),
    ("lammpslib-lmpcmds", "ase.calculators.lammpslib:LAMMPSlib", {"lmpcmds": ["shell touch FLAG"]},
     r"lammpslib:LAMMPSlib runs external programs or LAMMPS command lists; use 'kind: lammps'.*REVEM_TRUST_EXTERNAL"),
    ("lammpslib-amendments", "ase.calculators.lammpslib:LAMMPSlib", {"amendments": ["shell touch FLAG"]},
     r"lammpslib:LAMMPSlib runs external programs"),
    ("emt-command-kwarg", "ase.calculators.emt:EMT", {"command": "touch FLAG"},
     r"launch-like key\(s\) \['kwargs\.command'\] in 'ase\.kwargs'.*use 'kind: lammps'"),
    ("nested-lmpcmds-kwarg", "ase.calculators.emt:EMT", {"parameters": {"lmpcmds": ["shell touch FLAG"]}},
     r"launch-like key\(s\) \['kwargs\.parameters\.lmpcmds'\]"),
    ("post_changebox_cmds", "ase.calculators.emt:EMT", {"post_changebox_cmds": ["shell touch FLAG"]},
     r"launch-like key\(s\) \['kwargs\.post_changebox_cmds'\]"),
    ("fileio-base-class", "ase.calculators.calculator:FileIOCalculator", {},
     r"calculator:FileIOCalculator derives from FileIOCalculator, which runs an external program.*kind: lammps"),
    ("fileio-subclass-gulp", "ase.calculators.gulp:GULP", {}, r"gulp:GULP derives from FileIOCalculator"),
    ("genericfileio-espresso", "ase.calculators.espresso:Espresso", {},
     r"espresso:Espresso derives from GenericFileIOCalculator"),
    ("command-parameter-cp2k", "ase.calculators.cp2k:CP2K", {},
     r"cp2k:CP2K takes launch-like parameter\(s\) \['command'\]"),
    ("command-parameter-castep", "ase.calculators.castep:Castep", {},
     r"castep:Castep takes launch-like parameter\(s\) \['castep_command'\]"),
    ("socketio", "ase.calculators.socketio:SocketIOCalculator", {}, r"socketio:SocketIOCalculator runs external programs"),
    ("subprocess-calculator", "ase.calculators.subprocesscalculator:PythonSubProcessCalculator", {},
     r"PythonSubProcessCalculator runs external programs"),
    ("turbomole", "ase.calculators.turbomole:Turbomole", {}, r"turbomole:Turbomole runs external programs"),
    ("helper-function", "ase.calculators.calculator:get_calculator_class", {"name": "lammpsrun"},
     r"get_calculator_class is not an ASE calculator class"),
    ("file-writing-kwarg", "ase.calculators.emt:EMT", {"directory": "FLAG"},
     r"key\(s\) \['kwargs\.directory'\] in 'ase\.kwargs' would make the calculator write files"),
    ("pyace-dump-kwarg", "pyace:PyACECalculator", {"basis_set": "W.yace", "dump_extrapolative_structures": True},
     r"\['kwargs\.dump_extrapolative_structures'\] .*would make the calculator write files"),
    ("pickled-model-file", "pyace:PyACECalculator", {"basis_set": "model.pkl"},
     r"'ase\.kwargs\.basis_set' names 'model\.pkl', a file that would be unpickled or executed"),
]


def _with_flag(obj, flag: Path):
    if isinstance(obj, str):
        return obj.replace("FLAG", str(flag))
    if isinstance(obj, list):
        return [_with_flag(v, flag) for v in obj]
    if isinstance(obj, dict):
        return {k: _with_flag(v, flag) for k, v in obj.items()}
    return obj


@pytest.mark.parametrize("callable_, kwargs, message", [c[1:] for c in ASE_CASES], ids=[c[0] for c in ASE_CASES])
def test_ase_calculators_that_launch_programs_are_refused(write_card, cards, flag, callable_, kwargs, message):
    card = write_card(ase_card(callable_, _with_flag(kwargs, flag)), folder=cards)
    msg = refused(lambda: load_potential(card), UnsafeCommand, message, flag, kind="UntrustedCalculator")
    assert str(card) in msg  # names the card


def test_ase_kwarg_file_outside_the_card_folder(write_card, cards, tmp_path, flag):
    (tmp_path / "outside").mkdir()
    ace = ROOT / "revem" / "potentials" / "data" / "W_linear_ace.yace"
    (tmp_path / "outside" / "W.yace").write_text(ace.read_text())
    card = write_card(ase_card("pyace:PyACECalculator", {"basis_set": "../outside/W.yace"}), folder=cards)
    refused(lambda: load_card(card), UnsafeCommand,
            r"'ase\.kwargs\.basis_set': file '\.\./outside/W\.yace' resolves to .*outside the allowed folders", flag,
            secrets=("embeddings",), kind="FileOutsideRoots")


def test_trusted_module_that_starts_processes_is_refused(write_card, cards, tmp_path, flag, monkeypatch):
    """REVEM_TRUSTED_MODULES trusts a module's import, not a calculator that runs subprocesses."""
    (tmp_path / "evilcalc.py").write_text(textwrap.dedent(f"""\
        import subprocess
        from ase.calculators.calculator import Calculator

        class Evil(Calculator):
            implemented_properties = ["energy"]

            def __init__(self, **kw):
                super().__init__(**kw)
                subprocess.run(["touch", {str(flag)!r}])
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("REVEM_TRUSTED_MODULES", "evilcalc")
    card = write_card(ase_card("evilcalc:Evil"), folder=cards)
    refused(lambda: load_card(card), UnsafeCommand,
            r"evilcalc:Evil its module evilcalc starts processes \(subprocess/os\.system/\.\.\.\)", flag,
            kind="UntrustedCalculator")


def test_explicit_trust_is_recorded_on_the_potential(write_card, cards, flag, monkeypatch):
    """REVEM_TRUST_EXTERNAL=module:Class is the explicit opt-in; the trust is recorded and reported."""
    monkeypatch.setenv("REVEM_TRUST_EXTERNAL", "ase.calculators.lammpsrun:LAMMPS")
    card = write_card(ase_card("ase.calculators.lammpsrun:LAMMPS", {"command": f"touch {flag}"}), folder=cards)
    pot = load_card(card)  # loading runs nothing; the user explicitly trusted this callable
    assert not flag.exists()
    assert pot.trust and "REVEM_TRUST_EXTERNAL" in pot.trust[0] and "ase.calculators.lammpsrun:LAMMPS" in pot.trust[0]
    assert pot.summary()["trust"] == pot.trust
    monkeypatch.delenv("REVEM_TRUST_EXTERNAL")  # without the opt-in, building it is refused again
    refused(pot.calculator, UnsafeCommand, r"runs external programs", flag, kind="UntrustedCalculator")


def test_trust_through_trusted_modules_is_recorded(write_card, cards, tmp_path, flag, monkeypatch):
    (tmp_path / "mycalcs.py").write_text("from ase.calculators.emt import EMT\n\nclass MyEMT(EMT):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("REVEM_TRUSTED_MODULES", "mycalcs")
    pot = load_card(write_card(ase_card("mycalcs:MyEMT", element="Cu"), folder=cards))
    assert pot.trust == ["module mycalcs is trusted through REVEM_TRUSTED_MODULES"]
    assert pot.summary()["trust"] == pot.trust


def test_validation_harness_refuses_a_command_running_card(write_card, cards, flag, tmp_path):
    """`pytest validation --potential card.yaml` used to run lammpsrun's command; it must stop at loading."""
    card = write_card(ase_card("ase.calculators.lammpsrun:LAMMPS", {"command": f"sh -c 'touch {flag}'"}), folder=cards)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "validation"), "-p", "no:cacheprovider", "-q", "--co",
         "--potential", str(card), "--report-dir", str(tmp_path / "reports")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    text = out.stdout + out.stderr
    assert out.returncode != 0, text[-2000:]
    assert "runs external programs" in text and "kind: lammps" in text, text[-2000:]
    assert not flag.exists()


# ======================================================================================================
# 2. LAMMPS lines: tokenised as LAMMPS does, allow-list on the unquoted words, no $ / v_ / odd characters
# ======================================================================================================

LINE_CASES = [
    ("quote-split-immediate", "pair_style zero '$''(1/0)'",
     r"line 1 .*immediate expressions '\$\(\.\.\.\)' are not allowed.*not even split by quotes"),
    ("dollar-inside-quotes", "variable x equal 4.0\npair_style zero '${x}'", r"line 2 .*'\$' inside quotes is not allowed"),
    ("v_-reference", "pair_style zero 4.0\npair_coeff * * v_cut", r"line 2 .*'v_' \(a reference to a LAMMPS variable\)"),
    ("typographic-quotes", "pair_style zero \u20184.0\u2019", r"line 1 .*character U\+2018 is not allowed outside comments"),
    ("backslash-in-word", "pair_style zero 4.\\0", r"line 1 .*character '\\\\' in word 3 is not allowed"),
]


@pytest.mark.parametrize("body, message", [c[1:] for c in LINE_CASES], ids=[c[0] for c in LINE_CASES])
def test_lammps_lines_refused_after_lammps_tokenisation(write_card, cards, flag, body, message):
    card = write_card(lammps_card(body), folder=cards)
    refused(lambda: load_card(card), UnsafeCommand, message, flag)


def _outside_secret(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir(exist_ok=True)
    f = d / "secret.txt"
    f.write_text("TOP-SECRET-LINE 1234\nsecond secret line\n")
    return f


FILE_CASES = [
    # (id, lammps body, files in the card folder {name: 'secret' -> symlink to the outside secret}, message)
    ("absolute-etc-passwd", "pair_style eam/alloy\npair_coeff * * /etc/passwd W", {},
     r"line 2 .*file '/etc/passwd' resolves to /etc/passwd, outside the allowed folders"),
    ("dotdot-outside-copy", "pair_style eam/alloy\npair_coeff * * ../outside/W.eam.alloy W", {},
     r"line 2 .*file '\.\./outside/W\.eam\.alloy' resolves to .*/outside/W\.eam\.alloy, outside the allowed folders"),
    ("symlink-to-outside", "pair_style eam/alloy\npair_coeff * * link.eam.alloy W", {"link.eam.alloy": "secret"},
     r"line 2 .*file 'link\.eam\.alloy' resolves to .*/outside/secret\.txt, outside"),
    ("dotless-file-position", "pair_style eam/alloy\npair_coeff * * secret W", {"secret": "secret"},
     r"line 2 .*file 'secret' resolves to .*/outside/secret\.txt, outside"),
    ("funcfl-element-named-file", "pair_style eam\npair_coeff 1 1 Cu", {"Cu": "secret"},
     r"line 2 .*file 'Cu' resolves to .*/outside/secret\.txt, outside"),
    ("hybrid-substyle-file", "pair_style hybrid/overlay zbl 4.0 4.8 eam/alloy\npair_coeff 1 1 zbl 74 74\n"
     "pair_coeff * * eam/alloy /etc/passwd W", {}, r"line 3 .*file '/etc/passwd' resolves to /etc/passwd, outside"),
    ("pair_style-file-argument", "pair_style mliap model linear /etc/passwd descriptor sna /etc/hostname\n"
     "pair_coeff * * W", {}, r"line 1 .*file '/etc/passwd' resolves to /etc/passwd, outside"),
]


@pytest.mark.parametrize("body, links, message", [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_file_arguments_must_stay_inside_the_allowed_folders(write_card, cards, tmp_path, flag, lammps_potentials,
                                                             body, links, message):
    secret = _outside_secret(tmp_path)
    (tmp_path / "outside" / "W.eam.alloy").write_bytes((lammps_potentials / ZHOU).read_bytes())
    for name in links:
        (cards / name).symlink_to(secret)
    card = write_card(lammps_card(body), folder=cards)
    refused(lambda: load_card(card), UnsafeCommand, message, flag,
            secrets=("TOP-SECRET", "root:", "DYNAMO"), kind="FileOutsideRoots")


def test_dotless_file_name_is_not_opened_in_the_working_directory(write_card, cards, tmp_path, flag, monkeypatch):
    """A bare word at a style's file position used to reach LAMMPS unchanged, which opened it relative to the
    working directory; now it is resolved in the card's folder (and not found there)."""
    _outside_secret(tmp_path)
    (tmp_path / "outside" / "secrets").write_text("TOP-SECRET-LINE\n")
    monkeypatch.chdir(tmp_path / "outside")
    card = write_card(lammps_card("pair_style mliap model linear secrets descriptor sna secrets\npair_coeff * * W"),
                      folder=cards)
    refused(lambda: load_card(card), potentials.PotentialFileMissing,
            r"line 1 .*file 'secrets' not found \(looked for .*/cards/secrets\); a path 'secrets' exists in the working "
            r"directory, where LAMMPS would have opened it: refused", flag, secrets=("TOP-SECRET",))


def test_include_fan_out_is_bounded(write_card, cards, flag):
    """Three levels of 20 includes each made 8000 parses of one file; the include count is capped."""
    files = {"c.in": "pair_style zero 4.0\nmass 1 183.84\n", "b.in": "include c.in\n" * 20, "a.in": "include b.in\n" * 20}
    card = write_card(lammps_card("pair_style zero 4.0\n" + "include a.in\n" * 20), folder=cards, files=files)
    refused(lambda: load_card(card), UnsafeCommand, r"a\.in, line 4 \('include b\.in'\): more than 64 includes", flag)


def test_a_long_line_is_refused_quickly_naming_the_line(write_card, cards, flag):
    card = write_card(lammps_card("pair_style zero 4.0" + " 1" * 50_000), folder=cards)
    t0 = time.perf_counter()
    refused(lambda: load_card(card), UnsafeCommand, r"line 1: longer than 65536 characters", flag)
    assert time.perf_counter() - t0 < 1.0


def test_a_5_mb_line_is_refused_in_well_under_a_second(tmp_path):
    """The old tokeniser was quadratic (6 s at 400k characters); run in a child so a regression cannot hang."""
    code = textwrap.dedent(f"""\
        import time
        from pathlib import Path
        from revem.lammps_runtime import potentials_dir
        from revem.potentials.lammps_input import parse_lammps_lines
        potentials_dir()  # LAMMPS module loaded before the clock starts
        text = "pair_style zero 4.0 " + "1 " * 2_500_000
        t = time.perf_counter()
        try:
            parse_lammps_lines(text, Path({str(tmp_path)!r}), origin="big.in")
        except Exception as exc:
            print(type(exc).__name__, str(exc)[:200])
        print("elapsed", time.perf_counter() - t)
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "UnsafeCommand big.in, line 1: longer than 65536 characters" in out.stdout, out.stdout + out.stderr
    assert float(out.stdout.split("elapsed")[1]) < 1.0


# ======================================================================================================
# 3. Names: no path separators, no '.'/'..'; bare files do not take a catalog name
# ======================================================================================================

NAME_CASES = [
    ("dotdot-path", "../../../outside/X", r"'name' must be 1-100 letters, digits.*got '\.\./\.\./\.\./outside/X' \(str\)"),
    ("absolute-path", "/tmp/anywhere", r"'name' must be 1-100 letters.*got '/tmp/anywhere'"),
    ("dotdot", "..", r"'name' must be .*not '\.' or '\.\.'.*got '\.\.'"),
    ("empty", "''", r"'name' must be 1-100 letters"),
    ("list", "[1, 2]", r"'name' must be a string, got \[1, 2\] \(list\)"),
]


@pytest.mark.parametrize("name, message", [c[1:] for c in NAME_CASES], ids=[c[0] for c in NAME_CASES])
def test_bad_names_are_refused_naming_the_key(write_card, cards, flag, name, message):
    card = write_card(f"name: {name}\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\n", folder=cards)
    msg = refused(lambda: load_card(card), PotentialError, message, flag)
    assert str(card) in msg


def test_validate_name_is_exported_for_the_harness(flag):
    validate_name = new("validate_name")
    assert validate_name("W_zhou-2.v1", "x") == "W_zhou-2.v1"
    refused(lambda: validate_name("a/b", "--potential x"), PotentialError, r"--potential x: 'name' must be", flag)


def test_bare_file_with_a_catalog_stem_gets_a_distinct_name(tmp_path, lammps_potentials):
    f = tmp_path / ZHOU
    f.write_bytes((lammps_potentials / ZHOU).read_bytes())
    pot = load_file(f)
    assert pot.name == "W_zhou.file" != load_potential("W_zhou").name
    assert new("validate_name")(pot.name, "bare file") == pot.name


# ======================================================================================================
# 4. YAML cards: size, encoding, aliases, depth, duplicates, types -- every error names file and key
# ======================================================================================================

def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        p = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{','.join([p] * 9)}]")
    return "\n".join(lines)


CARD_CASES = [
    ("anchor-alias", "name: t\nelements: &e [Cu]\nnotes: *e\nkind: ase\nase: ase.calculators.emt:EMT\n",
     r"YAML anchors \('&e'\) \(line 2\) are not allowed"),
    ("deep-nesting", "name: t\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\nnotes: " + "[" * 200 + "]" * 200 + "\n",
     r"YAML nested deeper than 16 levels \(line 5\)"),
    ("very-deep-nesting", "name: t\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\nnotes: " + "[" * 5000 + "]" * 5000
     + "\n", r"not valid YAML \(.*exceeded maximum nesting depth"),
    ("duplicate-key", "name: t\nname: ../x\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\n",
     r"duplicate key 'name' \(line 2\)"),
    ("elements-int", "name: t\nelements: 74\nkind: ase\nase: ase.calculators.emt:EMT\n",
     r"'elements' must be a list of chemical symbols, got 74 \(int\)"),
    ("pair_style-int", "name: t\nelements: [W]\nkind: lammps\nlammps:\n  pair_style: 5\n  pair_coeff: '* *'\n",
     r"'lammps\.pair_style' must be a string or a list of strings, got 5 \(int\)"),
    ("pair_coeff-mapping", "name: t\nelements: [W]\nkind: lammps\nlammps:\n  pair_style: zero 4.0\n  pair_coeff: {a: 1}\n",
     r"'lammps\.pair_coeff' must be a string or a list of strings, got \{'a': 1\} \(dict\)"),
    ("kwargs-not-mapping", "name: t\nelements: [Cu]\nkind: ase\nase:\n  callable: ase.calculators.emt:EMT\n  kwargs: [1, 2]\n",
     r"'ase\.kwargs' must be a mapping, got \[1, 2\] \(list\)"),
    ("ase-extra-key", "name: t\nelements: [Cu]\nkind: ase\nase:\n  callable: ase.calculators.emt:EMT\n  command: x\n",
     r"the 'ase' mapping may only hold callable and kwargs; got \['command'\]"),
    ("citation-dict", "name: t\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\ncitation: {a: 1}\n",
     r"'citation' must be a string, got \{'a': 1\} \(dict\)"),
    ("published-list", "name: t\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\npublished: [1]\n",
     r"'published' must be a mapping, got \[1\] \(list\)"),
    ("files_from-elsewhere", "name: t\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\nfiles_from: /etc\n",
     r"'files_from' must be 'lammps' .* got '/etc' \(str\)"),
]


@pytest.mark.parametrize("text, message", [c[1:] for c in CARD_CASES], ids=[c[0] for c in CARD_CASES])
def test_malformed_cards_name_file_and_key(write_card, cards, flag, text, message):
    card = write_card(text, folder=cards)
    msg = refused(lambda: load_potential(card), PotentialError, message, flag)
    assert str(card) in msg


def test_alias_bomb_in_name_is_refused_before_expansion(write_card, cards, flag):
    text = ("published:\n" + "".join(f"  {ln}\n" for ln in _bomb(4).splitlines())
            + "name: *a3\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\n")
    card = write_card(text, folder=cards)
    t0 = time.perf_counter()
    refused(lambda: load_card(card), PotentialError, r"YAML anchors \('&a0'\) \(line 2\) are not allowed", flag)
    assert time.perf_counter() - t0 < 0.5


def test_556_byte_alias_bomb_in_a_memory_capped_child(tmp_path):
    """A 9-level bomb in 'name:' grew to gigabytes before a MemoryError; now it is refused before any expansion
    (the child runs under a 1 GiB address-space limit, so a regression cannot exhaust the machine)."""
    lines = ["published:", "  a0: &a0 [x,x,x,x,x,x,x,x,x]"] + [
        f"  a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    card = tmp_path / "bomb.yaml"
    card.write_text("\n".join(lines) + "\nname: *a8\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\n")
    assert len(card.read_bytes()) < 600
    code = textwrap.dedent(f"""\
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from revem.potentials import load_card
        load_card({str(card)!r})
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 1 and "PotentialError" in out.stderr and "YAML anchors ('&a0') (line 2)" in out.stderr, \
        out.stderr[-2000:]


def test_non_utf8_card_names_the_file_and_position(cards, flag):
    card = cards / "card.yaml"
    card.write_bytes(b"name: t\nnotes: \xff\xfe bad\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\n")
    refused(lambda: load_card(card), PotentialError,
            r"potential card .*card\.yaml: not UTF-8 text \(byte 0xff at line 2, column 8\)", flag)


def test_oversized_card_is_refused_before_parsing(write_card, cards, flag):
    card = write_card("name: t\nelements: [Cu]\nkind: ase\nase: ase.calculators.emt:EMT\nnotes: '" + "x" * 1_100_000 + "'\n",
                      folder=cards)
    t0 = time.perf_counter()
    refused(lambda: load_card(card), PotentialError, r"card\.yaml: \d+ bytes, more than the 1048576 bytes allowed", flag)
    assert time.perf_counter() - t0 < 0.5


def test_yaml_without_kind_is_not_misread_as_ace(write_card, cards, flag):
    card = write_card("name: t\nelements: [W]\ncitation: x\nlammps: 'pair_style zero 4.0'\n", folder=cards)
    refused(lambda: load_potential(card), PotentialError,
            r"card\.yaml: neither a potential card \(missing 'kind'\) nor an ACE potential", flag)


def test_ace_file_with_yaml_aliases_is_refused(tmp_path, flag):
    ace = (ROOT / "revem" / "potentials" / "data" / "W_linear_ace.yace").read_text()
    f = tmp_path / "alias.yace"
    f.write_text(ace + "extra: &x [1, 2]\nmore: *x\n")
    refused(lambda: load_file(f), PotentialError, r"ACE file .*alias\.yace: YAML anchors/aliases \(line \d+\) are not allowed",
            flag)


# ======================================================================================================
# 5. Potential files checked before LAMMPS reads them (malformed files crashed, hung or misread)
# ======================================================================================================

def _funcfl(lp: Path) -> list[str]:
    return (lp / FUNCFL).read_text().splitlines(keepends=True)


def _setfl(lp: Path) -> list[str]:
    return (lp / ZHOU).read_text().splitlines(keepends=True)


def _bad_files(lp: Path) -> dict:
    """id -> (style, file name, content, message)."""
    f, s = _funcfl(lp), _setfl(lp)
    fs = (lp / FS).read_text()
    coeff = (lp / f"{SNAP}.snapcoeff").read_text().splitlines(keepends=True)
    param = (lp / f"{SNAP}.snapparam").read_text()
    n_hdr = next(i for i, ln in enumerate(coeff) if ln.startswith("1 56"))
    return {
        "funcfl-truncated": ("eam", "bad.eam", "".join(f)[:3000],
                             r"bad\.eam is not a valid eam file: F\(rho\): expected 500 numbers, the file ends after \d+"),
        "funcfl-4-value-grid": ("eam", "bad.eam", "".join(f[:2]) + "500 5.01e-04 500 1.0e-02\n" + "".join(f[3:]),
                                r"bad\.eam is not a valid eam file: cutoff must be positive \(line 3\)"),
        "funcfl-zero-grid": ("eam", "bad.eam", "".join(f[:2]) + "0 5.01e-04 0 1.0e-02 4.95\n",
                             r"Nrho = 0 is outside \[5, 10000000\] \(line 3\)"),
        "funcfl-zero-drho": ("eam", "bad.eam", "".join(f[:2]) + "500 0.0 500 1.0e-02 4.95\n" + "".join(f[3:]),
                             r"drho must be positive \(line 3\)"),
        "funcfl-long-header": ("eam", "bad.eam", "X" * 3000 + "\n" + "".join(f[1:]),
                               r"line longer than 1000 characters .*hangs on longer lines\) \(line 1\)"),
        "funcfl-nan-value": ("eam", "bad.eam", "".join(f[:3]) + f[3].replace("0.", "nan", 1) + "".join(f[4:]),
                             r"F\(rho\): value 1 of 500 is not a number \(line 4\)"),
        "funcfl-overflow": ("eam", "bad.eam", "".join(f[:3]) + f[3].replace("0.", "1e999", 1) + "".join(f[4:]),
                            r"F\(rho\): value out of range \(not finite\) \(line 4\)"),
        "setfl-element-count": ("eam/alloy", "bad.eam.alloy", "".join(s[:3]) + "2 W\n" + "".join(s[4:]),
                                r"the element line says N = 2 but names 1 element\(s\) \(line 4\)"),
        "setfl-truncated-pair": ("eam/alloy", "bad.eam.alloy", "".join(s[:-100]),
                                 r"r\*phi\(r\) of element pair 1-1: expected 10001 numbers, the file ends after \d+"),
        "setfl-huge-grid": ("eam/alloy", "bad.eam.alloy", "".join(s[:4]) + "100000000 0.04 10001 0.0008 7.9\n" + "".join(s[5:]),
                            r"Nrho = 100000000 is outside \[5, 10000000\] \(line 5\)"),
        "eam-fs-truncated": ("eam/fs", "bad.eam.fs", fs[: len(fs) // 3],
                             r"bad\.eam\.fs is not a valid eam/fs file: .*expected 10000 numbers, the file ends after"),
        "snapcoeff-two-per-line": ("snap", "bad.snapcoeff", "".join(coeff[: n_hdr + 3]) + "0.1 0.2\n" + "".join(coeff[n_hdr + 4:]),
                                   r"element 1, coefficient 2: expected one number per line, found 2 words"),
        "snapcoeff-missing-coefficients": ("snap", "bad.snapcoeff", "".join(coeff[: n_hdr + 12]),
                                           r"element 1: expected 56 coefficients, the file ends after 10"),
        "snapparam-unknown-keyword": ("snapparam", "bad.snapparam", param.replace("rcutfac", "rcutfactor"),
                                      r"bad\.snapparam is not a valid snapparam file: unknown keyword 'rcutfactor'"),
        "snapparam-missing-twojmax": ("snapparam", "bad.snapparam", param.replace("twojmax 8", ""),
                                      r"required keyword 'twojmax' is missing"),
        "snapparam-huge-twojmax": ("snapparam", "bad.snapparam", param.replace("twojmax 8", "twojmax 1000"),
                                   r"twojmax = 1000 is outside \[0, 24\]"),
    }


BAD_FILE_IDS = ["funcfl-truncated", "funcfl-4-value-grid", "funcfl-zero-grid", "funcfl-zero-drho", "funcfl-long-header",
                "funcfl-nan-value", "funcfl-overflow", "setfl-element-count", "setfl-truncated-pair", "setfl-huge-grid",
                "eam-fs-truncated", "snapcoeff-two-per-line", "snapcoeff-missing-coefficients",
                "snapparam-unknown-keyword", "snapparam-missing-twojmax", "snapparam-huge-twojmax"]


@pytest.mark.parametrize("case", BAD_FILE_IDS)
def test_malformed_potential_files_are_refused_before_lammps(write_card, cards, flag, lammps_potentials, case):
    style, name, content, message = _bad_files(lammps_potentials)[case]
    files = {name: content}
    if style == "eam":
        body, els = f"pair_style eam\npair_coeff 1 1 {name}", "[Cu]"
    elif style in ("eam/alloy", "eam/fs"):
        body, els = f"pair_style {style}\npair_coeff * * {name} {'Fe' if style == 'eam/fs' else 'W'}", \
            "[Fe]" if style == "eam/fs" else "[W]"
    elif style == "snap":
        files[f"{SNAP}.snapparam"] = lammps_potentials / f"{SNAP}.snapparam"
        body, els = f"pair_style snap\npair_coeff * * {name} {SNAP}.snapparam W", "[W]"
    else:
        files[f"{SNAP}.snapcoeff"] = lammps_potentials / f"{SNAP}.snapcoeff"
        body, els = f"pair_style snap\npair_coeff * * {SNAP}.snapcoeff {name} W", "[W]"
    card = write_card(lammps_card(body, els), folder=cards, files=files)
    msg = refused(lambda: load_card(card), PotentialError, message, flag, kind="MalformedPotentialFile")
    assert "line 2" in msg and "refused before LAMMPS reads it" in msg


def test_malformed_funcfl_does_not_crash_the_process(write_card, cards, lammps_potentials):
    """Loading a card with a truncated funcfl file, building its calculator and evaluating a bcc W cell used to
    end in a segmentation fault at exit (rc 139); now loading fails cleanly, naming the file."""
    card = write_card(lammps_card("pair_style eam\npair_coeff 1 1 trunc.eam"), folder=cards,
                      files={"trunc.eam": "".join(_funcfl(lammps_potentials))[:3000]})
    code = textwrap.dedent(f"""\
        from ase.build import bulk
        from revem.potentials import load_card
        pot = load_card({str(card)!r})
        atoms = bulk("W", "bcc", a=3.165, cubic=True)
        atoms.calc = pot.calculator()
        try:
            atoms.get_potential_energy()
        except Exception as exc:
            print("LAMMPS error:", exc)
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode not in (139, -11), "the process crashed (segmentation fault)"
    assert out.returncode == 1 and "MalformedPotentialFile" in out.stderr and "trunc.eam" in out.stderr, out.stderr[-2000:]


# ======================================================================================================
# still accepted: what the refusals must not break
# ======================================================================================================

@pytest.mark.parametrize("callable_, element, a", [("ase.calculators.emt:EMT", "Cu", 3.6),
                                                   ("ase.calculators.lj:LennardJones", "Ar", 5.3),
                                                   ("ase.calculators.morse:MorsePotential", "Cu", 3.6)])
def test_still_accepted_in_process_ase_calculators(write_card, cards, callable_, element, a):
    pot = load_card(write_card(f"name: ok\nelements: [{element}]\nkind: ase\nase: {callable_}\n", folder=cards))
    assert pot.trust == [] and pot.summary()["trust"] == []
    atoms = bulk(element, "fcc", a=a)
    atoms.calc = pot.calculator()
    assert np.isfinite(atoms.get_potential_energy())


def test_still_accepted_revem_substitutes_variables_and_hides_them_from_lammps(write_card, cards, lammps_potentials):
    card = write_card(lammps_card('variable rc equal 4.8\npair_style hybrid/overlay zbl 4.0 ${rc} "eam/alloy" # c\n'
                                  f"pair_coeff 1 1 zbl 74 74\npair_coeff * * eam/alloy {ZHOU} W"),
                      folder=cards, files={ZHOU: lammps_potentials / ZHOU})
    pot = load_card(card)
    assert pot.lammps_commands[0] == "pair_style hybrid/overlay zbl 4.0 4.8 eam/alloy"
    assert not any("$" in c or c.startswith("variable") for c in pot.lammps_commands)


def test_still_accepted_good_funcfl_file_and_a_folder_with_a_space(write_card, tmp_path, lammps_potentials):
    folder = tmp_path / "my pots"
    card = write_card(lammps_card(f"pair_style eam\npair_coeff 1 1 {FUNCFL}", "[Cu]"), folder=folder,
                      files={FUNCFL: (lammps_potentials / FUNCFL).read_text()})
    pot = load_card(card)
    assert f'"{folder / FUNCFL}"' in pot.lammps_commands[1]  # quoted for LAMMPS, read as one word
    atoms = bulk("Cu", "fcc", a=3.615, cubic=True)
    atoms.calc = pot.calculator()
    assert -3.6 < atoms.get_potential_energy() / len(atoms) < -3.4  # Foiles u3 Cu: E_coh = 3.54 eV


def test_still_accepted_linear_time_for_a_long_legal_line(write_card, cards, lammps_potentials):
    card = write_card(lammps_card(f"pair_style eam/alloy # {'x' * 60_000}\npair_coeff * * {ZHOU} W"), folder=cards,
                      files={ZHOU: lammps_potentials / ZHOU})
    t0 = time.perf_counter()
    assert load_card(card).lammps_commands[0] == "pair_style eam/alloy"
    assert time.perf_counter() - t0 < 1.0


# ======================================================================================================
# training_data (coverage-aware verdicts): registry names or extxyz files inside the card's folder only
# ======================================================================================================

def _training_card(entries) -> str:
    return yaml.safe_dump({"name": "t", "elements": ["W"], "kind": "lammps", "files_from": "lammps",
                           "lammps": {"pair_style": "eam/alloy", "pair_coeff": f"* * {ZHOU} W"},
                           "training_data": entries})


TRAINING_CASES = [
    # (id, entries (SECRET -> the outside secret's path), files in the card folder {name: 'secret' -> symlink}, message)
    ("absolute-outside", ["SECRET_EXTXYZ"], {},
     r"training_data\[0\]: training data file '.*secret\.extxyz' resolves to .*outside the allowed folders"),
    ("dotdot-outside", ["../outside/secret.extxyz"], {},
     r"training_data\[0\]: training data file '\.\./outside/secret\.extxyz' resolves to .*outside"),
    ("symlink-outside", ["link.extxyz"], {"link.extxyz": "secret"},
     r"training_data\[0\]: training data file 'link\.extxyz' resolves to .*outside the allowed folders"),
    ("not-extxyz", ["/etc/passwd"], {}, r"training_data\[0\]: '/etc/passwd' is neither a registry name nor an extxyz"),
    ("unknown-registry-name", [{"name": "fitsnap-WBe/W/nope.extxyz.gz"}], {},
     r"training_data\[0\]: 'fitsnap-WBe/W/nope\.extxyz\.gz' is not in the data registry"),
    ("missing-file", ["gone.extxyz"], {}, r"training_data\[0\]: training data file 'gone\.extxyz' not found"),
    ("not-a-list", "fitsnap-WBe/W/EOS_Data.extxyz.gz", {}, r"'training_data' must be a non-empty list"),
    ("empty-list", [], {}, r"'training_data' must be a non-empty list"),
    ("number-entry", [42], {}, r"training_data\[0\]: must be a registry name or a file name, got 42 \(int\)"),
    ("both-name-and-file", [{"name": "fitsnap-WBe/W/EOS_Data.extxyz.gz", "file": "x.extxyz"}], {},
     r"training_data\[0\]: give exactly one of 'name'"),
    ("unknown-entry-key", [{"name": "fitsnap-WBe/W/EOS_Data.extxyz.gz", "command": "touch FLAG"}], {},
     r"training_data\[0\]: unknown key\(s\) \['command'\]"),
    ("bad-every", [{"name": "fitsnap-WBe/W/EOS_Data.extxyz.gz", "every": 0}], {}, r"'every' must be an integer >= 1"),
    ("bool-every", [{"name": "fitsnap-WBe/W/EOS_Data.extxyz.gz", "every": True}], {}, r"'every' must be an integer"),
    ("too-many", ["fitsnap-WBe/W/EOS_Data.extxyz.gz"] * 65, {}, r"'training_data' has 65 entries \(at most 64\)"),
]


@pytest.mark.parametrize("entries, links, message", [c[1:] for c in TRAINING_CASES], ids=[c[0] for c in TRAINING_CASES])
def test_training_data_entries_are_refused_naming_the_entry(write_card, cards, tmp_path, flag, entries, links, message):
    secret = _outside_secret(tmp_path)
    sx = secret.parent / "secret.extxyz"
    sx.write_text("1\nLattice=\"3 0 0 0 3 0 0 0 3\" Properties=species:S:1:pos:R:3 TOP-SECRET=1\nW 0 0 0\n")
    for name in links:
        (cards / name).symlink_to(sx)
    if isinstance(entries, list):
        entries = [str(sx) if e == "SECRET_EXTXYZ" else e for e in entries]
    card = write_card(_training_card(entries), folder=cards)
    msg = refused(lambda: load_card(card), PotentialError, message, flag, secrets=("TOP-SECRET",))
    assert str(card) in msg


def test_training_data_file_size_is_capped(write_card, cards, flag, monkeypatch):
    from revem.potentials import core

    (cards / "big.extxyz").write_bytes(b"1\n\nW 0 0 0\n" * 2000)
    monkeypatch.setattr(core, "TRAINING_MAX_BYTES", 10_000)
    card = write_card(_training_card(["big.extxyz"]), folder=cards)
    refused(lambda: load_card(card), PotentialError, r"training_data\[0\]: training data file 'big\.extxyz' has 22000 bytes "
            r"\(at most 10000\)", flag)


def test_still_accepted_training_data_in_the_card_folder_and_registry_names(write_card, cards, flag):
    import ase.io

    ase.io.write(cards / "train.extxyz", [bulk("W", "bcc", a=3.17)])
    card = write_card(_training_card(["train.extxyz", "fitsnap-WBe/W/EOS_Data.extxyz.gz",
                                      {"name": "fitsnap-WBe/W/vacancy.extxyz.gz", "every": 10}]), folder=cards)
    pot = load_card(card)
    assert [(e["name"], e["registry"], e["every"]) for e in pot.training_data] == [
        ("train.extxyz", False, 1), ("fitsnap-WBe/W/EOS_Data.extxyz.gz", True, 1),
        ("fitsnap-WBe/W/vacancy.extxyz.gz", True, 10)]
    assert not flag.exists()
