"""Makes the project importable where the notebooks run without an install.

Locally (`make lab`, the tests) the notebooks run in the project's environment, where
`clickstream` is installed and this changes nothing. In a Databricks workspace the bundle syncs
`src/` and `producer/` next to these notebooks but installs nothing for them: their folders go
on `sys.path`, as the job's producer notebook does (notebooks/jobs/produce_to_volume.py).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BUNDLE_FILES = Path(__file__).resolve().parent.parent

if importlib.util.find_spec("clickstream") is None:
    for folder in (BUNDLE_FILES / "src", BUNDLE_FILES):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
