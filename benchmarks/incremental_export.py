"""Wall time of `tfhub-kit export` on the sample recipe: a full export (--fresh) vs an export
of unchanged inputs (the build is reused), each as a user runs it: a fresh process, one run.

    .venv/bin/python benchmarks/incremental_export.py [--out /tmp/incremental-build]

Prints both times and the ratio; the goal is under 3 s for the unchanged export.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from _timing import print_machine

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "models" / "tfhub-kit" / "all_minilm_l6_v2"


def timed_export(out: Path, *extra: str) -> tuple[float, str]:
    cli = Path(sys.executable).with_name("tfhub-kit")
    start = time.perf_counter()
    proc = subprocess.run(
        [str(cli), "export", str(RECIPE), "--out", str(out), *extra], check=True, capture_output=True, text=True
    )
    return time.perf_counter() - start, proc.stderr


def main() -> None:
    print_machine()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/incremental-build"))
    args = parser.parse_args()
    full, _ = timed_export(args.out, "--fresh")
    unchanged, log = timed_export(args.out)
    assert "up to date" in log, log
    print(f"full export (--fresh):      {full:6.2f} s")
    print(f"export of unchanged inputs:   {unchanged:6.2f} s  (goal < 3 s)")
    print(f"ratio: {full / unchanged:.0f}x faster")


if __name__ == "__main__":
    main()
