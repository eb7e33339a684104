"""The validation harness in a checkout: ``pytest validation --element W --potential my_W.yace``.

The harness is the ``revem`` pytest plugin (``revem.validation.plugin``, registered through the
``pytest11`` entry point when revem is installed); its tests live in ``revem.validation.test_properties``,
so ``pytest --pyargs revem.validation ...`` runs the same from any folder.
"""
