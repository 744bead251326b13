"""Where the embedding SavedModel's time goes on this CPU, by operation type.

One pass of `tfhub_kit.evaluate.encode` (longest first) over 2,000 STS-B dev sentences at
batch 32 (what `encode_throughput.py` times as sorted), traced with the TensorFlow profiler,
for the float32 `embedding/` and the same recipe exported with
`export.embedding.precision: bfloat16`; xprof's framework op statistics sum each operation
type's own time over the threads. Prints, for each: the pass's wall time, the share of thread
time left idle (a core with nothing to run), and the operation types that take the most of
the busy time.

    pip install -e .[bench]     # xprof reads the trace
    .venv/bin/python benchmarks/encode_profile.py [--build build/tfhub-kit/all_minilm_l6_v2/1]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _timing import ensure_build, export_bfloat16, print_machine
from encode_throughput import BUILD, RECIPE, stsb_sentences

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def op_types(xplane: Path) -> dict[str, float]:
    """Self time in microseconds per operation type ('IDLE' included), over all threads."""
    from xprof.convert import raw_to_tool_data

    data, _ = raw_to_tool_data.xspace_to_tool_data([str(xplane)], "framework_op_stats", {})
    table = json.loads(data)[0]
    columns = [c["id"] for c in table["cols"]]
    totals: dict[str, float] = collections.Counter()
    for row in table["rows"]:
        cells = dict(zip(columns, (c.get("v") if c else None for c in row["c"]), strict=True))
        totals[cells["type"]] += cells["total_self_time"]
    return totals


def profile(encode_all: Callable[[], object], logdir: Path) -> tuple[float, dict[str, float]]:
    """Wall seconds of one traced `encode_all()` (after an untraced warm-up call) and its op types."""
    import tensorflow as tf

    encode_all()
    tf.profiler.experimental.start(str(logdir))
    start = time.perf_counter()
    encode_all()
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
    return wall, op_types(next(logdir.rglob("*.xplane.pb")))


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", type=Path, default=BUILD)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    ensure_build(args.build, RECIPE)

    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from tfhub_kit.evaluate import encode

    sentences = stsb_sentences(args.sentences)
    tmp = Path(tempfile.mkdtemp(prefix="encode-profile-"))
    builds = {"float32": args.build, "bfloat16": export_bfloat16(RECIPE, tmp / "bf16")}
    for precision, build in builds.items():
        embed = tf.saved_model.load(str(build / "embedding"))
        wall, totals = profile(
            lambda embed=embed: encode(embed, sentences, batch_size=args.batch), tmp / f"trace-{precision}"
        )
        idle = totals.pop("IDLE", 0.0)
        busy = sum(totals.values())
        print(f"\n{precision}: {len(sentences) / wall:.1f} sentences/s traced ({wall:.2f} s for the pass)")
        print(f"  thread time idle: {100 * idle / (idle + busy):.1f}%")
        for name, micros in sorted(totals.items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"  {name:<28} {micros / 1e3:8.1f} ms  {100 * micros / busy:5.1f}% of busy time")


if __name__ == "__main__":
    main()
