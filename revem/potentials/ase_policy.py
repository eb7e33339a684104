"""Which ``kind: ase`` callables a card may name: in-process calculators only.

A card's ``ase: module:Class`` is imported and called with the card's ``kwargs``. Some ASE calculators
run external programs (``ase.calculators.lammpsrun.LAMMPS`` runs ``command``; every ``FileIOCalculator``
runs a shell command) or take LAMMPS command lists (``LAMMPSlib(lmpcmds=["shell ..."])``), which would
let a card run anything, also when the pytest harness merely validates it. So, unless the user trusts
the callable explicitly, :func:`check_ase_callable` requires:

1. ``module:Name`` with dotted identifiers, and ``module`` under a trusted prefix (``ase.calculators.``,
   ``pyace``, ``revem.``, or a module named in ``REVEM_TRUSTED_MODULES=mod1,mod2``);
2. ``Name`` is a *class* deriving from ASE's ``BaseCalculator`` (no factory or helper functions);
3. the class is not defined in, nor its module one of, :data:`EXTERNAL_MODULES` (lammpsrun, lammpslib,
   socketio, subprocess calculators, ...), and does not derive from ``FileIOCalculator``,
   ``GenericFileIOCalculator`` or ``SocketIOCalculator``;
4. no parameter of its constructor, none of its ``default_parameters`` and no key of the card's
   ``kwargs`` (nested mappings included) is launch-like (:data:`LAUNCH_PARAMETERS`, or a name containing
   ``command``, ``cmd``, ``exec``, ``launch``, ``binary``, ``shell``, ``script``, ``profile``);
5. the module that defines the class (and of each base class outside ASE's calculator core) does not use
   ``subprocess``, ``os.system``, ``os.popen``, ``os.exec*``, ``os.spawn*`` or ``pexpect``;
6. the card's ``kwargs`` are plain YAML values, with no file-writing keys (``directory``, ``label``,
   ``txt``, ``restart``, ``log*``, ``dump*`` ...), and every string that names a file resolves inside the
   allowed folders (like LAMMPS file arguments); it is replaced by its absolute path. Files that would be
   unpickled or executed (``.pkl``, ``.pt``, ``.py``, ``.so`` ...) are refused.

7. for a module of ASE or pyace, the class itself is on :data:`ALLOWED_CLASSES`, revem's list of in-process
   calculators that write no file (an allow-list of classes, not of modules: ``ase.calculators.checkpoint:
   CheckpointCalculator`` passed rules 1-6 and created ``checkpoints.db`` in the working directory, because the
   rules checked the card's kwargs, not what the class does by default; :data:`WRITES_FILES` names such classes
   and what they write).  A module the user trusts (``REVEM_TRUSTED_MODULES``) and revem's own modules are
   checked by rules 2-6 only.

A user who trusts more says so explicitly, per callable: ``REVEM_TRUST_EXTERNAL=module:Class,...``
skips rules 2-6 for exactly those callables (and trusts their module); the trust is recorded on the
:class:`~revem.potentials.Potential` (``trust``) and shown by ``summary()`` and the reports.
"""
from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from functools import lru_cache
from pathlib import Path

from .errors import UnsafeCommand, UntrustedCalculator

TRUSTED_ASE_MODULES = ("ase.calculators.", "pyace", "revem.")
EXTERNAL_MODULES = (
    "ase.calculators.lammpsrun", "ase.calculators.lammpslib", "ase.calculators.lammps",
    "ase.calculators.socketio", "ase.calculators.subprocesscalculator", "ase.calculators.genericfileio",
    "ase.calculators.kim", "ase.calculators.plumed", "ase.calculators.turbomole", "revem.lammps_runtime",
)
LAUNCH_PARAMETERS = {
    "command", "lmpcmds", "amendments", "post_changebox_cmds", "cmd", "cmds", "executable", "binary",
    "profile", "launch_client", "lammps_header", "lammps_options", "extra_cmd_args", "initializer",
    "program", "exe", "argv", "shell", "script", "lmp", "lammps_name",
}
_LAUNCH_PATTERN = re.compile(r"command|cmd|exec|launch|binary|shell|script|profile", re.IGNORECASE)
FILE_WRITING_KWARGS = {"directory", "label", "restart", "txt", "log", "logfile", "log_file", "trajectory",
                       "output", "outfile", "workdir", "tmp_dir", "scratch", "prefix"}
_FILE_WRITING_PATTERN = re.compile(r"^(dump|log|write|save|out)", re.IGNORECASE)
_CALLABLE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
_SOURCE_MARKERS = re.compile(r"\bsubprocess\b|\bPopen\b|\bos\.system\b|\bos\.popen\b|\bos\.exec|\bos\.spawn|\bpexpect\b")
_PATHLIKE = re.compile(r"^[^/\\]*\.[A-Za-z][A-Za-z0-9]{0,11}$")
CODE_FILE_SUFFIXES = {".pkl", ".pickle", ".pt", ".pth", ".joblib", ".ckpt", ".npy", ".py", ".pyc", ".so",
                      ".dll", ".dylib", ".sh"}
_CORE_MODULES = {"ase.calculators.calculator", "ase.calculators.abc", "abc", "builtins", "ase.utils"}
#: the in-process calculator classes of ASE and pyace a card may name (``module:Class`` where the class is
#: defined): energy models computed in this process, writing no file.  Extend per callable with
#: ``REVEM_TRUST_EXTERNAL`` (the trust is recorded on the potential).
ALLOWED_CLASSES = frozenset({
    "ase.calculators.emt:EMT", "ase.calculators.eam:EAM", "ase.calculators.lj:LennardJones",
    "ase.calculators.morse:MorsePotential", "ase.calculators.tersoff:Tersoff", "ase.calculators.tip3p:TIP3P",
    "ase.calculators.tip4p:TIP4P", "ase.calculators.acn:ACN", "ase.calculators.idealgas:IdealGas",
    "ase.calculators.h2morse:H2MorseCalculator", "pyace.asecalc:PyACECalculator",
})
#: classes that pass rules 1-6 but write files by default (refused; the value says what they write)
WRITES_FILES = {
    "ase.calculators.checkpoint:CheckpointCalculator": "an ASE database 'checkpoints.db' in the working directory",
    "ase.calculators.loggingcalc:LoggingCalculator": "JSON logs (jsonfile, dumpjson)",
}
#: module prefixes whose classes must be on :data:`ALLOWED_CLASSES`
_ALLOW_LISTED = ("ase.", "pyace")


def _env_list(name: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, "").split(",") if x.strip()]


def trusted_modules() -> tuple[str, ...]:
    return TRUSTED_ASE_MODULES + tuple(_env_list("REVEM_TRUSTED_MODULES"))


def _module_matches(mod: str, prefixes) -> bool:
    for t in prefixes:
        t0 = t.rstrip(".")
        if mod == t0 or mod.startswith(t0 + "."):
            return True
    return False


@lru_cache(maxsize=64)
def _source_uses_processes(module_name: str) -> bool:
    mod = sys.modules.get(module_name)
    try:
        src = Path(inspect.getsourcefile(mod)).read_text(errors="replace") if mod else ""
    except (TypeError, OSError):  # built-in or compiled: cannot tell
        return False
    return bool(_SOURCE_MARKERS.search(src))


def _launch_like(name: str) -> bool:
    return name in LAUNCH_PARAMETERS or bool(_LAUNCH_PATTERN.search(name))


def _walk_keys(obj, path: str):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield f"{path}.{k}", k, v
            yield from _walk_keys(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk_keys(v, f"{path}[{i}]")


def _class_problem(cls) -> str | None:
    """Why ``cls`` may launch programs, or None."""
    from ase.calculators.calculator import BaseCalculator, FileIOCalculator

    bases = [FileIOCalculator]
    for modname, attr in (("ase.calculators.genericfileio", "GenericFileIOCalculator"),
                          ("ase.calculators.socketio", "SocketIOCalculator")):
        try:
            bases.append(getattr(importlib.import_module(modname), attr))
        except (ImportError, AttributeError):
            pass
    if not (inspect.isclass(cls) and issubclass(cls, BaseCalculator)):
        return "is not an ASE calculator class (only calculator classes may be named)"
    for b in bases:
        if issubclass(cls, b):
            return f"derives from {b.__name__}, which runs an external program"
    for klass in cls.__mro__:
        if _module_matches(klass.__module__, EXTERNAL_MODULES):
            return f"comes from {klass.__module__}, which runs external programs or LAMMPS command lists"
    try:
        params = list(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        params = []
    params += list(getattr(cls, "default_parameters", {}) or {})
    launch = sorted({p for p in params if _launch_like(p)})
    if launch:
        return f"takes launch-like parameter(s) {launch}"
    if getattr(cls, "command", None):
        return "has a 'command' to run"
    for klass in cls.__mro__:
        if klass.__module__ not in _CORE_MODULES and _source_uses_processes(klass.__module__):
            return f"its module {klass.__module__} starts processes (subprocess/os.system/...)"
    return None


def _plain(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _resolve_file_values(value, where: str, key: str, base: Path, roots):
    from .lammps_input import resolve_inside

    if isinstance(value, dict):
        return {k: _resolve_file_values(v, where, f"{key}.{k}", base, roots) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_file_values(v, where, f"{key}[{i}]", base, roots) for i, v in enumerate(value)]
    if isinstance(value, str) and ("/" in value or "\\" in value or _PATHLIKE.match(value)
                                   or (value and os.path.lexists(base / value))):
        if Path(value).suffix.lower() in CODE_FILE_SUFFIXES:
            raise UntrustedCalculator(f"{where}: '{key}' names '{value[:80]}', a file that would be unpickled or "
                                      "executed; refused")
        return str(resolve_inside(value, base, roots, f"{where}: '{key}'"))
    return value


def check_ase_callable(spec: str, kwargs, where: str, base: Path | None = None, roots=None):
    """Check a ``kind: ase`` callable and its kwargs (rules in the module docstring).

    Returns ``(cls_or_callable, kwargs, trust)``: the object to call, the kwargs with file names made
    absolute, and the trust notes to record on the potential (empty when nothing beyond the defaults was
    trusted). Raises :class:`UntrustedCalculator` / :class:`UnsafeCommand` naming the rule.
    """
    if not isinstance(spec, str) or not _CALLABLE.match(spec):
        raise UnsafeCommand(f"{where}: 'ase' must name 'module:Class' (dotted module, class name), got {str(spec)[:80]!r}")
    mod_name, _, attr = spec.partition(":")
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise UnsafeCommand(f"{where}: 'ase.kwargs' must be a mapping of names to values, got {type(kwargs).__name__}")
    trust: list[str] = []
    explicit = spec in _env_list("REVEM_TRUST_EXTERNAL")
    if explicit:
        trust.append(f"{spec} is trusted through REVEM_TRUST_EXTERNAL: it may run external programs, and revem's "
                     "checks of its commands and files do not apply")
    elif not _module_matches(mod_name, trusted_modules()):
        raise UnsafeCommand(
            f"{where}: module '{mod_name}' is not trusted for kind 'ase' (trusted: {', '.join(trusted_modules())}; "
            "add yours with REVEM_TRUSTED_MODULES=module)"
        )
    elif not _module_matches(mod_name, TRUSTED_ASE_MODULES):
        trust.append(f"module {mod_name} is trusted through REVEM_TRUSTED_MODULES")
    if not explicit:
        if _module_matches(mod_name, EXTERNAL_MODULES):
            raise UntrustedCalculator(
                f"{where}: {spec} runs external programs or LAMMPS command lists; use 'kind: lammps' for a LAMMPS "
                f"potential (or trust it explicitly with REVEM_TRUST_EXTERNAL={spec})"
            )
        bad = [p for p, k, _ in _walk_keys(kwargs, "kwargs") if _launch_like(k)]
        if bad:
            raise UntrustedCalculator(
                f"{where}: launch-like key(s) {bad} in 'ase.kwargs' (commands are refused); use 'kind: lammps' for a "
                f"LAMMPS potential (or trust it explicitly with REVEM_TRUST_EXTERNAL={spec})"
            )
        bad = [p for p, k, _ in _walk_keys(kwargs, "kwargs")
               if k in FILE_WRITING_KWARGS or _FILE_WRITING_PATTERN.match(k)]
        if bad:
            raise UntrustedCalculator(
                f"{where}: key(s) {bad} in 'ase.kwargs' would make the calculator write files; refused"
            )
        if not _plain(kwargs):
            raise UnsafeCommand(f"{where}: 'ase.kwargs' must hold plain YAML values (strings, numbers, lists, mappings)")
    try:
        obj = getattr(importlib.import_module(mod_name), attr)
    except ImportError as exc:
        raise UnsafeCommand(f"{where}: cannot import module '{mod_name}' ({exc})") from None
    except AttributeError:
        raise UnsafeCommand(f"{where}: module '{mod_name}' has no '{attr}'") from None
    if explicit:
        return obj, dict(kwargs), trust
    problem = _class_problem(obj)
    if problem:
        raise UntrustedCalculator(
            f"{where}: {spec} {problem}; kind 'ase' takes in-process calculators only -- use 'kind: lammps' for a "
            f"LAMMPS potential (or trust it explicitly with REVEM_TRUST_EXTERNAL={spec})"
        )
    canonical = f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', attr)}"
    if _module_matches(mod_name, _ALLOW_LISTED) or _module_matches(canonical.partition(":")[0], _ALLOW_LISTED):
        if canonical not in ALLOWED_CLASSES and spec not in ALLOWED_CLASSES:
            writes = WRITES_FILES.get(canonical) or WRITES_FILES.get(spec)
            why = (f"writes {writes} by default" if writes else
                   "is not on revem's list of in-process calculator classes that write no file")
            raise UntrustedCalculator(
                f"{where}: {spec} {why}; kind 'ase' takes only "
                f"{', '.join(sorted(c.rpartition('.')[2] for c in ALLOWED_CLASSES))} from ASE and pyace "
                f"(or trust it explicitly with REVEM_TRUST_EXTERNAL={spec})"
            )
    if base is not None:
        kwargs = _resolve_file_values(kwargs, where, "ase.kwargs", Path(base), roots)
    return obj, dict(kwargs), trust
