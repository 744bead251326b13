"""manifest.json records what later stages check against."""

from __future__ import annotations

import hashlib

from conftest import SAMPLE_RECIPE


def test_manifest_records_hashes_signatures_sizes_versions(minilm_build, minilm_dir):
    manifest = minilm_build.read_manifest()
    assert manifest.handle == "tfhub-kit/all_minilm_l6_v2/1"
    recipe_bytes = (SAMPLE_RECIPE / "recipe.yaml").read_bytes()
    assert manifest.recipe["sha256"] == hashlib.sha256(recipe_bytes).hexdigest()
    files = manifest.source["files"]
    assert files["model.safetensors"] == hashlib.sha256((minilm_dir / "model.safetensors").read_bytes()).hexdigest()
    assert {"config.json", "vocab.txt", "tokenizer.json", "1_Pooling/config.json"} <= set(files)
    assert manifest.seq_length == 256 and manifest.vocab_size == 30522

    models = manifest.saved_models
    assert set(models) == {"encoder", "preprocess", "embedding"}
    enc = models["encoder"]
    sig = enc["signatures"]["serving_default"]
    assert sig["inputs"] == {
        k: {"dtype": "int32", "shape": [None, None]} for k in ("input_mask", "input_type_ids", "input_word_ids")
    }
    assert sig["outputs"]["pooled_output"] == {"dtype": "float32", "shape": [None, 384]}
    assert sig["outputs"]["encoder_outputs_5"] == {"dtype": "float32", "shape": [None, None, 384]}
    # all-MiniLM-L6-v2: 22.7M parameters, 11.7M of them in the word embeddings
    assert enc["parameters"]["word_embeddings"] == 30522 * 384
    assert 22_500_000 < enc["parameters"]["total"] < 22_800_000
    pre_sig = models["preprocess"]["signatures"]["serving_default"]
    assert pre_sig["outputs"]["input_word_ids"] == {"dtype": "int32", "shape": [None, 256]}
    assert models["embedding"]["signatures"]["serving_default"]["outputs"]["default"]["shape"] == [None, 384]
    assert (models["embedding"]["pooling"], models["embedding"]["normalize"]) == ("mean", True)
    for kind, info in models.items():
        on_disk = sum(p.stat().st_size for p in minilm_build.saved_model(kind).rglob("*") if p.is_file())
        assert info["bytes"] == on_disk

    assert set(manifest.versions) >= {"tfhub_kit", "tensorflow", "tensorflow-text", "keras", "keras-hub"}
    probes = manifest.probes
    assert len(probes["sentences"]) == len(probes["embedding"]) == len(probes["pooled_output"]) >= 4
    assert probes["input_word_ids"][0][0] == 101 and probes["input_word_ids"][-1] == [101, 102]


def test_no_temporary_folders_left(minilm_build):
    # beside the build: its writer lock (`.1.lock`, no content), nothing else
    assert sorted(p.name for p in minilm_build.root.parent.iterdir()) == [".1.lock", "1"]
