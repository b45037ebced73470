"""How the producer encodes JSON: compact NDJSON with UTF-8 kept as is.

``ensure_ascii=False`` on purpose: city names such as "Zürich" reach the landing zone as UTF-8,
and the pipeline must carry them through unchanged.
"""

from __future__ import annotations

import json

ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
dumps = ENCODER.encode
