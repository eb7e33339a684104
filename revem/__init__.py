"""revem: information-entropy-maximised training sets and DFT-referenced validation for MLIAPs."""
__version__ = "0.1.0"
