"""Numerical experiments of the seed papers (``revem experiment ...``)."""
