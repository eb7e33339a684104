"""Fitting potentials to labelled data: linear/quadratic SNAP (``snap``), pacemaker inputs (``pacemaker``)."""
