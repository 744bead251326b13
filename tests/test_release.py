"""`tfhub-kit release` end to end: recipe -> GCS -> hub URL -> the same embeddings."""

from __future__ import annotations

import json

from click.testing import CliRunner
from conftest import SAMPLE_RECIPE
from helpers import copy_build, run_python, serve_in_thread

from tfhub_kit.cli import main
from tfhub_kit.layout import model_path
from tfhub_kit.package import verify_tarball


def test_release_sample_to_gcs_and_load_it_back_over_http(gcs, tmp_path, minilm_build):
    """Released from a copy of the session's export of the sample (a second release, as a user
    runs it: the unchanged export is reused; test_a_model_below_its_threshold... exports afresh)."""
    from google.cloud import storage

    build = copy_build(minilm_build, tmp_path / "out")
    out = build.root.parents[2]
    result = CliRunner().invoke(main, ["release", str(SAMPLE_RECIPE), "--to", "gs://models/hub", "--out", str(out)])
    assert result.exit_code == 0, result.output[-3000:]
    assert "(export -> validate -> evaluate -> docs -> package -> publish)" in result.output
    assert "up to date" in result.output
    manifest = build.read_manifest()
    page = (build.docs / "assets/docs/tfhub-kit/models/all_minilm_l6_v2/1.md").read_text()
    assert "<!-- asset-path: https://storage.googleapis.com/models/hub/tfhub-kit/all_minilm_l6_v2/1.tar.gz -->" in page
    assert "| stsb-en-dev | 86.7" in page  # evaluation figures made it into the docs
    picture = "https://storage.googleapis.com/models/hub/tfhub-kit/all_minilm_l6_v2/1.results.png"
    assert f"]({picture})" in page
    assert f"]({picture})" in (build.docs / "kaggle/all_minilm_l6_v2.md").read_text()

    fetched = tmp_path / "fetched"
    bucket = storage.Client().bucket("models")
    for kind in manifest.saved_models:
        target = fetched / model_path(manifest, kind)
        target.parent.mkdir(parents=True, exist_ok=True)
        bucket.blob("hub/" + model_path(manifest, kind)).download_to_filename(str(target))
        verify_tarball(target)
        assert target.read_bytes() == build.tarball(manifest, kind).read_bytes()
    assert bucket.get_blob("hub/docs/assets/docs/tfhub-kit/tfhub-kit.md") is not None
    published = bucket.get_blob("hub/tfhub-kit/all_minilm_l6_v2/1.results.png")
    assert published.content_type == "image/png"
    assert published.download_as_bytes() == (build.root / "results.png").read_bytes()

    server, url = serve_in_thread(fetched)
    try:
        out = run_python(
            f"""
            import json, numpy as np, tensorflow as tf, tensorflow_hub as hub, tensorflow_text, tf_keras
            probes = json.load(open({str(build.manifest_file)!r}))["probes"]
            text = tf_keras.Input(shape=(), dtype=tf.string)
            model = tf_keras.Model(text, hub.KerasLayer("{url}/tfhub-kit/all_minilm_l6_v2/1")(text))
            got = model(tf.constant(probes["sentences"])).numpy()
            print(json.dumps(float(np.abs(got - np.asarray(probes["embedding"])).max())))
            """,
            env={"TFHUB_CACHE_DIR": str(tmp_path / "empty-cache")},
        )
    finally:
        server.shutdown()
        server.server_close()
    assert json.loads(out.splitlines()[-1]) <= 1e-5
