"""``python -m benchmarks``: runs the benchmarks and prints their tables.

For now that is the producer's throughput against a naive generator (see producer_bench).
"""

import sys

from benchmarks import producer_bench

sys.exit(producer_bench.main(sys.argv[1:]))
