"""The Azure sink against Azurite: shared key over http, Managed Identity over https."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from producer_support import REPO, Azurite, TokenEndpoint

from producer import SinkConflict, SinkError, produce
from producer.sinks.azure import AzureBlobSink, redact

SMALL = {"events": 1_200, "seed": 5, "batches": 2, "max_events_per_file": 250}


def local_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_"))}
    full_env.update(env or {})
    # The installed `clickstream` script, as a user runs it.
    script = Path(sys.executable).with_name("clickstream")
    return subprocess.run(
        [str(script), "produce", "--no-progress", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO,
        timeout=120,
    )


@pytest.fixture
def connection_string(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    return azurite.connection_string


def test_blobs_equal_the_local_tree_and_reruns_create_nothing(
    azurite: Azurite, connection_string: str, tmp_path: Path
) -> None:
    produce(sink=tmp_path, **SMALL)
    expected = local_tree(tmp_path)
    container = azurite.new_container("landing-equal")
    # A small single-put limit makes the larger files go up as blocks + one commit.
    sink = AzureBlobSink(
        container=container, credential="connection-string", max_single_put_size=64 * 1024
    )
    first = produce(sink=sink, **SMALL)
    blobs = azurite.blobs(container)
    assert blobs == expected
    assert first.created == len(expected) and first.unchanged == 0

    # The same batches again (a job retried after a crash): every upload finds its blob.
    again = produce(sink=sink, **SMALL)
    assert again.created == 0 and again.unchanged == len(expected)
    assert azurite.blobs(container) == expected
    assert again.files == first.files and again.manifests == first.manifests


def test_blob_metadata_carries_the_simulated_landing_time(
    azurite: Azurite, connection_string: str, tmp_path: Path
) -> None:
    container = azurite.new_container("landing-metadata")
    produce(sink=tmp_path, **SMALL)
    produce(sink=AzureBlobSink(container=container, credential="connection-string"), **SMALL)
    with azurite.service() as service:
        client = service.get_container_client(container)
        for blob in client.list_blobs(name_starts_with="year=", include=["metadata"]):
            mtime = (tmp_path / blob.name).stat().st_mtime_ns // 1_000_000
            landing = datetime.fromtimestamp(mtime / 1000, UTC).isoformat(timespec="milliseconds")
            assert blob.metadata["landing_time"] == landing.replace("+00:00", "Z")
            assert blob.content_settings.content_type == "application/x-ndjson"


def test_retry_semantics_same_content_succeeds_different_content_fails(
    azurite: Azurite, connection_string: str
) -> None:
    container = azurite.new_container("landing-retry")
    sink = AzureBlobSink(container=container, credential="connection-string", prefix="raw/events")
    assert sink.write("a/one.json", b'{"x":1}\n', 0) is True
    assert sink.write("a/one.json", b'{"x":1}\n', 0) is False  # a retry after a lost reply
    with pytest.raises(SinkConflict, match="different content"):
        sink.write("a/one.json", b'{"x":2}\n', 0)
    assert azurite.blobs(container) == {"raw/events/a/one.json": b'{"x":1}\n'}


def test_cli_refuses_to_overwrite_a_different_blob(
    azurite: Azurite, connection_string: str, tmp_path: Path
) -> None:
    container = azurite.new_container("landing-conflict")
    first = produce(sink=tmp_path, **SMALL).files[0]
    with azurite.service() as service:
        service.get_blob_client(container, first).upload_blob(b"someone else's file\n")
    args = ["--events", "1200", "--seed", "5", "--batches", "2", "--max-events-per-file", "250"]
    done = run_cli(
        "--sink", "azure", "--container", container, "--credential", "connection-string", *args,
        env={"AZURE_STORAGE_CONNECTION_STRING": connection_string},
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "different content" in done.stderr
    assert azurite.blobs(container)[first] == b"someone else's file\n"
    assert "AccountKey" not in done.stderr + done.stdout


def test_managed_identity_over_https(
    azurite_oauth: Azurite, token_endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = azurite_oauth.new_container("landing-mi")
    for name, value in token_endpoint.env().items():
        monkeypatch.setenv(name, value)
    asked = len(token_endpoint.requests)
    sink = AzureBlobSink(
        account_url=azurite_oauth.account_url,
        container=container,
        connection_verify=str(azurite_oauth.ca_file),
    )
    result = produce(sink=sink, events=600, seed=9, max_events_per_file=200)
    assert len(token_endpoint.requests) > asked  # the credential really fetched a token
    assert token_endpoint.requests[-1]["resource"].startswith("https://storage.azure.com")
    assert sorted(azurite_oauth.blobs(container)) == sorted(result.files + result.manifests)


def test_managed_identity_cli(azurite_oauth: Azurite, token_endpoint: TokenEndpoint) -> None:
    container = azurite_oauth.new_container("landing-mi-cli")
    env = {**token_endpoint.env(), "REQUESTS_CA_BUNDLE": str(azurite_oauth.ca_file)}
    asked = len(token_endpoint.requests)
    done = run_cli(
        "--sink", "azure", "--account-url", azurite_oauth.account_url, "--container", container,
        "--events", "400", "--seed", "3", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "produced 400 events" in done.stdout
    assert len(token_endpoint.requests) > asked
    assert len(azurite_oauth.blobs(container)) >= 2
    for secret in (token_endpoint.token, token_endpoint.header):
        assert secret not in done.stdout + done.stderr


def test_managed_identity_refused_is_one_line_without_secrets(
    azurite_oauth: Azurite, token_endpoint: TokenEndpoint
) -> None:
    container = azurite_oauth.new_container("landing-mi-refused")
    env = {
        **token_endpoint.env(header="wrong-header-value-123"),
        "REQUESTS_CA_BUNDLE": str(azurite_oauth.ca_file),
    }
    done = run_cli(
        "--sink", "azure", "--account-url", azurite_oauth.account_url, "--container", container,
        "--events", "100", env=env,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == "" and done.stderr.count("\n") == 1
    assert "authentication failed (managed-identity)" in done.stderr
    for secret in (token_endpoint.token, "wrong-header-value-123", token_endpoint.header):
        assert secret not in done.stderr
    assert azurite_oauth.blobs(container) == {}


def test_missing_container_is_one_line(azurite: Azurite, connection_string: str) -> None:
    with pytest.raises(SinkError, match="container 'nope-missing' does not exist"):
        AzureBlobSink(container="nope-missing", credential="connection-string")


ACCOUNT = "https://acct.blob.core.windows.net"
CONN = "AZURE_STORAGE_CONNECTION_STRING"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--container", "landing"], {}, "needs --account-url"),
        (["--account-url", ACCOUNT], {}, "needs a container"),
        (
            ["--account-url", f"{ACCOUNT}/?sv=1&sig=SECRET", "--container", "landing"],
            {},
            "query string",
        ),
        (["--account-url", "http://acct.example", "--container", "landing"], {}, "https://"),
        (["--container", "landing", "--credential", "connection-string"], {}, CONN),
        (
            ["--container", "landing", "--credential", "connection-string"],
            {CONN: "AccountKey=SECRETKEY;nonsense"},
            "not a valid connection string",
        ),
        (["--container", "landing", "--credential", "password"], {}, "--credential must be one of"),
        (["--container", "Bad_Name", "--account-url", ACCOUNT], {}, "invalid container"),
        (["--container", "landing", "--out", "/tmp/x"], {}, "--out is for the local sink"),
    ],
)
def test_missing_or_invalid_settings(args: list[str], env: dict[str, str], message: str) -> None:
    done = run_cli("--sink", "azure", "--events", "10", *args, env=env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("clickstream: ")
    assert message in done.stderr
    assert "SECRET" not in done.stderr


def test_redact_removes_secret_looking_parts() -> None:
    text = (
        "failed https://a.blob.core.windows.net/c/x?sv=1&sig=abc AccountKey=k3y== "
        "Authorization: Bearer eyJhbGciOi.eyJzdWIi.c2ln\nsecond line"
    )
    cleaned = redact(text)
    for secret in ("sig=abc", "k3y==", "eyJhbGciOi", "second line"):
        assert secret not in cleaned
    assert "https://a.blob.core.windows.net/c/x?<redacted>" in cleaned
