"""Property-based tests (hypothesis) of the numeric options of ``revem fit snap``, ``diversity``, ``select``,
``label`` and ``experiment transferability`` (issue #19), and of the extxyz writer's comment line.

For any text given to a numeric option (NaN, infinities, huge, negative, fractional for an integer, ...) the
real parser and the command's own option check either accept it -- exactly when it is a finite number in the
documented range -- or refuse it with a message naming the option, before any file is read or written
(these checks run without inputs on disk: nothing is there to read).
"""
from __future__ import annotations

import contextlib
import io
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revem.cli import build_parser
from revem.safe_io import Refused

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

#: option values: any float (NaN, +-inf, subnormal, huge), any integer, boundary texts
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10**20, max_value=10**20).map(str),
    st.sampled_from(["0", "1", "2", "-1", "0.5", "1e-300", "1e308", "1e999", "-0.0", "nan", "inf", "-inf", "3.0",
                     "12", "13", "15", "4096", "4097", "100000", "1.5"]),
)


def boundary_texts(lo, hi) -> list[str]:
    """Texts at and beside the ends of a range (every one is checked, not sampled)."""
    pts = [0, -1, 1]
    for b in (lo, hi):
        if b is not None:
            pts += [b, b - 1, b + 1, b - 1e-9 * max(1.0, abs(b)), b + 1e-9 * max(1.0, abs(b)), b + 0.5, 2 * b, -b]
    if lo is not None and hi is not None:
        pts.append((lo + hi) / 2)
    return sorted({repr(float(p)) for p in pts} | {str(int(p)) for p in pts if float(p).is_integer()}
                  | {"nan", "inf", "-inf", "1e999"})


def around(lo, hi):
    """Boundary texts (half of the examples) and anything else (VALUES)."""
    return st.one_of(st.sampled_from(boundary_texts(lo, hi)), VALUES)


def in_range(text: str, kind, lo, hi, lo_open=False, hi_open=False) -> bool:
    """Whether ``text`` is a finite number of ``kind`` in the range (what the command must accept)."""
    try:
        v = kind(text)
    except ValueError:
        return False
    if isinstance(v, float) and not math.isfinite(v):
        return False
    if lo is not None and (v <= lo if lo_open else v < lo):
        return False
    if hi is not None and (v >= hi if hi_open else v > hi):
        return False
    return True


def parse(argv):
    """(namespace or None, argparse's message)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return build_parser().parse_args(argv), ""
        except SystemExit as exc:
            assert exc.code == 2
            return None, err.getvalue()


def check(argv, opt, ok: bool, validate, errors=(Refused,)):
    """Parse and validate; accepted iff ``ok``; a refusal names ``opt`` (argparse or the command's check)."""
    args, msg = parse(argv)
    if args is not None:
        try:
            validate(args)
        except errors as exc:
            args, msg = None, str(exc)
    if ok:
        assert args is not None, f"{opt}: refused a valid value: {msg}"
    else:
        assert args is None, f"{opt}: accepted {argv}"
        assert opt in msg and "Traceback" not in msg, msg


# -- revem fit snap ----------------------------------------------------------------------------------------
#: the documented ranges (README / --help), written out here independently of the code's table:
#: (option, kind, lo, hi, lo_open, hi_open)
SNAP = [
    ("--twojmax", int, 1, 12, False, False), ("--rcut", float, 0.0, 15.0, True, False),
    ("--zbl-outer", float, 0.0, 10.0, True, False), ("--zbl-inner", float, 0.0, 10.0, True, False),
    ("--kappa", float, 0.0, 1.0, False, True), ("--de-low", float, 0.0, 1e6, True, False),
    ("--de-up", float, 0.0, 1e6, True, False), ("--df-up", float, 0.0, 1e6, True, False),
    ("--energy-weight", float, 0.0, 1e12, True, False), ("--force-weight", float, 0.0, 1e12, False, False),
    ("--stress-weight", float, 0.0, 1e12, False, False), ("--ridge", float, 0.0, 1e6, False, False),
    ("--test-size", float, 0.0, 1.0, False, True), ("--seed", int, 0, 2**63 - 1, False, False),
]


@pytest.mark.parametrize("rng", SNAP, ids=[r[0] for r in SNAP])
@SETTINGS
@given(data=st.data())
def test_fit_snap_numeric_options(rng, data):
    from revem.fitting.cli import check_snap_args
    from revem.fitting.snap import FitError

    opt, kind, lo, hi, lo_open, hi_open = rng
    text = data.draw(around(lo, hi))
    check(["fit", "snap", "data.extxyz", f"{opt}={text}"], opt, in_range(text, kind, lo, hi, lo_open, hi_open),
          check_snap_args, (FitError,))


# -- revem diversity ---------------------------------------------------------------------------------------
DIVERSITY = [("--reps", int, 2, 100000, False), ("--seed", int, 0, None, False), ("--v-ref", float, 0, 1e4, True),
             ("--quests-max-atoms", int, 2, None, False), ("--max-configs", int, 1, None, False)]


@pytest.mark.parametrize("opt, kind, lo, hi, lo_open", DIVERSITY, ids=[d[0] for d in DIVERSITY])
@SETTINGS
@given(data=st.data())
def test_diversity_numeric_options(opt, kind, lo, hi, lo_open, data):
    from revem.datasets.diversity import DiversityError, check_options

    text = data.draw(around(lo, hi))
    check(["diversity", "a.extxyz", f"{opt}={text}"], opt, in_range(text, kind, lo, hi, lo_open), check_options,
          (DiversityError,))


# -- revem select ------------------------------------------------------------------------------------------
SELECT = [("--n", int, 1, None, False), ("--random", int, 2, 100000, False), ("--seed", int, 0, None, False),
          ("--pool-volume", float, 0, None, True)]


@pytest.mark.parametrize("opt, kind, lo, hi, lo_open", SELECT, ids=[d[0] for d in SELECT])
@SETTINGS
@given(data=st.data())
def test_select_numeric_options(opt, kind, lo, hi, lo_open, data):
    from revem.generator.select import SelectError, check_options

    text = data.draw(around(lo, hi))
    argv = ["select", "a.extxyz", "--out", "s.extxyz"] + ([] if opt == "--n" else ["--n", "3"]) + [f"{opt}={text}"]
    check(argv, opt, in_range(text, kind, lo, hi, lo_open), check_options, (Refused, SelectError))


# -- revem label -------------------------------------------------------------------------------------------
LABEL = [("--ecut", float, 0, 10000.0), ("--kpts-density", float, 0, 1000.0), ("--smearing-width", float, 0, 10.0),
         ("--scf-maxiter", int, 0, 100000), ("--workers", int, 0, 4096), ("--max-atoms", int, 0, 10_000_000)]


@pytest.mark.parametrize("opt, kind, lo, hi", LABEL, ids=[o[0] for o in LABEL])
@SETTINGS
@given(data=st.data())
def test_label_numeric_options(opt, kind, lo, hi, data):
    text = data.draw(around(lo, hi))
    who = ["--dft"] if opt in ("--ecut", "--kpts-density", "--smearing-width", "--scf-maxiter") else ["--teacher", "W_zhou"]
    check(["label", "a.extxyz", "--out", "o.extxyz", *who, f"{opt}={text}"], opt,
          in_range(text, kind, lo, hi, lo_open=True), lambda args: None)


# -- revem experiment transferability ----------------------------------------------------------------------
EXPERIMENT = [("--seeds", int, 1, 1000), ("--max-per-group", int, 1, None), ("--de-max-per-group", int, 0, None),
              ("--ridge", float, 0, 1e6), ("--force-weight", float, 0, 1e6), ("--workers", int, 1, 4096)]


@pytest.mark.parametrize("opt, kind, lo, hi", EXPERIMENT, ids=[e[0] for e in EXPERIMENT])
@SETTINGS
@given(data=st.data())
def test_experiment_numeric_options(tmp_path, opt, kind, lo, hi, data):
    from revem.experiments.transferability import check_args
    from revem.fitting.snap import FitError

    text = data.draw(around(lo, hi))
    ok = in_range(text, kind, lo, hi)
    args, msg = parse(["experiment", "transferability", "--out", str(tmp_path / "exp"), "--skip-part1",
                       f"{opt}={text}"])
    if args is not None:
        with pytest.raises(FitError) as exc:  # valid numbers reach the next check: nothing to do
            check_args(args)
        msg = str(exc.value)
        if ok:
            assert "nothing to do" in msg, msg
            return
    assert not ok and opt in msg, msg
    assert not (tmp_path / "exp").exists()


# -- the extxyz comment line -------------------------------------------------------------------------------
@SETTINGS
@given(values=st.lists(st.text(max_size=12), min_size=1, max_size=3),
       key=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=6))
def test_extxyz_writer_output_always_reads_back(tmp_path, values, key):
    import ase.io

    from hostile_tools import labelled_frames
    from revem.safe_io import write_extxyz

    frames = labelled_frames(len(values))
    for a, v in zip(frames, values):
        a.info[key] = v
        a.info["zz_last"] = 5
    f = tmp_path / "o.extxyz"
    notes = write_extxyz(frames, f)
    got = ase.io.read(str(f), index=":")
    assert len(got) == len(frames)
    for a, b in zip(got, frames):
        assert a.info["zz_last"] == 5 and len(a) == len(b)
        if key in a.info and isinstance(a.info[key], str) and a.info[key] != b.info[key]:
            assert any(repr(key)[:20].strip("'") in n for n in notes), (notes, key)


# -- every boundary text, deterministically (the sampled tests above may miss one) ---------------------------
def _cases():
    from revem.datasets.diversity import DiversityError, check_options as div_check
    from revem.fitting.cli import check_snap_args
    from revem.fitting.snap import FitError
    from revem.generator.select import SelectError, check_options as sel_check

    out = []
    for opt, kind, lo, hi, lo_open, hi_open in SNAP:
        out.append((["fit", "snap", "d.extxyz"], opt, kind, lo, hi, lo_open, hi_open, check_snap_args, (FitError,)))
    for opt, kind, lo, hi, lo_open in DIVERSITY:
        out.append((["diversity", "a.extxyz"], opt, kind, lo, hi, lo_open, False, div_check, (DiversityError,)))
    for opt, kind, lo, hi, lo_open in SELECT:
        base = ["select", "a.extxyz", "--out", "s.extxyz"] + ([] if opt == "--n" else ["--n", "3"])
        out.append((base, opt, kind, lo, hi, lo_open, False, sel_check, (Refused, SelectError)))
    for opt, kind, lo, hi in LABEL:
        who = ["--dft"] if opt in ("--ecut", "--kpts-density", "--smearing-width", "--scf-maxiter") else ["--teacher", "x"]
        out.append((["label", "a.extxyz", "--out", "o.extxyz", *who], opt, kind, lo, hi, True, False,
                    lambda a: None, (Refused,)))
    return out


@pytest.mark.parametrize("case", _cases(), ids=[f"{c[0][0]}{c[1]}" for c in _cases()])
def test_every_boundary_of_every_numeric_option(case):
    base, opt, kind, lo, hi, lo_open, hi_open, validate, errors = case
    for text in boundary_texts(lo, hi):
        check(base + [f"{opt}={text}"], opt, in_range(text, kind, lo, hi, lo_open, hi_open), validate, errors)
