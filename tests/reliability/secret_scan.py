"""A small secret scanner for the repository: key, token and connection-string patterns.

Each pattern is proved by a planted sample in the tests (samples are assembled at run time, so
this repository never holds one). Known public values (Azurite's documented development key)
are allowed by exact value.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

PATTERNS: dict[str, re.Pattern[str]] = {
    "azure_account_key": re.compile(r"AccountKey=([A-Za-z0-9+/]{40,}={0,2})"),
    "azure_sas_signature": re.compile(r"[?&;]sig=([A-Za-z0-9%+/]{20,}(?:%3D|=){0,2})"),
    "connection_string_password": re.compile(r"(?i)(?:Password|Pwd)=([^;'\"\s]{8,})"),
    "url_credentials": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^/\s@'\"]{8,})@"),
    "aws_access_key_id": re.compile(r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b"),
    "private_key_block": re.compile(r"-----BEGIN ((?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY)-----"),
    "github_token": re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,})\b"),
    "databricks_token": re.compile(r"\b(dapi[0-9a-f]{32})\b"),
    "slack_token": re.compile(r"\b(xox[abprs]-[A-Za-z0-9-]{10,})\b"),
    "jwt": re.compile(r"\b(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"),
    "assigned_secret": re.compile(
        r"(?i)\b(?:password|passwd|secret|api_?key|access_?token|client_secret)\b\s*[:=]\s*"
        r"['\"]([A-Za-z0-9+/_\-]{16,})['\"]"
    ),
}

# Public, documented values that look like secrets.
ALLOWED: frozenset[str] = frozenset(
    {
        # Azurite's built-in development account key (learn.microsoft.com, "Azurite").
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    }
)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    pattern: str

    def __str__(self) -> str:  # never the value itself
        return f"{self.path}:{self.line}: {self.pattern}"


def scan_text(text: str, path: str = "<text>") -> list[Finding]:
    findings = []
    for number, line in enumerate(text.splitlines(), start=1):
        for name, pattern in PATTERNS.items():
            for match in pattern.finditer(line):
                if match.group(1) not in ALLOWED:
                    findings.append(Finding(path, number, name))
    return findings


def tracked_files(repo: Path) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True
    ).stdout
    return [repo / name for name in out.decode().split("\0") if name]


def scan_repository(repo: Path) -> tuple[int, list[Finding]]:
    """(files scanned, findings) over every tracked text file."""
    findings: list[Finding] = []
    scanned = 0
    for path in tracked_files(repo):
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # binary or vanished
        scanned += 1
        findings += scan_text(text, path.relative_to(repo).as_posix())
    return scanned, findings
