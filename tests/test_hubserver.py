"""The local hub server: hub URLs work, nothing outside the served folder leaks."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from helpers import run_python, serve_in_thread


@pytest.fixture
def served(minilm_packaged, tmp_path):
    secret = minilm_packaged.dist.parent / "secret.tar.gz"
    secret.write_bytes(b"not for you")
    server, url = serve_in_thread(minilm_packaged.root)
    yield minilm_packaged, url
    server.shutdown()
    server.server_close()
    secret.unlink()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def test_serves_hub_and_tarball_urls(served):
    build, url = served
    manifest = build.read_manifest()
    expected = build.tarball(manifest, "embedding").read_bytes()
    assert _get(f"{url}/tfhub-kit/all_minilm_l6_v2/1?tf-hub-format=compressed") == (200, expected)
    assert _get(f"{url}/tfhub-kit/all_minilm_l6_v2/1.tar.gz") == (200, expected)
    assert _get(f"{url}/tfhub-kit/all_minilm_l6_v2/2")[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.tar.gz",
        "/%2e%2e/secret.tar.gz",
        "/..%2fsecret",
        "/tfhub-kit/../../secret",
        "/.hidden/x",
        "/SHA256SUMS",
    ],
)
def test_no_path_traversal(served, path):
    _, url = served
    status, body = _get(url + path)
    assert status == 404 and body != b"not for you"


def test_hub_load_over_http_in_a_fresh_process(served, tmp_path):
    build, url = served
    out = run_python(
        f"""
        import json, numpy as np, tensorflow as tf, tensorflow_hub as hub, tensorflow_text
        probes = json.load(open({str(build.manifest_file)!r}))["probes"]
        emb = hub.load("{url}/tfhub-kit/all_minilm_l6_v2/1")
        np.testing.assert_allclose(emb(tf.constant(probes["sentences"])).numpy(), probes["embedding"], atol=1e-5)
        print(json.dumps("ok"))
        """,
        env={"TFHUB_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert json.loads(out.splitlines()[-1]) == "ok"
    assert any((tmp_path / "cache").iterdir())
