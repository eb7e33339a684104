"""A universal machine-learning potential as an optional extra: CHGNet (``pip install 'revem[universal]'``).

CHGNet (B. Deng et al., Nat. Mach. Intell. 5, 1031 (2023)) is a graph neural network trained on the Materials
Project relaxation trajectories (MPtrj, PBE/PBE+U); it covers 89 elements, every element revem has references
for among them.  Its pretrained weights ship inside the ``chgnet`` wheel (``chgnet/pretrained/<version>/``):
:class:`CHGNetCalculator` loads them from there, checks their sha256 against :data:`WEIGHTS` (the files of
chgnet 0.4.2), and never downloads anything -- a model whose file is not inside the installed package is
refused.  The model runs in float32 on the CPU, with ``threads`` torch threads (default: ``OMP_NUM_THREADS``,
else 1).

The catalog card ``CHGNet_0.3.0`` names this class (``kind: ase``, ``extra: universal``); without the extra
installed the card still loads and lists, and its validation cases skip, naming the extra.  ``chgnet`` and
``torch`` are imported only when a calculator is built.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from functools import lru_cache
from pathlib import Path

from ase.calculators.calculator import Calculator, all_changes

from .extras import MissingExtra, install_hint

EXTRA = "universal"
INSTALL_HINT = install_hint(EXTRA)
#: the pretrained CHGNet models revem accepts: version -> (file inside the chgnet package, sha256 of the file)
WEIGHTS = {
    "0.3.0": ("pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar",
              "d14ab7c0f093efe64b60a7bcd540bca10e74fb7f46c86108a079af60524659d1"),
    "0.2.0": ("pretrained/0.2.0/chgnet_0.2.0_e30f77s348m32.pth.tar",
              "ef624f78b6db9d315b4ef256f1bb3207449924191b91720dc17d3f60c5df980e"),
    "r2scan": ("pretrained/r2scan/chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar",
               "8eba3db0f35a2788bb3ae22885ad340591e27996f213c6643af522a633b50dad"),
}


def _import_chgnet():
    try:
        import chgnet  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise MissingExtra(f"the universal potential CHGNet needs revem's optional extra '{EXTRA}' "
                           f"({INSTALL_HINT}; it installs chgnet, whose wheel holds the weights, and the CPU torch): "
                           f"{exc}", EXTRA) from None
    return chgnet


def weights_file(model: str) -> Path:
    """The packaged weights file of CHGNet ``model``, checked: inside the installed chgnet package, with the
    sha256 of :data:`WEIGHTS`.  Raises ``ValueError`` (unknown model, missing or altered file) -- never downloads."""
    if model not in WEIGHTS:
        raise ValueError(f"CHGNet model {str(model)[:40]!r} is not one of {sorted(WEIGHTS)} (the weights chgnet's "
                         "wheel ships; revem loads nothing from the network)")
    chgnet = _import_chgnet()
    rel, sha = WEIGHTS[model]
    path = Path(chgnet.__file__).parent / rel
    if not path.is_file():
        raise ValueError(f"CHGNet {model}: the weights file {path} is not in the installed chgnet package "
                         f"(chgnet {getattr(chgnet, '__version__', '?')}); revem does not download weights -- "
                         f"reinstall with {INSTALL_HINT}")
    got = _sha256(str(path))
    if got != sha:
        raise ValueError(f"CHGNet {model}: {path} has sha256 {got[:16]}..., not the {sha[:16]}... of the chgnet 0.4.2 "
                         "wheel; refused (an altered or other file)")
    return path


@lru_cache(maxsize=8)
def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@lru_cache(maxsize=4)
def _model(model: str):
    """The CHGNet model, loaded once per process from the checked packaged file, in float32 on the CPU."""
    path = weights_file(model)
    import torch
    from chgnet.model import CHGNet

    if torch.get_default_dtype() != torch.float32:
        raise ValueError(f"CHGNet runs in float32; torch's default dtype is {torch.get_default_dtype()}")
    # the same arguments as CHGNet.load(model_name=...), from the checked file (CHGNet.load would not check it)
    m = CHGNet.from_file(str(path), mlp_out_bias=model == "0.2.0", version=model)
    # an atom with no neighbour within the 5 Å graph cutoff (an isolated atom for a cohesive energy) gets the
    # model's composition energy alone, without a warning per call
    m.graph_converter.set_isolated_atom_response("ignore")
    return m.to("cpu").eval()


#: the largest cell a calculator evaluates by default (~6 GB of memory on the CPU; see CHGNetCalculator)
MAX_ATOMS = 400


def _threads(threads) -> int:
    if threads is None:
        threads = os.environ.get("OMP_NUM_THREADS", "1")
    try:
        n = int(threads)
    except (TypeError, ValueError):
        raise ValueError(f"CHGNet: 'threads' must be a positive integer, got {str(threads)[:40]!r}") from None
    if n < 1:
        raise ValueError(f"CHGNet: 'threads' must be a positive integer, got {n}")
    return n


class CHGNetCalculator(Calculator):
    """CHGNet (pretrained, packaged weights) as an in-process ASE calculator: energy (eV), forces (eV/Å) and
    stress (eV/Å^3, ASE's sign), computed in float32 on the CPU.

    ``model``: one of :data:`WEIGHTS` (default ``0.3.0``, trained on MPtrj); ``threads``: torch's intra-op
    threads (default ``OMP_NUM_THREADS``, else 1); ``max_atoms``: larger cells are refused with a ``ValueError``
    (default :data:`MAX_ATOMS`: memory grows by ~16 MB per atom, and a 2000-atom cell exhausted 22 GB here).
    Raises :class:`MissingExtra` when chgnet is not installed.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]
    precision = "float32"

    def __init__(self, model: str = "0.3.0", threads: int | None = None, max_atoms: int = MAX_ATOMS):
        super().__init__()
        n = _threads(threads)
        if isinstance(max_atoms, bool) or not isinstance(max_atoms, int) or max_atoms < 1:
            raise ValueError(f"CHGNet: 'max_atoms' must be a positive integer, got {str(max_atoms)[:40]!r}")
        self.max_atoms = max_atoms
        self.model_name = model
        self.model = _model(model)
        import torch

        torch.set_num_threads(n)
        self.threads = n

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        import numpy as np
        import torch
        from pymatgen.io.ase import AseAtomsAdaptor

        if len(self.atoms) > self.max_atoms:
            raise ValueError(
                f"CHGNet: {len(self.atoms)} atoms is more than max_atoms = {self.max_atoms}: its graph and autograd "
                f"memory grow by ~16 MB per atom on the CPU (512 hcp Os atoms took 8 GB and 28 s a call here; the "
                f"speed protocol's 2000-atom cell was killed for memory at 22 GB); raise max_atoms in the card's "
                f"ase.kwargs on a machine with the memory")
        structure = AseAtomsAdaptor.get_structure(self.atoms)
        graph = self.model.graph_converter(structure)
        with torch.set_grad_enabled(True), warnings.catch_warnings():  # forces, stress: autograd derivatives
            # chgnet 0.4.2 turns the cell volume (a tensor that requires grad) into a scalar; harmless, said per call
            warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True to a scalar")
            pred = self.model.predict_graph(graph, task="efs")
        n = len(self.atoms) if self.model.is_intensive else 1
        from ase.units import GPa

        energy = float(pred["e"]) * n
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": np.asarray(pred["f"], dtype=np.float32).reshape(len(self.atoms), 3),
                        # CHGNet predicts the stress in GPa, with ASE's sign (CHGNet's own ASE calculator does this)
                        "stress": _voigt(np.asarray(pred["s"], dtype=np.float64) * GPa)}


def _voigt(s):
    import numpy as np

    s = np.asarray(s).reshape(3, 3)
    return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
