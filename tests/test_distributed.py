"""Validation past one machine (issue 21, items 1, 2 and 5): cases as dask.distributed tasks on a real
LocalCluster, shards for batch schedulers and ``revem merge``, ``--resume``, and the progress bar.

Every comparison is against a local run of the same engine in this process: the records, the cases and the
report's verdict must be the same (ASE's EMT for Cu is deterministic: identical numbers).  Runs use the smoke
tier and a few properties (about 17 cases of a few seconds); the clusters are two worker processes.
"""
from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ase.calculators.emt import EMT

import revem
from revem.validation import results as results_io
from revem.validation.engine import CaseId, Engine, RunConfig, load_targets
from revem.validation.progress import CaseProgress
from revem.validation.runner import keyword_filter
from revem.validation.sharding import CaseCosts, ShardError, parse_shard, partition, shard_of

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

PROPS = ["eos", "elastic", "surfaces", "defects", "verification"]  # elastic: C12's records are of case "bcc"


def _cli(*args, cwd=None, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    return subprocess.run([sys.executable, "-m", "revem.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=env, check=False)


class _Ran:
    def __init__(self, rc, out, err):
        self.returncode, self.stdout, self.stderr = rc, out, err


@pytest.fixture
def main(capsys):
    """``revem`` in this process (no interpreter start-up): main(*args) -> returncode, stdout, stderr."""
    from revem.cli import main as cli_main

    def run(*args):
        capsys.readouterr()
        rc = cli_main(list(args))
        out = capsys.readouterr()
        return _Ran(rc, out.out, out.err)

    return run


def _results(report_dir: Path) -> dict:
    """(records, cases) of every results.json below ``report_dir``, without what differs between two runs of the
    same cases (a case's seconds and run id)."""
    out = {}
    for f in sorted(Path(report_dir).glob("*/*/*/results.json")):
        d = results_io.load(f)
        cases = sorted(({k: v for k, v in c.items() if k not in ("seconds", "run_id")} for c in d["cases"]),
                       key=lambda c: (c["property"], c["case"]))
        out[str(f.relative_to(report_dir).parent)] = (d["records"], cases, d["planned"])
    return out


def _first_lines(report_dir: Path) -> dict:
    return {str(f.relative_to(report_dir)): f.read_text().splitlines()[0]
            for f in sorted(Path(report_dir).glob("*/*/*/report.md"))}


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def emt():
    """One EMT object for the whole module: its content key (a calculator without parameters is keyed by its
    identity too) is the same in every run, so their reports are of the same potential content."""
    return EMT()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, emt):
    """The reference: the same cases run in this process."""
    d = tmp_path_factory.mktemp("local")
    res = revem.validate(emt, element="Cu", tier="smoke", properties=PROPS, report_dir=d, progress=False)
    return d, res


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes.  The scheduler gives up on a case at the first death of its worker
    (default: the third) and hands a worker one case at a time (default: a second one waits there), so a worker
    that dies concerns exactly the case it runs."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0, "distributed.scheduler.worker-saturation": 1.0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        yield cl


# -- Dask ---------------------------------------------------------------------------------------------
def test_dask_run_writes_the_reports_of_a_local_run(local_run, cluster, emt, tmp_path):
    local_dir, local = local_run
    res = revem.validate(emt, element="Cu", tier="smoke", properties=PROPS, report_dir=tmp_path, progress=False,
                         dask=cluster.scheduler_address)
    assert len(res.outcomes) == len(local.outcomes) > 10
    assert _results(tmp_path) == _results(local_dir)  # the same records (identical numbers), cases and plan
    assert _first_lines(tmp_path) == _first_lines(local_dir)
    folder = tmp_path / "EMT" / "Cu" / "smoke"
    assert not (folder / results_io.JOURNAL).exists() and (folder / "elastic.png").is_file()
    # a baseline travels to the workers as the client loaded it: the same numbers, compared, no regression
    again = revem.validate(emt, element="Cu", tier="smoke", properties=["eos", "elastic"], report_dir=tmp_path / "b",
                           progress=False, dask=cluster.scheduler_address, baseline=local_dir)
    assert again.records and all(r["baseline"] is not None for r in again.records if r["value"] is not None)
    assert not again.regressions and not again.failed_cases  # --fail-on regression (auto with a baseline)
    # the run's plugin (its potentials, its engine) is gone from the workers once the run is over
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as c:
        plugins = c.run(lambda dask_worker: sorted(dask_worker.plugins))
    assert not any(p.startswith("revem-run-") for names in plugins.values() for p in names)


class DyingEMT(EMT):
    """EMT whose first calculation in any process kills that process while a flag file exists (a worker that
    dies mid-case: preempted, out of memory); the flag is claimed by an atomic rename, so one process dies."""

    def __init__(self, flag: str):
        super().__init__()
        self.flag = flag

    def calculate(self, *args, **kwargs):
        try:
            os.rename(self.flag, self.flag + ".taken")
        except FileNotFoundError:
            pass
        else:
            os._exit(1)
        return super().calculate(*args, **kwargs)


def test_a_dead_worker_loses_only_its_case_and_resume_computes_only_that(cluster, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # DyingEMT travels by value (tests/ is no package)
    flag = tmp_path / "die"
    flag.write_text("")
    calc = DyingEMT(str(flag))
    kw = {"element": "Cu", "tier": "smoke", "properties": ["eos", "elastic", "surfaces"], "report_dir": tmp_path / "r",
          "progress": False, "name": "DyingEMT", "dask": cluster}
    res = revem.validate(calc, **kw)
    assert len(res.lost) == 1 and not res.passed and not res.resumed
    lost = res.lost[0]
    assert lost not in [o.case for o in res.outcomes] and len(res.outcomes) > 5
    folder = tmp_path / "r" / "DyingEMT" / "Cu" / "smoke"
    assert (folder / "report.md").read_text().startswith("**INCOMPLETE**")
    have = {(c["property"], c["case"]) for c in results_io.load(folder / "results.json")["cases"]}
    assert have == {(o.case.property, o.case.case) for o in res.outcomes}  # every finished case, not the lost one
    n_done = len(res.outcomes)
    again = revem.validate(calc, resume=True, **kw)  # the nanny restarted the worker; the run's plugin reached it
    assert [o.case for o in again.outcomes] == [lost] and len(again.resumed) == n_done and not again.lost
    assert flag.with_name("die.taken").exists()


def test_an_unreachable_scheduler_is_one_line_within_seconds_and_creates_nothing(tmp_path, main):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    r = _cli("validate", "--element", "W", "--potential", "W_zhou", "--property", "eos", "--tier", "smoke",
             "--report-dir", str(tmp_path / "reports"), "--dask", f"tcp://127.0.0.1:{port}", cwd=tmp_path)
    assert time.monotonic() - t0 < 60
    assert r.returncode == 4, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "cannot reach the scheduler" in err[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "reports").exists()
    r = main("validate", "--element", "W", "--potential", "W_zhou", "--dask", "not an address",
             "--report-dir", str(tmp_path / "reports"))
    assert r.returncode == 4 and "not a scheduler address" in r.stderr and not (tmp_path / "reports").exists()


# -- shards and merge ---------------------------------------------------------------------------------
def test_shards_are_deterministic_disjoint_and_balanced_by_measured_costs(tmp_path):
    eng = Engine(load_targets(["W_zhou"], elements=["W"]), RunConfig(tier="smoke", elements=["W"], report_dir=None))
    cases = eng.collect()
    # an earlier run's measured seconds: one heavy case, the rest light
    heavy = next(c for c in cases if c.property == "nve")
    entries = [{"property": c.property, "case": c.case, "status": "passed", "seconds": 30.0 if c == heavy else 0.5}
               for c in cases]
    folder = tmp_path / "W_zhou" / "W" / "smoke"
    folder.mkdir(parents=True)
    meta = {"tier": "smoke", "element": "W", "potential": {"name": "W_zhou", "sha256": "0" * 64}, "protocol_versions": {}}
    results_io.dump(folder / "results.json", meta, [], entries)
    costs = CaseCosts("smoke", [tmp_path])
    assert costs.seconds(heavy) == 30.0
    shards = partition(cases, 3, costs)
    assert sorted(c for s in shards for c in s) == sorted(cases)  # every case once
    assert shards == partition(list(reversed(cases)), 3, CaseCosts("smoke", [tmp_path]))  # order-independent
    loads = sorted(sum(costs.seconds(c) for c in s) for s in shards)
    assert heavy in min(shards, key=len)  # LPT: the heavy case's shard gets the fewest other cases
    assert loads[1] - loads[0] <= 0.5 + 1e-9  # the light shards differ by at most one light case
    assert shard_of(cases, (2, 3), costs) == [c for c in cases if c in shards[1]]
    # without measurements: the fixed per-property guesses, still a partition
    guessed = partition(cases, 4, CaseCosts("smoke"))
    assert sorted(c for s in guessed for c in s) == sorted(cases) and all(guessed)
    assert parse_shard("2/8") == (2, 8)
    for bad in ("0/2", "3/2", "1", "a/b", "-1/2"):
        with pytest.raises(ShardError, match="--shard"):
            parse_shard(bad)
    with pytest.raises(ShardError, match="no such results file"):
        CaseCosts("smoke", [tmp_path / "nowhere"])


def test_two_shards_merged_equal_one_run_and_merge_refuses_what_it_must(local_run, emt, tmp_path, main):
    local_dir, local = local_run
    ran = []
    for i in (1, 2):
        res = revem.validate(emt, element="Cu", tier="smoke", properties=PROPS, report_dir=tmp_path / f"s{i}",
                             progress=False, shard=f"{i}/2", costs=local_dir)
        ran.append([o.case for o in res.outcomes])
        first = (tmp_path / f"s{i}" / "EMT" / "Cu" / "smoke" / "report.md").read_text()
        assert first.startswith("**INCOMPLETE**")  # a shard holds part of the tier
    assert not set(ran[0]) & set(ran[1]) and sorted(ran[0] + ran[1]) == sorted(o.case for o in local.outcomes)
    before = {i: _tree(tmp_path / f"s{i}") for i in (1, 2)}
    r = main("merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "--out", str(tmp_path / "merged"))
    assert r.returncode == 0, r.stderr
    assert _results(tmp_path / "merged") == _results(local_dir)
    assert _first_lines(tmp_path / "merged") == _first_lines(local_dir)
    assert (tmp_path / "merged" / "summary.md").is_file() and (tmp_path / "merged" / "EMT/Cu/smoke/eos_parity.png").is_file()
    assert {i: _tree(tmp_path / f"s{i}") for i in (1, 2)} == before  # the inputs are never modified
    # merging again into the same --out gives the same records (what --out held is folded in, then replaced)
    r = main("merge", str(tmp_path / "s2"), str(tmp_path / "s1"), "--out", str(tmp_path / "merged"))
    assert r.returncode == 0 and _results(tmp_path / "merged") == _results(local_dir)

    # refusals: one line, exit code 2, nothing written
    r = main("merge", str(tmp_path / "s1"), "--out", str(tmp_path / "s1"))
    assert r.returncode == 2 and "never modified" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = main("merge", str(tmp_path / "s1"), "--out", str(tmp_path / "s1" / "inside"))
    assert r.returncode == 2 and not (tmp_path / "s1" / "inside").exists()
    other = tmp_path / "std"
    revem.validate(emt, element="Cu", tier="smoke", properties=["eos"], report_dir=other, progress=False,
                   fail_on="all")
    r = main("merge", str(tmp_path / "s1"), str(other), "--out", str(tmp_path / "bad"))
    assert r.returncode == 2 and "--fail-on" in r.stderr and not (tmp_path / "bad").exists()
    r = main("merge", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "bad"))
    assert r.returncode == 2 and "not a report directory" in r.stderr
    assert {i: _tree(tmp_path / f"s{i}") for i in (1, 2)} == before


def test_cli_shard_with_progress_and_exit_codes(tmp_path, main):
    common = ["validate", "--element", "W", "--potential", "W_zhou", "--property", "eos", "--tier", "smoke"]
    r = main(*common, "--shard", "1/2", "--report-dir", str(tmp_path / "a"), "--progress", "--report-only", "-n", "2")
    assert r.returncode == 0, r.stderr
    assert "LocalCluster of 2 worker processes" in r.stdout  # -n 2 with --shard: two local worker processes
    assert "cases done" in r.stderr and "remaining" in r.stderr  # the one progress bar
    assert "shard 1/2" in r.stdout and "slowest cases:" in r.stdout and "INCOMPLETE" in r.stdout
    r = main(*common, "--shard", "3/2", "--report-dir", str(tmp_path / "b"))
    assert r.returncode == 4 and "--shard 3/2" in r.stderr and not (tmp_path / "b").exists()
    r = main(*common, "--shard", "40/40", "--report-dir", str(tmp_path / "c"))
    assert r.returncode == 5 and "no case was selected" in r.stderr and not (tmp_path / "c").exists()
    # --resume: everything of shard 1/2 has a result already, nothing runs, the verdict still counts
    r = main(*common, "--shard", "1/2", "--report-dir", str(tmp_path / "a"), "--resume")
    assert "kept their earlier result" in r.stdout and "cases ran" not in r.stdout
    assert r.returncode in (0, 1)


# -- resume and progress --------------------------------------------------------------------------------
def test_resume_reruns_only_what_is_missing_or_not_comparable(local_run, emt, tmp_path):
    d = tmp_path / "r"
    first = revem.validate(emt, element="Cu", tier="smoke", properties=["eos"], report_dir=d, progress=False)
    again = revem.validate(emt, element="Cu", tier="smoke", properties=["eos", "surfaces"], report_dir=d,
                           progress=False, resume=True)
    assert sorted(again.resumed) == sorted(o.case for o in first.outcomes)
    assert {o.case.property for o in again.outcomes} == {"surfaces"}
    # another --fail-on decides other verdicts: nothing is resumed
    third = revem.validate(emt, element="Cu", tier="smoke", properties=["eos"], report_dir=d, progress=False,
                           resume=True, fail_on="all")
    assert not third.resumed and len(third.outcomes) == len(first.outcomes)


def test_progress_bar_counts_cases_and_weights_the_eta_by_measured_costs(local_run):
    local_dir, local = local_run
    cases = [o.case for o in local.outcomes]
    costs = CaseCosts("smoke", [local_dir])
    bar = CaseProgress(cases, costs, enabled=False)
    assert bar.total == pytest.approx(sum(costs.seconds(c) for c in cases), abs=0.01)
    slow = max(local.outcomes, key=lambda o: o.seconds)
    bar.finished(slow)
    assert bar.cost_done == pytest.approx(costs.seconds(slow.case))  # the ETA sees the cost done, not one case in n
    other = next(o for o in local.outcomes if o.status == "failed" and o is not slow)  # EMT's Cu is not PBE's
    bar.finished(other)
    bar.lost_case(next(c for c in cases if c not in (slow.case, other.case)))
    n_failed = (slow.status == "failed") + 1
    assert bar._desc() == f"validating: 2/{len(cases)} cases done, {n_failed} failed, 1 lost, {len(cases) - 3} remaining"
    bar.close()
    # without any measurement every case weighs one: the bar counts cases
    assert CaseProgress(cases, CaseCosts("smoke"), enabled=False).total == len(cases)


def test_keyword_filter_matches_as_pytest_k_with_exact_element_symbols():
    cases = [CaseId("W_zhou", "W", "eos", "bcc"), CaseId("W_zhou", "W", "gsfe", "110_unrelaxed"),
             CaseId("MoNbTaW_x", "Mo", "eos", "bcc"), CaseId("W_zhou", "W", "grain_boundaries", "S5_001_twist")]
    assert keyword_filter(cases, "W") == [c for c in cases if c.element == "W"]
    assert keyword_filter(cases, "eos and bcc and not Mo") == [cases[0]]
    assert keyword_filter(cases, "twist") == [cases[3]]


def test_records_of_one_case_named_after_another_survive_the_fold(local_run):
    """Elastic case C12 gives the record (elastic, fcc, C12): folding C12's outcome must not drop the fcc records
    of C11 and C44 (results.merge matches a record's producing case, from its test id), in a local run as in a
    merge of shards."""
    from revem.validation import merging, writer

    local_dir, _ = local_run
    recs = results_io.load(local_dir / "EMT" / "Cu" / "smoke" / "results.json")["records"]
    fcc = {r["quantity"] for r in recs if r["property"] == "elastic" and r["case"] == "fcc"}
    assert {"C11", "C12", "C44"} <= fcc
    assert {results_io.source_case(r)[1] for r in recs if r["property"] == "elastic" and r["case"] == "fcc"} >= \
        {"C11", "C12", "C44"}
    assert merging.LOCK_FILE == writer.LOCK_FILE
