"""Validate stage: check a build's SavedModels against TF Hub's contracts and its manifest.

    report = validate_build("build/tfhub-kit/all_minilm_l6_v2/1")
    report.ok          # False if any check failed
    report.failures    # each names the SavedModel, the check, what was expected and found

Checks (per SavedModel, as exported): files and assets, loading, the `serving_default`
signature, the call structure of the Common SavedModel API for text, the Reusable SavedModel
API (`training` traces, variables, regularization losses, a gradient step), determinism,
finite outputs and the manifest's probe outputs; then each consumer path (`hub.load`,
`hub.KerasLayer` under tf_keras, Keras 3 `TFSMLayer`) in a clean subprocess
(`python -m tfhub_kit.consumer`). Writes `validation.json` next to the manifest.

The module is long on purpose: it is the contract, one small function per check and one
table (`_CHECKS`) saying which SavedModel gets which, read top to bottom in one place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tfhub_kit.consumer import CONSUMERS, RESULTS_PREFIX
from tfhub_kit.errors import CheckCrashed
from tfhub_kit.files import write_json_atomic
from tfhub_kit.layout import BuildLayout
from tfhub_kit.manifest import Manifest
from tfhub_kit.progress import reporter

VALIDATION_FILE = "validation.json"
DEFAULT_TOLERANCE = 1e-5
ENCODER_INPUTS = ("input_word_ids", "input_mask", "input_type_ids")
ENCODER_OUTPUTS = ("sequence_output", "pooled_output", "default")
SPECIAL_TOKENS = ("vocab_size", "padding_id", "start_of_sequence_id", "end_of_segment_id", "mask_id")


@dataclass(frozen=True)
class CheckResult:
    saved_model: str
    check: str
    passed: bool
    expected: str
    found: str = ""
    seconds: float = 0.0


@dataclass
class ValidationReport:
    build_dir: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "build_dir": self.build_dir,
            "ok": self.ok,
            "checks": len(self.results),
            "failed": len(self.failures),
            "results": [asdict(r) for r in self.results],
        }


class CheckFailed(Exception):
    """Raised inside a check: what the contract expects and what the SavedModel does."""

    def __init__(self, expected: str, found: str) -> None:
        super().__init__(found)
        self.expected = expected
        self.found = found


def validate_build(
    build_dir: str | Path,
    *,
    tolerance: float | None = None,
    consumers: bool = True,
    progress: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Run every check on the build at `build_dir`; write and return the report.

    `tolerance` defaults to the recipe's `validate.tolerance`, recorded in the manifest.
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the preprocessing graphs use its ops)

    say = reporter(progress)
    layout = BuildLayout(Path(build_dir))
    manifest = layout.read_manifest()
    kinds = list(manifest.saved_models)
    if tolerance is None:
        tolerance = manifest.validate.get("tolerance", DEFAULT_TOLERANCE)
    report = ValidationReport(build_dir=str(layout.root))
    ctx = _Context(
        layout=layout, manifest=manifest, tolerance=tolerance, text=tf.constant(manifest.probes["sentences"])
    )

    started = time.perf_counter()
    pending = _start_consumers(layout, kinds, tolerance) if consumers else {}
    try:
        for kind in _order(kinds):
            say(f"checking {kind}/")
            extra = [("mlm", check_encoder_mlm)] if manifest.saved_models[kind].get("mlm") else []
            if (manifest.saved_models[kind].get("inference") or {}).get("precision", "float32") != "float32":
                extra.append(("float32", check_float32_agreement))
            for name, check in _CHECKS[kind] + extra:
                report.results.append(_run(kind, name, check, ctx))
        for consumer, proc in pending.items():
            say(f"waiting for the {consumer} subprocess")
            report.results.extend(_finish_consumer(consumer, proc, kinds, started))
    finally:  # interrupted or failed: no consumer process outlives validate
        for proc in pending.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    write_json_atomic(layout.root / VALIDATION_FILE, report.to_json())
    return report


# --- check plumbing ------------------------------------------------------------------


@dataclass
class _Context:
    layout: BuildLayout
    manifest: Manifest
    tolerance: float
    text: Any
    loaded: dict[str, Any] = field(default_factory=dict)

    def model(self, kind: str) -> Any:
        if kind not in self.loaded:
            raise CheckFailed(f"{kind}/ loads", "not loaded (see the load check)")
        return self.loaded[kind]

    def encoder_inputs(self) -> dict[str, Any]:
        """Encoder inputs for the probe sentences, from the build's preprocessor if any."""
        import tensorflow as tf

        if "preprocess" in self.loaded:
            return dict(self.loaded["preprocess"](self.text))
        rows = self.manifest.probes.get("input_word_ids") or [
            [
                self.manifest.special_tokens["start_of_sequence_id"],
                self.manifest.special_tokens["end_of_segment_id"],
            ]
        ]
        ids = tf.ragged.constant(rows, dtype=tf.int32)
        return {
            "input_word_ids": ids.to_tensor(),
            "input_mask": tf.ones_like(ids).to_tensor(),
            "input_type_ids": tf.zeros_like(ids).to_tensor(),
        }

    def inputs_for(self, kind: str) -> Any:
        return self.encoder_inputs() if kind == "encoder" else self.text


def _run(kind: str, name: str, check: Callable[[str, _Context], None], ctx: _Context) -> CheckResult:
    start = time.perf_counter()
    doc = (check.__doc__ or name).strip().splitlines()[0]
    try:
        check(kind, ctx)
    except CheckFailed as exc:
        return CheckResult(kind, name, False, exc.expected, exc.found, time.perf_counter() - start)
    except Exception as exc:  # a broken SavedModel raises all sorts of errors
        if not _raised_by_model(exc):
            raise CheckCrashed(
                f"validate: the check '{name}' on {kind}/ crashed in tfhub-kit's own code "
                f"({type(exc).__name__}: {_first_line(exc)}), so it says nothing about the model; "
                "this is a tfhub-kit bug: please report it (TFHUB_KIT_DEBUG=1 shows the traceback)"
            ) from exc
        found = f"{type(exc).__name__}: {_first_line(exc)}"
        return CheckResult(kind, name, False, doc, found, time.perf_counter() - start)
    return CheckResult(kind, name, True, doc, "ok", time.perf_counter() - start)


MODEL_PACKAGES = ("tensorflow", "tensorflow_hub", "tensorflow_text", "keras", "tf_keras")


def _raised_by_model(exc: BaseException) -> bool:
    """Whether `exc` came out of loading or running the SavedModel (TensorFlow's own code,
    including the model's traced functions) rather than out of the check's own code."""
    import tensorflow as tf

    if isinstance(exc, tf.errors.OpError):
        return True
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    parts = Path(tb.tb_frame.f_code.co_filename).parts
    return any(package in parts for package in MODEL_PACKAGES)


def _first_line(exc: BaseException) -> str:
    """The informative line of an error: TF's graph errors put the cause after a preamble
    ("Graph execution error:", "Detected at node ...", stack lines) and before "[[node]]"."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    noise = ("Graph execution error", "Detected at node", "File ", "[[", "<stack traces")
    useful = [line for line in lines if not line.startswith(noise)]
    return (useful or lines or [""])[0][:300]


def _expect(condition: bool, expected: str, found: Any) -> None:
    if not condition:
        raise CheckFailed(expected, str(found))


# --- checks on files and loading -----------------------------------------------------


def check_assets(kind: str, ctx: _Context) -> None:
    """every asset the graph references exists under assets/"""
    from tensorflow.core.protobuf import saved_model_pb2

    path = ctx.layout.saved_model(kind)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    names = [a.filename for graph in proto.meta_graphs for a in graph.asset_file_def]
    missing = [n for n in names if not (path / "assets" / n).is_file()]
    _expect(not missing, f"asset files {names} under {kind}/assets/", f"missing: {missing}")
    if kind in ("preprocess", "embedding") and ctx.manifest.tokenizer["family"] == "wordpiece":
        # WordPiece reads vocab.txt as an asset; the SentencePiece op carries its model proto.
        _expect(bool(names), "the vocabulary stored as a SavedModel asset", "no assets referenced")


def check_load(kind: str, ctx: _Context) -> None:
    """tf.saved_model.load succeeds"""
    import tensorflow as tf

    ctx.loaded[kind] = tf.saved_model.load(str(ctx.layout.saved_model(kind)))


# --- signatures ----------------------------------------------------------------------


def _signature(kind: str, ctx: _Context) -> tuple[dict[str, Any], dict[str, Any]]:
    model = ctx.model(kind)
    _expect("serving_default" in model.signatures, "a serving_default signature", sorted(model.signatures))
    fn = model.signatures["serving_default"]
    return dict(fn.structured_input_signature[1]), dict(fn.structured_outputs)


def _spec_text(spec: Any) -> str:
    return f"{spec.dtype.name}{spec.shape.as_list()}"


def check_signature(kind: str, ctx: _Context) -> None:
    """serving_default has the contract's input and output names, dtypes and shapes"""
    inputs, outputs = _signature(kind, ctx)
    found = {k: _spec_text(v) for k, v in inputs.items()}, {k: _spec_text(v) for k, v in outputs.items()}
    if kind == "encoder":
        want_in = {k: "int32[None, None]" for k in ENCODER_INPUTS}
        _expect(found[0] == want_in, f"inputs {want_in}", f"inputs {found[0]}")
        for key, rank in (("sequence_output", 3), ("pooled_output", 2), ("default", 2)):
            spec = outputs.get(key)
            ok = spec is not None and spec.dtype.name == "float32" and spec.shape.rank == rank
            ok = ok and spec is not None and spec.shape[0] is None
            _expect(ok, f"output {key!r}: float32, rank {rank}, unknown batch", f"outputs {found[1]}")
    elif kind == "preprocess":
        seq = ctx.manifest.seq_length
        _expect(len(inputs) == 1 and list(found[0].values()) == ["string[None]"], "one input: string[None]", found[0])
        want_out = {k: f"int32[None, {seq}]" for k in ENCODER_INPUTS}
        _expect(found[1] == want_out, f"outputs {want_out}", f"outputs {found[1]}")
    elif kind == "text_generation":
        _expect(len(inputs) == 1 and list(found[0].values()) == ["string[None]"], "one input: string[None]", found[0])
        _expect(found[1] == {"outputs": "string[None]"}, "outputs {'outputs': 'string[None]'}", found[1])
    else:
        dim = ctx.manifest.saved_models["embedding"]["dim"]
        _expect(len(inputs) == 1 and list(found[0].values()) == ["string[None]"], "one input: string[None]", found[0])
        _expect(
            found[1] == {"default": f"float32[None, {dim}]"}, f"outputs {{'default': 'float32[None, {dim}]'}}", found[1]
        )


# --- the Common SavedModel API for text ----------------------------------------------


def check_encoder_call(kind: str, ctx: _Context) -> None:
    """enc(inputs) returns sequence_output, pooled_output, default, encoder_outputs as the API says"""
    import numpy as np

    out = ctx.model(kind)(ctx.encoder_inputs())
    _expect(isinstance(out, dict), "a dict of outputs", type(out).__name__)
    missing = [k for k in (*ENCODER_OUTPUTS, "encoder_outputs") if k not in out]
    _expect(not missing, f"output keys {[*ENCODER_OUTPUTS, 'encoder_outputs']}", f"keys {sorted(out)}")
    batch = len(ctx.manifest.probes["sentences"])
    seq, pooled = out["sequence_output"], out["pooled_output"]
    _expect(
        seq.dtype.name == "float32" and seq.shape.rank == 3 and seq.shape[0] == batch,
        f"sequence_output float32 [{batch}, seq, dim]",
        f"{seq.dtype.name}{seq.shape.as_list()}",
    )
    _expect(
        pooled.dtype.name == "float32" and pooled.shape.as_list() == [batch, seq.shape[2]],
        f"pooled_output float32 [{batch}, {seq.shape[2]}]",
        f"{pooled.dtype.name}{pooled.shape.as_list()}",
    )
    _expect(
        np.array_equal(out["default"].numpy(), pooled.numpy(), equal_nan=True),
        "default == pooled_output",
        "they differ",
    )
    layers = out["encoder_outputs"]
    _expect(
        isinstance(layers, (list, tuple)) and len(layers) > 0, "encoder_outputs: one tensor per layer", type(layers)
    )
    _expect(
        np.array_equal(layers[-1].numpy(), seq.numpy()),
        "encoder_outputs[-1] == sequence_output",
        "the last layer's output differs from sequence_output",
    )


def check_embedding_call(kind: str, ctx: _Context) -> None:
    """emb(strings[b]) returns float32 [b, dim]"""
    out = ctx.model(kind)(ctx.text)
    dim = ctx.manifest.saved_models["embedding"]["dim"]
    batch = len(ctx.manifest.probes["sentences"])
    _expect(
        hasattr(out, "dtype") and out.dtype.name == "float32" and out.shape.as_list() == [batch, dim],
        f"float32 [{batch}, {dim}]",
        f"{getattr(out, 'dtype', type(out)).__str__()} {getattr(out, 'shape', '')}",
    )


def check_preprocess_call(kind: str, ctx: _Context) -> None:
    """pre(strings[b]) returns int32 input_word_ids, input_mask, input_type_ids [b, seq_length]"""
    out = ctx.model(kind)(ctx.text)
    batch, seq = len(ctx.manifest.probes["sentences"]), ctx.manifest.seq_length
    found = {k: f"{v.dtype.name}{v.shape.as_list()}" for k, v in dict(out).items()}
    want = {k: f"int32[{batch}, {seq}]" for k in ENCODER_INPUTS}
    _expect(found == want, str(want), found)


def check_tokenize(kind: str, ctx: _Context) -> None:
    """pre.tokenize(strings) returns an int32 RaggedTensor [b, (words), (pieces)] or [b, (tokens)]"""
    import tensorflow as tf

    pre = ctx.model(kind)
    _expect(hasattr(pre, "tokenize"), "a tokenize attribute", "none")
    tokens = pre.tokenize(ctx.text)
    _expect(isinstance(tokens, tf.RaggedTensor), "a RaggedTensor", type(tokens).__name__)
    _expect(tokens.dtype == tf.int32, "dtype int32", tokens.dtype.name)
    _expect(tokens.shape.rank in (2, 3), "rank 2 or 3", tokens.shape.rank)


def check_special_tokens(kind: str, ctx: _Context) -> None:
    """pre.tokenize.get_special_tokens_dict() gives int32 scalars that match the manifest"""
    special = ctx.model(kind).tokenize.get_special_tokens_dict()
    found = {k: f"{v.dtype.name}{v.shape.as_list()}" for k, v in special.items()}
    missing = [k for k in SPECIAL_TOKENS if found.get(k) != "int32[]"]
    _expect(not missing, f"int32 scalars {list(SPECIAL_TOKENS)}", found)
    values = {k: int(special[k]) for k in SPECIAL_TOKENS}
    want = {k: ctx.manifest.special_tokens[k] for k in SPECIAL_TOKENS}
    _expect(values == want, f"the manifest's {want}", values)


def check_bert_pack_inputs(kind: str, ctx: _Context) -> None:
    """bert_pack_inputs([seg1, seg2], seq_length=N) packs special tokens and type ids to width N
    by the build's packing rule"""
    import tensorflow as tf

    pre = ctx.model(kind)
    special = ctx.manifest.special_tokens
    rule = ctx.manifest.tokenizer["packing"]
    tokens = pre.tokenize(ctx.text[:1])
    width = max(8, ctx.manifest.seq_length // 2)
    out = pre.bert_pack_inputs([tokens, tokens], seq_length=tf.constant(width))
    ids, types = out["input_word_ids"].numpy(), out["input_type_ids"].numpy()
    _expect(ids.shape == (1, width), f"width {width} when seq_length={width}", ids.shape)
    n = int(out["input_mask"].numpy().sum())
    row = ids[0, :n].tolist()
    cls, sep = special["start_of_sequence_id"], special["end_of_segment_id"]
    seps = [i for i in range(n) if row[i] == sep]
    if rule == "roberta":
        _expect(
            row[0] == cls and len(seps) >= 3 and seps[-1] == n - 1 and seps[1] == seps[0] + 1,
            "<s> seg1 </s></s> seg2 </s> (roberta packing)",
            row,
        )
        _expect(types[0].max(initial=0) == 0, "type ids all 0 (roberta packing)", types[0].tolist())
        return
    _expect(
        row[0] == cls and len(seps) >= 2 and seps[-1] == n - 1 and seps[1] > seps[0] + 1,
        "[CLS] seg1 [SEP] seg2 [SEP] (bert packing)",
        row,
    )
    _expect(
        types[0, : seps[0] + 1].max() == 0
        and types[0, seps[0] + 1 : n].min() == 1
        and types[0, n:].max(initial=0) == 0,
        "type ids 0 for CLS/segment 1/its SEP/padding, 1 for segment 2",
        types[0].tolist(),
    )


def check_no_variables(kind: str, ctx: _Context) -> None:
    """the preprocessor holds no variables (it is not trainable)"""
    import tensorflow as tf

    prefix = str(ctx.layout.saved_model(kind) / "variables" / "variables")
    names = [n for n, _ in tf.train.list_variables(prefix) if "OBJECT_GRAPH" not in n and "save_counter" not in n]
    _expect(not names, "no variables", f"{len(names)} variables, e.g. {names[:3]}")


def check_vocab_range(kind: str, ctx: _Context) -> None:
    """every id the preprocessor can emit is a row of the encoder's embedding table"""
    import tensorflow as tf

    vocab = int(ctx.model(kind).tokenize.get_special_tokens_dict()["vocab_size"])
    if "encoder" not in ctx.manifest.saved_models:
        _expect(vocab == ctx.manifest.vocab_size, f"vocab_size {ctx.manifest.vocab_size}", vocab)
        return
    encoder = ctx.model("encoder")
    special = ctx.manifest.special_tokens
    ids = tf.constant([[special["start_of_sequence_id"], vocab - 1, special["end_of_segment_id"]]], tf.int32)
    try:
        with tf.device("/CPU:0"):  # out-of-range gathers raise on CPU
            encoder({"input_word_ids": ids, "input_mask": tf.ones_like(ids), "input_type_ids": tf.zeros_like(ids)})
    except tf.errors.InvalidArgumentError as exc:
        raise CheckFailed(
            f"the preprocessor's vocab_size ({vocab}) <= the encoder's vocabulary",
            f"id {vocab - 1} fails: {_first_line(exc)}",
        ) from exc


# --- the Reusable SavedModel API -----------------------------------------------------


def check_reusable_api(kind: str, ctx: _Context) -> None:
    """__call__ traced for training=True/False; variables, trainable_variables, regularization_losses"""
    model = ctx.model(kind)
    for attr in ("variables", "trainable_variables", "regularization_losses"):
        _expect(hasattr(model, attr), f"attribute {attr!r} (hub.KerasLayer needs it)", "missing")
    _expect(len(model.trainable_variables) > 0, "non-empty trainable_variables", "empty")
    _expect(
        all(callable(loss) for loss in model.regularization_losses),
        "regularization_losses: zero-argument callables",
        [type(loss).__name__ for loss in model.regularization_losses],
    )
    inputs = ctx.inputs_for(kind)
    for training in (False, True):
        try:
            model(inputs, training=training)
        except (TypeError, ValueError) as exc:
            raise CheckFailed(
                f"__call__(inputs, training={training}) traced (hub.KerasLayer(trainable=True) calls it)",
                _first_line(exc),
            ) from exc


def _first_output(out: Any) -> Any:
    return out["pooled_output"] if isinstance(out, dict) else out


def check_gradient(kind: str, ctx: _Context) -> None:
    """one gradient step gives finite gradients and changes the outputs"""
    import numpy as np
    import tensorflow as tf

    model = ctx.model(kind)
    inputs = ctx.inputs_for(kind)
    before = _first_output(model(inputs, training=False)).numpy()
    variables = list(model.trainable_variables)
    saved = [v.numpy() for v in variables]
    try:
        # A fixed random direction: sum of squares would be constant for L2-normalised outputs.
        direction = tf.random.stateless_normal(before.shape, seed=(1, 2))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(direction * _first_output(model(inputs, training=True)))
        grads = tape.gradient(loss, variables)
        present = [(g, v) for g, v in zip(grads, variables, strict=False) if g is not None]
        _expect(bool(present), "gradients for the trainable variables", "all gradients are None")
        bad = [v.name for g, v in present if not np.all(np.isfinite(tf.convert_to_tensor(g).numpy()))]
        _expect(not bad, "finite gradients", f"non-finite gradients for {bad[:3]}")
        for g, v in present:
            v.assign_sub(1e-2 * tf.convert_to_tensor(g))
        after = _first_output(model(inputs, training=False)).numpy()
        _expect(not np.array_equal(before, after), "outputs change after one step", "outputs unchanged")
    finally:
        for v, value in zip(variables, saved, strict=False):
            v.assign(value)


def check_deterministic(kind: str, ctx: _Context) -> None:
    """two calls with training=False give identical outputs (no dropout at inference)"""
    import numpy as np

    model = ctx.model(kind)
    inputs = ctx.inputs_for(kind)
    first = _first_output(model(inputs, training=False)).numpy()
    second = _first_output(model(inputs, training=False)).numpy()
    _expect(
        np.array_equal(first, second), "identical outputs", f"max abs difference {np.abs(first - second).max():.3g}"
    )


def check_finite(kind: str, ctx: _Context) -> None:
    """no NaN or Inf in any weight, nor in any output on the probe sentences"""
    import numpy as np
    import tensorflow as tf

    model = ctx.model(kind)
    weights = [v for v in getattr(model, "variables", ()) if v.dtype.is_floating]
    broken = [v.name for v in weights if not np.all(np.isfinite(v.numpy()))]
    _expect(
        not broken, "finite weights", f"{len(broken)} of {len(weights)} weights hold NaN/Inf ({', '.join(broken[:3])})"
    )
    out = model(ctx.inputs_for(kind))
    flat = tf.nest.flatten(out, expand_composites=False)
    bad = sum(int(np.sum(~np.isfinite(t.numpy()))) for t in flat)
    _expect(bad == 0, "finite outputs", f"{bad} NaN/Inf values")


def check_probes(kind: str, ctx: _Context) -> None:
    """outputs on the manifest's probe sentences match the values recorded at export"""
    import numpy as np

    probes = ctx.manifest.probes
    model = ctx.model(kind)
    if kind == "preprocess":
        out = model(ctx.text)
        lengths = out["input_mask"].numpy().sum(axis=1)
        ids = [row[:n].tolist() for row, n in zip(out["input_word_ids"].numpy(), lengths, strict=False)]
        _expect(ids == probes["input_word_ids"], f"ids {probes['input_word_ids']}", ids)
        return
    found = _first_output(model(ctx.inputs_for(kind), training=False)).numpy()
    want = np.asarray(probes["pooled_output" if kind == "encoder" else "embedding"], dtype=np.float32)
    diff = float(np.abs(found - want).max()) if found.shape == want.shape else float("inf")
    _expect(diff <= ctx.tolerance, f"max abs difference <= {ctx.tolerance:g}", f"{diff:.3g}")


def check_float32_agreement(kind: str, ctx: _Context) -> None:
    """a reduced-precision embedding stays within 1e-2 of the float32 vectors recorded at export"""
    import numpy as np

    inference = ctx.manifest.saved_models[kind]["inference"]
    found = ctx.model(kind)(ctx.text).numpy()
    want = np.asarray(inference["float32_probes"], dtype=np.float32)
    diff = float(np.abs(found - want).max()) if found.shape == want.shape else float("inf")
    _expect(
        diff <= FLOAT32_TOLERANCE, f"{inference['precision']} within {FLOAT32_TOLERANCE:g} of float32", f"{diff:.3g}"
    )


FLOAT32_TOLERANCE = 1e-2

_COMMON = [("assets", check_assets), ("load", check_load), ("signature", check_signature)]


def check_generation_call(kind: str, ctx: _Context) -> None:
    """gen(strings) returns one string per input, the same on a second call and as at export"""
    model = ctx.model(kind)
    first = [t.decode("utf-8") for t in model(ctx.text).numpy()]
    again = [t.decode("utf-8") for t in model(ctx.text).numpy()]
    _expect(len(first) == len(ctx.manifest.probes["sentences"]), "one output per input", len(first))
    _expect(first == again, "the same text on a second call (greedy decoding)", again)
    want = ctx.manifest.probes.get("text_generation")
    _expect(first == want, f"the probe outputs recorded at export {want}", first)


def check_encoder_mlm(kind: str, ctx: _Context) -> None:
    """enc.mlm(inputs + masked_lm_positions) gives the encoder's outputs and mlm_logits [b, n, vocab]"""
    import numpy as np
    import tensorflow as tf

    encoder = ctx.model(kind)
    _expect(hasattr(encoder, "mlm") and callable(encoder.mlm), "an mlm sub-object (manifest: mlm)", "none")
    inputs = ctx.encoder_inputs()
    batch = int(inputs["input_word_ids"].shape[0])
    positions = tf.constant([[1, 0]] * batch, tf.int32)  # first token after [CLS], then [CLS]
    out = encoder.mlm({**inputs, "masked_lm_positions": positions})
    logits = out.get("mlm_logits") if isinstance(out, dict) else None
    vocab = ctx.manifest.vocab_size
    _expect(
        logits is not None and logits.dtype.name == "float32" and logits.shape.as_list() == [batch, 2, vocab],
        f"mlm_logits float32 [{batch}, 2, {vocab}]",
        "no mlm_logits" if logits is None else f"{logits.dtype.name}{logits.shape.as_list()}",
    )
    plain = encoder(inputs)["sequence_output"].numpy()
    diff = float(np.max(np.abs(out["sequence_output"].numpy() - plain)))
    _expect(diff <= ctx.tolerance, "mlm sequence_output == the encoder's", f"max abs diff {diff:.2e}")
    _expect(logits is not None and bool(np.all(np.isfinite(logits.numpy()))), "finite mlm_logits", "NaN or inf")
    for attr in ("variables", "trainable_variables", "regularization_losses"):
        _expect(hasattr(encoder.mlm, attr), f"mlm.{attr} (Reusable SavedModel API)", "missing")


_MODEL_CHECKS = [
    ("reusable_api", check_reusable_api),
    ("deterministic", check_deterministic),
    ("probes", check_probes),
    ("gradient", check_gradient),
]
_CHECKS: dict[str, list[tuple[str, Callable[[str, _Context], None]]]] = {
    "preprocess": [
        *_COMMON,
        ("call", check_preprocess_call),
        ("tokenize", check_tokenize),
        ("special_tokens", check_special_tokens),
        ("bert_pack_inputs", check_bert_pack_inputs),
        ("no_variables", check_no_variables),
        ("vocab_range", check_vocab_range),
        ("probes", check_probes),
    ],
    # `finite` right after loading: a model with NaN weights is named for that, not for the
    # call structure its NaN outputs break next
    "encoder": [*_COMMON, ("finite", check_finite), ("call", check_encoder_call), *_MODEL_CHECKS],
    "embedding": [*_COMMON, ("finite", check_finite), ("call", check_embedding_call), *_MODEL_CHECKS],
    "text_generation": [*_COMMON, ("call", check_generation_call)],
}


def _order(kinds: list[str]) -> list[str]:
    """Encoder first: the preprocessor's vocab_range check calls it."""
    return sorted(kinds, key=("encoder", "preprocess", "embedding", "text_generation").index)


# --- consumers, each in a clean subprocess -------------------------------------------

CONSUMER_TIMEOUT = 600.0
"""Seconds the consumer subprocesses may take together (TFHUB_KIT_CONSUMER_TIMEOUT overrides)."""


def _start_consumers(layout: BuildLayout, kinds: list[str], tolerance: float) -> dict[str, subprocess.Popen[str]]:
    procs = {}
    for consumer in CONSUMERS:
        env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "KERAS_BACKEND")}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if consumer == "hub.KerasLayer":
            env["TF_USE_LEGACY_KERAS"] = "1"
        procs[consumer] = subprocess.Popen(
            [sys.executable, "-m", "tfhub_kit.consumer", consumer, str(layout.root), str(tolerance)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    return procs


def _finish_consumer(consumer: str, proc: subprocess.Popen[str], kinds: list[str], started: float) -> list[CheckResult]:
    timeout = float(os.environ.get("TFHUB_KIT_CONSUMER_TIMEOUT", CONSUMER_TIMEOUT))
    try:
        out, err = proc.communicate(timeout=max(timeout - (time.perf_counter() - started), 0.1))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        out, err = "", f"timed out after {timeout:g} s (TFHUB_KIT_CONSUMER_TIMEOUT) and was killed"
    line = next((x for x in out.splitlines() if x.startswith(RESULTS_PREFIX)), None)
    if line is None:
        tail = (err.strip().splitlines() or ["no output"])[-1][:300]
        parsed = {kind: f"the subprocess failed (exit {proc.returncode}): {tail}" for kind in kinds}
    else:
        parsed = json.loads(line[len(RESULTS_PREFIX) :])
    seconds = time.perf_counter() - started  # wall time: the subprocesses run side by side
    expected = f"loads and runs with {consumer} in a clean process"
    return [
        CheckResult(
            kind,
            f"consumer:{consumer}",
            parsed[kind] == "ok" or parsed[kind].startswith("skipped"),
            expected,
            parsed[kind],
            seconds,
        )
        for kind in kinds
    ]
