"""Test helpers: run Python in a fresh process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def run_python(code: str, *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    """Run `code` with this interpreter in a new process; return stdout, fail with stderr."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "KERAS_BACKEND")}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return proc.stdout


def tiny_hf_checkpoint(kind: str, folder: Path, vocab_file: Path, **config):
    """A tiny random Hugging Face checkpoint (safetensors) made with transformers; returns the
    PyTorch model. `kind` is "bert" or "distilbert"; the vocabulary is copied from vocab_file."""
    import shutil

    import torch
    import transformers

    torch.manual_seed(0)
    if kind == "distilbert":
        cfg = transformers.DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64, **config)
        model = transformers.DistilBertModel(cfg)
    else:
        cfg = transformers.BertConfig(
            vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, **config
        )
        model = transformers.BertModel(cfg)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    shutil.copy(vocab_file, folder / "vocab.txt")
    return model
