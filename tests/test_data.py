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


def test_fast_reader_equals_ase_read_and_names_bad_files(mirror, tmp_path):
    import gzip

    import ase.io
    import numpy as np

    ref = ase.io.read(mirror / NAME, index=":")
    for src in (NAME, mirror / NAME):  # a registry name or a path
        got = data.read_extxyz_fast(src)
        assert len(got) == len(ref) == 125
        for a, b in zip(got, ref):
            np.testing.assert_array_equal(a.positions, b.positions)
            np.testing.assert_array_equal(a.cell.array, b.cell.array)
            assert a.get_potential_energy() == b.get_potential_energy() and a.info == b.info
    assert len(data.read_frames(NAME, index="10:20")) == 10
    assert data.read_frames(NAME, index=3).get_potential_energy() == ref[3].get_potential_energy()
    plain = tmp_path / "plain.extxyz"
    plain.write_bytes(gzip.decompress((mirror / NAME).read_bytes()))
    assert len(data.read_extxyz_fast(plain)) == 125
    bad = tmp_path / "bad.extxyz.gz"
    bad.write_bytes(gzip.compress(b"2\nLattice=\"1 0 0 0 1 0 0 0 1\" Properties=species:S:1:pos:R:3\nW 0 0\n"))
    with pytest.raises(data.DataCorrupt, match="bad.extxyz.gz"):
        data.read_extxyz_fast(bad)
    trunc = tmp_path / "trunc.extxyz.gz"
    trunc.write_bytes((mirror / NAME).read_bytes()[:5000])
    with pytest.raises(data.DataCorrupt, match="trunc.extxyz.gz"):
        data.read_extxyz_fast(trunc)
    with pytest.raises(data.DataUnavailable, match="nothing-here"):
        data.read_extxyz_fast(tmp_path / "nothing-here.extxyz")


def test_read_frames_names_a_corrupt_registry_file(tmp_path, monkeypatch, mirror):
    """A file whose checksum matches but whose text does not parse cannot happen with the registry;
    the parse error path is exercised with a registry entry patched to the broken file's checksum."""
    import gzip
    import hashlib

    target = tmp_path / NAME
    target.parent.mkdir(parents=True)
    blob = gzip.compress(b"3\nnot an extxyz comment line = = =\nW 0 0 0\n")
    target.write_bytes(blob)
    reg = dict(data.registry())
    reg[NAME] = dict(reg[NAME], sha256=hashlib.sha256(blob).hexdigest())
    monkeypatch.setattr(data, "registry", lambda: reg)
    monkeypatch.setenv("REVEM_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DataCorrupt, match="EOS_Data.extxyz.gz"):
        data.read_frames(NAME)
