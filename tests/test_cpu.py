"""The CPU facts the kit decides on: native bfloat16 from the kernel's flags, usable cores."""

from __future__ import annotations

import os

import pytest

from tfhub_kit import cpu


@pytest.fixture
def cpuinfo(tmp_path, monkeypatch):
    """Point the module at a cpuinfo file of our own and forget the cached flags."""

    def write(text: str) -> None:
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        monkeypatch.setattr(cpu, "CPUINFO", path)
        cpu.cpu_flags.cache_clear()

    yield write
    cpu.cpu_flags.cache_clear()


def test_native_bfloat16_is_read_from_the_first_cpus_flags(cpuinfo):
    cpuinfo(
        "processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n\nprocessor\t: 1\n"
    )
    assert cpu.native_bfloat16() == "amx_bf16"  # AMX first: the faster of the two
    cpuinfo("flags\t: fpu avx2 avx512f avx512_bf16\n")
    assert cpu.native_bfloat16() == "avx512_bf16"
    cpuinfo("flags\t: fpu avx2 fma avx512f\n")
    assert cpu.native_bfloat16() is None


def test_no_cpuinfo_means_no_bfloat16(cpuinfo, monkeypatch, tmp_path):
    cpuinfo("")
    monkeypatch.setattr(cpu, "CPUINFO", tmp_path / "missing")
    cpu.cpu_flags.cache_clear()
    assert cpu.cpu_flags() == frozenset() and cpu.native_bfloat16() is None


def test_usable_cores_is_this_process_affinity():
    assert cpu.usable_cores() == len(os.sched_getaffinity(0)) >= 1
