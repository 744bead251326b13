"""Render a build's tfhub.dev markdown and Kaggle model card from the Jinja templates.

Writes `docs/assets/docs/<publisher>/...` laid out as in the tfhub.dev repository (ready for
a pull request): the publisher page, one page per SavedModel, a collection page if the
recipe names one, and `docs/kaggle/<model>.md`. Templates are the Jinja files of the top-level
`templates/` folder (the package `tfhub_kit.templates` once installed), rendered with
StrictUndefined; a recipe's `docs.templates` folder overrides them by name. The result is
linted by `tfhub_kit.docs.lint` before it replaces the previous docs.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tfhub_kit import __version__
from tfhub_kit.docs.lint import allowed_tag_values, lint_tree
from tfhub_kit.errors import BuildLayoutError, DocsError
from tfhub_kit.layout import (
    BuildLayout,
    model_names,
    model_path,
    recover_stale,
    results_png_path,
    swap_into_place,
)
from tfhub_kit.locks import writer_lock
from tfhub_kit.manifest import Manifest
from tfhub_kit.plots import RESULTS_PNG
from tfhub_kit.progress import reporter

TASKS = {
    "embedding": ["text-embedding"],
    "encoder": ["text-embedding"],
    "preprocess": ["text-preprocessing"],
    "text_generation": ["text-generation"],
}
SUMMARIES = {
    "embedding": "strings -> sentence embeddings, in one piece",
    "encoder": "the transformer encoder (Common SavedModel API for text)",
    "preprocess": "strings -> encoder inputs (tokenize, bert_pack_inputs)",
    "text_generation": "strings -> strings, mask spans filled (greedy decoding)",
}


@dataclass(frozen=True)
class DocsResult:
    root: Path
    files: list[Path]


def render_docs(
    build_dir: str | Path, *, asset_base: str | None = None, progress: Callable[[str], None] | None = None
) -> DocsResult:
    """Render every doc for the build into `<build>/docs/`, lint it, and return the files.

    `asset_base` is the URL the tarballs are served from; it defaults to the recipe's
    `publish.public_url_base`, else `https://storage.googleapis.com/<bucket>/<prefix>` of
    `publish.gcs`.
    """
    say = reporter(progress)
    layout = BuildLayout(Path(build_dir))
    manifest = layout.read_manifest()
    base = (asset_base or default_asset_base(manifest)).rstrip("/")
    results_file = layout.root / "results.json"
    try:
        results = json.loads(results_file.read_text()) if results_file.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BuildLayoutError(f"{results_file}: not valid JSON ({exc}); re-run `tfhub-kit evaluate`") from exc
    picture = f"{base}/{results_png_path(manifest)}" if (layout.root / RESULTS_PNG).is_file() else None
    pages = doc_pages(manifest, results, base, picture=picture)

    with writer_lock(layout.root, "docs"):
        recover_stale(layout.docs, say)
        tmp = layout.docs.with_name(f".{layout.docs.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            for relative, text in pages.items():
                path = tmp / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                say(f"wrote docs/{relative}")
            errors = lint_tree(tmp)
            if errors:
                raise DocsError(f"{layout.root}: the generated docs break tfhub.dev's rules:", errors)
            swap_into_place(tmp, layout.docs)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return DocsResult(root=layout.docs, files=sorted(layout.docs / p for p in pages))


def default_asset_base(manifest: Manifest) -> str:
    publish = manifest.publish or {}
    if publish.get("public_url_base"):
        return publish["public_url_base"]
    if publish.get("gcs"):
        return "https://storage.googleapis.com/" + publish["gcs"][len("gs://") :].strip("/")
    raise DocsError(
        "docs need the URL the tarballs will be served from: set publish.gcs or publish.public_url_base "
        "in the recipe (and re-export), or pass --asset-base URL"
    )


def doc_pages(
    manifest: Manifest, results: dict[str, Any] | None, base: str, *, picture: str | None = None
) -> dict[str, str]:
    """{path relative to docs/: markdown} for every page of this build; `picture` is the
    public URL of evaluate's results.png, linked where the results are."""
    model = manifest.model
    docs = manifest.docs or {}
    pub, version = model["publisher"], model["version"]
    names = model_names(manifest)
    related = {
        kind: {"handle": f"{pub}/{name}/{version}", "url": f"{base}/{model_path(manifest, kind)}"}
        for kind, name in names.items()
    }
    env = _environment(docs.get("templates"))
    common = _common_context(manifest, results, docs) | {"results_png": picture if results else None}
    pages: dict[str, str] = {}
    for kind, name in names.items():
        context = {
            **common,
            **_kind_context(manifest, kind),
            "handle": related[kind]["handle"],
            "asset_path": related[kind]["url"],
            "tasks": TASKS[kind],
            "fine_tunable": kind != "preprocess",
            "network_architectures": [] if kind == "preprocess" else common["network_architectures"],
            "related": {k: v for k, v in related.items() if k != kind} | {k: None for k in TASKS if k not in related},
            "example": usage_example(kind, {k: v["url"] for k, v in related.items()}),
            "results": results if kind != "preprocess" else None,
        }
        pages[f"assets/docs/{pub}/models/{name}/{version}.md"] = env.get_template(f"{kind}.md.j2").render(context)
    pages[f"assets/docs/{pub}/{pub}.md"] = env.get_template("publisher.md.j2").render(
        publisher=pub,
        publisher_name=docs.get("publisher_name") or pub,
        publisher_description=docs.get("publisher_description") or f"Models published by {pub}.",
        publisher_icon=docs.get("publisher_icon"),
    )
    if docs.get("collection"):
        pages[f"assets/docs/{pub}/collections/{docs['collection']}/1.md"] = env.get_template("collection.md.j2").render(
            handle=f"{pub}/{docs['collection']}/1",
            description=f"{model['name']} and its parts: {', '.join(names)}.",
            tasks=["text-embedding"],
            languages=model["languages"],
            overview=common["overview"],
            models=[{"handle": related[k]["handle"], "summary": SUMMARIES[k]} for k in names],
        )
    main_kind = next(iter(names))
    pages[f"kaggle/{model['name']}.md"] = env.get_template("kaggle.md.j2").render(
        **common,
        name=model["name"],
        variations=[{"handle": related[k]["handle"], "summary": SUMMARIES[k]} for k in names],
        parameters=manifest.saved_models.get("encoder", manifest.saved_models[main_kind]).get("parameters")
        or {"total": 0, "word_embeddings": 0},
        example=usage_example(main_kind, {k: v["url"] for k, v in related.items()}),
        keras=_keras_context(manifest),
    )
    return pages


def _keras_context(manifest: Manifest) -> dict[str, Any] | None:
    """The Kaggle card's Keras 3 section: where the preset loads from and how it differs."""
    preset = manifest.keras_preset
    if not preset:
        return None
    kaggle = (manifest.publish or {}).get("kaggle")
    handle = kaggle.replace("/tensorFlow2/", "/keras/") if kaggle else preset["path"]
    return {
        "handle": handle,
        "backbone": preset["backbone"],
        "tokenizer": preset["tokenizer"],
        "note": preset.get("note"),
        "example": (
            "import keras_hub\n\n"
            f'backbone = keras_hub.models.Backbone.from_preset("{handle}")\n'
            f'classifier = keras_hub.models.TextClassifier.from_preset("{handle}", num_classes=2)\n'
            'classifier.fit(["A great film.", "A dull film."], [1, 0], batch_size=2)'
        ),
    }


def usage_example(kind: str, urls: dict[str, str]) -> str:
    """Python that loads and calls the model at `urls[kind]`, as a user would."""
    head = (
        "import tensorflow as tf\n"
        "import tensorflow_hub as hub\n"
        "import tensorflow_text  # noqa: F401  (registers the ops the preprocessing uses)\n"
    )
    if kind == "embedding":
        return (
            head + "import tf_keras  # hub.KerasLayer is a tf_keras layer on TensorFlow >= 2.16\n\n"
            f'embed = hub.KerasLayer("{urls["embedding"]}")\n'
            'sentences = tf.constant(["A man is playing a guitar.", "Someone plays an instrument."])\n'
            "text = tf_keras.Input(shape=(), dtype=tf.string)\n"
            "model = tf_keras.Model(text, embed(text))\n"
            "vectors = model(sentences)\n"
            'print("embeddings:", vectors.shape)\n'
            'print("cosine:", float(tf.reduce_sum(tf.math.l2_normalize(vectors[0], -1) * tf.math.l2_normalize(vectors[1], -1))))'
        )
    if kind == "text_generation":
        return (
            head + "\n"
            f'model = hub.load("{urls["text_generation"]}")\n'
            'print(model(tf.constant(["a man is [MASK] a guitar ."])).numpy())'
        )
    if kind == "encoder":
        return (
            head + "import tf_keras  # hub.KerasLayer is a tf_keras layer on TensorFlow >= 2.16\n\n"
            f'preprocess = hub.KerasLayer("{urls["preprocess"]}")\n'
            f'encoder = hub.KerasLayer("{urls["encoder"]}", trainable=True)\n'
            "text = tf_keras.Input(shape=(), dtype=tf.string)\n"
            "outputs = encoder(preprocess(text))\n"
            'model = tf_keras.Model(text, outputs["pooled_output"])\n'
            'print("pooled_output:", model(tf.constant(["Hello TF Hub!", "How are you?"])).shape)'
        )
    return (
        head + "\n"
        f'preprocess = hub.load("{urls["preprocess"]}")\n'
        'inputs = preprocess(tf.constant(["Hello TF Hub!"]))\n'
        'print("input_word_ids:", inputs["input_word_ids"].shape)\n'
        'tokens = preprocess.tokenize(tf.constant(["first segment", "second segment"]))\n'
        "packed = preprocess.bert_pack_inputs([tokens[:1], tokens[1:]], seq_length=16)\n"
        'print("packed:", packed["input_type_ids"].numpy().tolist())'
    )


def _environment(overrides: str | None = None) -> Any:
    """Jinja with the kit's templates; a recipe's `docs.templates` folder wins by name."""
    import jinja2

    loader: Any = jinja2.FileSystemLoader(str(resources.files("tfhub_kit.templates")))
    if overrides:
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(overrides), loader])
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["basename"] = lambda path: Path(path).name
    return env


def _common_context(manifest: Manifest, results: dict[str, Any] | None, docs: dict[str, Any]) -> dict[str, Any]:
    model = manifest.model
    return {
        "description": model["description"],
        "overview": docs.get("overview") or model["description"],
        "license": model["license"],
        # tfhub.dev knows a short list of licenses; any other is tagged `custom` and named in the page
        "license_tag": model["license"] if model["license"] in allowed_tag_values()["license"] else "custom",
        "languages": model["languages"],
        "datasets": docs.get("datasets") or [],
        "network_architectures": docs.get("network_architecture") or [manifest.source["network_architecture"]],
        "colab": docs.get("colab"),
        "references": docs.get("references") or [],
        "kit_version": __version__,
        "tf_version": manifest.versions["tensorflow"],
        "recipe_sha256": manifest.recipe["sha256"],
        "seq_length": manifest.seq_length,
        "vocab_size": manifest.vocab_size,
        "results": results,
        "training": manifest.training,
    }


def _kind_context(manifest: Manifest, kind: str) -> dict[str, Any]:
    info = manifest.saved_models[kind]
    encoder = manifest.saved_models.get("encoder", {})
    embedding = manifest.saved_models.get("embedding", {})
    dims = encoder.get("signatures", {}).get("serving_default", {}).get("outputs", {}).get("pooled_output", {})
    family = manifest.tokenizer["family"]
    return {
        "bytes": info["bytes"],
        "parameters": info.get("parameters") or encoder.get("parameters") or {},
        "dim": embedding.get("dim") or (dims.get("shape") or [None, None])[-1],
        "num_layers": encoder.get("num_layers"),
        "mlm": bool(encoder.get("mlm")),
        "vocab_size": manifest.vocab_size,
        "pooling": embedding.get("pooling"),
        "normalize": embedding.get("normalize"),
        "static": embedding.get("static"),
        "pooled_description": "a tanh pooler over the first token"
        if manifest.source["model_type"] in ("bert", "albert")
        else "the first token's vector",
        "tokenizer_description": f"{_FAMILY_NAMES[family]} tokenization ({manifest.source['model_type']} rules)",
        "family": family,
        "family_name": _FAMILY_NAMES[family],
        "packing": _PACKING_TEXT[manifest.tokenizer["packing"]],
        "token_shape": "(words), (pieces)" if family in ("wordpiece", "bytepair") else "(pieces)",
        "max_length": info.get("max_length"),
        "mask_token": info.get("mask_token", "[MASK]"),
    }


_FAMILY_NAMES = {"wordpiece": "WordPiece", "sentencepiece": "SentencePiece", "bytepair": "byte-level BPE"}
_PACKING_TEXT = {
    "bert": "`[CLS] segment_1 [SEP] segment_2 [SEP]` with type ids 0 for the first segment and 1, 2 for the next",
    "roberta": "`<s> segment_1 </s></s> segment_2 </s>` with type ids all 0",
}
