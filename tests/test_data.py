"""The data layer: registry, checksums, local mirror, clear errors."""
import shutil

import pytest

from revem import data

NAME = "fitsnap-WBe/W/EOS_Data.extxyz.gz"


@pytest.fixture
def mirror():
    """The local DFT mirror (REVEM_DATA_DIR); skip naming the file when it is absent."""
    try:
        path = data.fetch(NAME)
    except data.DataUnavailable as exc:
        pytest.skip(str(exc))
    return path.parents[2]


def test_registry_knows_origin_and_checksum():
    entry = data.registry()[NAME]
    assert len(entry["sha256"]) == 64 and entry["repo"].startswith("https://github.com/FitSNAP")
    assert entry["licence"] and entry["upstream_path"].endswith("*.json")


def test_missing_mirror_names_the_file(monkeypatch):
    monkeypatch.delenv("REVEM_DATA_DIR", raising=False)
    monkeypatch.delenv("REVEM_DATA_URL", raising=False)
    with pytest.raises(data.DataUnavailable, match="EOS_Data.extxyz.gz"):
        data.fetch(NAME)


def test_unknown_name():
    with pytest.raises(KeyError, match="not in the data registry"):
        data.fetch("nope/none.extxyz.gz")


def test_corrupt_file_is_detected(tmp_path, monkeypatch, mirror):
    target = tmp_path / NAME
    target.parent.mkdir(parents=True)
    shutil.copy(mirror / NAME, target)
    with open(target, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    monkeypatch.setenv("REVEM_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DataCorrupt, match="corrupt"):
        data.fetch(NAME)


def test_reads_real_frames(mirror):
    frames = data.read_frames(NAME)
    assert len(frames) == 125
    assert all(f.calc is not None for f in frames)
