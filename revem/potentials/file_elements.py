"""Which elements a potential file or card names, read within bounds and checked.

ACE files (``.yace``/``.yaml`` B-basis: the top-level ``elements:`` list; C-tilde ``.ace``: the header's
``nelements=``/``elements:`` lines), setfl headers (eam/alloy, eam/fs), ``pair_coeff * * ...`` lines, and the
check of an element list (chemical symbols, no repeats).  Every refusal names the file.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from .errors import PotentialError
from .safe_yaml import ACE_MAX_BYTES, _describe, check_no_anchor_or_alias, load_yaml, read_text_capped

_SYMBOL = re.compile(r"^[A-Z][a-z]?$")


def _check_elements(elements, where: str) -> list[str]:
    if isinstance(elements, str):
        elements = elements.split()
    if (not isinstance(elements, list) or not elements or len(elements) > 128
            or not all(isinstance(e, str) and _SYMBOL.match(e) for e in elements)):
        raise PotentialError(f"{where}: 'elements' must be a list of chemical symbols, got {_describe(elements)}")
    from ase.data import atomic_numbers

    bad = [e for e in elements if e not in atomic_numbers]
    if bad:
        raise PotentialError(f"{where}: unknown element(s) {bad}")
    if len(set(elements)) != len(elements):
        raise PotentialError(f"{where}: 'elements' lists an element twice: {elements}")
    return list(elements)


_ACE_KEYS = re.compile(r"^(embeddings|bonds|functions)\s*:", re.MULTILINE)


@lru_cache(maxsize=32)
def _yace_elements_cached(path: str, size: int, mtime_ns: int) -> tuple[str, ...]:
    p = Path(path)
    where = f"ACE file {p}"
    text = read_text_capped(p, ACE_MAX_BYTES, "ACE file")
    check_no_anchor_or_alias(text, where)
    # pyace writes flow-sequence mapping keys ('[0, 0]: ...') that PyYAML cannot load: read the
    # top-level 'elements:' line on its own, and parse the whole file only to explain a failure
    m = re.search(r"^elements:\s*(\[[^\]\n]*\])\s*$", text, re.MULTILINE)
    els = None
    if m:
        els = load_yaml(m.group(1), where)
    else:
        data = load_yaml(text, where, max_depth=64, max_events=50_000_000)
        els = data.get("elements") if isinstance(data, dict) else None
    if not els:
        raise PotentialError(f"{where}: no 'elements' list; is it a .yace/.yaml ACE potential?")
    if not isinstance(els, list) or not all(isinstance(e, str) and _SYMBOL.match(e) for e in els):
        raise PotentialError(f"{where}: 'elements' must be a list of chemical symbols, got {_describe(els)}")
    if not _ACE_KEYS.search(text):
        raise PotentialError(f"{where}: no 'embeddings', 'bonds' or 'functions' section; not an ACE potential")
    return tuple(els)


_ACE_CTILDE_KEYS = ("embedding-function:", "radbasename=", "cutoffmax=")


def _elements_from_ace(path: Path) -> list[str]:
    """Elements of a C-tilde ``.ace`` file (the format of LAMMPS's ``potentials/Cu-PBE-core-rep.ace``, read
    by pyace's ``ACECTildeBasisSet``), from its header lines ``nelements=N`` and ``elements: El1 ... ElN``
    in the first 64 kB; refused unless the header also has the C-tilde keys ``embedding-function:``,
    ``radbasename=`` and ``cutoffmax=``.  The file is capped at :data:`ACE_MAX_BYTES`."""
    where = f"ACE file {path}"
    if Path(path).stat().st_size > ACE_MAX_BYTES:
        raise PotentialError(f"{where}: larger than {ACE_MAX_BYTES >> 20} MiB")
    with open(path, "rb") as fh:
        head = fh.read(65536).decode("latin-1")
    n = re.search(r"^nelements=(\d{1,3})\s*$", head, re.MULTILINE)
    els = re.search(r"^elements:((?:[ \t]+[A-Z][a-z]?)+)[ \t]*$", head, re.MULTILINE)
    if not n or not els or not all(k in head for k in _ACE_CTILDE_KEYS):
        raise PotentialError(f"{where}: not a C-tilde .ace potential (needs 'nelements=N', 'elements: ...', "
                             f"{', '.join(repr(k) for k in _ACE_CTILDE_KEYS)} in its header)")
    symbols = els.group(1).split()
    if len(symbols) != int(n.group(1)):
        raise PotentialError(f"{where}: 'nelements={n.group(1)}' but {len(symbols)} element(s) listed")
    return _check_elements(symbols, where)


def _elements_from_yace(path: Path) -> list[str]:
    st = Path(path).stat()
    return list(_yace_elements_cached(str(path), st.st_size, st.st_mtime_ns))


def _elements_from_header(path: Path, line_no: int) -> list[str]:
    """Element names from the setfl header line ``line_no`` (0-based), read from the first 8 kB only."""
    with open(path, "rb") as fh:
        head = fh.read(8192).decode("latin-1")
    lines = head.splitlines()
    try:
        toks = lines[line_no].split()
        n = int(toks[0])
        return toks[1 : 1 + n]
    except (IndexError, ValueError) as exc:
        raise PotentialError(f"{path}: malformed header line {line_no + 1} (expected 'N El1 ... ElN')") from exc


def _elements_from_pair_coeff(commands: list[str], path: Path) -> list[str]:
    for c in commands:
        toks = c.split()
        if len(toks) > 3 and toks[0] == "pair_coeff" and toks[1] == "*" and toks[2] == "*":
            els = [t for t in toks[3:] if _SYMBOL.match(t)]
            if els:
                return els
    raise PotentialError(f"{path}: cannot tell the elements from its pair_coeff line")
