"""Packaging time of the kit vs GNU `tar -czf` (tar + gzip) on the same SavedModel, one run.

    .venv/bin/python benchmarks/package_speed.py [--saved-model build/tfhub-kit/all_minilm_l6_v2/1/embedding]

Both write a gzip'd tar of the folder (gzip level 6 for both); each runs `--repeats` times,
alternating, and the medians are compared. Prints both times, sizes and the speed ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _timing import print_machine

from tfhub_kit.package import write_tarball

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saved-model", type=Path, default=ROOT / "build/tfhub-kit/all_minilm_l6_v2/1/embedding")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not (args.saved_model / "saved_model.pb").is_file():
        raise SystemExit(f"{args.saved_model} is not a SavedModel; run `tfhub-kit export` on the sample recipe first")

    ours_t, tar_t = [], []
    with tempfile.TemporaryDirectory() as tmp:
        ours_out, tar_out = Path(tmp) / "ours.tar.gz", Path(tmp) / "tar.tar.gz"
        for _ in range(args.repeats):
            start = time.perf_counter()
            write_tarball(args.saved_model, ours_out)
            ours_t.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(["tar", "-czf", str(tar_out), "-C", str(args.saved_model), "."], check=True)
            tar_t.append(time.perf_counter() - start)
        ours_size, tar_size = ours_out.stat().st_size, tar_out.stat().st_size
    size_mb = sum(p.stat().st_size for p in args.saved_model.rglob("*") if p.is_file()) / 1e6
    ours, theirs = statistics.median(ours_t), statistics.median(tar_t)
    print(f"SavedModel: {args.saved_model} ({size_mb:.1f} MB), median of {args.repeats} runs")
    print(f"tfhub-kit package : {ours:6.2f} s  ({ours_size / 1e6:.1f} MB)")
    print(f"tar -czf          : {theirs:6.2f} s  ({tar_size / 1e6:.1f} MB)")
    print(f"speed ratio (tar time / our time): {theirs / ours:.2f}x")


if __name__ == "__main__":
    main()
