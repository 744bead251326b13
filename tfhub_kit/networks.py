"""keras-hub backbones from a local Hugging Face folder, behind one TF Hub-shaped call.

`inspect_hf_folder` checks a checkpoint folder without loading weights (what `recipe check`
needs); `load_network` builds the keras-hub backbone, ports the weights with keras-hub's own
converters (no network access) and wraps it as a `Network` whose `__call__` takes and
returns the tensors of TF Hub's Common SavedModel API for text encoders.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tfhub_kit.errors import ExportError, RecipeError
from tfhub_kit.tokenizers import TokenizerSpec, tokenizer_spec_from_hf

CONFIG_FILE = "config.json"
WEIGHTS_FILES = ("model.safetensors", "model.safetensors.index.json")
ENCODER_INPUTS = ("input_word_ids", "input_mask", "input_type_ids")


@dataclass(frozen=True)
class Architecture:
    """How one Hugging Face `model_type` maps onto a keras-hub backbone."""

    model_type: str
    activation_key: str
    """config.json key naming the feed-forward activation."""
    dropout_key: str
    """config.json key naming the dropout rate (keras-hub's converters ignore it)."""
    has_pooler: bool
    """True if the checkpoint has BERT's tanh pooler; else `pooled_output` is the first token."""
    uses_segments: bool
    network_architecture: str
    """The tfhub.dev `network-architecture` tag."""
    weights_prefix: str = ""
    """Key prefix keras-hub's converter expects; bare checkpoints (as sentence-transformers
    saves them) lack it and are given it in a temporary view."""
    strip_prefix: str = ""
    """Key prefix keras-hub's converter does not expect (a task checkpoint's base model)."""
    fold_type_embedding: bool = False
    """The checkpoint adds token_type_embeddings[0] to every token but keras-hub's backbone
    has no segment input and its converter drops the table: fold it into the positions."""


ARCHITECTURES: dict[str, Architecture] = {
    "bert": Architecture("bert", "hidden_act", "hidden_dropout_prob", True, True, "bert"),
    "distilbert": Architecture("distilbert", "activation", "dropout", False, False, "transformer", "distilbert."),
    "roberta": Architecture(
        "roberta",
        "hidden_act",
        "hidden_dropout_prob",
        False,
        False,
        "transformer",
        "roberta.",
        fold_type_embedding=True,
    ),
    "xlm-roberta": Architecture(
        "xlm-roberta", "hidden_act", "hidden_dropout_prob", False, False, "transformer", strip_prefix="roberta."
    ),
    "albert": Architecture("albert", "hidden_act", "hidden_dropout_prob", True, True, "transformer", "albert."),
    # BART's encoder side (the Common API has no place for the decoder).
    "bart": Architecture("bart", "activation_function", "dropout", False, False, "transformer", strip_prefix="model."),
}


@dataclass(frozen=True)
class HFSource:
    """What a Hugging Face folder holds, read from its JSON files only."""

    folder: Path
    config: dict[str, Any]
    architecture: Architecture
    tokenizer: TokenizerSpec
    st_pooling: str | None
    """sentence-transformers pooling mode from 1_Pooling/config.json, if any."""
    st_normalize: bool | None
    """True if modules.json lists a Normalize module; None without modules.json."""
    scratch: Any = None
    """For a randomly initialised network: the recipe's `source.scratch` section."""

    @property
    def files(self) -> list[Path]:
        """Every regular file of the folder that a build depends on, sorted."""
        return sorted(p for p in self.folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def inspect_source(recipe: Any) -> HFSource:
    """What the recipe's source is, without loading weights: a checkpoint folder, or the
    shape and vocabulary of a network to build from scratch."""
    scratch = recipe.source.scratch
    if scratch is None:
        return inspect_hf_folder(recipe.source_dir)
    vocab = recipe.data_path(scratch.vocab)
    if vocab.is_dir():  # a Hugging Face tokenizer folder (a SentencePiece model, say)
        tokenizer = tokenizer_spec_from_hf(vocab, scratch.architecture)
        folder = vocab
    else:
        tokenizer = TokenizerSpec(vocab_file=vocab, lower_case=scratch.lower_case, strip_accents=scratch.lower_case)
        folder = vocab.parent
    tokenizer.special_ids()  # the vocabulary must hold the special tokens
    return HFSource(
        folder=folder,
        config={"model_type": scratch.architecture, ARCHITECTURES[scratch.architecture].activation_key: "gelu"},
        architecture=ARCHITECTURES[scratch.architecture],
        tokenizer=tokenizer,
        st_pooling=None,
        st_normalize=None,
        scratch=scratch,
    )


def inspect_hf_folder(folder: Path) -> HFSource:
    """Check that `folder` is a checkpoint the kit can convert; raise `RecipeError` if not."""
    config_file = folder / CONFIG_FILE
    if not config_file.is_file():
        raise RecipeError(folder, "source", f"the checkpoint folder has no {CONFIG_FILE}", show_value=False)
    try:
        config = json.loads(config_file.read_text())
    except json.JSONDecodeError as exc:
        raise RecipeError(config_file, "(file)", f"not valid JSON ({exc})", show_value=False) from exc
    model_type = config.get("model_type")
    if model_type not in ARCHITECTURES:
        raise RecipeError(
            config_file,
            "model_type",
            "this model type is not supported",
            allowed=", ".join(sorted(ARCHITECTURES)),
            value=model_type,
        )
    if not any((folder / name).is_file() for name in WEIGHTS_FILES):
        raise RecipeError(
            folder,
            "source",
            "the checkpoint folder has no weights",
            allowed=" or ".join(WEIGHTS_FILES),
            show_value=False,
        )
    if model_type == "bart" and config.get("scale_embedding"):
        raise RecipeError(
            config_file,
            "scale_embedding",
            "keras-hub's BART does not scale its embeddings",
            allowed="false (BART's default)",
            value=True,
        )
    tokenizer = tokenizer_spec_from_hf(folder, model_type)
    return HFSource(
        folder=folder,
        config=config,
        architecture=ARCHITECTURES[model_type],
        tokenizer=tokenizer,
        st_pooling=_st_pooling(folder),
        st_normalize=_st_normalize(folder),
    )


class Network:
    """A keras-hub backbone called with TF Hub encoder inputs, returning TF Hub outputs.

    `network(inputs, training=False)` maps `input_word_ids`, `input_mask`, `input_type_ids`
    (int32 [batch, seq]) to `sequence_output`, `pooled_output`, `default` and
    `encoder_outputs` (one [batch, seq, dim] tensor per transformer layer).
    """

    def __init__(self, backbone: Any, architecture: Architecture) -> None:
        import keras

        self.backbone = backbone
        self.architecture = architecture
        self.layer_calls = _layer_calls(backbone)
        layer_outputs = _layer_outputs(backbone)
        outputs = {"encoder_outputs": layer_outputs}
        if architecture.has_pooler:
            outputs["pooled_output"] = backbone.output["pooled_output"]
        inputs = backbone.input
        if isinstance(inputs, dict) and "encoder_token_ids" in inputs:  # BART: the encoder only
            inputs = {k: v for k, v in inputs.items() if k.startswith("encoder_")}
        # One functional model over the same layers (and so the same variables) that also
        # exposes every transformer layer's output.
        self._model = keras.Model(inputs, outputs)
        # The same graph up to the input of the first transformer layer.
        self._embeddings = keras.Model(inputs, self.layer_calls[0]._inbound_nodes[0].input_tensors[0])
        self._encoder_inputs = "encoder_token_ids" in inputs
        self.num_layers = len(layer_outputs)

    @property
    def variables(self) -> list[Any]:
        """The variables the outputs depend on (BART's decoder is left out)."""
        return list(self._model.variables)

    @property
    def trainable_variables(self) -> list[Any]:
        return list(self._model.trainable_variables)

    @property
    def vocab_size(self) -> int:
        return int(self.word_embeddings.shape[0])

    @property
    def hidden_dim(self) -> int:
        """The width of the outputs (ALBERT's word embeddings are narrower)."""
        return int(getattr(self.backbone, "hidden_dim", None) or self.word_embeddings.shape[1])

    @property
    def word_embeddings(self) -> Any:
        """The token embedding matrix [vocab_size, dim] (a keras Variable)."""
        (table,) = [v for v in self.backbone.weights if "token_embedding" in v.path and v.path.endswith("embeddings")]
        return table

    @property
    def config(self) -> dict[str, Any]:
        """The keras-hub backbone config (vocabulary_size, num_layers, hidden_dim, ...)."""
        return dict(self.backbone.get_config())

    def parameters(self) -> dict[str, int]:
        """Parameter counts: total, word embeddings, the rest."""
        total = sum(int(v.numpy().size) for v in self._model.weights)
        words = int(self.word_embeddings.numpy().size)
        return {"total": total, "word_embeddings": words, "other": total - words}

    def rebuilt(self, changes: dict[str, Any], weight: Callable[[str], Any]) -> Network:
        """A new network of the same kind with `changes` to the backbone config; each of its
        weights, named by path (e.g. `transformer_layer_0/self_attention_layer/query/kernel`),
        is set to `weight(path)`. The feed-forward activation is carried over."""
        backbone = type(self.backbone).from_config({**self.config, **changes})
        for variable in backbone.weights:
            variable.assign(weight(variable.path))
        activation = next(
            layer._feedforward_intermediate_dense.activation
            for layer in self.backbone.layers
            if hasattr(layer, "_feedforward_intermediate_dense")
        )
        for layer in backbone.layers:
            if hasattr(layer, "_feedforward_intermediate_dense"):
                layer._feedforward_intermediate_dense.activation = activation
        epsilon = {layer.path: layer.epsilon for layer in _layer_norms(self.backbone)}
        for layer in _layer_norms(backbone):
            layer.epsilon = epsilon.get(layer.path, layer.epsilon)
        return Network(backbone, self.architecture)

    def weights_by_path(self) -> dict[str, Any]:
        """{path: numpy array} of every backbone weight."""
        return {v.path: v.numpy() for v in self.backbone.weights}

    @property
    def pooler(self) -> Any | None:
        """The backbone's pooler layer (dense + tanh on the first token), if it has one."""
        return getattr(self.backbone, "pooled_dense", None) if self.architecture.has_pooler else None

    def embeddings(self, inputs: dict[str, Any], training: bool = False) -> Any:
        """The [batch, seq, dim] input of the first transformer layer (token, position and
        segment embeddings, their layer norm, and ALBERT's projection)."""
        return self._embeddings(self._feed(inputs), training=training)

    def __call__(self, inputs: dict[str, Any], training: bool = False) -> dict[str, Any]:
        import tensorflow as tf

        out = self._model(self._feed(inputs), training=training)
        layers = list(out["encoder_outputs"])
        sequence_output = layers[-1]
        pooled = out["pooled_output"] if self.architecture.has_pooler else sequence_output[:, 0, :]
        return {
            "sequence_output": sequence_output,
            "pooled_output": pooled,
            "default": tf.identity(pooled),
            "encoder_outputs": layers,
        }

    def _feed(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """TF Hub encoder inputs renamed to the backbone's inputs."""
        if self._encoder_inputs:
            feed = {"encoder_token_ids": inputs["input_word_ids"], "encoder_padding_mask": inputs["input_mask"]}
        else:
            feed = {"token_ids": inputs["input_word_ids"], "padding_mask": inputs["input_mask"]}
        if self.architecture.uses_segments:
            feed["segment_ids"] = inputs["input_type_ids"]
        return feed


def _layer_calls(backbone: Any) -> list[Any]:
    """The transformer layer of every call, in order (ALBERT's shared layers repeat)."""
    if hasattr(backbone, "num_groups"):
        calls = backbone.num_layers // backbone.num_groups
        return [layer for group in backbone.transformer_layers for _ in range(calls) for layer in group]
    return sorted(
        (layer for layer in backbone.layers if re.fullmatch(r"transformer(_encoder)?_layer_\d+", layer.name)),
        key=lambda layer: int(layer.name.rsplit("_", 1)[1]),
    )


def _layer_outputs(backbone: Any) -> list[Any]:
    """The output of every transformer layer call, in order. ALBERT calls its shared layers
    several times: each call is one layer of the network."""
    seen: dict[int, int] = {}
    outputs = []
    for layer in _layer_calls(backbone):
        call = seen.get(id(layer), 0)
        seen[id(layer)] = call + 1
        outputs.append(layer._inbound_nodes[call].output_tensors[0])
    return outputs


def load_network(source: HFSource) -> Network:
    """Build the keras-hub backbone for `source` and load its weights (local files only)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ExportError(
            f"tfhub-kit exports TensorFlow SavedModels and needs Keras' TensorFlow backend; "
            f"KERAS_BACKEND is {keras.backend.backend()!r}. Unset it or set KERAS_BACKEND=tensorflow."
        )
    import keras_hub

    if source.scratch is not None:
        s = source.scratch
        keras.utils.set_random_seed(s.seed)
        shape = {
            "vocabulary_size": len(source.tokenizer.vocab()),
            "num_layers": s.num_layers,
            "num_heads": s.num_heads,
            "hidden_dim": s.hidden_dim,
            "intermediate_dim": s.intermediate_dim,
            "max_sequence_length": s.max_sequence_length,
            "dropout": s.dropout,
        }
        if s.architecture == "albert":
            backbone = keras_hub.models.AlbertBackbone(
                **shape, embedding_dim=s.embedding_dim, num_groups=s.num_groups, num_inner_repetitions=1
            )
        elif s.architecture == "bart":
            backbone = keras_hub.models.BartBackbone(**shape)
        elif s.architecture == "roberta":
            backbone = keras_hub.models.RobertaBackbone(**shape)
        else:
            backbone = keras_hub.models.BertBackbone(**shape)
        _set_activation(backbone, source)
        return Network(backbone, source.architecture)
    kwargs: dict[str, Any] = {"dropout": float(source.config.get(source.architecture.dropout_key, 0.1))}
    if source.architecture.uses_segments:
        kwargs["num_segments"] = int(source.config.get("type_vocab_size", 2))
    try:
        with _converter_view(source) as folder:
            backbone = keras_hub.models.Backbone.from_preset(str(folder), **kwargs)
            if source.architecture.fold_type_embedding:
                _fold_type_embedding(backbone, folder)
    except Exception as exc:  # keras-hub raises plain ValueError/KeyError for bad checkpoints
        raise ExportError(f"{source.folder}: keras-hub could not load this checkpoint: {exc}") from exc
    _set_activation(backbone, source)
    _set_layer_norm_epsilon(backbone, source)
    return Network(backbone, source.architecture)


def _fold_type_embedding(backbone: Any, folder: Path) -> None:
    """Add row 0 of the checkpoint's token-type table to keras-hub's position table."""
    from safetensors import safe_open

    with safe_open(str(folder / WEIGHTS_FILES[0]), framework="np") as f:
        (key,) = [k for k in f.keys() if k.endswith("embeddings.token_type_embeddings.weight")]  # noqa: SIM118
        row = f.get_tensor(key)[0]
    table = backbone.embeddings.position_embedding.position_embeddings
    table.assign(table + row)


def _set_layer_norm_epsilon(backbone: Any, source: HFSource) -> None:
    """Honour config.json's `layer_norm_eps`: keras-hub hard-codes one per architecture."""
    eps = source.config.get("layer_norm_eps")
    if eps is None:
        return
    for layer in _layer_norms(backbone):
        layer.epsilon = float(eps)


def _layer_norms(backbone: Any) -> list[Any]:
    import keras

    layers = backbone._flatten_layers(include_self=False, recursive=True)
    return [layer for layer in layers if isinstance(layer, keras.layers.LayerNormalization)]


@contextlib.contextmanager
def _converter_view(source: HFSource) -> Iterator[Path]:
    """The folder to hand keras-hub: the source itself, or a temporary copy whose weight
    keys carry the prefix the converter expects."""
    prefix, strip = source.architecture.weights_prefix, source.architecture.strip_prefix
    weights = source.folder / WEIGHTS_FILES[0]
    if not (prefix or strip) or not weights.is_file():
        yield source.folder
        return
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(weights), framework="np") as f:
        keys = list(f.keys())
        if prefix and not any(k.startswith(prefix) for k in keys):
            tensors = {prefix + k: f.get_tensor(k) for k in keys}
        elif strip and any(k.startswith(strip) for k in keys):
            tensors = {k.removeprefix(strip): f.get_tensor(k) for k in keys}
        else:
            tensors = None
    if tensors is None:
        yield source.folder
        return
    with tempfile.TemporaryDirectory(prefix="tfhub-kit-view-") as tmp:
        view = Path(tmp)
        for item in source.folder.iterdir():
            if item.name != weights.name:
                (view / item.name).symlink_to(item)
        save_file(tensors, str(view / weights.name))
        yield view


_ACTIVATIONS = {
    "gelu": {"approximate": False},
    "gelu_new": {"approximate": True},
    "gelu_pytorch_tanh": {"approximate": True},
}


def _set_activation(backbone: Any, source: HFSource) -> None:
    """Honour config.json's activation: keras-hub's BERT hard-codes tanh-approximate GELU,
    while checkpoints saying `"gelu"` were trained with exact erf GELU."""
    import keras

    name = source.config.get(source.architecture.activation_key, "gelu")
    if name == "relu":
        fn = keras.activations.relu
    elif name in _ACTIVATIONS:
        fn = partial(keras.activations.gelu, **_ACTIVATIONS[name])
    else:
        raise RecipeError(
            source.folder / CONFIG_FILE,
            source.architecture.activation_key,
            "this activation is not supported",
            allowed="gelu, gelu_new, gelu_pytorch_tanh, relu",
            value=name,
        )
    for layer in backbone.layers:
        dense = getattr(layer, "_feedforward_intermediate_dense", None)
        if dense is not None:
            dense.activation = fn


def _st_pooling(folder: Path) -> str | None:
    file = folder / "1_Pooling" / "config.json"
    if not file.is_file():
        return None
    cfg = json.loads(file.read_text())
    if cfg.get("pooling_mode_cls_token"):
        return "cls"
    if cfg.get("pooling_mode_mean_tokens"):
        return "mean"
    raise RecipeError(
        file,
        "pooling_mode",
        "only cls and mean pooling are supported",
        allowed="pooling_mode_cls_token or pooling_mode_mean_tokens",
        value=cfg,
    )


def _st_normalize(folder: Path) -> bool | None:
    file = folder / "modules.json"
    if not file.is_file():
        return None
    return any("Normalize" in m.get("type", "") for m in json.loads(file.read_text()))


def pool(outputs: dict[str, Any], mask: Any, *, pooling: str, normalize: bool) -> Any:
    """Sentence vector from encoder outputs: `mean` over unmasked tokens, `cls`, or `pooler`."""
    import tensorflow as tf

    if pooling == "mean":
        m = tf.cast(mask, outputs["sequence_output"].dtype)[:, :, None]
        summed = tf.reduce_sum(outputs["sequence_output"] * m, axis=1)
        vec = summed / tf.maximum(tf.reduce_sum(m, axis=1), 1e-9)
    elif pooling == "cls":
        vec = outputs["sequence_output"][:, 0, :]
    else:
        vec = outputs["pooled_output"]
    return tf.math.l2_normalize(vec, axis=-1) if normalize else vec


def embedding_settings(recipe: Any, source: HFSource) -> tuple[str, bool]:
    """Pooling and normalisation of the one-piece embedding: the recipe's `export.embedding`,
    with `auto` read from the checkpoint's sentence-transformers config."""
    cfg = recipe.export.embedding
    pooling = cfg.pooling
    if pooling == "auto":
        pooling = source.st_pooling or ("pooler" if source.architecture.has_pooler else "cls")
    normalize = {"yes": True, "no": False, "auto": bool(source.st_normalize)}[cfg.normalize]
    return pooling, normalize
