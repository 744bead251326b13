"""Cross-field rules of a recipe (what one field allows depends on another) and the files it names.

`resolve_source` finds the checkpoint folder; `data_files` lists every data file with its
dotted field; `check_recipe` runs every rule after the fields themselves were coerced.
"""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

from tfhub_kit.datasets import NLI_FORMATS, STS_FORMATS, TEXT_FORMATS
from tfhub_kit.errors import RecipeError
from tfhub_kit.recipe.schema import (
    MlmObjective,
    ParallelFiles,
    Recipe,
    SourceSection,
    StaticSection,
    TextFile,
    TrainSection,
)


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
    named += [(f"evaluate.mlm[{i}].path", m.path) for i, m in enumerate(recipe.evaluate.mlm)]
    if recipe.evaluate.mlm and not {"encoder", "preprocess"} <= set(recipe.export.saved_models):
        raise RecipeError(
            recipe.file,
            "evaluate.mlm",
            "scores the encoder's mlm signature on the build's own preprocessing",
            allowed="export.saved_models with encoder and preprocess",
            value=list(recipe.export.saved_models),
        )
    _check_scratch_lengths(recipe)
    if recipe.train is not None:
        names = [phase.name for phase in recipe.train.phases]
        if len(set(names)) != len(names):
            raise RecipeError(
                recipe.file, "train.phases", "phase names repeat", allowed="a distinct name each", value=names
            )
        for where, section in recipe.train.phase_sections():
            named += _check_train(recipe, section, where)
    return named


def _check_scratch_lengths(recipe: Recipe) -> None:
    """A network built from scratch has position embeddings for `max_sequence_length`
    pieces: no stage may feed it longer rows."""
    scratch = recipe.source.scratch
    if scratch is None:
        return
    lengths = {"export.seq_length": recipe.export.seq_length}
    if recipe.train is not None:
        lengths["train.seq_length"] = recipe.train.seq_length
    if recipe.pretrain is not None:
        lengths["pretrain.seq_length"] = recipe.pretrain.seq_length
    for dotted, length in lengths.items():
        if length > scratch.max_sequence_length:
            raise RecipeError(
                recipe.file,
                dotted,
                f"is longer than the network's position embeddings "
                f"(source.scratch.max_sequence_length {scratch.max_sequence_length})",
                allowed=f"at most {scratch.max_sequence_length}, or a larger max_sequence_length",
                value=length,
            )


def check_recipe(recipe: Recipe) -> None:
    named = data_files(recipe)
    if recipe.docs.templates is not None:
        _check_templates(recipe)
    for dotted, relative in named:
        try:
            path = recipe.data_path(relative)
        except RecipeError as exc:
            raise RecipeError(recipe.file, dotted, exc.problem, allowed=exc.allowed, value=relative) from exc
        if not path.is_file():
            raise RecipeError(
                recipe.file,
                dotted,
                f"file {recipe.data_path(relative)} does not exist",
                allowed="a data file, relative to the recipe folder",
                value=relative,
            )


def _check_templates(recipe: Recipe) -> None:
    """`docs.templates` is a folder whose .md.j2 files are named like the kit's templates."""
    assert recipe.docs.templates is not None
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


def _check_train(recipe: Recipe, train: TrainSection, where: str = "train") -> list[tuple[str, str]]:
    """Cross-field rules of `train:` (or of one phase, `where`); returns the data files it
    names (field, path)."""
    if (train.steps is None and train.epochs is None) or (train.steps is not None and train.epochs is not None):
        raise RecipeError(
            recipe.file, f"{where}.steps", "give exactly one of steps and epochs", value=[train.steps, train.epochs]
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
    if any(not 8 <= b <= train.seq_length for b in train.seq_buckets):
        raise RecipeError(
            recipe.file,
            f"{where}.seq_buckets",
            "each length must fit the training rows",
            allowed=f"lengths from 8 to seq_length ({train.seq_length})",
            value=list(train.seq_buckets),
        )
    named: list[tuple[str, str]] = [(f"{where}.selection[{i}].path", s.path) for i, s in enumerate(train.selection)]
    names = [s.name for s in train.selection] + [s.name for s in recipe.evaluate.sts]
    if len(set(names)) != len(names):
        raise RecipeError(
            recipe.file,
            f"{where}.selection",
            "a name is used twice among train.selection and evaluate.sts",
            allowed="a distinct name for each set",
            value=names,
        )
    fmts = {"distill": TEXT_FORMATS + STS_FORMATS + NLI_FORMATS, "sts": STS_FORMATS}
    prefix = where
    for i, step in enumerate(train.objectives):
        where = f"{prefix}.objectives[{i}]"
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


def resolve_source(source: SourceSection, file: Path) -> Path:
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
    package = source.package or ""
    spec = importlib.util.find_spec(package) if package.isidentifier() else None
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
