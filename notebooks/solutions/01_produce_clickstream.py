"""01: the duplicates the producer landed, counted from its manifests."""

from producer.manifest import read_manifest


def solve(lab):
    duplicates = 0
    for manifest in sorted((lab.landing / "_manifests").glob("*.manifest.jsonl")):
        for record in read_manifest(manifest.read_bytes()):
            if record["record"] == "file":
                duplicates += sum(kind == "duplicate" for kind in record["kinds"])
    return duplicates
