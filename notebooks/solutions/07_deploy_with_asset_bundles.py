"""07: the bundle's deployment targets."""

import yaml

from clickstream import teaching


def solve(lab):
    bundle = yaml.safe_load((teaching.PROJECT_ROOT / "databricks.yml").read_text())
    return list(bundle["targets"])
