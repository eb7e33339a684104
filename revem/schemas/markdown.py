"""Field tables of the published schemas, in Markdown: the tables of ``docs/schemas.md`` are generated here
(``revem schema NAME --markdown``), so the documentation cannot drift from the schemas.

``python -m revem.schemas.markdown docs/schemas.md`` rewrites the generated blocks of that page (between
``<!-- schema-table: NAME -->`` and ``<!-- end schema-table -->``); ``tests/test_schemas.py`` checks that
they are current.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from . import NAMES, schema

BEGIN = "<!-- schema-table: {name} -->"
END = "<!-- end schema-table -->"


def _type(node: dict) -> str:
    """A short type description of a schema node: ``number or null``, ``one of 'a', 'b'``, ``list of record``."""
    if "$ref" in node:
        return f"[{node['$ref'].rsplit('/', 1)[-1]}](#{_anchor(node['$ref'].rsplit('/', 1)[-1])})"
    if "const" in node:
        return f"`{json.dumps(node['const'], ensure_ascii=False)}`"
    if "enum" in node:
        vals = node["enum"]
        if len(vals) > 16:
            return node.get("title") or f"one of {len(vals)} values"
        return "one of " + ", ".join(f"`{json.dumps(v, ensure_ascii=False)}`" for v in vals)
    if "anyOf" in node:
        return " or ".join(_type(n) for n in node["anyOf"])
    if "oneOf" in node:
        return " or ".join(_type(n) for n in node["oneOf"])
    types = node.get("type", "any")
    types = types if isinstance(types, list) else [types]
    out = []
    for t in types:
        if t == "array" and isinstance(node.get("items"), dict):
            out.append(f"list of {_type(node['items'])}")
        elif t == "object" and isinstance(node.get("additionalProperties"), dict):
            out.append(f"mapping of {_type(node['additionalProperties'])}")
        else:
            out.append({"object": "mapping" if "properties" not in node else "object", "array": "list"}.get(t, t))
    return " or ".join(out)


def _constraints(node: dict) -> str:
    parts = []
    for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("minLength", "length >="),
                      ("maxLength", "length <="), ("minItems", "items >="), ("maxItems", "items <=")):
        if key in node:
            parts.append(f"{word} {node[key]}")
    if "pattern" in node:
        parts.append(f"matches `{node['pattern']}`")
    return "; ".join(parts)


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(title: str, node: dict, out: list[str], level: str) -> None:
    """One table of ``node``'s properties, then one per nested object with properties of its own."""
    req = set(node.get("required", []))
    out += [f"{level} {title}", ""]
    if node.get("description"):
        out += [node["description"], ""]
    extra = node.get("additionalProperties", True)
    out += ["| field | type | required | description |", "|---|---|---|---|"]
    nested = []
    for key, sub in node["properties"].items():
        t = _type(sub)
        c = _constraints(sub)
        out.append(f"| `{key}` | {_cell(t)}{_cell(f' ({c})') if c else ''} | {'yes' if key in req else ''} | "
                   f"{_cell(sub.get('description', ''))} |")
        for inner in (sub, sub.get("items") if isinstance(sub.get("items"), dict) else None):
            if isinstance(inner, dict) and "properties" in inner and "$ref" not in inner:
                nested.append((f"{title}.{key}" + ("[]" if inner is not sub else ""), inner))
    out.append("")
    if extra is False:
        out += ["Other fields are refused.", ""]
    elif extra is True:
        out += ["Other fields are allowed (readers ignore them).", ""]
    for t, n in nested:
        _table(t, n, out, level)


def render(name: str) -> str:
    """The field tables of schema ``name`` (Markdown)."""
    s = schema(name)
    out: list[str] = [f"`{s['$id']}` -- {s['title']}", ""]
    _table(name, s, out, "####")
    for key, node in s.get("$defs", {}).items():
        if "properties" in node:
            _table(key, node, out, "####")
    return "\n".join(out).rstrip() + "\n"


def update_doc(path: Path) -> bool:
    """Rewrite the generated blocks of ``path``; True when it changed."""
    old = path.read_text(encoding="utf-8")
    new = old
    for name in NAMES:
        pat = re.compile(re.escape(BEGIN.format(name=name)) + r"\n.*?" + re.escape(END), re.DOTALL)
        new = pat.sub(lambda _m, n=name: f"{BEGIN.format(name=n)}\n{render(n)}{END}", new)
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"{arg}: {'updated' if update_doc(Path(arg)) else 'up to date'}")
