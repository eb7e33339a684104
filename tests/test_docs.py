"""Every command printed in README.md and docs/*.md runs: a printed recipe cannot rot.

Each ```bash and ```python block of a page runs, in order, in one fresh folder per page (so a later block
sees the files an earlier one wrote), with revem's venv first on PATH and ``REVEM_DATA_DIR`` set. HTML
comment lines right above a block say how (``<!-- doctest: ... -->``, several allowed):

- ``skip (reason)``: the block is not run (say why: it needs GPAW, a cluster, or it is the test suite itself);
- ``replace "OLD" "NEW"``: run it with OLD replaced by NEW (reduced sizes: a smoke tier, one property);
- ``setup COMMAND``: a bash command run before the block (e.g. copy a demo potential to the name the
  block uses);
- ``file NAME``: the block (yaml, text) is written to NAME instead of being run;
- ``exit N``: the block must exit N (default 0);
- ``id NAME``: names the block (``test_readme_ci_recipe`` runs the one called ``ci-recipe`` in the fast suite).

``make`` targets see ``REVEM_CHECKOUT`` (this checkout).  The whole run is slow (every recipe, reduced);
the README's CI recipe also runs in the fast suite.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_LANGS = {"bash": "bash", "sh": "bash", "python": "python"}
FENCE = re.compile(r"^```(\w*)\s*$")
MARK = re.compile(r"^<!--\s*doctest:\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    code: str
    skip: str | None = None
    replace: list = field(default_factory=list)
    setup: list = field(default_factory=list)
    file: str | None = None
    exit: int = 0
    id: str | None = None

    @property
    def runnable(self) -> bool:
        return self.skip is None and (self.file is not None or self.lang in RUN_LANGS)

    def source(self) -> str:
        code = self.code
        for old, new in self.replace:
            assert old in code, f"{self.page.name}:{self.line}: doctest replace {old!r} matches nothing"
            code = code.replace(old, new)
        return code


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    out, marks, i = [], [], 0
    while i < len(lines):
        m = MARK.match(lines[i])
        if m:
            marks.append(m.group(1))
            i += 1
            continue
        f = FENCE.match(lines[i])
        if f:
            lang, start = f.group(1), i + 1
            j = start
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            b = Block(page, start, lang, "\n".join(lines[start:j]) + "\n")
            for mark in marks:
                word, _, rest = mark.partition(" ")
                if word == "skip":
                    b.skip = rest or "skipped"
                elif word == "replace":
                    old, new = shlex.split(rest)
                    b.replace.append((old, new))
                elif word == "setup":
                    b.setup.append(rest)
                elif word == "file":
                    b.file = rest.strip()
                elif word == "exit":
                    b.exit = int(rest)
                elif word == "id":
                    b.id = rest.strip()
                else:
                    raise AssertionError(f"{page.name}:{start}: unknown doctest mark {mark!r}")
            out.append(b)
            marks, i = [], j + 1
            continue
        if lines[i].strip():
            marks = []  # marks belong to the block right below them
        i += 1
    return out


def _env() -> dict:
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""), "MPLBACKEND": "Agg",
           "REVEM_CHECKOUT": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.setdefault("REVEM_DATA_DIR", str(ROOT.parent / "shared" / "datasets"))
    return env


def run_block(b: Block, cwd: Path, timeout: int = 900) -> None:
    env = _env()
    for cmd in b.setup:
        r = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{b.page.name}:{b.line}: setup {cmd!r} failed: {r.stderr[-1500:]}"
    src = b.source()
    if b.file is not None:
        (cwd / b.file).write_text(src)
        return
    if RUN_LANGS[b.lang] == "bash":
        cmd = ["bash", "-e", "-o", "pipefail", "-c", src]
    else:
        cmd = [sys.executable, "-c", src]
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == b.exit, (f"{b.page.relative_to(ROOT)}:{b.line} exited {r.returncode} (expected {b.exit}):\n"
                                    f"{src}\n--- stdout ---\n{r.stdout[-3000:]}\n--- stderr ---\n{r.stderr[-3000:]}")


def test_every_block_is_runnable_or_says_why_not():
    """A bash/python block is run or skipped with a reason; marks are well formed (parsing raises otherwise)."""
    n = 0
    for page in PAGES:
        for b in blocks(page):
            if b.lang in RUN_LANGS:
                assert b.runnable or b.skip, f"{page.name}:{b.line}"
                n += b.runnable
    assert n >= 20


def test_readme_ci_recipe(tmp_path):
    """The README's CI recipe, pasted as printed (reduced to two properties): make a baseline, gate against it."""
    (b,) = [b for b in blocks(ROOT / "README.md") if b.id == "ci-recipe"]
    run_block(b, tmp_path)
    assert (tmp_path / "baseline" / "my_W" / "W" / "smoke" / "results.json").is_file()
    assert (tmp_path / "reports" / "my_W_v2" / "W" / "smoke" / "report.md").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_runs_as_printed(page, tmp_path):
    todo = [b for b in blocks(page) if b.runnable]
    if not todo:
        pytest.skip(f"{page.name} has no runnable block")
    for b in todo:
        run_block(b, tmp_path)
