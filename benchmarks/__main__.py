"""``python -m benchmarks``: the whole harness (benchmarks.run), results in benchmarks/results.json.

The producer comparison alone: ``python -m benchmarks.producer_bench``.
"""

import sys

from benchmarks import run

sys.exit(run.main(sys.argv[1:]))
