"""A float32 model for tests: ASE's EMT evaluated the way single-precision ML models (CHGNet, ...) are --
positions and cell rounded to float32, per-atom energies with a DFT-like scale (a constant −1000 eV per
atom) summed sequentially in float32, forces and stress returned as float32."""
import numpy as np
from ase.calculators.emt import EMT

OFFSET_EV_PER_ATOM = -1000.0


class Float32EMT(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        at = (atoms if atoms is not None else self.atoms).copy()
        at.set_cell(at.cell.array.astype(np.float32).astype(float), scale_atoms=False)
        at.set_positions(at.get_positions().astype(np.float32).astype(float))
        kw = {} if system_changes is None else {"system_changes": system_changes}
        super().calculate(at, list(properties) + ["energies"], **kw)
        e_atoms = (np.asarray(self.results["energies"]) + OFFSET_EV_PER_ATOM).astype(np.float32)
        total = np.float32(0.0)
        for e in e_atoms:  # sequential float32 sum: the order of the atoms matters, as in a float32 model
            total = np.float32(total + e)
        self.results["energy"] = self.results["free_energy"] = float(total)
        self.results["energies"] = e_atoms
        for key in ("forces", "stress"):
            if key in self.results:
                self.results[key] = np.asarray(self.results[key], dtype=np.float32)
