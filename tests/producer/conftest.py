"""Fixtures of the producer tests: a produced tree, Azurite, a managed-identity endpoint."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from producer_support import (
    MAIN_TREE,
    Azurite,
    TokenEndpoint,
    Tree,
    fake_storage_token,
    make_certificate,
    run_azurite,
)
from producer_truth import Classifier

from producer import produce


@pytest.fixture(scope="session")
def main_tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    root = tmp_path_factory.mktemp("main-tree")
    result = produce(sink=root, **MAIN_TREE)
    return Tree(root, result, Classifier().tree(root))


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite over http with shared-key auth (connection strings)."""
    with run_azurite(tmp_path_factory.mktemp("azurite")) as port:
        yield Azurite(port, "http")


@pytest.fixture(scope="session")
def token_endpoint() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint(url="", header="test-identity-header-7f3a", token=fake_storage_token())

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            endpoint.requests.append(query)
            if self.headers.get("X-IDENTITY-HEADER") != endpoint.header:
                body, status = {"statusCode": 401, "message": "Invalid identity header"}, 401
            elif not query.get("resource", "").startswith("https://storage.azure.com"):
                body, status = {"statusCode": 400, "message": "Unsupported resource"}, 400
            else:
                status = 200
                body = {
                    "access_token": endpoint.token,
                    "expires_on": str(int(time.time()) + 3600),
                    "resource": query["resource"],
                    "token_type": "Bearer",
                }
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/msi/token"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def azurite_oauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """Azurite over https with ``--oauth basic``: accepts bearer tokens from the endpoint above."""
    workspace = tmp_path_factory.mktemp("azurite-oauth")
    cert, key = make_certificate(workspace)
    options = ("--oauth", "basic", "--cert", str(cert), "--key", str(key))
    with run_azurite(workspace, *options, scheme="https") as port:
        yield Azurite(port, "https", ca_file=cert)
