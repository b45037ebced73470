"""The committed sample is the producer's output for the command its README documents."""

from __future__ import annotations

import collections
import re
import shlex
from pathlib import Path

from producer_support import REPO
from producer_truth import Classifier, manifests

from clickstream.cli import main
from producer import DEFECT_KINDS
from producer.manifest import restore_landing_times

SAMPLES = REPO / "data_samples"


def documented_command() -> list[str]:
    readme = (SAMPLES / "README.md").read_text("utf-8")
    block = re.search(r"```bash\n(clickstream produce .*?)\n```", readme, re.S)
    assert block, "the README documents the command in a bash block"
    return shlex.split(block.group(1).replace("\\\n", " "))


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and (p.name.endswith(".json") or p.name.endswith(".manifest.jsonl"))
    }


def test_the_documented_command_reproduces_the_sample(tmp_path: Path, capsys) -> None:
    argv = documented_command()
    assert argv[:2] == ["clickstream", "produce"]
    out = argv.index("--out")
    argv[out + 1] = str(tmp_path)
    assert main(argv[1:]) == 0
    assert tree(tmp_path) == tree(SAMPLES) != {}


def test_the_sample_holds_every_defect_kind(tmp_path: Path) -> None:
    # Work on a copy: restoring landing times must not touch the checked-out files.
    for relpath, data in tree(SAMPLES).items():
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_bytes(data)
    assert restore_landing_times(tmp_path) == 8
    lines = Classifier().tree(tmp_path)
    found = collections.Counter(line.kind for line in lines if line.kind)
    assert set(found) == set(DEFECT_KINDS)
    totals: collections.Counter[str] = collections.Counter()
    for record in manifests(tmp_path):
        if record["record"] == "totals":
            totals.update(record["defects"])
    assert found == +totals
    assert 200 <= len(lines) <= 1000
