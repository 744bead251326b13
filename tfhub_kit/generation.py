"""BART's `text_generation` SavedModel: strings in, strings out, greedy decoding.

    gen = hub.load("build/<publisher>/<model>/<version>/text_generation")
    gen(tf.constant(["a man is [MASK] a guitar ."]))   # -> [b"a man is playing a guitar ."]

The mask token written in the text (`[MASK]`, or the tokenizer's own) marks a span to fill.
The text is tokenized by the kit's tensorflow-text tokenizer (the preprocessing
SavedModel's ops), packed `[CLS] text [SEP]` to `seq_length`, encoded, and the decoder
writes the reconstruction one token at a time from the start token until `[SEP]` or
`max_length` tokens; the pieces are joined back into text (WordPiece `##`, SentencePiece
`▁`). Every step runs the whole decoder on a fixed-shape `[batch, max_length]` buffer:
no cache, so shapes stay static (XLA/TPU-friendly) at the cost of recomputing the prefix,
which is cheap at the lengths this model is for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tfhub_kit.errors import ExportError
from tfhub_kit.tokenizers import TokenizerSpec, flat_ids
from tfhub_kit.tokenizers.build import build_tokenize

STRINGS = tf.TensorSpec([None], tf.string, name="inputs")


class TextGenerator(tf.Module):
    """`gen(strings[b]) -> strings[b]`; `gen.generate_ids(strings)` gives the token ids."""

    def __init__(self, backbone: Any, spec: TokenizerSpec, *, seq_length: int, max_length: int) -> None:
        super().__init__(name="text_generation")
        if spec.family not in ("wordpiece", "sentencepiece"):
            raise ExportError(f"text_generation joins WordPiece or SentencePiece pieces, not {spec.family} ones")
        self.backbone = backbone
        self.tokenize = build_tokenize(spec)
        ids = spec.special_ids()
        self._cls, self._sep, self._pad = ids["start_of_sequence_id"], ids["end_of_segment_id"], ids["padding_id"]
        self._mask_id, self._mask_text = ids["mask_id"], spec.special.mask
        self.seq_length, self.max_length = seq_length, max_length
        vocab = spec.vocab()
        self._pieces = tf.constant(vocab)
        special = {ids[k] for k in ("start_of_sequence_id", "end_of_segment_id", "padding_id")}
        self._keep = tf.constant(np.array([i not in special for i in range(len(vocab))]))
        self._family = spec.family
        self._suffix = spec.suffix_indicator

    @tf.function(input_signature=[STRINGS])
    def __call__(self, inputs: tf.Tensor) -> tf.Tensor:
        return self.detokenize(self.generate_ids(inputs))

    @property
    def serving_default(self) -> Any:
        """The `serving_default` signature: {"outputs": strings[b]}."""
        return self._serve.get_concrete_function()

    @tf.function(input_signature=[STRINGS])
    def _serve(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": self.__call__(inputs)}

    @tf.function(input_signature=[STRINGS])
    def generate_ids(self, inputs: tf.Tensor) -> tf.Tensor:
        """Greedy decoding: [batch, max_length] ids, the start token first, padding after `[SEP]`."""
        encoder_ids, encoder_mask = self.encode_inputs(inputs)
        batch = tf.shape(inputs)[0]
        decoded = tf.concat([tf.fill([batch, 1], self._sep), tf.fill([batch, self.max_length - 1], self._pad)], axis=1)
        done = tf.zeros([batch], tf.bool)
        position = tf.range(self.max_length)[None, :]
        for i in tf.range(self.max_length - 1):
            out = self.backbone(
                {
                    "encoder_token_ids": encoder_ids,
                    "encoder_padding_mask": encoder_mask,
                    "decoder_token_ids": decoded,
                    "decoder_padding_mask": tf.cast(position <= i, tf.int32) * tf.ones([batch, 1], tf.int32),
                },
                training=False,
            )
            hidden = out["decoder_sequence_output"][:, i, :]
            logits = self.backbone.token_embedding(hidden, reverse=True)
            token = tf.where(done, self._pad, tf.argmax(logits, axis=-1, output_type=tf.int32))
            decoded = tf.where(position == i + 1, token[:, None], decoded)
            done = done | tf.equal(token, self._sep)
        return decoded

    def encode_inputs(self, inputs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """`[CLS] text [SEP]` ids and mask [batch, seq_length]; each written mask token
        becomes the mask id (the text between them is tokenized as usual)."""
        parts = tf.strings.split(inputs, sep=self._mask_text)  # [b, (k)]
        tokens = flat_ids(self.tokenize(parts.flat_values))  # [n, (t)]
        index = tf.range(tf.shape(parts.flat_values, out_type=tf.int64)[0])
        last = tf.equal(index, tf.gather(parts.row_splits[1:], parts.value_rowids()) - 1)
        masks = tf.ragged.boolean_mask(tf.fill([tf.shape(last)[0], 1], self._mask_id), tf.logical_not(last)[:, None])
        pieces = tf.concat([tf.cast(tokens, tf.int32), masks], axis=1)
        rows = tf.RaggedTensor.from_row_splits(pieces, parts.row_splits).merge_dims(1, 2)
        rows = rows[:, : self.seq_length - 2]
        batch = tf.shape(inputs)[0]
        cls = tf.fill([batch, 1], self._cls)
        sep = tf.fill([batch, 1], self._sep)
        packed = tf.concat([cls, rows, sep], axis=1)
        ids = packed.to_tensor(default_value=self._pad, shape=[None, self.seq_length])
        mask = tf.ones_like(packed).to_tensor(default_value=0, shape=[None, self.seq_length])
        return ids, mask

    def detokenize(self, ids: tf.Tensor) -> tf.Tensor:
        """Join the generated pieces (specials and padding dropped) back into text."""
        kept = tf.ragged.boolean_mask(ids, tf.gather(self._keep, ids))
        pieces = tf.gather(self._pieces, kept)
        if self._family == "wordpiece":
            text = tf.strings.reduce_join(pieces, axis=1, separator=" ")
            text = tf.strings.regex_replace(text, " " + _escape(self._suffix), "")
        else:
            text = tf.strings.reduce_join(pieces, axis=1)
            text = tf.strings.regex_replace(text, "\u2581", " ")
        return tf.strings.strip(text)


def _escape(text: str) -> str:
    return "".join("\\" + c if not c.isalnum() else c for c in text)
