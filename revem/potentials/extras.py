"""Optional extras of revem that a potential may need (a card's ``extra:``, e.g. ``extra: universal``).

A card whose model needs packages outside revem's dependencies names the extra that installs them
(``pip install 'revem[<extra>]'``, ``[project.optional-dependencies]`` of pyproject.toml).  Without it the card
still loads and lists (nothing of the extra is imported to read a card), and the validation engine skips its
cases with a reason naming the extra (:func:`missing_extra`, and :class:`MissingExtra` raised by a calculator
that cannot import what it needs).
"""
from __future__ import annotations

import re
from importlib import metadata

EXTRA_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


class MissingExtra(ImportError):
    """A potential needs an optional extra of revem that is not installed; the message names the extra and
    how to install it.  The validation engine turns it into a skipped case."""

    def __init__(self, message: str, extra: str):
        super().__init__(message)
        self.extra = extra


def install_hint(extra: str) -> str:
    return f"pip install 'revem[{extra}]'"


def extra_requirements(extra: str) -> list[str] | None:
    """Distribution names the installed revem lists for ``extra`` (None when revem's metadata is not there or
    does not know the extra -- e.g. an editable install made before the extra was added)."""
    try:
        reqs = metadata.requires("revem") or []
    except metadata.PackageNotFoundError:
        return None
    names = []
    for r in reqs:
        req, _, marker = r.partition(";")
        m = _EXTRA_MARKER.search(marker)
        if m and m.group(1) == extra:
            n = _REQ_NAME.match(req)
            if n:
                names.append(n.group(1))
    return names or None


def missing_extra(extra: str) -> str | None:
    """Why the potential's ``extra`` is not usable here (the packages it lacks and the install command), or None
    when every package of the extra is installed (or revem's metadata cannot tell: the calculator then raises
    :class:`MissingExtra` itself if it cannot import what it needs)."""
    names = extra_requirements(extra)
    if not names:
        return None
    lacking = []
    for n in names:
        try:
            metadata.version(n)
        except metadata.PackageNotFoundError:
            lacking.append(n)
    if not lacking:
        return None
    return (f"needs revem's optional extra '{extra}' ({install_hint(extra)}); not installed here: "
            f"{', '.join(lacking)}")
