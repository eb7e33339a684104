"""Errors of a fitted potential per energy window, as the Rev-EM paper's Tables 1 and 3: all configurations,
those within E_min + 2 eV/atom and within E_min + 1 eV/atom (E_min: the lowest energy per atom of the data)."""
from __future__ import annotations

import numpy as np

WINDOWS = (("all", None), ("E_min+2eV", 2.0), ("E_min+1eV", 1.0))


def window_errors(epa_true, epa_pred, emin: float, force_err=None, stress_err=None) -> dict:
    """``{window: {n_configurations, energy_rmse/mae (meV/atom), force_rmse/mae (eV/Å, per component),
    stress_rmse/mae (GPa)}}`` of configurations with true energies ``epa_true`` (eV/atom).

    ``force_err`` / ``stress_err``: per configuration an array of component errors (eV/Å, GPa) or None."""
    epa_true = np.asarray(epa_true, float)
    epa_pred = np.asarray(epa_pred, float)
    out = {}
    for name, de in WINDOWS:
        sel = np.flatnonzero(np.ones(len(epa_true), bool) if de is None else epa_true <= emin + de)
        res = {"n_configurations": int(len(sel))}
        parts = [("energy", "meV/atom", [(epa_pred[sel] - epa_true[sel]) * 1000.0])]
        if force_err is not None:
            parts.append(("force", "eV/Å", [force_err[i] for i in sel if force_err[i] is not None]))
        if stress_err is not None:
            parts.append(("stress", "GPa", [stress_err[i] for i in sel if stress_err[i] is not None]))
        for label, unit, errs in parts:
            errs = [np.ravel(e) for e in errs if np.size(e)]
            if errs:
                e = np.concatenate(errs)
                res[f"{label}_rmse"] = float(np.sqrt(np.mean(e ** 2)))
                res[f"{label}_mae"] = float(np.mean(np.abs(e)))
                res[f"{label}_unit"] = unit
        out[name] = res
    return out
