"""Bad recipes and checkpoints give one clear line naming file, field, value and what is allowed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tfhub_kit.cli import main

GOOD = {
    "model": {"publisher": "acme-ml", "name": "tiny", "version": 1, "description": "A test model."},
    "source": {"hf_folder": "hf"},
}


def _hf_folder(path: Path, minilm_dir: Path, *, model_type: str = "bert", vocab: bool = True) -> None:
    path.mkdir(parents=True)
    config = (minilm_dir / "config.json").read_text().replace('"model_type": "bert"', f'"model_type": "{model_type}"')
    (path / "config.json").write_text(config)
    (path / "model.safetensors").write_bytes(b"")  # recipe check never reads weights
    if vocab:
        shutil.copy(minilm_dir / "vocab.txt", path / "vocab.txt")


def _recipe(tmp_path: Path, minilm_dir: Path, data: dict, **hf) -> Path:
    _hf_folder(tmp_path / "hf", minilm_dir, **hf)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def _check(folder: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["recipe", "check", str(folder)])
    return result.exit_code, result.output


def _with(section: str, **changes) -> dict:
    data = {k: dict(v) for k, v in GOOD.items()}
    data[section].update(changes)
    return data


def test_good_recipe_passes(tmp_path, minilm_dir):
    code, out = _check(_recipe(tmp_path, minilm_dir, GOOD))
    assert code == 0, out
    assert out.startswith("ok: acme-ml/tiny/1 (bert")


@pytest.mark.parametrize(
    ("data", "hf", "expected"),
    [
        pytest.param(
            _with("model", colour="red"),
            {},
            ["recipe.yaml: field 'model.colour': unknown field.", "Allowed: publisher, name, version, description"],
            id="unknown-field",
        ),
        pytest.param(
            {"model": GOOD["model"]},
            {},
            ["field 'source': is required but missing."],
            id="missing-source",
        ),
        pytest.param(
            _with("source", hf_folder="nowhere"),
            {},
            ["field 'source.hf_folder': folder", "nowhere does not exist", "Received: 'nowhere'."],
            id="source-folder-missing",
        ),
        pytest.param(
            _with("model", version="one"),
            {},
            ["field 'model.version': must be an integer. Received: 'one'."],
            id="wrong-type",
        ),
        pytest.param(
            _with("model", publisher="Acme_ML"),
            {},
            [
                "field 'model.publisher': has a value that is not allowed.",
                "Allowed: lowercase letters, digits and '-'.",
                "Received: 'Acme_ML'.",
            ],
            id="bad-publisher",
        ),
        pytest.param(
            GOOD,
            {"model_type": "gpt2"},
            [
                "config.json: field 'model_type': this model type is not supported.",
                "Allowed: albert, bart, bert, distilbert, roberta, xlm-roberta.",
                "Received: 'gpt2'.",
            ],
            id="unsupported-model-type",
        ),
        pytest.param(
            GOOD,
            {"vocab": False},
            ["field 'source': the checkpoint folder has no tokenizer file vocab.txt."],
            id="missing-tokenizer",
        ),
    ],
)
def test_bad_recipe_gives_clear_error(tmp_path, minilm_dir, data, hf, expected):
    code, out = _check(_recipe(tmp_path, minilm_dir, data, **hf))
    assert code == 2
    assert out.startswith("Error: ") and out.count("\n") == 1, out
    for fragment in expected:
        assert fragment in out


def test_missing_recipe_file(tmp_path):
    code, out = _check(tmp_path)
    assert code == 2
    assert f"{tmp_path}: field 'recipe.yaml': file not found." in out


def test_failed_export_leaves_previous_build_and_no_temp_files(tmp_path, monkeypatch):
    import tensorflow as tf
    from conftest import SAMPLE_RECIPE

    from tfhub_kit.errors import environment_error
    from tfhub_kit.export import export_recipe

    previous = tmp_path / "tfhub-kit" / "all_minilm_l6_v2" / "1"
    previous.mkdir(parents=True)
    (previous / "manifest.json").write_text("{}")
    real_save = tf.saved_model.save
    calls = []

    def save_then_fail(obj, path, **kwargs):  # the disk fills up while writing the second SavedModel
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_save(obj, path, **kwargs)

    monkeypatch.setattr(tf.saved_model, "save", save_then_fail)
    with pytest.raises(OSError, match="No space left on device") as raised:  # the environment: exit 3 at the CLI
        export_recipe(SAMPLE_RECIPE, out_dir=tmp_path)
    assert environment_error(raised.value).exit_code == 3
    assert len(calls) == 2
    assert sorted(p.name for p in previous.parent.iterdir() if not p.name.endswith(".lock")) == ["1"]
    assert (previous / "manifest.json").read_text() == "{}"
