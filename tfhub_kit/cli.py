"""The `tfhub-kit` command line: a thin click layer over the library.

Each command parses options, calls one library function and prints its result. Any error
becomes one `Error:` line on stderr and an exit code (tfhub_kit/errors.py has the table:
1 a check failed, 2 bad recipe or usage, 3 the environment, 4 a corrupt build, 5 a kit bug);
set TFHUB_KIT_DEBUG=1 to see the traceback instead. Progress goes through `logging` to
stderr (`--quiet` keeps warnings and errors only).

Conventions every command keeps: `--out` is a folder (the build root, or the folder a
vocabulary is written to); `--fresh` starts over (a new training run, a new export);
`--force` ships what the release gate would refuse, with a warning.

Commands import their stage inside the command: the stages that build graphs import
TensorFlow, which takes seconds, and `tfhub-kit --help` should not wait for it. The module
is over 500 lines because it is the whole command line, one short function per command.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tfhub_kit import __version__
from tfhub_kit.errors import EXIT_KIT_BUG, MAX_VALUE_CHARS, TfhubKitError, environment_error, shorten
from tfhub_kit.progress import configure_cli_logging, logger, reset_cli_logging


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _say(message: str) -> None:
    logger.info(message)


def _warn(message: str) -> None:
    logger.warning(message)


def _handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("Error: interrupted; finished files were kept, unfinished ones removed", err=True)
            sys.exit(130)
        except TfhubKitError as exc:
            if os.environ.get("TFHUB_KIT_DEBUG"):
                raise
            click.echo(f"Error: {_one_line(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        except Exception as exc:  # a kit bug: still one line, not a traceback, and its own exit code
            if os.environ.get("TFHUB_KIT_DEBUG"):
                raise
            env = environment_error(exc)
            if env is not None:  # the machine, not the kit: a full disk, a read-only folder, a port in use
                click.echo(f"Error: {_one_line(str(env))}", err=True)
                sys.exit(env.exit_code)
            click.echo(
                f"Error: unexpected {type(exc).__name__}: {shorten(_one_line(str(exc)), 2 * MAX_VALUE_CHARS)} "
                "(a tfhub-kit bug: TFHUB_KIT_DEBUG=1 shows the traceback; please report it)",
                err=True,
            )
            sys.exit(EXIT_KIT_BUG)

    return wrapper


def _one_line(message: str) -> str:
    """The message on one line (multi-line library messages joined with ' | ')."""
    return " | ".join(line.strip() for line in message.strip().splitlines() if line.strip())


@click.group()
@click.version_option(__version__, prog_name="tfhub-kit")
@click.option("--quiet", "-q", is_flag=True, help="Print results, warnings and errors only (no progress).")
@click.pass_context
def main(ctx: click.Context, quiet: bool) -> None:
    """Turn text encoders into published TensorFlow Hub models.

    \b
    Example:
      tfhub-kit recipe check models/tfhub-kit/all_minilm_l6_v2
      tfhub-kit export models/tfhub-kit/all_minilm_l6_v2 --out build
    """
    _quiet_tensorflow()
    configure_cli_logging(quiet=quiet)
    ctx.call_on_close(reset_cli_logging)


@main.group()
def recipe() -> None:
    """Inspect recipe folders.

    \b
    Example:
      tfhub-kit recipe check models/tfhub-kit/all_minilm_l6_v2
    """


@recipe.command("check")
@click.argument("recipe_dir", type=click.Path(file_okay=True, dir_okay=True))
@_handle_errors
def recipe_check(recipe_dir: str) -> None:
    """Validate RECIPE_DIR/recipe.yaml and the checkpoint it names, without loading weights.

    \b
    Example:
      tfhub-kit recipe check models/tfhub-kit/all_minilm_l6_v2
    """
    from tfhub_kit.networks import inspect_source
    from tfhub_kit.recipe import load_recipe

    loaded = load_recipe(recipe_dir)
    source = inspect_source(loaded)
    click.echo(
        f"ok: {loaded.handle} ({source.architecture.model_type} from {source.folder}; "
        f"exports {', '.join(loaded.export.saved_models)}; seq_length {loaded.export.seq_length})"
    )


@main.command()
@click.argument("recipe_dir", type=click.Path(file_okay=True, dir_okay=True))
@click.option("--out", "out_dir", default="build", show_default=True, type=click.Path(), help="Build root.")
@click.option("--fresh", is_flag=True, help="Export even if the build was made from the same inputs.")
@_handle_errors
def export(recipe_dir: str, out_dir: str, fresh: bool) -> None:
    """Convert the recipe's checkpoint and write TF Hub SavedModels + manifest.json.

    Writes OUT/<publisher>/<model>/<version>/ atomically (a previous build there is replaced).
    A build exported from the same inputs (recipe, checkpoint and data files, training run,
    kit and library versions) is reused in a second; --fresh exports anyway.

    \b
    Example:
      tfhub-kit export models/tfhub-kit/all_minilm_l6_v2 --out build
    """
    from tfhub_kit.export import export_recipe

    result = export_recipe(recipe_dir, out_dir=out_dir, fresh=fresh)
    for kind, info in result.manifest.saved_models.items():
        click.echo(f"{result.layout.saved_model(kind)}  ({info['bytes'] / 1e6:.1f} MB)")
    click.echo(str(result.layout.manifest_file))


_ALLOW_CODE_OPTION = click.option(
    "--allow-code",
    is_flag=True,
    help="Run the Python teachers (python:MODULE:FACTORY) the recipe names: their code runs on this machine.",
)


@main.command()
@click.argument("recipe_dir", type=click.Path(file_okay=True, dir_okay=True))
@click.option("--out", "out_dir", default="build", show_default=True, type=click.Path(), help="Build root.")
@click.option("--fresh", is_flag=True, help="Start over instead of resuming the run's latest checkpoint.")
@_ALLOW_CODE_OPTION
@_handle_errors
def train(recipe_dir: str, out_dir: str, fresh: bool, allow_code: bool) -> None:
    """Train the recipe's network (its train: section) on tf.distribute; resume if interrupted.

    Checkpoints, TensorBoard logs and train.json go to OUT/<publisher>/<model>/runs/<run-id>/;
    rerunning resumes from the latest checkpoint. `tfhub-kit export` then takes the best
    (or last) checkpoint. On several workers, run the same command on each with TF_CONFIG set.

    \b
    Example:
      tfhub-kit train models/tfhub-kit/all_minilm_l3_distilled
      tensorboard --logdir build/tfhub-kit/all_minilm_l3_distilled/runs
    """
    from tfhub_kit.train import train_recipe

    result = train_recipe(recipe_dir, out_dir=out_dir, fresh=fresh, allow_code=allow_code)
    best = result.summary.get("best")
    if best:
        click.echo(f"best at step {best['step']}: " + ", ".join(f"{k} {v:.2f}" for k, v in best["scores"].items()))
    click.echo(str(result.run_dir / "train.json"))


@main.group()
def data() -> None:
    """Prepare pretraining data.

    \b
    Example:
      tfhub-kit data prepare models/tfhub-kit/all_minilm_l6_v2_mlm
    """


@data.command("prepare")
@click.argument("recipe_dir", type=click.Path(file_okay=True, dir_okay=True))
@click.option("--out", "out_dir", default="build", show_default=True, type=click.Path(), help="Build root.")
@_handle_errors
def data_prepare(recipe_dir: str, out_dir: str) -> None:
    """Tokenize the recipe's pretrain.corpus into fixed-length TFRecord shards.

    Shards and corpus.json go to OUT/<publisher>/<model>/corpus/; rerunning reuses the shards
    of corpus files that did not change.

    \b
    Example:
      tfhub-kit data prepare models/tfhub-kit/all_minilm_l6_v2_mlm
    """
    from tfhub_kit.build import tokenizer_source
    from tfhub_kit.pretrain.corpus import MANIFEST, prepare_corpus
    from tfhub_kit.recipe import load_recipe

    recipe = load_recipe(recipe_dir)
    with tokenizer_source(recipe, out_dir=out_dir) as source:  # cut with the network's vocabulary
        prepared = prepare_corpus(recipe, out_dir=out_dir, source=source)
    click.echo(str(prepared.folder / MANIFEST))


@main.command()
@click.argument("build_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--tolerance", type=float, default=None, help="Max abs difference allowed on the probe outputs.")
@click.option("--no-consumers", is_flag=True, help="Skip the clean-subprocess load checks.")
@_handle_errors
def validate(build_dir: str, tolerance: float | None, no_consumers: bool) -> None:
    """Check a build's SavedModels against TF Hub's contracts; write validation.json.

    Exits 1 if any check fails; each failure names the SavedModel, the check, what was
    expected and what was found. The tolerance defaults to the recipe's validate.tolerance.

    \b
    Example:
      tfhub-kit validate build/tfhub-kit/all_minilm_l6_v2/1
    """
    from tfhub_kit.validate import validate_build

    report = validate_build(build_dir, tolerance=tolerance, consumers=not no_consumers)
    width = max(len(r.check) for r in report.results)
    for r in report.results:
        status = "pass" if r.passed else "FAIL"
        detail = "" if r.passed else f"  expected {r.expected}; found {r.found}"
        click.echo(f"{r.saved_model:<11} {r.check:<{width}}  {status}  {r.seconds:5.1f}s{detail}")
    passed = len(report.results) - len(report.failures)
    click.echo(f"{passed} passed, {len(report.failures)} failed  ({report.build_dir}/validation.json)")
    if not report.ok:
        first = report.failures[0]
        click.echo(
            f"Error: {len(report.failures)} checks failed in {report.build_dir}, first {first.saved_model}/{first.check}: "
            f"expected {first.expected}; found {first.found}",
            err=True,
        )
        sys.exit(1)


@main.command()
@click.argument("build_dir", type=click.Path(exists=True, file_okay=False))
@_handle_errors
def evaluate(build_dir: str) -> None:
    """Measure STS, bitext retrieval, masked LM, speed and size; write results.json.

    Exits 1 if a figure misses a threshold from the recipe's evaluate section, naming the
    figure and the bar.

    \b
    Example:
      tfhub-kit evaluate build/tfhub-kit/all_minilm_l6_v2/1
    """
    from tfhub_kit.evaluate import evaluate_build

    report = evaluate_build(build_dir)
    res = report.results
    for name, f in res["sts"].items():
        click.echo(
            f"sts     {name:<24} spearman {f['spearman']:6.2f}  pearson {f['pearson']:6.2f}  ({f['pairs']} pairs)"
        )
    for name, f in res["bitext"].items():
        click.echo(
            f"bitext  {name:<24} accuracy {f['average']:6.2f}  "
            f"(->{f['source_to_target']:.2f} <-{f['target_to_source']:.2f}, {f['pairs']} pairs)"
        )
    for name, f in res.get("mlm", {}).items():
        click.echo(
            f"mlm     {name:<24} accuracy {f['accuracy']:6.2f}  "
            f"(most frequent piece {f['baseline']:.2f}, {f['masked']} masked pieces)"
        )
    if "speed" in res:
        speed = res["speed"]
        click.echo(f"speed   {speed['sentences_per_second']:.1f} sentences/s at batch {speed['batch_size']}")
    for gate in report.gates:
        mark = "pass" if gate.passed else "FAIL"
        click.echo(f"gate    {gate.metric:<32} {gate.value:.2f} >= {gate.threshold:.2f}  {mark}")
    click.echo(f"{report.build_dir}/results.json")
    if not report.ok:
        missed = "; ".join(
            f"{gate.metric} is {gate.value:.2f}, below the recipe's bar of {gate.threshold:.2f}"
            for gate in report.failures
        )
        click.echo(f"Error: {missed}", err=True)
        sys.exit(1)


@main.command()
@click.argument("build_dir", type=click.Path(file_okay=False), required=False)
@click.option("--asset-base", help="URL the tarballs are served from (default: from the recipe's publish section).")
@click.option("--check", "check_path", type=click.Path(exists=True, file_okay=False), help="Only lint this docs tree.")
@_handle_errors
def docs(build_dir: str | None, asset_base: str | None, check_path: str | None) -> None:
    """Render tfhub.dev docs (and a Kaggle card) for a build, or lint a docs tree.

    \b
    Example:
      tfhub-kit docs build/tfhub-kit/all_minilm_l6_v2/1
      tfhub-kit docs --check build/tfhub-kit/all_minilm_l6_v2/1/docs
    """
    from tfhub_kit.docs import lint_tree, render_docs

    if check_path:
        errors = lint_tree(check_path)
        for error in errors:
            click.echo(str(error))
        click.echo(f"{len(errors)} problems in {check_path}")
        if errors:
            click.echo(f"Error: {len(errors)} problems in {check_path}, first {errors[0]}", err=True)
            sys.exit(1)
        return
    if not build_dir:
        raise click.UsageError("give BUILD_DIR, or --check PATH")
    result = render_docs(build_dir, asset_base=asset_base)
    click.echo(f"{len(result.files)} docs in {result.root}, lint clean")


_FORCE_OPTION = click.option(
    "--force", is_flag=True, help="Ship a build that has not passed validate/evaluate as it is now (warns)."
)


@main.command()
@click.argument("build_dir", type=click.Path(exists=True, file_okay=False))
@_FORCE_OPTION
@_handle_errors
def package(build_dir: str, force: bool) -> None:
    """Write one reproducible .tar.gz per SavedModel and SHA256SUMS under BUILD_DIR/dist.
    Refuses a build without a passing, current validation.json or that missed a threshold.

    \b
    Example:
      tfhub-kit package build/tfhub-kit/all_minilm_l6_v2/1
    """
    from tfhub_kit.gate import check_gate
    from tfhub_kit.package import package_build

    check_gate(build_dir, force=force, warn=_warn)

    result = package_build(build_dir)
    for path in result.tarballs.values():
        click.echo(f"{path}  ({path.stat().st_size / 1e6:.1f} MB)")
    click.echo(str(result.checksums))


def _publish_target(value: str) -> str:
    from tfhub_kit.errors import TargetError
    from tfhub_kit.publish.targets import target_for

    try:
        target_for(value)
    except TargetError as exc:  # exit 2, naming the accepted forms
        raise click.BadParameter(str(exc)) from exc
    return value


_TO_OPTION = click.option(
    "--to",
    "target",
    required=True,
    callback=lambda _c, _p, v: _publish_target(v),
    help="gs://BUCKET/PREFIX, kaggle://OWNER/MODEL/tensorFlow2/VARIATION or kaggle://OWNER/MODEL/keras/VARIATION",
)
_DRY_RUN_OPTION = click.option("--dry-run", is_flag=True, help="Print what would be uploaded, upload nothing.")
_RETRY_OPTION = click.option(
    "--retry-deadline",
    type=click.FloatRange(min=0.1),
    default=120.0,
    show_default=True,
    help="Seconds to keep retrying a transient storage error (503s, dropped connections) per request.",
)


@main.command()
@click.argument("build_dir", type=click.Path(exists=True, file_okay=False))
@_TO_OPTION
@_DRY_RUN_OPTION
@_RETRY_OPTION
@_FORCE_OPTION
@_handle_errors
def publish(build_dir: str, target: str, dry_run: bool, retry_deadline: float, force: bool) -> None:
    """Upload a packaged build. A published version is never overwritten; a build without a
    passing, current validation.json or that missed a threshold is refused.

    \b
    Example:
      tfhub-kit publish build/tfhub-kit/all_minilm_l6_v2/1 --to gs://my-bucket/hub --dry-run
    """
    from tfhub_kit.gate import check_gate
    from tfhub_kit.layout import BuildLayout
    from tfhub_kit.publish.targets import target_for

    check_gate(build_dir, force=force, warn=_warn)
    chosen = target_for(target)
    manifest = BuildLayout(Path(build_dir)).read_manifest()
    plan = chosen.plan(build_dir, target, chosen.asset_base(target, manifest))
    if dry_run:
        click.echo(plan.describe())
        return
    report = chosen.publish(plan, retry_deadline=retry_deadline)
    if report is not None and hasattr(report, "uploaded"):
        click.echo(f"uploaded {len(report.uploaded)}, already there {len(report.skipped)}")
    for kind, url in plan.public_urls.items():
        click.echo(f"{kind}: {url}")


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--port", default=8765, show_default=True, help="Port on 127.0.0.1.")
@_handle_errors
def serve(folder: str, port: int) -> None:
    """Serve packaged models on 127.0.0.1 so hub.load(URL) works offline.

    FOLDER is a build (its dist/ is served) or a folder laid out <publisher>/<model>/<version>.tar.gz.

    \b
    Example:
      tfhub-kit serve build/tfhub-kit/all_minilm_l6_v2/1 --port 8765
      # hub.load("http://127.0.0.1:8765/tfhub-kit/all_minilm_l6_v2/1")
    """
    from tfhub_kit.publish.hubserver import make_server

    server = make_server(folder, port=port, log=_say)
    click.echo(f"serving {folder} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@main.command()
@click.argument("recipe_dir", type=click.Path(file_okay=True, dir_okay=True))
@_TO_OPTION
@click.option("--out", "out_dir", default="build", show_default=True, type=click.Path(), help="Build root.")
@click.option("--dry-run", is_flag=True, help="Run every stage but upload nothing.")
@click.option("--fresh", is_flag=True, help="Start the training run over and export even if nothing changed.")
@click.option("--tolerance", type=float, default=None, help="validate: max abs difference on the probe outputs.")
@click.option("--asset-base", help="docs: URL the tarballs are served from (default: from the target).")
@_RETRY_OPTION
@_FORCE_OPTION
@_ALLOW_CODE_OPTION
@_handle_errors
def release(
    recipe_dir: str,
    target: str,
    out_dir: str,
    dry_run: bool,
    fresh: bool,
    allow_code: bool,
    tolerance: float | None,
    asset_base: str | None,
    retry_deadline: float,
    force: bool,
) -> None:
    """[train ->] export -> validate -> evaluate -> docs -> package -> publish, stopping at the
    first failure (with --force: warning and going on).

    \b
    Example:
      tfhub-kit release models/tfhub-kit/all_minilm_l6_v2 --to gs://my-bucket/hub
    """
    from tfhub_kit.release import release as run_release

    report = run_release(
        recipe_dir,
        to=target,
        out_dir=out_dir,
        dry_run=dry_run,
        fresh=fresh,
        force=force,
        tolerance=tolerance,
        asset_base=asset_base,
        retry_deadline=retry_deadline,
        allow_code=allow_code,
    )
    click.echo(f"released {report.build_dir} ({' -> '.join(report.stages)}){' [dry run]' if dry_run else ''}")
    for kind, url in report.public_urls.items():
        click.echo(f"{kind}: {url}")


@main.group()
def vocab() -> None:
    """Vocabulary tools.

    \b
    Example:
      tfhub-kit vocab learn data/tatoeba/tatoeba.*-eng.* --size 4000 --out my_vocab/
    """


@vocab.command("learn")
@click.argument("corpus", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--size", "vocab_size", type=click.IntRange(min=16), required=True, help="Target vocabulary size.")
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write: vocab.txt (WordPiece) or spiece.model + tokenizer.json (SentencePiece).",
)
@click.option(
    "--kind",
    type=click.Choice(["wordpiece", "sentencepiece"]),
    default="wordpiece",
    show_default=True,
    help="WordPiece (tensorflow-text) or a SentencePiece Unigram model (the sentencepiece library).",
)
@click.option(
    "--format",
    "text_format",
    type=click.Choice(["lines", "nsmc_tsv"]),
    default="lines",
    show_default=True,
    help="How the corpus files hold text (SentencePiece).",
)
@click.option("--cased", is_flag=True, help="Keep case (default: lowercase; WordPiece also strips accents).")
@_handle_errors
def vocab_learn(
    corpus: tuple[str, ...], vocab_size: int, out_path: str, kind: str, text_format: str, cased: bool
) -> None:
    """Learn a vocabulary from text files: WordPiece with tensorflow-text, or a SentencePiece
    Unigram model (ALBERT's special tokens) written as spiece.model + tokenizer.json, which a
    recipe's `source.scratch.vocab` can name.

    \b
    Example:
      tfhub-kit vocab learn data/tatoeba/tatoeba.*-eng.* --size 4000 --out my_vocab/
      tfhub-kit vocab learn data/nsmc/reviews.tsv --format nsmc_tsv --kind sentencepiece \\
          --size 8000 --out ko_spm/
    """
    _say(f"learning a {vocab_size:,}-token {kind} vocabulary from {len(corpus)} files")
    if kind == "sentencepiece":
        from tfhub_kit.datasets import read_text
        from tfhub_kit.vocab import learn_sentencepiece

        texts = [t for f in corpus for t in read_text(f, text_format)]
        _say(f"{len(texts):,} texts")
        out = learn_sentencepiece(texts, vocab_size=vocab_size, out_dir=out_path, lower_case=not cased)
        click.echo(f"{out}: {vocab_size:,} pieces (spiece.model, tokenizer.json, tokenizer_config.json)")
        return
    from tfhub_kit.vocab import learn_wordpiece_vocab, write_vocab

    tokens = learn_wordpiece_vocab(corpus, vocab_size=vocab_size, lower_case=not cased)
    Path(out_path).mkdir(parents=True, exist_ok=True)
    vocab_file = Path(out_path) / "vocab.txt"
    write_vocab(tokens, vocab_file)
    click.echo(f"{vocab_file}: {len(tokens):,} tokens")
