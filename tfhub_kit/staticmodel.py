"""The static text-embedding model: its TF Hub SavedModel root and model2vec's folder format.

    root = static_embedding_module(table)        # strings[b] -> float32 [b, dim], Reusable
    tf.saved_model.save(root, "embedding/", signatures={"serving_default": root.serving_default})
    write_model2vec_folder(table, "model2vec/", teacher="all-MiniLM-L6-v2")

A sentence is tokenized with the teacher's rules over the table's vocabulary (WordPiece:
custom words are whole-word entries, so greedy longest-match takes them first;
SentencePiece and BPE: with a space before the text, as model2vec does); its vector
is the mean of the rows of its first `max_tokens` tokens with [UNK] dropped (zeros if none
are left), L2-normalised if the table says so. That is what model2vec's `StaticModel.encode`
computes, except that model2vec also cuts very long texts to max_tokens x the median token
length in characters before tokenizing.

The table is one trainable variable: `hub.KerasLayer(url, trainable=True)` fine-tunes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tfhub_kit.files import write_json_atomic
from tfhub_kit.savedmodel import reusable_root, with_text_embedding_calls
from tfhub_kit.tokenizers import TokenizerSpec, flat_ids
from tfhub_kit.tokenizers.build import build_tokenize

MODEL2VEC_FILES = ("model.safetensors", "tokenizer.json", "config.json")


@dataclass(frozen=True)
class Pca:
    """The projection fitted on the unweighted token vectors: scores = (x - mean) @ components."""

    mean: np.ndarray
    components: np.ndarray  # [width, dims]
    explained_variance_ratio: float


@dataclass(frozen=True)
class StaticTable:
    """A static embedding model: one row per token, the teacher's tokenization rules over
    `tokens` (written to `tokenizer.vocab_file`) and how sentences are pooled."""

    tokens: tuple[str, ...]
    vectors: np.ndarray
    tokenizer: TokenizerSpec
    normalize: bool
    max_tokens: int
    pca: Pca | None
    settings: dict[str, Any]
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def unk_id(self) -> int:
        return self.tokens.index(self.tokenizer.special.unk)

    def with_vectors(self, vectors: np.ndarray, **report: Any) -> StaticTable:
        return replace(self, vectors=vectors.astype(np.float32), report={**self.report, **report})


def static_embedding_module(table: StaticTable) -> Any:
    """The text-embedding SavedModel root for `table`: `__call__(sentences, training)`,
    `serving_default`, `variables`, `trainable_variables`, `regularization_losses`."""
    import tensorflow as tf

    embeddings = tf.Variable(table.vectors, trainable=True, name="embeddings")
    root = reusable_root([embeddings], [embeddings])
    root.embeddings = embeddings
    root.tokenize = build_tokenize(table.tokenizer)
    unk_id, max_tokens, normalize = table.unk_id, table.max_tokens, table.normalize

    @tf.function
    def call(sentences: tf.Tensor, training: bool = False) -> tf.Tensor:
        del training  # a lookup table behaves the same in training
        ids = sentence_token_ids(root.tokenize, sentences, unk_id=unk_id, max_tokens=max_tokens)
        vectors = mean_rows(root.embeddings, ids)
        return tf.math.l2_normalize(vectors, axis=-1) if normalize else vectors

    return with_text_embedding_calls(root, call)


def sentence_token_ids(tokenize: Any, sentences: Any, *, unk_id: int, max_tokens: int) -> Any:
    """int32 RaggedTensor [b, (tokens)]: the first `max_tokens` tokens, [UNK] dropped."""
    import tensorflow as tf

    ids = flat_ids(tokenize(sentences))[:, :max_tokens]
    return tf.ragged.boolean_mask(ids, tf.not_equal(ids, unk_id))


def mean_rows(table: Any, ids: Any) -> Any:
    """float32 [b, dim]: the mean of each sentence's rows of `table` (zeros for no tokens)."""
    import tensorflow as tf

    rows = tf.gather(table, ids.flat_values)
    sums = tf.math.segment_sum(rows, ids.value_rowids())  # row ids are sorted: ~2x the unsorted op
    sums = tf.pad(sums, [[0, ids.nrows() - tf.shape(sums, out_type=tf.int64)[0]], [0, 0]])  # trailing empties
    counts = tf.cast(ids.row_lengths(), rows.dtype)[:, None]
    return sums / tf.maximum(counts, 1.0)


def write_model2vec_folder(table: StaticTable, folder: str | Path, *, teacher: str) -> Path:
    """model2vec's format: `model.safetensors` ("embeddings", float32), `tokenizer.json`
    (HF tokenizers: the teacher's BERT normaliser and pre-tokenizer, WordPiece over the
    table's tokens, no special-token template) and `config.json`. Loads with
    `model2vec.StaticModel.from_pretrained(folder)`."""
    import numpy as np
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"embeddings": np.ascontiguousarray(table.vectors, dtype=np.float32)}, str(folder / "model.safetensors"))
    write_json_atomic(folder / "tokenizer.json", hf_tokenizer_json(table))
    config = {
        "model_type": "model2vec",
        "architectures": ["StaticModel"],
        "tokenizer_name": teacher,
        "apply_pca": table.settings["pca_dims"],
        "sif_coefficient": table.settings["sif_coefficient"],
        "hidden_dim": table.dim,
        "seq_length": 1000000,
        "normalize": table.normalize,
        "pooling": "mean",
        "max_length": table.max_tokens,
        "embedding_dtype": "float32",
    }
    write_json_atomic(folder / "config.json", config)
    return folder


def hf_tokenizer_json(table: StaticTable) -> dict[str, Any]:
    """A Hugging Face `tokenizers` definition that tokenizes exactly as the SavedModel does."""
    spec = table.tokenizer
    if spec.family != "wordpiece":
        return spec.tokenizer_json
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        # No added tokens: HF would match "[UNK]" typed in the text as the special token,
        # which tensorflow-text does not; without them both split it into "[", "unk", "]".
        "added_tokens": [],
        "normalizer": {
            "type": "BertNormalizer",
            "clean_text": True,
            "handle_chinese_chars": spec.split_cjk,
            "strip_accents": spec.strip_accents,
            "lowercase": spec.lower_case,
        },
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": None,
        "decoder": {"type": "WordPiece", "prefix": spec.suffix_indicator, "cleanup": True},
        "model": {
            "type": "WordPiece",
            "unk_token": spec.special.unk,
            "continuing_subword_prefix": spec.suffix_indicator,
            "max_input_chars_per_word": spec.max_chars_per_word,
            "vocab": {tok: i for i, tok in enumerate(table.tokens)},
        },
    }
