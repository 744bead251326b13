"""What this machine's CPU can do: whether its matmuls run natively in bfloat16.

    native_bfloat16()   # "amx_bf16", "avx512_bf16" or None
    usable_cores()      # the cores this process may run on

Read from the kernel's CPU flags (`/proc/cpuinfo`); elsewhere (macOS, Windows) nothing is
assumed, so callers fall back to float32.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

BFLOAT16_FLAGS = ("amx_bf16", "avx512_bf16")
"""CPU flags under which oneDNN runs bfloat16 matmuls natively (AMX tiles, or AVX-512
BF16 dot products): about 1.3-2x the float32 rate, where other CPUs emulate and slow down."""

CPUINFO = Path("/proc/cpuinfo")


def native_bfloat16() -> str | None:
    """The first of `BFLOAT16_FLAGS` this CPU has, or None."""
    flags = cpu_flags()
    return next((flag for flag in BFLOAT16_FLAGS if flag in flags), None)


@cache
def cpu_flags() -> frozenset[str]:
    """The `flags` of the first CPU in /proc/cpuinfo (empty where there is no such file)."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
