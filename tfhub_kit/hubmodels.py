"""Write a network's TF Hub SavedModels (encoder, preprocess, embedding, text_generation, the
static embedding model), their manifest and the keras-hub preset into a staged build folder.

Called by `tfhub_kit.export` once it decided an export is needed; imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tfhub_kit.errors import ExportError, RecipeError, environment_error
from tfhub_kit.evaldata import evaluate_config
from tfhub_kit.files import sha256_file
from tfhub_kit.generation import TextGenerator
from tfhub_kit.keraspreset import PRESET_DIR, check_preset_support, write_keras_preset
from tfhub_kit.layout import BuildLayout, ExportResult, recover_stale, swap_into_place
from tfhub_kit.manifest import Manifest, library_versions, write_manifest
from tfhub_kit.networks import ENCODER_INPUTS, HFSource, Network, embedding_settings, pool
from tfhub_kit.packed import TOLERANCE as PACKED_TOLERANCE
from tfhub_kit.packed import check_packed, packed_unsupported, pooled_vectors
from tfhub_kit.progress import reporter
from tfhub_kit.recipe import Recipe
from tfhub_kit.savedmodel import reusable_root, with_text_embedding_calls
from tfhub_kit.staticmodel import StaticTable, static_embedding_module, write_model2vec_folder
from tfhub_kit.tokenizers.build import build_preprocessor

Progress = Callable[[str], None]
MODEL2VEC_DIR = "model2vec"


def export_network(
    network: Network,
    source: HFSource,
    recipe: Recipe,
    layout: BuildLayout,
    *,
    progress: Progress | None = None,
    transforms: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    mlm_head: Any = None,
) -> ExportResult:
    """Write the SavedModels for an in-memory `network` (the from-objects entry point);
    `inputs` (from `export_inputs`) lets a later export of the same inputs reuse the build.
    With an `mlm_head` (a keras-hub MaskedLMHead on the network) the encoder gains the
    Common API's `mlm` sub-object."""
    import tensorflow as tf

    say = reporter(progress)
    settings = recipe.export
    kinds = [kind for kind in settings.saved_models if kind != PRESET_DIR]
    if PRESET_DIR in settings.saved_models:
        check_preset_support(source, recipe.file)
    with _staged_build(recipe, layout, say) as tmp:
        preprocessor = build_preprocessor(source.tokenizer, settings.seq_length)
        pooling, normalize = embedding_settings(recipe, source)
        inference = None
        precision = settings.embedding.precision
        if "embedding" in kinds:
            inference = _padding_free(network, preprocessor, settings.probes, pooling=pooling, normalize=normalize)
            say(f"embedding/ inference: {inference['note']}")
            if precision != "float32":
                inference |= _check_precision(recipe, network, preprocessor, inference, pooling, normalize, precision)
                say(f"embedding/ in {precision}: probes within {inference['float32_max_abs_diff']:.1e} of float32")
        if "text_generation" in kinds and source.architecture.model_type != "bart":
            raise RecipeError(
                recipe.file,
                "export.saved_models",
                "text_generation needs an encoder-decoder",
                allowed="a BART source",
                value=source.architecture.model_type,
            )

        modules = {
            "preprocess": preprocessor,
            "encoder": encoder_module(network, mlm_head),
            "embedding": embedding_module(
                network,
                preprocessor,
                pooling=pooling,
                normalize=normalize,
                padding_free=bool(inference and inference["padding_free"]),
                precision=precision,
            ),
        }
        if "text_generation" in kinds:
            modules["text_generation"] = TextGenerator(
                network.backbone, source.tokenizer, seq_length=settings.seq_length, max_length=settings.max_length
            )
        manifest_models: dict[str, Any] = {}
        for kind in kinds:
            say(f"saving {kind}/")
            module = modules[kind]
            signatures = {"serving_default": module.serving_default}
            tf.saved_model.save(module, str(tmp / kind), signatures=signatures)
            manifest_models[kind] = {
                "path": kind,
                "bytes": _dir_bytes(tmp / kind),
                "signatures": {name: _describe(fn) for name, fn in signatures.items()},
            }
        if "encoder" in manifest_models:
            manifest_models["encoder"]["parameters"] = network.parameters()
            manifest_models["encoder"]["num_layers"] = network.num_layers
            if mlm_head is not None:
                manifest_models["encoder"]["mlm"] = {"inputs": [*ENCODER_INPUTS, "masked_lm_positions"]}
        if "text_generation" in manifest_models:
            manifest_models["text_generation"].update(
                max_length=settings.max_length, decoding="greedy", mask_token=source.tokenizer.special.mask
            )
        if "embedding" in manifest_models:
            manifest_models["embedding"].update(
                dim=network.hidden_dim,
                pooling=pooling,
                normalize=normalize,
                parameters=network.parameters(),
                inference=inference,
            )
        keras_preset = None
        if PRESET_DIR in settings.saved_models:
            say(f"saving {PRESET_DIR}/")
            keras_preset = write_keras_preset(
                network, source, tmp / PRESET_DIR, probes=settings.probes, recipe_file=recipe.file, progress=say
            )
        say("computing probe outputs")
        manifest = _manifest(
            recipe,
            source,
            transforms,
            training=training,
            inputs=inputs,
            seq_length=settings.seq_length,
            vocab_size=network.vocab_size,
            special_tokens={k: int(v) for k, v in source.tokenizer.special_ids().items()},
            stage=tmp,
            tokenizer=source.tokenizer.describe(),
            saved_models=manifest_models,
            probes=_probes(settings.probes, modules, kinds),
            keras_preset=keras_preset,
        )
        write_manifest(tmp, manifest)
    say(f"wrote {layout.root}")
    return ExportResult(layout=layout, manifest=manifest)


def export_static(
    table: StaticTable,
    source: HFSource,
    recipe: Recipe,
    layout: BuildLayout,
    *,
    progress: Progress | None = None,
    transforms: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
) -> ExportResult:
    """Write a static table as `embedding/` (TF Hub text embedding) and `model2vec/`
    (model2vec's folder format), with the manifest, atomically."""
    import tensorflow as tf

    say = reporter(progress)
    with _staged_build(recipe, layout, say) as tmp:
        say("saving embedding/")
        module = static_embedding_module(table)
        signatures = {"serving_default": module.serving_default}
        tf.saved_model.save(module, str(tmp / "embedding"), signatures=signatures)
        say(f"writing {MODEL2VEC_DIR}/")
        write_model2vec_folder(table, tmp / MODEL2VEC_DIR, teacher=source.folder.name)
        size = int(table.vectors.size)
        saved_models = {
            "embedding": {
                "path": "embedding",
                "bytes": _dir_bytes(tmp / "embedding"),
                "signatures": {name: _describe(fn) for name, fn in signatures.items()},
                "dim": table.dim,
                "pooling": "mean of static token vectors",
                "normalize": table.normalize,
                "parameters": {"total": size, "word_embeddings": size, "other": 0},
                "static": {**table.settings, "tokens": len(table.tokens), "model2vec_folder": MODEL2VEC_DIR},
            }
        }
        text = tf.constant(list(recipe.export.probes))
        manifest = _manifest(
            recipe,
            source,
            transforms,
            inputs=inputs,
            seq_length=table.max_tokens,
            vocab_size=len(table.tokens),
            special_tokens={"unk_id": table.unk_id, "vocab_size": len(table.tokens)},
            stage=tmp,
            tokenizer=table.tokenizer.describe(),
            saved_models=saved_models,
            probes={
                "sentences": list(recipe.export.probes),
                "embedding": module.__call__(text, training=False).numpy().tolist(),
            },
        )
        write_manifest(tmp, manifest)
    say(f"wrote {layout.root}")
    return ExportResult(layout=layout, manifest=manifest)


def encoder_module(network: Network, mlm_head: Any = None) -> Any:
    """The encoder SavedModel root: Reusable API plus `serving_default`; with `mlm_head`, an
    `mlm` sub-object as TF Hub's BERT-with-MLM encoders have: `encoder.mlm(inputs)` with
    `masked_lm_positions` [batch, n] -> the encoder outputs plus `mlm_logits`
    [batch, n, vocab_size]."""
    import tensorflow as tf

    spec = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in ENCODER_INPUTS}
    root = reusable_root(network.variables, network.trainable_variables)
    if mlm_head is not None:
        root.mlm = _mlm_module(network, mlm_head, spec)

    @tf.function
    def call(inputs: dict[str, tf.Tensor], training: bool = False) -> dict[str, Any]:
        return network(inputs, training=training)

    @tf.function(input_signature=[spec[name] for name in ENCODER_INPUTS])
    def serving_default(
        input_word_ids: tf.Tensor, input_mask: tf.Tensor, input_type_ids: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        inputs = {"input_word_ids": input_word_ids, "input_mask": input_mask, "input_type_ids": input_type_ids}
        out = network(inputs, training=False)
        flat = {k: out[k] for k in ("sequence_output", "pooled_output", "default")}
        flat.update({f"encoder_outputs_{i}": t for i, t in enumerate(out["encoder_outputs"])})
        return flat

    for training in (False, True):
        call.get_concrete_function(spec, training=training)
    root.__call__ = call
    root.serving_default = serving_default.get_concrete_function()
    return root


def _mlm_module(network: Network, head: Any, spec: dict[str, Any]) -> Any:
    import tensorflow as tf

    own = {id(v) for v in network.variables}
    mlm = reusable_root(
        network.variables + [v for v in head.variables if id(v) not in own],
        network.trainable_variables + [v for v in head.trainable_variables if id(v) not in own],
    )
    spec = {**spec, "masked_lm_positions": tf.TensorSpec([None, None], tf.int32, name="masked_lm_positions")}

    @tf.function
    def call(inputs: dict[str, tf.Tensor], training: bool = False) -> dict[str, Any]:
        out = network({k: inputs[k] for k in ENCODER_INPUTS}, training=training)
        logits = head(out["sequence_output"], mask_positions=inputs["masked_lm_positions"])
        return {**out, "mlm_logits": tf.cast(logits, tf.float32)}

    for training in (False, True):
        call.get_concrete_function(spec, training=training)
    mlm.__call__ = call
    return mlm


def embedding_module(
    network: Network,
    preprocessor: Any,
    *,
    pooling: str,
    normalize: bool,
    padding_free: bool = False,
    precision: str = "float32",
) -> Any:
    """The text-embedding SavedModel root: strings[b] -> float32 [b, dim], Reusable. With
    `padding_free`, inference (training=False) skips the padding (`tfhub_kit.packed`), its
    matmuls in `precision`."""
    import tensorflow as tf

    root = reusable_root(network.variables, network.trainable_variables)
    root.preprocessor = preprocessor

    @tf.function
    def call(sentences: tf.Tensor, training: bool = False) -> tf.Tensor:
        inputs = preprocessor.pack_dynamic(sentences)
        if not training:
            return pooled_vectors(
                network, inputs, pooling=pooling, normalize=normalize, padding_free=padding_free, precision=precision
            )
        return pool(network(inputs, training=True), inputs["input_mask"], pooling=pooling, normalize=normalize)

    return with_text_embedding_calls(root, call)


PRECISION_TOLERANCE = 1e-2


def _check_precision(
    recipe: Recipe,
    network: Network,
    preprocessor: Any,
    inference: dict[str, Any],
    pooling: str,
    normalize: bool,
    precision: str,
) -> dict[str, Any]:
    """The probes' largest difference between `precision` and float32 vectors; refuses a
    network without the padding-free path or a difference above PRECISION_TOLERANCE."""
    import tensorflow as tf

    field = "export.embedding.precision"
    if not inference["padding_free"]:
        raise RecipeError(
            recipe.file,
            field,
            f"needs the padding-free path: {inference['reason']}",
            allowed="float32",
            value=precision,
        )
    inputs = preprocessor.pack_dynamic(tf.constant(list(recipe.export.probes)))
    vectors = {
        p: pooled_vectors(network, inputs, pooling=pooling, normalize=normalize, padding_free=True, precision=p)
        for p in ("float32", precision)
    }
    diff = float(tf.reduce_max(tf.abs(vectors["float32"] - vectors[precision])))
    if diff > PRECISION_TOLERANCE:
        raise RecipeError(
            recipe.file,
            field,
            f"moves a probe's vector by {diff:.3g} from float32 (more than {PRECISION_TOLERANCE:g})",
            allowed="float32 for this model",
            value=precision,
        )
    return {
        "precision": precision,
        "float32_max_abs_diff": diff,
        "float32_probes": vectors["float32"].numpy().tolist(),
    }


def _padding_free(
    network: Network, preprocessor: Any, probes: tuple[str, ...], *, pooling: str, normalize: bool
) -> dict[str, Any]:
    """Whether the embedding model can skip padding: the network is supported and its
    padding-free vectors of the probes (one padded batch) match the ordinary ones."""
    import tensorflow as tf

    reason = packed_unsupported(network)
    if reason is None:
        inputs = preprocessor.pack_dynamic(tf.constant([*probes, "", "a"]))
        diff = check_packed(network, inputs, pooling=pooling, normalize=normalize)
        if diff <= PACKED_TOLERANCE:
            return {"padding_free": True, "max_abs_diff": diff, "note": f"padding-free (probes within {diff:.1e})"}
        reason = f"padding-free vectors differ from the ordinary ones by {diff:.1e} (> {PACKED_TOLERANCE:g})"
    return {"padding_free": False, "reason": reason, "note": f"padded batches: {reason}"}


def _manifest(
    recipe: Recipe,
    source: HFSource,
    transforms: dict[str, Any] | None,
    *,
    stage: Path,
    training: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    **build: Any,
) -> Manifest:
    """The manifest: what was built (`build`: seq_length, vocab_size, special_tokens,
    saved_models, probes) plus the recipe sections later stages read. The evaluation data
    is copied into the build (`stage`) so that the build stands alone."""
    return Manifest(
        handle=recipe.handle,
        model=dataclasses.asdict(recipe.model),
        recipe={"file": str(recipe.file), "sha256": recipe.sha256},
        source={
            "folder": str(source.folder),
            "model_type": source.architecture.model_type,
            "network_architecture": source.architecture.network_architecture,
            "files": {str(p.relative_to(source.folder)): sha256_file(p) for p in source.files},
        },
        transforms=transforms or {"steps": []},
        training=training,
        inputs=inputs,
        validate=dataclasses.asdict(recipe.validate),
        evaluate=evaluate_config(recipe, stage),
        docs=_docs_config(recipe),
        publish=dataclasses.asdict(recipe.publish),
        versions=library_versions(),
        **build,
    )


def _docs_config(recipe: Recipe) -> dict[str, Any]:
    """The recipe's docs section with its templates folder made absolute, for the docs stage."""
    config = dataclasses.asdict(recipe.docs)
    if config["templates"]:
        config["templates"] = str(recipe.data_path(config["templates"]))
    return config


def _describe(fn: Any) -> dict[str, Any]:
    """Input and output names, dtypes and shapes of a concrete function (a signature)."""

    args, kwargs = fn.structured_input_signature
    inputs = {s.name: s for s in args} | kwargs
    outputs = fn.structured_outputs

    def spec(t: Any) -> dict[str, Any]:
        return {"dtype": t.dtype.name, "shape": t.shape.as_list()}

    return {
        "inputs": {name: spec(s) for name, s in sorted(inputs.items())},
        "outputs": {name: spec(t) for name, t in sorted(outputs.items())},
    }


def _probes(sentences: tuple[str, ...], modules: dict[str, Any], kinds: Sequence[str]) -> dict[str, Any]:
    import tensorflow as tf

    text = tf.constant(list(sentences))
    inputs = modules["preprocess"](text)
    out: dict[str, Any] = {"sentences": list(sentences)}
    if "preprocess" in kinds:
        lengths = tf.reduce_sum(inputs["input_mask"], axis=1).numpy()
        ids = inputs["input_word_ids"].numpy()
        out["input_word_ids"] = [row[:n].tolist() for row, n in zip(ids, lengths, strict=False)]
    if "encoder" in kinds:
        enc = modules["encoder"].__call__(inputs, training=False)
        out["pooled_output"] = enc["pooled_output"].numpy().tolist()
    if "embedding" in kinds:
        out["embedding"] = modules["embedding"].__call__(text, training=False).numpy().tolist()
    if "text_generation" in kinds:
        out["text_generation"] = [t.decode("utf-8") for t in modules["text_generation"](text).numpy()]
    return out


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextlib.contextmanager
def _staged_build(recipe: Recipe, layout: BuildLayout, say: Progress) -> Iterator[Path]:
    """A fresh temp folder beside the build; renamed into place if the body succeeds,
    removed (and the error wrapped in ExportError) if it fails."""
    recover_stale(layout.root, say)
    tmp = layout.root.with_name(f".{layout.root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        swap_into_place(tmp, layout.root)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, (ExportError, KeyboardInterrupt)) or environment_error(exc) is not None:
            raise
        raise ExportError(f"exporting {recipe.handle} to {layout.root} failed: {exc}") from exc
