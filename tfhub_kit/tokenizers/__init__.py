"""Tokenizer settings read from a Hugging Face folder, and the preprocessing graphs built
from them with tensorflow-text ops.

    spec = tokenizer_spec_from_hf(folder, "xlm-roberta")         # plain Python: what the tokenizer is
    pre = build.build_preprocessor(spec, seq_length=128)       # tensorflow-text: a tf.Module to save

Three families, one module each, all giving the same Common API preprocessor
(`tokenize`, `bert_pack_inputs`, `tokenize.get_special_tokens_dict()`, root call):

- `wordpiece` (BERT, DistilBERT): `vocab.txt` and BERT's normaliser.
- `sentencepiece` (XLM-R, ALBERT, ...): the Unigram model of `tokenizer.json`, run by
  tensorflow-text's SentencePiece op, ids mapped to the checkpoint's (fairseq's offset).
- `bytepair` (RoBERTa, BART, GPT-2 style): byte-level BPE from `tokenizer.json`.

The family comes from `tokenizer.json`'s model type (so KLUE's RoBERTa with a WordPiece
vocabulary is a WordPiece model), the packing rule from its post-processor:
`bert` (`[CLS] a [SEP] b [SEP]`, type ids 0/1) or `roberta` (`<s> a </s></s> b </s>`, type
ids all 0).
"""

from tfhub_kit.tokenizers.spec import (
    TOKENIZER_JSON,
    VOCAB_FILE,
    SpecialTokens,
    TokenizerSpec,
    flat_ids,
    hf_vocab,
    tokenizer_spec_from_hf,
)

__all__ = [
    "TOKENIZER_JSON",
    "VOCAB_FILE",
    "SpecialTokens",
    "TokenizerSpec",
    "flat_ids",
    "hf_vocab",
    "tokenizer_spec_from_hf",
]
