"""``python -m producer …`` is ``clickstream produce …`` (handy where no script is installed)."""

import sys

from clickstream.cli import main

sys.exit(main(["produce", *sys.argv[1:]]))
