"""Data shipped with revem.potentials: the demo W linear ACE potential and the script that fitted it."""
