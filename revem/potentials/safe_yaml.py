"""Reading potential cards and ACE headers without trusting their size, encoding or YAML structure.

* :func:`read_text_capped` checks that the path is a regular file (a FIFO or device would block or never
  end), reads at most ``cap`` bytes and decodes them as UTF-8; the error names the file and, for a bad
  byte, its line and column.
* :func:`load_yaml` first walks the YAML *event* stream (libyaml's parser when available: linear time,
  no objects built) and refuses anchors and aliases (a few hundred bytes of nested aliases expand to
  gigabytes: the "billion laughs" bomb), nesting deeper than ``max_depth`` (the composer recurses) and more
  than ``max_events`` events. Only then is the document composed, checked for duplicate mapping keys (a
  second ``name:`` would silently win) and constructed with the *safe* constructor.
* :func:`check_no_anchor_or_alias` is the cheap screen for large ACE files: a YAML anchor needs a
  ``&`` and an alias a ``*``; only a text containing one of them is walked event by event.
"""
from __future__ import annotations

import stat
from pathlib import Path

import yaml

from .errors import PotentialError

CARD_MAX_BYTES = 1 << 20          # 1 MiB: a card is a few hundred bytes
ACE_MAX_BYTES = 200 << 20         # 200 MiB: ACE bases can be large, but not unbounded
TEXT_MAX_BYTES = 1 << 20          # LAMMPS input text: included files, bare .snap/.mliap files
MAX_DEPTH = 16
MAX_EVENTS = 200_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _describe(value, limit: int = 60) -> str:
    """``repr`` of ``value`` cut to ``limit`` characters, with its type (for error messages)."""
    r = repr(value)
    if len(r) > limit:
        r = r[: limit - 3] + "..."
    return f"{r} ({type(value).__name__})"


def read_text_capped(path: Path, cap: int, what: str) -> str:
    """The UTF-8 text of the regular file ``path`` (a leading BOM dropped), refused above ``cap`` bytes.

    ``what`` names the file in messages ("potential card", "ACE file", ...). Raises
    :class:`PotentialError`; never includes the file's content in the message.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        from .errors import PotentialFileMissing

        raise PotentialFileMissing(f"{what} {path} not found") from None
    except OSError as exc:
        raise PotentialError(f"{what} {path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise PotentialError(f"{what} {path}: not a regular file")
    if st.st_size > cap:
        raise PotentialError(f"{what} {path}: {st.st_size} bytes, more than the {cap} bytes allowed")
    try:
        with open(path, "rb") as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise PotentialError(f"{what} {path}: cannot be read ({exc.strerror})") from None
    if len(data) > cap:  # grew since stat()
        raise PotentialError(f"{what} {path}: more than the {cap} bytes allowed")
    return decode_utf8(data, f"{what} {path}")


def decode_utf8(data: bytes, where: str) -> str:
    """``data`` decoded as UTF-8; a bad byte gives a :class:`PotentialError` naming ``where``, line and column."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PotentialError(
            f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, column {col})"
        ) from None
    return text.removeprefix("\ufeff")


def _one_line(exc) -> str:
    return " ".join(str(exc).split())[:300]


def _mark(event) -> str:
    m = getattr(event, "start_mark", None)
    return f" (line {m.line + 1})" if m is not None else ""


def check_yaml_events(text: str, where: str, max_depth: int = MAX_DEPTH, max_events: int = MAX_EVENTS) -> None:
    """Refuse anchors, aliases, deep nesting and too many events, walking the event stream once."""
    depth = events = 0
    try:
        for ev in yaml.parse(text, Loader=_Loader):
            events += 1
            if events > max_events:
                raise PotentialError(f"{where}: more than {max_events} YAML events; not a potential card")
            if isinstance(ev, yaml.AliasEvent):
                raise PotentialError(f"{where}: YAML aliases ('*{ev.anchor}'){_mark(ev)} are not allowed "
                                     "(nested aliases expand exponentially); write the value out")
            anchor = getattr(ev, "anchor", None)
            if anchor is not None:
                raise PotentialError(f"{where}: YAML anchors ('&{anchor}'){_mark(ev)} are not allowed; write the value out")
            if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > max_depth:
                    raise PotentialError(f"{where}: YAML nested deeper than {max_depth} levels{_mark(ev)}")
            elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    except yaml.YAMLError as exc:
        raise PotentialError(f"{where}: not valid YAML ({_one_line(exc)})") from None


def _check_duplicates(node, where: str) -> None:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.MappingNode):
            seen = set()
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in seen:
                        raise PotentialError(f"{where}: duplicate key '{k.value[:60]}' (line {k.start_mark.line + 1})")
                    seen.add(k.value)
                stack.append(v)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)


def load_yaml(text: str, where: str, max_depth: int = MAX_DEPTH, max_events: int = MAX_EVENTS):
    """Safely load one YAML document: no anchors/aliases, bounded depth and size, no duplicate keys."""
    check_yaml_events(text, where, max_depth, max_events)
    try:
        node = yaml.compose(text, Loader=_Loader)
        if node is None:
            return None
        _check_duplicates(node, where)
        loader = _Loader("")
        try:
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except PotentialError:
        raise
    except yaml.YAMLError as exc:
        raise PotentialError(f"{where}: not valid YAML ({_one_line(exc)})") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # e.g. '!!int x', unhashable keys
        raise PotentialError(f"{where}: not valid YAML ({type(exc).__name__}: {str(exc)[:200]})") from None


def check_no_anchor_or_alias(text: str, where: str) -> None:
    """Refuse YAML anchors/aliases in a possibly large ``text`` (ACE files): a YAML anchor needs a ``&`` and
    an alias a ``*``, so only a text holding one of them is walked event by event (linear, libyaml).
    A text with ``&``/``*`` that libyaml cannot parse is refused too: it cannot be shown to be alias-free."""
    if "&" not in text and "*" not in text:
        return
    try:
        for ev in yaml.parse(text, Loader=_Loader):
            if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None) is not None:
                raise PotentialError(f"{where}: YAML anchors/aliases{_mark(ev)} are not allowed "
                                     "(nested aliases expand exponentially)")
    except yaml.YAMLError as exc:
        raise PotentialError(f"{where}: not valid YAML ({_one_line(exc)})") from None
