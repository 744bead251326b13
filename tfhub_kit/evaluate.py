"""Evaluate stage: measure a build and gate its release on the recipe's thresholds.

    report = evaluate_build("build/tfhub-kit/all_minilm_l6_v2/1")
    report.ok          # False if a figure missed its threshold
    report.results     # what is written to results.json

Figures: STS Spearman and Pearson (x100) of cosine similarity against gold scores;
Tatoeba-style bitext retrieval accuracy (x100) in both directions, per set and on average;
masked-LM accuracy (x100) of the encoder's `mlm` signature on held-out text (`mlmscore`);
encode speed (sentences/s); size (parameters, word embeddings vs the rest; bytes per
SavedModel). Data sets and thresholds come from the recipe's `evaluate:` section, which
export records in the manifest with absolute paths. `results.png` shows predicted against
gold similarity per STS set, and speed and size beside the recipe's reference models.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfhub_kit.datasets import read_lines, read_sts, read_text
from tfhub_kit.errors import BuildLayoutError
from tfhub_kit.files import sha256_file, write_json_atomic
from tfhub_kit.layout import BuildLayout
from tfhub_kit.manifest import Manifest
from tfhub_kit.metrics import cosine_rows, pearson, retrieval_accuracy, spearman
from tfhub_kit.networks import pool
from tfhub_kit.plots import RESULTS_PNG, draw_results
from tfhub_kit.progress import reporter
from tfhub_kit.teacher import embed_in_batches

RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class Gate:
    """One threshold from the recipe and whether the measured figure meets it."""

    metric: str
    value: float
    threshold: float

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold


@dataclass
class EvaluationReport:
    build_dir: str
    results: dict[str, Any] = field(default_factory=dict)
    gates: list[Gate] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def failures(self) -> list[Gate]:
        return [g for g in self.gates if not g.passed]


# --- encoding ------------------------------------------------------------------------


def encode(model: Any, sentences: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
    """Embed `sentences` with a text-embedding SavedModel, longest first in batches of
    `batch_size` (less padding per batch), returned in the input order."""
    import tensorflow as tf

    return embed_in_batches(lambda batch: model(tf.constant(batch)).numpy(), sentences, batch_size=batch_size)


# --- the stage -----------------------------------------------------------------------


def evaluate_build(build_dir: str | Path, *, progress: Callable[[str], None] | None = None) -> EvaluationReport:
    """Measure the build at `build_dir`, write results.json and return the report."""
    import tensorflow_text  # noqa: F401  (registers the preprocessing SavedModels' ops)

    say = reporter(progress)
    layout = BuildLayout(Path(build_dir))
    manifest = layout.read_manifest()
    config = manifest.evaluate
    mlm_sets = config.get("mlm", [])
    embedding = "embedding" in manifest.saved_models
    if not embedding and not mlm_sets:
        raise BuildLayoutError(
            f"{layout.root}: evaluate needs an embedding/ SavedModel (add it to export.saved_models) "
            "or evaluate.mlm sets for the encoder's mlm signature"
        )
    references = _reference_results(layout, config.get("reference_models", []))
    report = EvaluationReport(build_dir=str(layout.root))
    results: dict[str, Any] = {"handle": manifest.handle, "sts": {}, "bitext": {}}
    results["size"] = {  # before the figures: results.png draws it
        "parameters": manifest.saved_models.get("embedding", manifest.saved_models.get("encoder", {})).get(
            "parameters"
        ),
        "bytes": {kind: info["bytes"] for kind, info in manifest.saved_models.items()},
    }
    if mlm_sets:
        results["mlm"] = _mlm_sets(layout, manifest, mlm_sets, report, say)
    if embedding:
        _embedding_figures(layout, manifest, config, results, report, references, say)
    results["transforms"] = manifest.transforms
    results["gates"] = [
        {"metric": g.metric, "value": g.value, "threshold": g.threshold, "passed": g.passed} for g in report.gates
    ]
    results["ok"] = report.ok
    report.results = results
    write_json_atomic(layout.root / RESULTS_FILE, results)
    return report


def _embedding_figures(
    layout: BuildLayout,
    manifest: Manifest,
    config: dict[str, Any],
    results: dict[str, Any],
    report: EvaluationReport,
    references: dict[str, dict[str, Any]],
    say: Callable[[str], None],
) -> None:
    """STS, bitext and speed figures of the embedding SavedModel, and results.png."""
    model = _load(layout, manifest, "embedding")
    batch = config["speed"]["batch_size"]
    reference = _float32_reference(layout, manifest, batch)
    speed_pool: list[str] = []  # the first STS set's sentences, interleaved
    scatter: dict[str, tuple[np.ndarray, list[float]]] = {}

    for item in config["sts"]:
        first, second, gold = read_sts(_data_file(layout, item["path"], item.get("sha256")), item["format"])
        speed_pool = speed_pool or [s for pair in zip(first, second, strict=False) for s in pair]
        say(f"STS {item['name']}: {len(gold)} pairs")
        sims = cosine_rows(encode(model, first, batch_size=batch), encode(model, second, batch_size=batch))
        figures = {"spearman": 100 * spearman(sims, gold), "pearson": 100 * pearson(sims, gold), "pairs": len(gold)}
        if reference is not None:  # a reduced-precision embedding: the float32 figure beside it
            exact = cosine_rows(reference(first), reference(second))
            figures["spearman_float32"] = 100 * spearman(exact, gold)
            gap = abs(figures["spearman"] - figures["spearman_float32"])
            report.gates.append(Gate(f"sts.{item['name']}.float32_margin", STS_PRECISION_GAP - gap, 0.0))
        results["sts"][item["name"]] = figures
        scatter[item["name"]] = (sims, gold)
        if item.get("min_spearman") is not None:
            report.gates.append(Gate(f"sts.{item['name']}.spearman", figures["spearman"], item["min_spearman"]))

    for item in config["bitext"]:
        source = read_lines(_data_file(layout, item["source"], item.get("source_sha256")))
        target = read_lines(_data_file(layout, item["target"], item.get("target_sha256")))
        if len(source) != len(target):
            raise BuildLayoutError(
                f"bitext {item['name']}: {item['source']} has {len(source)} lines, {item['target']} has {len(target)}"
            )
        say(f"bitext {item['name']}: {len(source)} pairs")
        fwd, bwd = retrieval_accuracy(encode(model, source, batch_size=batch), encode(model, target, batch_size=batch))
        figures = {
            "source_to_target": 100 * fwd,
            "target_to_source": 100 * bwd,
            "average": 50 * (fwd + bwd),
            "pairs": len(source),
        }
        results["bitext"][item["name"]] = figures
        if item.get("min_accuracy") is not None:
            report.gates.append(Gate(f"bitext.{item['name']}.average", figures["average"], item["min_accuracy"]))
    if results["bitext"]:
        results["bitext_average"] = float(np.mean([v["average"] for v in results["bitext"].values()]))

    say("speed")
    pool = speed_pool or [s for s in manifest.probes["sentences"] if s]
    results["speed"] = _speed(model, pool, config["speed"]["sentences"], batch)
    if config["speed"].get("min_sentences_per_second") is not None:
        report.gates.append(
            Gate(
                "speed.sentences_per_second",
                results["speed"]["sentences_per_second"],
                config["speed"]["min_sentences_per_second"],
            )
        )
    draw_results(layout.root / RESULTS_PNG, sts=scatter, results=results, references=references)


STS_PRECISION_GAP = 0.1
"""A reduced-precision embedding's STS Spearman x100 stays this close to float32's."""


def _float32_reference(layout: BuildLayout, manifest: Manifest, batch: int) -> Callable[[list[str]], np.ndarray] | None:
    """For a reduced-precision embedding, float32 sentence vectors from the build's encoder
    and preprocessing SavedModels pooled as the embedding pools; else None."""
    import tensorflow as tf

    info = manifest.saved_models["embedding"]
    if (info.get("inference") or {}).get("precision", "float32") == "float32":
        return None
    if not {"encoder", "preprocess"} <= manifest.saved_models.keys():
        raise BuildLayoutError(
            f"{layout.root}: a {info['inference']['precision']} embedding is compared with float32 through the "
            "encoder and preprocess SavedModels; add them to export.saved_models"
        )
    encoder, preprocess = _load(layout, manifest, "encoder"), _load(layout, manifest, "preprocess")

    def vectors(batch_text: list[str]) -> np.ndarray:
        inputs = preprocess(tf.constant(batch_text))
        out = encoder(inputs, training=False)
        return pool(out, inputs["input_mask"], pooling=info["pooling"], normalize=info["normalize"]).numpy()

    return lambda sentences: embed_in_batches(vectors, sentences, batch_size=batch)


def _mlm_sets(
    layout: BuildLayout,
    manifest: Manifest,
    sets: list[dict[str, Any]],
    report: EvaluationReport,
    say: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    """Masked-LM accuracy of the encoder's `mlm` signature on each `evaluate.mlm` set."""
    from tfhub_kit.mlmscore import masked_lm_accuracy

    encoder = _load(layout, manifest, "encoder")
    if not hasattr(encoder, "mlm"):
        raise BuildLayoutError(
            f"{layout.saved_model('encoder')}: evaluate.mlm needs the encoder's mlm signature, which this export "
            "lacks (it comes from training with an mlm objective)"
        )
    preprocess = _load(layout, manifest, "preprocess")
    out = {}
    for item in sets:
        sentences = read_text(_data_file(layout, item["path"], item.get("sha256")), item["format"])
        sentences = sentences[: item.get("max_rows")]
        say(f"masked LM {item['name']}: {len(sentences)} sentences")
        figures = masked_lm_accuracy(
            preprocess, encoder, sentences, manifest.special_tokens, rate=item["rate"], seed=item["seed"]
        )
        out[item["name"]] = figures
        if item.get("min_accuracy") is not None:
            report.gates.append(Gate(f"mlm.{item['name']}.accuracy", figures["accuracy"], item["min_accuracy"]))
    return out


def _load(layout: BuildLayout, manifest: Manifest, kind: str) -> Any:
    import tensorflow as tf

    if kind not in manifest.saved_models:
        raise BuildLayoutError(f"{layout.root}: evaluate needs the {kind}/ SavedModel; add it to export.saved_models")
    try:
        return tf.saved_model.load(str(layout.saved_model(kind)))
    except Exception as exc:  # TF raises several kinds for a missing or corrupt SavedModel
        raise BuildLayoutError(
            f"{layout.saved_model(kind)}: not a loadable SavedModel ({type(exc).__name__}); re-run `tfhub-kit export`"
        ) from exc


def _data_file(layout: BuildLayout, path: str, sha256: str | None) -> Path:
    """An evaluation data file of the build (relative to it; older builds name absolute
    paths), checked against the hash export recorded."""
    file = layout.root / path
    if not file.is_file():
        raise BuildLayoutError(f"{file}: evaluation data named by the manifest is missing; re-run `tfhub-kit export`")
    found = sha256_file(file) if sha256 else ""
    if sha256 and found != sha256:
        raise BuildLayoutError(
            f"{file} changed since export (sha256 {found[:12]}, manifest {sha256[:12]}); "
            "re-run `tfhub-kit export` to evaluate on the new file"
        )
    return file


def _reference_results(layout: BuildLayout, handles: Sequence[str]) -> dict[str, dict[str, Any]]:
    """handle -> results.json of each reference build, found beside this one."""
    import json

    if not handles:
        return {}
    out_dir = layout.root.resolve().parents[2]  # a build is <out>/<publisher>/<model>/<version>
    found = {}
    for handle in handles:
        file = out_dir / handle / RESULTS_FILE
        if not file.is_file():
            raise BuildLayoutError(
                f"{file} is missing: evaluate.reference_models names {handle}; export and evaluate it "
                f"into {out_dir} first, or remove it from the recipe"
            )
        try:
            found[handle] = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise BuildLayoutError(f"{file}: not valid JSON ({exc}); re-run `tfhub-kit evaluate` on {handle}") from exc
    return found


def _speed(model: Any, pool: list[str], wanted: int, batch: int) -> dict[str, Any]:
    """Sentences/s encoding `wanted` sentences drawn (cyclically) from `pool`."""
    sentences = (pool * (wanted // max(len(pool), 1) + 1))[:wanted]
    encode(model, sentences[:batch], batch_size=batch)  # warm-up
    start = time.perf_counter()
    encode(model, sentences, batch_size=batch)
    seconds = time.perf_counter() - start
    return {
        "sentences": len(sentences),
        "batch_size": batch,
        "seconds": seconds,
        "sentences_per_second": len(sentences) / seconds,
    }
