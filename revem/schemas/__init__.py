"""The published JSON Schemas (draft 2020-12) of the files revem reads and writes, and their use on load.

Three schemas ship beside this module; they are documentation as much as checks (every field has a
``description`` with its unit and meaning; ``revem schema NAME`` prints one, ``docs/schemas.md`` tabulates them):

* ``results`` -- ``results.json`` of a validation run (format 3; format 2 is still read),
  :mod:`revem.validation.results`;
* ``reference`` -- a reference file ``<El>/<property>[_<set>].json``, :mod:`revem.validation.references`;
* ``card`` -- a potential card (the mapping its YAML parses to), :mod:`revem.potentials.core`.

Every loader checks what it parsed with :func:`violation` before it uses it, and raises its own error
(``ResultsFileError``, ``ReferenceFileError``, ``PotentialError``) naming the file and the JSON path of the
first violation, e.g. ``results file X: records[12].value: 'abc' is not of type 'number', 'null'``.
A schema checks structure and types; what it cannot say (a finite number, a file inside the card's folder,
an allowed LAMMPS command) the loaders still check themselves.
"""
from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # jsonschema takes ~0.1 s to import: loaded on the first check, not with the CLI
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_DIR = Path(__file__).resolve().parent
#: the schemas revem ships: name -> what they describe
NAMES = {"results": "results.json of a validation run (formats 2 and 3)",
         "reference": "a reference file <El>/<property>[_<set>].json",
         "card": "a potential card (YAML)"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_SHOWN = 80  # characters of an offending value shown in a message
#: keywords whose bare message says too little: the field's description (first sentence) is appended
_EXPLAINED = ("pattern", "oneOf", "anyOf", "not", "enum", "const")


def path(name: str) -> Path:
    """The file of schema ``name`` (one of :data:`NAMES`)."""
    if name not in NAMES:
        raise KeyError(f"no schema '{name}' (one of {', '.join(NAMES)})")
    return SCHEMA_DIR / f"{name}.schema.json"


def text(name: str) -> str:
    """The schema ``name`` as shipped (JSON text)."""
    return path(name).read_text(encoding="utf-8")


@cache
def schema(name: str) -> dict:
    """The schema ``name``, parsed (one shared object: do not modify it)."""
    return json.loads(text(name))


@cache
def validator(name: str) -> Draft202012Validator:
    """A draft 2020-12 validator of schema ``name`` (built once per process)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema(name))


def format_path(parts) -> str:
    """A JSON path as a reader writes it: ``records[12].value``, ``meta.protocol_versions["my prop"]``;
    ``top level`` for the document itself."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif _IDENT.match(str(p)):
            out += f".{p}" if out else str(p)
        else:
            out += f"[{json.dumps(str(p), ensure_ascii=False)}]"
    return out or "top level"


def _short(value) -> str:
    r = repr(value)
    return r if len(r) <= _MAX_SHOWN else r[:_MAX_SHOWN - 6] + " ... " + r[-1]


def _message(err: ValidationError) -> str:
    """jsonschema's message with a long offending value (or a long list of allowed values) shortened."""
    msg = err.message
    shown = repr(err.instance)
    if len(shown) > _MAX_SHOWN:
        msg = msg.replace(shown, _short(err.instance))
    if err.validator == "enum" and len(err.validator_value) > 32:  # e.g. the 118 chemical symbols
        msg = msg.replace(repr(err.validator_value), f"the {len(err.validator_value)} allowed values")
    if err.validator in _EXPLAINED and isinstance(err.schema, dict) and err.schema.get("description"):
        first = err.schema["description"].split(". ")[0].rstrip(".")
        msg += f" ({first if len(first) <= 200 else first[:197] + '...'})"
    return msg


def _order(err: ValidationError) -> tuple:
    """Document order of an error's location: shallower first, then by index / key."""
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in err.absolute_path)


def first_error(name: str, instance) -> ValidationError | None:
    """The first violation of schema ``name`` by ``instance`` in document order (None when it is valid);
    within an ``anyOf``/``oneOf`` the most relevant alternative's error (jsonschema's ``best_match``)."""
    from jsonschema.exceptions import best_match

    errors = list(validator(name).iter_errors(instance))
    if not errors:
        return None
    first = min(_order(e) for e in errors)
    return best_match(e for e in errors if _order(e) == first)


def violation(name: str, instance) -> str | None:
    """``"<json path>: <what is wrong>"`` for the first violation of schema ``name`` by ``instance``, or None."""
    err = first_error(name, instance)
    if err is None:
        return None
    return f"{format_path(err.absolute_path)}: {_message(err)}"


def check(name: str, instance, where: str, error: type[Exception]) -> None:
    """Raise ``error("<where>: <json path>: <what is wrong>")`` when ``instance`` violates schema ``name``."""
    v = violation(name, instance)
    if v is not None:
        raise error(f"{where}: {v}")
