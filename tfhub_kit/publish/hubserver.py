"""A local hub URL server: serves packaged models so `hub.load(url)` works offline.

    server = make_server("build/tfhub-kit/all_minilm_l6_v2/1", port=8765)
    server.serve_forever()
    # hub.load("http://127.0.0.1:8765/tfhub-kit/all_minilm_l6_v2/1")

Answers `GET /<publisher>/<model>/<version>` (tensorflow_hub adds
`?tf-hub-format=compressed`) and `GET /<publisher>/<model>/<version>.tar.gz` with the
tarball under the served folder (a build's `dist/`, or any folder laid out the same way).
Only `.tar.gz` files inside that folder are served; `..`, dot-paths and links are refused.
"""

from __future__ import annotations

import shutil
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tfhub_kit.errors import ServiceError, TfhubKitError, environment_error
from tfhub_kit.layout import MANIFEST_FILE


def served_root(folder: str | Path) -> Path:
    """The folder to serve: a build's dist/ when given a build, else the folder itself."""
    folder = Path(folder)
    if (folder / MANIFEST_FILE).is_file():
        folder = folder / "dist"
    if not folder.is_dir():
        raise TfhubKitError(f"{folder}: nothing to serve (run `tfhub-kit package BUILD_DIR` first)")
    return folder.resolve()


def resolve_request(root: Path, url_path: str) -> Path | None:
    """The tarball a request path names, or None if it names nothing servable."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(url_path).path)
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") or p.startswith(".") or "\\" in p for p in parts):
        return None
    if not parts[-1].endswith(".tar.gz"):
        parts[-1] += ".tar.gz"
    candidate = root.joinpath(*parts)
    if candidate.is_symlink() or not candidate.is_file():
        return None
    resolved = candidate.resolve()
    return resolved if resolved.is_relative_to(root) else None


def make_server(
    folder: str | Path, *, port: int = 0, host: str = "127.0.0.1", log: Callable[[str], None] | None = None
) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) for `folder`; port 0 picks a free port."""
    root = served_root(folder)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, *, send_body: bool) -> None:
            target = resolve_request(root, self.path)
            if target is None:
                self.send_error(HTTPStatus.NOT_FOUND, "no such model")
                return
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(target.stat().st_size))
            self.end_headers()
            if send_body:
                with target.open("rb") as f:
                    shutil.copyfileobj(f, self.wfile)

        def log_message(self, format: str, *args: object) -> None:
            if log:
                log(format % args)

    if not 0 <= port <= 65535:
        raise ServiceError(f"{host}:{port}: not a TCP port; use 1-65535 (or 0 for any free port)")
    try:
        return ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        env = environment_error(exc)
        if env is None:
            raise
        raise ServiceError(f"{host}:{port}: cannot serve there: {exc.strerror or exc}; choose another --port") from exc
