"""Fixtures of the deployment tests: copies of the bundle to break, and a local workspace."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from deploy_support import REPO, FakeWorkspace, Request

# What `sync.paths` deploys besides the bundle's own files; a copy links them.
_LINKED = ("src", "producer", "notebooks", "pyproject.toml", "README.md", "LICENSE")


@pytest.fixture()
def bundle_copy(tmp_path: Path) -> Path:
    """A throwaway copy of databricks.yml and resources/ beside links to the deployed sources."""
    shutil.copy(REPO / "databricks.yml", tmp_path / "databricks.yml")
    shutil.copytree(REPO / "resources", tmp_path / "resources")
    for name in _LINKED:
        if (REPO / name).exists():
            (tmp_path / name).symlink_to(REPO / name)
    return tmp_path


@pytest.fixture()
def workspace(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeWorkspace]:
    """A FakeWorkspace on 127.0.0.1, and an environment whose only credentials point at it."""
    fake = FakeWorkspace()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            query = parse_qs(parts.query)
            auth = self.headers.get("Authorization")
            with fake._lock:
                fake.requests.append(Request(method, parts.path, query, body, auth))
                if parts.path == "/.well-known/databricks-config":
                    # Host metadata the SDK asks for before anything else (no auth needed).
                    status, answer = 200, {"oidc_endpoint": "", "workspace_id": "1234567890"}
                elif auth != f"Bearer {fake.token}":
                    status, answer = 401, {"error_code": "UNAUTHENTICATED", "message": "token"}
                else:
                    result = fake.handle(method, parts.path, query, body)
                    status, answer = result if isinstance(result, tuple) else (200, result)
            payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            content_type = (
                "application/octet-stream" if isinstance(answer, bytes) else ("application/json")
            )
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits for the serving loop to notice.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    # Only this workspace's host and token: no profile file, no other auth in the environment.
    for name in list(os.environ):
        if name.startswith(("DATABRICKS_", "BUNDLE_VAR_", "ARM_", "AZURE_", "GOOGLE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.setenv("DATABRICKS_HOST", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("DATABRICKS_TOKEN", fake.token)
    monkeypatch.setenv("CLICKSTREAM_HOME", str(tmp_path / "home"))
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
