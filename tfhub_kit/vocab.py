"""Learn a WordPiece vocabulary from text files with tensorflow-text's vocabulary learner.

    vocab = learn_wordpiece_vocab(["a.txt", "b.txt"], vocab_size=8000)

Text is normalised exactly as the kit's preprocessor will normalise it (lowercase and
accent stripping by default) before the learner splits it into words, so the vocabulary
fits the tokenizer that will use it. Special tokens come first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def learn_wordpiece_vocab(
    files: Sequence[str | Path], *, vocab_size: int, lower_case: bool = True, strip_accents: bool | None = None
) -> list[str]:
    import tensorflow as tf
    from tensorflow_text.tools.wordpiece_vocab.bert_vocab_from_dataset import bert_vocab_from_dataset

    from tfhub_kit.tokenizers import SpecialTokens, TokenizerSpec
    from tfhub_kit.tokenizers.wordpiece import normalize

    spec = TokenizerSpec(
        vocab_file=Path("unused"),
        lower_case=lower_case,
        strip_accents=lower_case if strip_accents is None else strip_accents,
        special=SpecialTokens(),
    )
    dataset = tf.data.TextLineDataset([str(f) for f in files]).batch(1024).map(lambda t: normalize(t, spec))
    return bert_vocab_from_dataset(
        dataset,
        vocab_size=vocab_size,
        reserved_tokens=list(SPECIAL_TOKENS),
        bert_tokenizer_params={"lower_case": False},
        learn_params={},
    )


def write_vocab(tokens: Sequence[str], path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    tmp.replace(path)
