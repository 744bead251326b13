"""Recipes: `models/<publisher>/<model>/recipe.yaml` loaded into frozen dataclasses.

A recipe is data. Every field is checked at load time, so later stages can trust what they
get; each problem raises `RecipeError` naming the file, the dotted field, the value received
and what is allowed.

    recipe = load_recipe("models/tfhub-kit/all_minilm_l6_v2")
    recipe.source_dir   # resolved folder with config.json, weights and tokenizer files

`schema` holds the dataclasses, `coerce` turns YAML into them, `checks` holds the cross-field
rules, `load` reads the file; `reference` renders the field reference for the docs.
"""

from tfhub_kit.recipe.checks import data_files
from tfhub_kit.recipe.load import load_recipe
from tfhub_kit.recipe.schema import (
    DEFAULT_PROBES,
    NAME_RE,
    PUBLISHER_RE,
    RECIPE_FILE,
    SAVED_MODEL_KINDS,
    BitextSet,
    ContrastiveObjective,
    CorpusSection,
    DistillObjective,
    DocsSection,
    EmbeddingSection,
    EvaluateSection,
    ExportSection,
    ExtendVocabSection,
    InfillingObjective,
    MlmObjective,
    MlmSet,
    ModelSection,
    ObjectiveStep,
    OptimizerSection,
    ParallelFiles,
    PhaseSection,
    PretrainSection,
    PruneLayersSection,
    PruneVocabSection,
    PublishSection,
    Recipe,
    RefineSection,
    ScratchSection,
    SilverPairs,
    SourceSection,
    SpeedSection,
    StaticSection,
    StsObjective,
    StsSet,
    TextFile,
    TpuSection,
    TrainSection,
    TransformStep,
    ValidateSection,
)

__all__ = [
    "DEFAULT_PROBES",
    "NAME_RE",
    "PUBLISHER_RE",
    "RECIPE_FILE",
    "SAVED_MODEL_KINDS",
    "BitextSet",
    "ContrastiveObjective",
    "CorpusSection",
    "DistillObjective",
    "DocsSection",
    "EmbeddingSection",
    "EvaluateSection",
    "ExportSection",
    "ExtendVocabSection",
    "InfillingObjective",
    "MlmObjective",
    "MlmSet",
    "ModelSection",
    "ObjectiveStep",
    "OptimizerSection",
    "ParallelFiles",
    "PhaseSection",
    "PretrainSection",
    "PruneLayersSection",
    "PruneVocabSection",
    "PublishSection",
    "Recipe",
    "RefineSection",
    "ScratchSection",
    "SilverPairs",
    "SourceSection",
    "SpeedSection",
    "StaticSection",
    "StsObjective",
    "StsSet",
    "TextFile",
    "TpuSection",
    "TrainSection",
    "TransformStep",
    "ValidateSection",
    "data_files",
    "load_recipe",
]
