"""00: the engine's Spark version and the installed Delta Lake package."""

import importlib.metadata


def solve(lab):
    return (lab.spark.version, importlib.metadata.version("delta-spark"))
