"""Azure storage as the landing zone: ADLS Gen2 or Blob storage, through the Blob endpoint.

One upload per file with ``overwrite=False``: the blob appears whole when its upload commits (a
single Put Blob, or Put Block List for large files), so a reader never sees part of it. A retry
that finds the blob already there compares the stored MD5 with the file's: the same content is
a success (no duplicate), different content is an error. Transient failures are retried by the
SDK's exponential retry policy.

Credentials, tokens and SAS query strings never appear in messages: errors are reduced to one
redacted line.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from producer.errors import SinkConflict, SinkError
from producer.sinks import check_relpath
from producer.timefmt import format_ts

CREDENTIALS: tuple[str, ...] = ("managed-identity", "default", "connection-string")
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
CONTENT_TYPE = "application/x-ndjson"
STORAGE_SCOPE = "https://storage.azure.com/.default"
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")

# Patterns that may carry a secret in an exception text: query strings, keys, signatures, tokens.
_SECRETS = (
    (re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*"), r"\1?<redacted>"),
    # A request line as HTTP client libraries log it: "PUT /container/blob?<SAS> HTTP/1.1".
    (re.compile(r"(\"[A-Z]+ /[^\s?\"]*)\?[^\s\"]*"), r"\1?<redacted>"),
    (
        re.compile(r"(?i)(AccountKey|SharedAccessSignature|sig|se|sv|token)=[^;&\s\"']+"),
        r"\1=<redacted>",
    ),
    (re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer <redacted>"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.?[A-Za-z0-9_-]*"), "<redacted-jwt>"),
    (re.compile(r'(?i)("?access_token"?\s*[:=]\s*"?)[^",\s]+'), r"\1<redacted>"),
)


def scrub(text: str) -> str:
    """``text`` with anything secret-looking removed."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def redact(text: str) -> str:
    """The first line of ``text`` with anything secret-looking removed, at most 240 chars."""
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    return scrub(line)[:240]


class _ScrubbingFilter(logging.Filter):
    """Removes SAS query strings from the HTTP client's debug lines before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        return True


_SCRUBBER = _ScrubbingFilter()
# The SDK's own HTTP logging redacts query strings; the transport under it (urllib3) logs each
# request line, SAS included, at DEBUG.
_TRANSPORT_LOGGERS = ("urllib3.connectionpool",)


def _scrub_transport_logs() -> None:
    for name in _TRANSPORT_LOGGERS:
        logger = logging.getLogger(name)
        if _SCRUBBER not in logger.filters:
            logger.addFilter(_SCRUBBER)


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


class AzureBlobSink:
    """Uploads files as blobs named ``<prefix>/<relative path>`` into one container."""

    def __init__(
        self,
        *,
        container: str,
        account_url: str | None = None,
        credential: str = "managed-identity",
        prefix: str = "",
        connection_verify: bool | str | None = None,
        retry_total: int = 4,
        max_single_put_size: int | None = None,
    ) -> None:
        # The SDK logs failed token requests as warnings; with no logging configured Python would
        # print them to stderr next to our one-line error. Configured logging still gets them.
        logging.getLogger("azure").addHandler(logging.NullHandler())
        _scrub_transport_logs()
        if credential not in CREDENTIALS:
            raise SinkError(f"--credential must be one of {', '.join(CREDENTIALS)}")
        if not container:
            raise SinkError(
                "the Azure sink needs a container (--container or CLICKSTREAM_AZURE_CONTAINER)"
            )
        if not _CONTAINER_NAME.match(container):
            raise SinkError(
                f"invalid container name {container!r}: 3-63 lowercase letters, digits and hyphens"
            )
        self.container_name = container
        self.credential_name = credential
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_relpath(self.prefix)
        connection_string = None
        if credential == "connection-string":
            connection_string = os.environ.get(CONNECTION_STRING_ENV)
            if not connection_string:
                raise SinkError(
                    f"--credential connection-string needs {CONNECTION_STRING_ENV} "
                    "in the environment"
                )
        else:
            self._check_account_url(account_url)
        try:
            from azure.storage.blob import BlobServiceClient, ExponentialRetry
        except ImportError:
            raise SinkError(
                "the Azure sink needs azure-storage-blob and azure-identity: "
                "pip install 'lakeflow-clickstream[azure]'"
            ) from None

        options: dict[str, Any] = {
            # Backoff about 1 s, 4 s, 10 s, 28 s: rides out throttling and brief outages.
            "retry_policy": ExponentialRetry(
                initial_backoff=1, increment_base=3, retry_total=retry_total
            ),
        }
        if connection_verify is not None:
            options["connection_verify"] = connection_verify
        if max_single_put_size is not None:
            options["max_single_put_size"] = max_single_put_size
        if connection_string is not None:
            try:
                service = BlobServiceClient.from_connection_string(connection_string, **options)
            except ValueError:
                # The exception text may quote the string: never show it.
                raise SinkError(
                    f"{CONNECTION_STRING_ENV} is not a valid connection string"
                ) from None
        else:
            assert account_url is not None
            self.account = _safe_url(account_url)
            token_credential = self._token_credential()
            # Ask for a token now: an identity problem then fails at once, instead of after the
            # storage retry policy has retried it like a network error. The token is cached.
            with self._errors("get a token"):
                token_credential.get_token(STORAGE_SCOPE)
            service = BlobServiceClient(account_url, credential=token_credential, **options)
        self._service = service
        self.account = _safe_url(service.url)
        self._container = service.get_container_client(container)
        with self._errors("check the container"):
            if not self._container.exists():
                raise SinkError(f"container {container!r} does not exist at {self.account}")

    def _check_account_url(self, account_url: str | None) -> None:
        if not account_url:
            raise SinkError(
                "the Azure sink needs --account-url (or CLICKSTREAM_AZURE_ACCOUNT_URL), "
                "e.g. https://<account>.blob.core.windows.net"
            )
        parts = urlsplit(account_url)
        if parts.query or parts.fragment:
            raise SinkError(
                "--account-url must not carry a query string (SAS tokens are not accepted); "
                "use managed identity, DefaultAzureCredential or a connection string"
            )
        if parts.scheme != "https" or not parts.netloc:
            # Bearer tokens only travel over TLS (the SDK refuses otherwise).
            raise SinkError(
                f"--account-url must be an https:// URL, got {_safe_url(account_url)!r}"
            )

    def _token_credential(self) -> Any:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        if self.credential_name == "default":
            return DefaultAzureCredential()
        # A user-assigned identity is chosen by AZURE_CLIENT_ID; none means system-assigned.
        return ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID") or None)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn SDK and credential failures into one redacted line."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        try:
            yield
        except ClientAuthenticationError as exc:
            raise SinkError(
                f"Azure authentication failed ({self.credential_name}) while trying to {action} "
                f"at {self.account}: {redact(exc.message or exc)}"
            ) from None
        except HttpResponseError as exc:
            code = exc.error_code or getattr(exc.response, "reason", "") or "error"
            raise SinkError(
                f"Azure storage refused to {action} at {self.account}: {exc.status_code} {code}"
            ) from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise SinkError(f"cannot reach {self.account} to {action}: {redact(exc)}") from None

    def describe(self) -> str:
        path = f"{self.container_name}/{self.prefix}" if self.prefix else self.container_name
        return f"{self.account}/{path}"

    def blob_name(self, relpath: str) -> str:
        check_relpath(relpath)
        return f"{self.prefix}/{relpath}" if self.prefix else relpath

    def write(self, relpath: str, data: bytes, landing_ms: int) -> bool:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import ContentSettings

        name = self.blob_name(relpath)
        md5 = hashlib.md5(data).digest()
        blob = self._container.get_blob_client(name)
        with self._errors(f"upload {name}"):
            try:
                blob.upload_blob(
                    data,
                    overwrite=False,
                    content_settings=ContentSettings(
                        content_type=CONTENT_TYPE, content_md5=bytearray(md5)
                    ),
                    # The blob's own Last-Modified is the upload time; keep the simulated one.
                    metadata={"landing_time": format_ts(landing_ms)},
                )
                return True
            except ResourceExistsError:
                pass
            stored = blob.get_blob_properties().content_settings.content_md5
            if stored is not None:
                same = bytes(stored) == md5
            else:  # uploaded by something that did not record an MD5: compare the bytes
                same = blob.download_blob().readall() == data
        if not same:
            raise SinkConflict(
                f"blob {name} already exists in container {self.container_name!r} with different "
                f"content (MD5 {base64.b64encode(md5).decode()} expected); it is never overwritten"
            )
        return False

    def close(self) -> None:
        self._service.close()
