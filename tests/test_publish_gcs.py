"""Publishing to a real GCS emulator: verified uploads, no overwrites, resume, retries."""

from __future__ import annotations

import base64
import os

import google_crc32c
import pytest
from click.testing import CliRunner
from helpers import FlakyProxy, copy_build

from tfhub_kit.cli import main
from tfhub_kit.errors import PublishError
from tfhub_kit.layout import model_path
from tfhub_kit.package import package_build
from tfhub_kit.publish.gcs import plan_gcs, publish_gcs


def _crc(path) -> str:
    return base64.b64encode(google_crc32c.Checksum(path.read_bytes()).digest()).decode()


def _objects() -> dict[str, object]:
    from google.cloud import storage

    return {b.name: b for b in storage.Client().list_blobs("models")}


@pytest.fixture(scope="module")
def tiny_packaged(tiny_build, tmp_path_factory):
    """A validated, packaged copy of the tiny build (publish ships validated builds only)."""
    from tfhub_kit.validate import validate_build

    packaged = copy_build(tiny_build, tmp_path_factory.mktemp("tiny-packaged"))
    assert validate_build(packaged.root, consumers=False).ok
    package_build(packaged.root)
    return packaged


def test_dry_run_prints_the_plan_and_uploads_nothing(gcs, tiny_packaged):
    result = CliRunner().invoke(main, ["publish", str(tiny_packaged.root), "--to", "gs://models/hub", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "gs://models/hub/test/tiny_bert/1.tar.gz  (versioned)" in result.output
    assert "gs://models/hub/test/tiny_bert/1.manifest.json" in result.output
    assert _objects() == {}


def test_publish_verifies_and_a_rerun_uploads_nothing(gcs, tiny_packaged):
    messages = []
    report = publish_gcs(plan_gcs(tiny_packaged.root, "gs://models/hub"), progress=messages.append)
    manifest = tiny_packaged.read_manifest()
    objects = _objects()
    for kind in manifest.saved_models:
        name = "hub/" + model_path(manifest, kind)
        assert objects[name].crc32c == _crc(tiny_packaged.tarball(manifest, kind))
        assert name + ".sha256" in objects
    assert "hub/test/tiny_bert/1.manifest.json" in objects
    assert len(report.uploaded) == len(objects) and not report.skipped
    again = publish_gcs(plan_gcs(tiny_packaged.root, "gs://models/hub"))
    assert again.uploaded == [] and len(again.skipped) == len(objects)


def test_a_published_version_is_never_overwritten(gcs, tiny_packaged, tmp_path):
    from google.cloud import storage

    bucket = storage.Client().bucket("models")
    taken = bucket.blob("hub/test/tiny_bert/1.tar.gz")
    other = os.urandom(9 * 1024 * 1024)  # > 8 MiB: the emulator itself would not refuse this overwrite
    taken.upload_from_string(other)
    with pytest.raises(PublishError) as err:
        publish_gcs(plan_gcs(tiny_packaged.root, "gs://models/hub"))
    assert "gs://models/hub/test/tiny_bert/1.tar.gz already exists with different content" in str(err.value)
    assert "Bump model.version" in str(err.value)
    assert bucket.get_blob("hub/test/tiny_bert/1.tar.gz").download_as_bytes() == other
    assert list(_objects()) == ["hub/test/tiny_bert/1.tar.gz"]  # nothing of this version was written
    result = CliRunner().invoke(main, ["publish", str(tiny_packaged.root), "--to", "gs://models/hub"])
    assert result.exit_code == 1
    expected = (
        "Error: gs://models/hub/test/tiny_bert/1.tar.gz already exists with different content: this version is "
        "published and is never overwritten. Bump model.version in the recipe, export and release again."
    )
    assert result.output.strip().splitlines() == [expected]


def test_killed_emulator_mid_upload_then_rerun_completes(gcs, minilm_packaged):
    manifest = minilm_packaged.read_manifest()
    big = "gs://models/hub/" + model_path(manifest, "embedding")  # 80+ MB: resumable, in chunks

    def kill_at_20_percent(message: str) -> None:
        if message.startswith(f"  {big}: 20%"):
            gcs.kill()

    plan = plan_gcs(minilm_packaged.root, "gs://models/hub")
    with pytest.raises(PublishError) as err:
        publish_gcs(plan, progress=kill_at_20_percent, retry_deadline=3)
    assert f"uploading {big} failed" in str(err.value)
    assert "run the same publish again to upload what is missing" in str(err.value)

    gcs.start()  # same port, same storage folder
    report = publish_gcs(plan, retry_deadline=30)
    assert big in report.uploaded
    done_before = {"gs://models/hub/" + model_path(manifest, k) for k in ("encoder", "preprocess")}
    assert done_before <= set(report.skipped)  # finished before the kill: not uploaded again
    name = big[len("gs://models/") :]
    assert _objects()[name].crc32c == _crc(minilm_packaged.tarball(manifest, "embedding"))


def test_503_responses_are_retried(gcs, tiny_packaged, monkeypatch):
    proxy = FlakyProxy(gcs.url, failures=4)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
    try:
        report = publish_gcs(plan_gcs(tiny_packaged.root, "gs://models/hub"), retry_deadline=60)
    finally:
        proxy.close()
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
    assert proxy.seen_503 == 4
    assert len(report.uploaded) == len(_objects()) > 0
