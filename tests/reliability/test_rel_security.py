"""Security and privacy: no raw PII past bronze, the demo key refused on Databricks, no secret
in the repository, and no credential in the Azure sink's logs."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from lakehouse_testing import REPO
from reliability_support import DRIFTED_PII, python_event
from secret_scan import PATTERNS, scan_repository, scan_text

from clickstream import config, platform
from clickstream.config import PipelineSettings
from producer import produce
from producer.sinks.azure import AzureBlobSink


def truth_values(landing) -> tuple[set[str], set[str]]:
    """Every raw email and IP in the landed files (plain Python over the bytes)."""
    emails, ips = set(), set()
    for path in landing.rglob("*.json"):
        for raw in path.read_bytes().split(b"\n"):
            event = python_event(raw.rstrip(b"\r"))
            if not event:
                continue
            user, geo = event.get("user"), event.get("geo")
            if isinstance(user, dict) and isinstance(user.get("email"), str):
                emails.add(user["email"])
            if isinstance(geo, dict) and isinstance(geo.get("ip"), str):
                ips.add(geo["ip"])
    return emails, ips


def string_values(value, out: list[str]) -> list[str]:
    """Every string inside a row value (structs, arrays and maps included)."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            string_values(k, out)
            string_values(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            string_values(v, out)
    elif hasattr(value, "asDict"):
        string_values(value.asDict(recursive=True), out)
    return out


def test_no_raw_email_or_ip_in_any_silver_or_gold_table(corpus_run, spark, tally):
    corpus, sandbox, result = corpus_run
    assert result.ok, result.error
    emails, ips = truth_values(corpus.landing)
    assert len(emails) > 10 and len(ips) > 10, "the producer's ground truth has PII to look for"
    needles = sorted(emails | ips)
    finder = re.compile("|".join(re.escape(n) for n in needles))
    tables = [
        r.tableName
        for r in spark.sql(f"SHOW TABLES IN `{sandbox.database}`").collect()
        if config.layer_of(r.tableName) in {"silver", "gold", "bi"}
    ]
    assert {config.SILVER_EVENTS, config.SILVER_QUARANTINE} <= set(tables)
    leaks: dict[str, int] = {}
    for name in tables:
        for row in spark.table(f"`{sandbox.database}`.`{name}`").collect():
            for text in string_values(row.asDict(recursive=True), []):
                # An IP must match as a whole token: 192.0.2.1 is inside 192.0.2.10.
                for hit in finder.finditer(text):
                    end = hit.end()
                    if end < len(text) and (text[end].isdigit() or text[end] == "."):
                        continue
                    leaks[name] = leaks.get(name, 0) + 1
    tally.inputs_tried += len(needles)
    tally.leaks_found += sum(leaks.values())
    assert leaks == {}


def test_personal_data_under_drifted_keys_is_tokenised_in_silver(corpus_run, spark, tally):
    """A misspelled or unknown key is rescued with its raw value: silver keeps only tokens."""
    _, sandbox, result = corpus_run
    assert result.ok, result.error
    raw = [value for _, value in DRIFTED_PII]
    source = "pii_under_drifted_keys/events.json"

    def rescued(table: str) -> list[str]:
        rows = spark.sql(
            f"SELECT _rescued_data FROM `{sandbox.database}`.`{table}` "
            f"WHERE endswith(_source_file, '{source}')"
        ).collect()
        return [r[0] for r in rows]

    bronze, silver = rescued(config.BRONZE_EVENTS), rescued(config.SILVER_EVENTS)
    # The proof the search works: bronze (raw by design) holds every value, under its key.
    assert all(any(v in text for text in bronze) for v in raw)
    assert len(silver) == len(DRIFTED_PII) and all(silver)
    leaks = sum(v in text for v in raw for text in silver)
    tally.inputs_tried += len(raw)
    tally.leaks_found += leaks
    assert leaks == 0
    # Rescued fields keep their place (top-level key: the struct they drifted in), values are
    # tokens, and the file path stays readable.
    for text in silver:
        fields = json.loads(text)
        assert {"user", "geo"} & set(fields) and fields["_file_path"].endswith(source)


def test_bronze_does_hold_the_raw_values_the_scan_looks_for(corpus_run, spark):
    """The scan's proof: the same search finds the raw emails where they are allowed."""
    corpus, sandbox, _ = corpus_run
    emails, _ = truth_values(corpus.landing)
    found = {
        r[0]
        for r in spark.table(f"`{sandbox.database}`.`{config.BRONZE_EVENTS}`")
        .select("user.email")
        .collect()
    }
    assert emails & found


def test_demo_pii_key_is_refused_on_databricks():
    demo = PipelineSettings(landing_path="/Volumes/c/s/v", platform=platform.DATABRICKS)
    with pytest.raises(RuntimeError, match="demo key"):
        platform.pii_key(demo)
    real = PipelineSettings(
        landing_path="/Volumes/c/s/v", platform=platform.DATABRICKS, pii_key="k" * 32
    )
    assert platform.pii_key(real) == "k" * 32
    assert platform.pii_key(PipelineSettings(landing_path="/l")) == config.DEMO_PII_KEY


# Samples assembled at run time, so that the repository itself never holds one.
PLANTED = {
    "azure_account_key": "AccountKey=" + "Zm9vYmFy" * 8 + "==",
    "azure_sas_signature": "https://a.blob.core.windows.net/c?sv=2024-01-01&sig=" + "aB3%2F" * 6,
    "connection_string_password": "Server=db;User Id=app;Pass" + "word=" + "Tr0ub4dor&3x",
    "url_credentials": "postgres://app:" + "s3cretpassw0rd" + "@db.internal:5432/x",
    "aws_access_key_id": "AKIA" + "QWERTYUIOPASDFGH",
    "private_key_block": "-----BEGIN " + "RSA PRIVATE KEY-----",
    "github_token": "ghp_" + "a1B2c3D4e5" * 4,
    "databricks_token": "dapi" + "0123456789abcdef" * 2,
    "slack_token": "xoxb-" + "123456789012-abcdefABCDEF",
    "jwt": "eyJ" + "hbGciOiJIUzI1NiJ9" + ".eyJ" + "zdWIiOiIxMjM0NTY3ODkwIn0" + "." + "x" * 20,
    "assigned_secret": "client_secret = '" + "Q7x" * 8 + "'",
}


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_each_secret_pattern_detects_its_planted_sample(pattern):
    found = scan_text(f"config line before\n  {PLANTED[pattern]}\n", "planted.txt")
    assert [f.pattern for f in found if f.pattern == pattern] == [pattern]
    assert all(PLANTED[pattern] not in str(f) for f in found), "a finding never shows the value"


def test_repository_holds_no_secret(tally):
    scanned, findings = scan_repository(REPO)
    tally.inputs_tried += scanned
    tally.leaks_found += len(findings)
    assert scanned > 50
    assert [str(f) for f in findings] == []


def _sas_connection_string(azurite) -> tuple[str, str]:
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas
    from producer_support import AZURITE_ACCOUNT, AZURITE_KEY

    sas = generate_account_sas(
        AZURITE_ACCOUNT,
        AZURITE_KEY,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(read=True, write=True, list=True, create=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    return f"BlobEndpoint={azurite.account_url};SharedAccessSignature={sas}", sas


@pytest.mark.parametrize("credential", ["account-key", "sas"])
def test_azure_sink_never_logs_credentials(credential, azurite, monkeypatch, caplog, capfd, tally):
    from producer_support import AZURITE_KEY

    if credential == "sas":
        connection, sas = _sas_connection_string(azurite)
        signature = dict(p.split("=", 1) for p in sas.split("&"))["sig"]
        secrets = [sas, signature, signature.replace("%3D", "=")]
    else:
        connection, secrets = azurite.connection_string, [AZURITE_KEY]
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    container = azurite.new_container(f"rel-logs-{credential}")
    caplog.set_level(logging.DEBUG)
    # The HTTP transport under the SDK logs each request line (SAS included) at DEBUG.
    caplog.set_level(logging.DEBUG, logger="urllib3")
    sink = AzureBlobSink(container=container, credential="connection-string")
    produce(events=50, seed=3, sink=sink, clean=True)
    try:  # a refused write logs too: a second run with other content under the same names
        produce(events=60, seed=3, sink=sink, clean=True)
    except Exception as exc:
        caplog.records.append(logging.makeLogRecord({"msg": str(exc)}))
    sink.close()
    out, err = capfd.readouterr()
    text = "\n".join([*(r.getMessage() for r in caplog.records), out, err])
    assert any(r.name.startswith("azure") for r in caplog.records), "SDK logging captured"
    assert any(r.name.startswith("urllib3") for r in caplog.records), "transport captured"
    leaked = [s for s in secrets if s in text]
    leaked += [m.group(0) for m in re.finditer(r"SharedKey [^\s'\"]+:[^\s'\"]+", text)]
    # Any signature value, however encoded, that is not the SDK's REDACTED marker.
    leaked += re.findall(r"\bsig=(?!REDACTED\b|<redacted>)[^&\s\"']+", text)
    tally.leaks_found += len(leaked)
    tally.faults_injected += 1
    assert leaked == []
