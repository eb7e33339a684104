"""Property protocols: one module per property, computing numbers (scoring lives in revem.scoring).

Each module has ``PROPERTY``, ``DEFAULTS`` (with units), ``cases(element, tier)``, a ``compute`` step
returning plain numbers with units, and a docstring with the method, literature and disclaimers.
"""
