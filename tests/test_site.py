"""``revem site``: the static dashboard of a report directory, tested on real validation runs and in a real
headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by selenium).

The report directory is made once per module by real runs (about 25 s on 2 cores): ASE's EMT for Cu (eos,
elastic, with training data, so the cases carry coverage labels), W_zhou for W (eos, gsfe, phonons and the
dimer of robustness: every kind of interactive plot) and W_2940_2017_2 for W (eos, regression-checked against
W_zhou's results as its baseline: real regressions, old → new).  A crafted report with HTML/JS in every field
a page shows checks that a results file is data, never code.

The browser tests skip, saying how to install, when Chromium, its driver or selenium is missing.
Screenshots of each page kind go to ``$REVEM_SCREENSHOT_DIR`` when set (else the test's temporary folder).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from revem.cli import main as revem_main
from revem.site import build_site
from revem.site.collect import collect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    import selenium  # noqa: F401

    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER and HAVE_SELENIUM),
    reason="no headless Chromium for the dashboard tests: apt-get install chromium chromium-driver; "
           "pip install selenium (or pip install 'revem[test]')")

EVIL = '<img src=x onerror="window.__pwned=1">'
EVIL_SCRIPT = "</script><script>window.__pwned=2</script>"
EVIL_ATTR = '"><svg onload="window.__pwned=3">'


# -- the report directory: real runs ---------------------------------------------------------------------
def _run_dimer_only(report_dir: Path, potential: str, element: str) -> None:
    """Robustness' dimer case alone (the other robustness cases take ~10 s): the engine's own loop."""
    from revem.validation.engine import Engine, RunConfig, load_targets
    from revem.validation.session import Session
    from revem.validation.writer import RunWriter

    session = Session()
    config = RunConfig(tier="smoke", report_dir=report_dir, elements=[element], properties=["robustness"])
    engine = Engine(load_targets([potential], session=session, elements=[element]), config, session=session)
    cases = [c for c in engine.collect() if c.case == "dimer"]
    writer = RunWriter(engine)
    try:
        writer.begin(cases)
        outcomes = [engine.run_case(c) for c in cases]
        for o in outcomes:
            writer.record(o)
        writer.finish(*engine.baseline_problems(outcomes))
    finally:
        writer.release()
        session.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    from ase.build import bulk
    from ase.calculators.emt import EMT

    import revem

    d = tmp_path_factory.mktemp("reports")
    train = []
    for s in (0.98, 1.0, 1.02):
        a = bulk("Cu", "fcc", a=3.61 * s, cubic=True).repeat(2)
        a.rattle(0.02, seed=int(s * 100))
        train.append(a)
    revem.validate(EMT(), element="Cu", tier="smoke", properties=["eos", "elastic"], report_dir=d, name="EMT",
                   training_data=train, progress=False)
    revem.validate("W_zhou", element="W", tier="smoke", properties=["eos", "gsfe", "phonons"], report_dir=d,
                   progress=False)
    _run_dimer_only(d, "W_zhou", "W")
    base = tmp_path_factory.mktemp("baseline")
    shutil.copytree(d / "W_zhou", base / "W_zhou")  # W_2940 is checked against W_zhou: it is its only W
    revem.validate("W_2940_2017_2", element="W", tier="smoke", properties=["eos"], report_dir=d,
                   baseline=base, fail_on="regression", allow_partial_baseline=True, progress=False)
    return d


@pytest.fixture(scope="module")
def site(reports, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    build_site(reports, out)
    return out


@pytest.fixture(scope="module")
def evil_site(reports, tmp_path_factory) -> Path:
    """A report directory with a crafted results file: markup and script in every field a page shows."""
    d = tmp_path_factory.mktemp("evil_reports")
    src = json.loads((reports / "EMT" / "Cu" / "smoke" / "results.json").read_text())
    src["meta"]["potential"].update(name="evil", citation=EVIL_SCRIPT, source=EVIL_ATTR, kind=EVIL)  # names are checked on load
    src["meta"]["host"] = EVIL_SCRIPT
    for i, r in enumerate(src["records"]):
        r["note"] = EVIL_SCRIPT
        r["reference_source"] = EVIL_ATTR
        if r["property"] == "eos":
            r["unit"] = EVIL
        if isinstance(r.get("data"), dict) and r["data"].get("volumes"):
            r["data"]["relaxed_into"] = EVIL  # a trace name of the E–V plot
    src["records"][0]["case"] = EVIL
    src["records"][1]["quantity"] = "<b>bold</b>"
    src["cases"].append({"property": "eos", "case": EVIL, "status": "skipped", "reason": EVIL_SCRIPT})
    folder = d / "evil" / "Cu" / "smoke"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(src))
    shutil.copy(reports / "EMT" / "Cu" / "smoke" / "eos_curves.png", folder / "eos_curves.png")
    bad = d / "a<b>" / "Cu" / "smoke"  # a folder name that is markup: left out, named on the overview
    bad.mkdir(parents=True)
    (bad / "results.json").write_text(json.dumps(src))
    out = tmp_path_factory.mktemp("evil_site") / "site"
    build_site(d, out)
    return out


# -- the site's files (no browser) ------------------------------------------------------------------------
def test_site_has_a_page_per_report_and_plotly_offline(reports, site):
    col = collect(reports)
    assert {(r.potential, r.element) for r in col.reports} == {("EMT", "Cu"), ("W_zhou", "W"), ("W_2940_2017_2", "W")}
    index = (site / "index.html").read_text()
    for r in col.reports:
        assert (site / "reports" / f"{r.id}.html").is_file()
        assert f'href="reports/{r.id}.html"' in index
        data = (site / "reports" / f"{r.id}.data.js").read_text()
        assert data.startswith("window.REVEM_DATA")
        for png in r.pngs:  # every plot of the report is copied and shown
            assert (site / "reports" / f"{r.id}--{png.name}").read_bytes() == png.read_bytes()
            assert f"{r.id}--{png.name}" in (site / "reports" / f"{r.id}.html").read_text()
    plotly = (site / "assets" / "plotly.min.js").read_bytes()
    assert len(plotly) > 1_000_000 and b"plotly" in plotly[:2000].lower()
    for page in [site / "index.html", site / "compare.html", *(site / "reports").glob("*.html")]:
        text = page.read_text()
        assert "http://" not in text.split("<main>")[0] and "https://" not in text.split("<main>")[0]  # no CDN


def test_verdicts_are_the_reports_first_lines(reports, site):
    """The site shows the verdict word of report.md (revem's case_verdict), never one of its own."""
    for rep in collect(reports).reports:
        first = (rep.folder / "report.md").read_text().splitlines()[0]
        assert first.startswith(f"**{rep.word}**")
        page = (site / "reports" / f"{rep.id}.html").read_text()
        assert f'id="verdict-word">{rep.word}<' in page


def test_report_pages_show_regressions_coverage_and_failures(reports, site):
    col = {r.potential: r for r in collect(reports).reports}
    w2940 = (site / "reports" / f"{col['W_2940_2017_2'].id}.html").read_text()
    regress = [r for r in col["W_2940_2017_2"].records if (r.get("baseline") or {}).get("regression")]
    assert regress and 'id="regressions-table"' in w2940 and " → " in w2940
    emt = (site / "reports" / f"{col['EMT'].id}.html").read_text()
    assert 'id="coverage-counts"' in emt and "extrapolating" in emt
    zhou = (site / "reports" / f"{col['W_zhou'].id}.html").read_text()
    n_fail = sum(r.get("passed") is False for r in col["W_zhou"].records)
    assert n_fail and zhou.count("<td>outside tolerance</td>") + zhou.count("<td>not converged</td>") == n_fail
    data = (site / "reports" / f"{col['W_zhou'].id}.data.js").read_text()
    keys = json.loads(data.split(" = ", 2)[-1].rstrip(";\n"))["figures"]
    assert {f["key"] for f in keys} >= {"eos:E-V", "gsfe:110", "gsfe:112", "phonons:bands", "robustness:dimer-E"}


def test_results_files_are_escaped(evil_site):
    """A results file is data: no markup from it reaches a page unescaped, no string closes a script."""
    pages = [p for p in evil_site.rglob("*") if p.suffix in (".html", ".js") and p.name != "plotly.min.js"]
    assert len(pages) >= 5
    for p in pages:
        text = p.read_text()
        for raw in (EVIL, "<script>window.__pwned", "<svg onload", "<b>bold"):
            assert raw not in text, f"{p.name} holds {raw!r} unescaped"
    index = (evil_site / "index.html").read_text()
    assert "&lt;img src=x onerror=" in index  # shown as text
    assert "a&lt;b&gt;/Cu/smoke/results.json" in index  # the folder left out, named


def test_format2_layout_of_an_earlier_report_dir(tmp_path):
    """A report directory of the previous layout (results format 2: <potential>/<element>/results.json) is shown
    too; a report that is there twice (both layouts) is shown once and the other named."""
    root = Path(__file__).resolve().parents[1] / "tests" / "data" / "format2"
    files = sorted(root.glob("*/*/results.json"))
    assert files
    res = build_site(root, tmp_path / "site")
    assert res.reports == len(files) and not res.skipped
    copy = tmp_path / "reports"
    shutil.copytree(root, copy)
    (copy / "W_zhou" / "W" / "smoke").mkdir()
    shutil.copy(copy / "W_zhou" / "W" / "results.json", copy / "W_zhou" / "W" / "smoke" / "results.json")
    res = build_site(copy, tmp_path / "site2")
    assert res.reports == len(files)
    assert res.skipped == [("W_zhou/W/results.json", "the same potential, element and tier as W_zhou/W/smoke/results.json")]


def test_odd_plot_data_never_loses_a_page():
    """Plot data of the wrong shape or type gives no figure (or a named problem), never an exception."""
    from revem.site.figures import figures

    odd = [{"property": "eos", "case": "bcc", "quantity": "V0", "data": {"volumes": [1, "x", None], "energies": [1]}},
           {"property": "eos", "case": "fcc", "quantity": "V0", "data": {"volumes": [1.0, 2.0], "energies": [1.0, float("nan")],
                                                                          "base": "fcc", "E0": "?"}},
           {"property": "gsfe", "case": "110_unrelaxed", "quantity": "rmse", "data": {"f": "abc", "gamma_dft": [1, 2]}},
           {"property": "phonons", "case": "bcc", "quantity": "min_frequency", "data": {"band": {"distances": [[0, 1]],
                                                                                               "frequencies": [[1, 2]]}}},
           {"property": "robustness", "case": "dimer", "quantity": "n_minima", "data": {"r_A": [1, 2], "E_eV": {"a": 1}}}]
    figs, problems = figures(odd)
    assert all(isinstance(f["key"], str) for f in figs)
    assert all(p.split(" figure: ")[0] in ("eos", "gsfe", "phonons", "robustness") for p in problems)


def test_cli_bad_input_is_one_line_rc2(tmp_path, reports, capsys):
    cases = [([str(tmp_path / "nope"), "--out", str(tmp_path / "s1")], "no such folder"),
             ([str(tmp_path), "--out", str(tmp_path / "s2")], "no readable"),
             ([str(reports), "--out", str(reports / "site")], "inside the input"),
             ([str(reports), "--out", str(reports / "W_zhou" / "W" / "smoke" / "report.md")], "existing file"),
             ([str(reports), "--out", str(tmp_path / "s3"), "--asv", str(tmp_path / "no-asv")], "no asv dashboard")]
    for args, why in cases:
        assert revem_main(["site", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("revem site: ") and why in err and "\n" not in err and "Traceback" not in err, err
    assert not (tmp_path / "s1").exists() and not (tmp_path / "s3").exists() and not (reports / "site").exists()


def test_cli_never_overwrites_a_users_file_and_rebuilds_its_own(tmp_path, reports, capsys):
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("my own page")
    assert revem_main(["site", str(reports), "--out", str(out)]) == 2
    assert "index.html exists and was not written by revem" in capsys.readouterr().err
    assert (out / "index.html").read_text() == "my own page" and sorted(os.listdir(out)) == ["index.html"]
    (out / "index.html").unlink()
    assert revem_main(["site", str(reports), "--out", str(out)]) == 0
    assert "3 reports (3 potentials, 2 elements: Cu W)" in capsys.readouterr().out
    # a rebuild over its own site; a report that is gone takes its pages with it, a stray results file is named
    copy = tmp_path / "reports"
    shutil.copytree(reports, copy)
    shutil.rmtree(copy / "EMT")
    (copy / "broken" / "W" / "smoke").mkdir(parents=True)
    (copy / "broken" / "W" / "smoke" / "results.json").write_text("{not json")
    assert revem_main(["site", str(copy), "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert "left out broken/W/smoke/results.json" in cap.err and "stale files removed" in cap.out
    assert not list((out / "reports").glob("EMT--*")) and list((out / "reports").glob("W_zhou--*"))


def test_asv_dashboard_is_linked(tmp_path, reports):
    asv = tmp_path / "asv-html"
    asv.mkdir()
    (asv / "index.html").write_text("<html>asv</html>")
    out = tmp_path / "site"
    res = build_site(reports, out, asv=str(asv))
    assert res.asv == "../asv-html/index.html"
    assert 'href="../asv-html/index.html">Benchmarks (asv)' in (out / "index.html").read_text()
    page = next((out / "reports").glob("*.html")).read_text()
    assert 'href="../../asv-html/index.html">Benchmarks (asv)' in page
    assert (out / "index.html").resolve().parent.joinpath(res.asv).resolve() == (asv / "index.html").resolve()


# -- the browser ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER and HAVE_SELENIUM):
        pytest.skip("no headless Chromium: apt-get install chromium chromium-driver; pip install selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    d = os.environ.get("REVEM_SCREENSHOT_DIR")
    if d:
        Path(d).mkdir(parents=True, exist_ok=True)
        return Path(d)
    return tmp_path_factory.mktemp("screenshots")


def _open(drv, path: Path, ready: str = "document.readyState === 'complete'", timeout: float = 20.0):
    """Load a page from file:// and wait until ``ready`` (a JS expression) holds; return its console errors."""
    drv.get_log("browser")  # drop what an earlier page logged
    drv.get(path.resolve().as_uri())
    t0 = time.time()
    while not drv.execute_script(f"return !!({ready})"):
        assert time.time() - t0 < timeout, f"{path.name}: not ready ({ready})"
        time.sleep(0.1)
    return [e for e in drv.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _screenshot(drv, path: Path) -> Path:
    """The whole page (the window grown to the page's height), checked not blank."""
    from PIL import Image, ImageStat

    h = drv.execute_script("return document.documentElement.scrollHeight")
    drv.set_window_size(1400, min(max(h, 600), 8000))
    time.sleep(0.3)
    drv.save_screenshot(str(path))
    drv.set_window_size(1400, 1000)
    im = Image.open(path).convert("L")
    assert max(ImageStat.Stat(im).stddev) > 10, f"{path} looks blank"
    return path


def _visible(drv, css: str) -> list:
    return [e for e in drv.find_elements("css selector", css) if e.is_displayed()]


@needs_browser
def test_overview_in_chromium_lists_sorts_and_filters(browser, site, reports, shots):
    from selenium.webdriver.support.ui import Select

    col = collect(reports)
    errors = _open(browser, site / "index.html")
    assert errors == []
    rows = _visible(browser, "#overview tbody tr")
    assert len(rows) == len(col.reports) == 3
    shown = {(r.find_element("css selector", "td:nth-child(1)").text, r.find_element("css selector", "td:nth-child(2)").text)
             for r in rows}
    assert shown == {(r.potential, r.element) for r in col.reports}
    _screenshot(browser, shots / "site_overview.png")

    def order():
        return [r.get_attribute("data-id") for r in browser.find_elements("css selector", "#overview tbody tr")
                if r.is_displayed()]

    eos = browser.find_element("css selector", '#overview th[data-prop="eos"]')
    eos.click()  # numbers: worst first
    worst = sorted(col.reports, key=lambda r: -(r.props["eos"].worst or 0))
    assert order() == [r.id for r in worst] and eos.get_attribute("aria-sort") == "descending"
    eos.click()
    assert order() == [r.id for r in worst][::-1] and eos.get_attribute("aria-sort") == "ascending"
    browser.find_element("css selector", '#overview th[data-col="potential"]').click()
    assert order() == [r.id for r in sorted(col.reports, key=lambda r: r.potential.lower())]

    Select(browser.find_element("id", "f-element")).select_by_value("W")
    assert {browser.find_element("css selector", f'tr[data-id="{i}"]').get_attribute("data-element") for i in order()} == {"W"}
    assert len(order()) == 2 and browser.find_element("id", "shown-count").text == "2 of 3 shown"
    Select(browser.find_element("id", "f-element")).select_by_value("")
    Select(browser.find_element("id", "f-property")).select_by_value("elastic")
    assert order() == [r.id for r in col.reports if "elastic" in r.props]
    assert _visible(browser, '#overview th[data-prop="elastic"]') and not _visible(browser, '#overview th[data-prop="eos"]')
    assert "#property=elastic" in browser.current_url  # a filtered view can be linked
    Select(browser.find_element("id", "f-property")).select_by_value("")
    browser.find_element("id", "f-text").send_keys("ZHOU")
    assert order() == [r.id for r in col.reports if r.potential == "W_zhou"]
    # the filters are read back from the address
    assert _open(browser, site / "index.html", "document.getElementById('shown-count')") == []
    browser.get((site / "index.html").resolve().as_uri() + "#element=Cu")
    browser.refresh()
    assert order() == [r.id for r in col.reports if r.element == "Cu"]


@needs_browser
def test_report_pages_in_chromium_draw_every_plot(browser, site, reports, shots):
    for rep in collect(reports).reports:
        page = site / "reports" / f"{rep.id}.html"
        data = json.loads((site / "reports" / f"{rep.id}.data.js").read_text().split(" = ", 2)[-1].rstrip(";\n"))
        n = len(data["figures"])
        plots = "Array.from(document.querySelectorAll('.js-plotly-plot'))"
        errors = _open(browser, page, f"{plots}.length === {n} && {plots}.every(function (d) {{ return d._fullLayout; }})")
        assert errors == [], f"{rep.id}: {errors}"
        # every trace drawn, as the data file holds them
        traces = browser.execute_script(f"return {plots}.map(function (d) {{ return d.data.length; }})")
        assert traces == [len(f["ref"]) + len(f["pot"]) for f in data["figures"]]
        assert browser.find_element("id", "verdict-word").text == rep.word
        _screenshot(browser, shots / f"site_report_{rep.id}.png")
        imgs = browser.execute_script("return Array.from(document.images).map(function (i) {"
                                      " return i.complete && i.naturalWidth > 0; })")
        assert imgs == [True] * len(rep.pngs)  # every PNG of the report, loaded
    # zoom: a Plotly relayout on the E–V plot changes the axis range and logs no error
    _open(browser, site / "reports" / f"{next(r.id for r in collect(reports).reports if r.potential == 'W_zhou')}.html",
          "document.querySelector('.js-plotly-plot')")
    rng = browser.execute_async_script(
        "var done = arguments[0], d = document.querySelector('.js-plotly-plot');"
        "Plotly.relayout(d, {'xaxis.range': [15.5, 16.5]}).then(function () { done(d.layout.xaxis.range); });")
    assert rng == [15.5, 16.5]
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


@needs_browser
def test_compare_in_chromium_shows_two_reports_side_by_side(browser, site, reports, shots):
    from selenium.webdriver.support.ui import Select

    col = {r.potential: r for r in collect(reports).reports}
    a, b = col["W_zhou"], col["W_2940_2017_2"]
    page = (site / "compare.html").resolve().as_uri() + f"#a={a.id}&b={b.id}"
    browser.get_log("browser")
    browser.get(page)
    t0 = time.time()
    while not browser.execute_script("return !!document.getElementById('c-records-table')"
                                     " && document.querySelectorAll('#c-figures .main-svg').length > 0"):
        assert time.time() - t0 < 20
        time.sleep(0.1)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    cards = browser.find_element("id", "c-summary").text
    assert a.potential in cards and b.potential in cards and a.word in cards
    head = browser.find_element("css selector", "#c-records-table thead").text
    assert f"A {a.potential}" in head and f"B {b.potential}" in head
    keys = {(r["property"], r["case"], r["quantity"], r.get("reference_source") or "") for r in a.records + b.records}
    assert len(browser.find_elements("css selector", "#c-records-table tbody tr")) == len(keys)
    legend = browser.execute_script("return Array.from(document.querySelectorAll('#c-figures .js-plotly-plot'))"
                                    ".map(function (d) { return d.data.map(function (t) { return t.name; }); })")
    eos_names = legend[0]
    assert any(n.startswith(f"A {a.potential}:") for n in eos_names)
    assert any(n.startswith(f"B {b.potential}:") for n in eos_names)
    _screenshot(browser, shots / "site_compare.png")
    Select(browser.find_element("id", "c-property")).select_by_value("eos")
    rows = browser.find_elements("css selector", "#c-records-table tbody tr td:first-child")
    assert rows and {r.text for r in rows} == {"eos"}
    Select(browser.find_element("id", "pick-a")).select_by_value(col["EMT"].id)
    assert f"a={col['EMT'].id}" in browser.current_url
    assert "EMT" in browser.find_element("id", "c-summary").text
    # an id in the address that is not a report of the site loads nothing (never a path from the address)
    browser.get((site / "compare.html").resolve().as_uri() + "#a=../../etc&b=x")
    browser.refresh()
    time.sleep(0.5)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert not browser.execute_script("return Array.from(document.scripts).some(function (s) { return s.src.indexOf('etc') >= 0; })")


@needs_browser
def test_crafted_results_file_runs_no_script_in_chromium(browser, evil_site, shots):
    pages = [evil_site / "index.html", evil_site / "reports" / "evil--Cu--smoke.html", evil_site / "compare.html"]
    for p in pages:
        errors = _open(browser, p)
        time.sleep(0.5)  # let plots and the comparison render
        assert browser.execute_script("return window.__pwned === undefined"), p.name
        assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"], svg[onload]').length") == 0
        assert errors == [], f"{p.name}: {errors}"
    browser.get(pages[1].resolve().as_uri())
    time.sleep(0.5)
    text = browser.find_element("tag name", "body").text
    assert EVIL in text and "window.__pwned=2" in text  # shown as text, literally
    legend = browser.execute_script("return Array.from(document.querySelectorAll('.js-plotly-plot'))"
                                    ".map(function (d) { return d.data.map(function (t) { return t.name; }); })")
    assert any("&lt;img" in n for names in legend for n in names)
    _screenshot(browser, shots / "site_report_crafted.png")
