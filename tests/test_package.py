"""Tarballs: SavedModel at the root, only allowed members, byte-identical on repeat, safe reads."""

from __future__ import annotations

import hashlib
import tarfile

import pytest
from helpers import tar_bytes

from tfhub_kit.errors import PackageError
from tfhub_kit.layout import model_path
from tfhub_kit.package import package_build, read_checksums, safe_extract, verify_tarball


def test_tarballs_are_reproducible_and_follow_the_member_rules(minilm_packaged, tmp_path):
    build = minilm_packaged
    manifest = build.read_manifest()
    first = {k: hashlib.sha256(build.tarball(manifest, k).read_bytes()).hexdigest() for k in manifest.saved_models}
    package_build(build.root)  # again, from the same build
    again = {k: hashlib.sha256(build.tarball(manifest, k).read_bytes()).hexdigest() for k in manifest.saved_models}
    assert first == again

    sums = read_checksums(build.dist / "SHA256SUMS")
    assert sums == {model_path(manifest, k): first[k] for k in first}
    for kind in manifest.saved_models:
        path = build.tarball(manifest, kind)
        names = verify_tarball(path)
        assert "saved_model.pb" in names and "variables/variables.index" in names
        with tarfile.open(path) as tar:
            for info in tar:
                assert (info.mtime, info.uid, info.gid, info.uname, info.gname) == (0, 0, 0, "", "")
                assert info.isreg() or info.isdir()
        raw = path.read_bytes()
        assert raw[4:8] == b"\0\0\0\0" and not raw[3] & 0x08  # gzip header: no mtime, no file name
    assert "assets/vocab.txt" in verify_tarball(build.tarball(manifest, "preprocess"))


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ({"saved_model.pb": b"", "../evil": b"x"}, "path with '..'"),
        ({"saved_model.pb": b"", "/etc/passwd": b"x"}, "absolute path"),
        ({"saved_model.pb": b"", "assets/.hidden": b"x"}, "starting with '.'"),
        ({"saved_model.pb": b"", "assets/link": ("symlink", "/etc/passwd")}, "not a regular file or directory"),
        ({"saved_model.pb": b"", "notes.txt": b"x"}, "not an allowed SavedModel member"),
    ],
)
def test_hostile_tarballs_are_refused(members, problem, tmp_path):
    path = tmp_path / "m.tar.gz"
    path.write_bytes(tar_bytes(members))
    with pytest.raises(PackageError, match=problem):
        safe_extract(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tar.gz"]
    with pytest.raises(PackageError, match=problem):
        verify_tarball(path)


def test_safe_extract_round_trip(minilm_packaged, tmp_path):
    manifest = minilm_packaged.read_manifest()
    safe_extract(minilm_packaged.tarball(manifest, "preprocess"), tmp_path / "pre")
    original = minilm_packaged.saved_model("preprocess")
    for path in original.rglob("*"):
        if path.is_file():
            assert (tmp_path / "pre" / path.relative_to(original)).read_bytes() == path.read_bytes()


def test_unparsable_saved_model_is_refused(tmp_path):
    path = tmp_path / "m.tar.gz"
    path.write_bytes(tar_bytes({"saved_model.pb": b"\xff\xff not a protobuf"}))
    with pytest.raises(PackageError, match="does not parse"):
        verify_tarball(path)
