"""Property protocols: one module per property, computing numbers (scoring lives in revem.validation.scoring).

Each module has ``PROPERTY``, ``DEFAULTS`` (with units), ``cases(element, tier)``, a ``compute`` step
returning plain numbers with units, and a docstring with the method, literature and disclaimers.
"""

import importlib
import pkgutil
from functools import lru_cache


@lru_cache(maxsize=1)
def protocol_modules() -> dict:
    """``{PROPERTY: module}`` of every property protocol in this package (a module with a ``PROTOCOL``)."""
    out = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "common":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "PROTOCOL"):
            out[mod.PROTOCOL.name] = mod
    return out


def protocols() -> dict:
    """``{name: Protocol}``: every property the harness runs (``validation/test_properties.py``)."""
    return {name: mod.PROTOCOL for name, mod in protocol_modules().items()}


def protocol_versions() -> dict[str, int]:
    """``{PROPERTY: PROTOCOL_VERSION}`` plus ``common`` (the shared primitives of ``common.py``):
    recorded in every results file; a baseline must match them."""
    from .common import PROTOCOL_VERSION as common_version

    out = {p: int(m.PROTOCOL.version) for p, m in sorted(protocol_modules().items())}
    out["common"] = int(common_version)
    return out
