"""Helpers of the producer tests: Azurite, a TLS certificate, a managed-identity token endpoint."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from producer_truth import Line

from producer import ProduceResult

REPO = Path(__file__).resolve().parents[2]
AZURITE = REPO / "node_modules" / ".bin" / "azurite-blob"
# Azurite's built-in development account: its key is public and documented, not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

# The tree most tests read: big enough for the funnel bands, small enough to classify quickly.
MAIN_TREE = {"events": 15_000, "seed": 2026, "batches": 3, "max_events_per_file": 800}


@dataclass
class Tree:
    root: Path
    result: ProduceResult
    lines: list[Line] = field(default_factory=list)


# -- Azurite -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ensure_azurite() -> Path:
    """Azurite from the project's package-lock (``make test`` installs it the same way)."""
    if not AZURITE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("Azurite is not installed and npm is missing: install Node.js 18+")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=REPO, check=True, timeout=900)
    return AZURITE


@dataclass
class Azurite:
    port: int
    scheme: str
    ca_file: Path | None = None

    @property
    def account_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol={self.scheme};AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.account_url};"
        )

    def service(self):  # -> BlobServiceClient, with the account key (test set-up only)
        from azure.storage.blob import BlobServiceClient

        options = {"connection_verify": str(self.ca_file)} if self.ca_file else {}
        credential = {"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
        return BlobServiceClient(self.account_url, credential=credential, **options)

    def new_container(self, name: str) -> str:
        with self.service() as service:
            service.create_container(name)
        return name

    def blobs(self, container: str) -> dict[str, bytes]:
        with self.service() as service:
            client = service.get_container_client(container)
            return {b.name: client.download_blob(b.name).readall() for b in client.list_blobs()}


@contextlib.contextmanager
def run_azurite(workspace: Path, *options: str, scheme: str = "http") -> Iterator[int]:
    binary = _ensure_azurite()
    port = free_port()
    log = workspace / "azurite.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                str(binary),
                "--blobHost", "127.0.0.1",
                "--blobPort", str(port),
                "--location", str(workspace),
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
                *options,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"Azurite exited early:\n{log.read_text(errors='replace')}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=0.5),
            ):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"Azurite did not listen in 60 s:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- TLS and Managed Identity -------------------------------------------------------------------


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_storage_token() -> str:
    """A JWT shaped like Entra ID's for Azure Storage (Azurite's basic OAuth checks the claims)."""
    now = int(time.time())
    claims = {
        "aud": "https://storage.azure.com",
        "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + 3600,
        "oid": "11111111-1111-4111-8111-111111111111",
        "tid": "00000000-0000-0000-0000-000000000000",
    }
    header = {"alg": "RS256", "typ": "JWT"}
    return ".".join(
        (_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()), "c2lnbmF0dXJl")
    )


@dataclass
class TokenEndpoint:
    """An App Service style managed-identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER)."""

    url: str
    header: str
    token: str
    requests: list[dict[str, str]] = field(default_factory=list)

    def env(self, header: str | None = None) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": self.url, "IDENTITY_HEADER": header or self.header}
