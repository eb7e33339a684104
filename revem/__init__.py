"""revem: information-entropy-maximised training sets (Rev-EM) and DFT-referenced validation of
machine-learning interatomic potentials.

``revem.validate(potential, element, ...)`` validates a potential (catalog name, card, file, ASE
calculator object or factory) from Python; see :mod:`revem.validation.api`.
"""
__version__ = "0.1.0"
__all__ = ["__version__", "validate", "Results", "Target"]


def __getattr__(name):  # the validation engine is imported on first use (``import revem`` stays light)
    if name in ("validate", "Results"):
        from .validation import api

        return getattr(api, name)
    if name == "Target":
        from .validation.target import Target

        return Target
    raise AttributeError(f"module 'revem' has no attribute {name!r}")
