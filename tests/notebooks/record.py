"""`make notebooks`: execute every notebook and commit its outputs, the way nbval will run it.

The references must be recorded as nbval replays them: against a Spark Connect server (never an
in-process JVM, whose stderr a recording kernel would capture and nbval's would not), with
ipykernel's file-descriptor capture off, on a throwaway home.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


def record(paths: list[Path]) -> None:
    from clickstream import server
    from clickstream.config import LocalSettings

    with tempfile.TemporaryDirectory(prefix="lakehouse-record") as tmp:
        home = Path(tmp) / "shared-lakehouse0"
        settings = LocalSettings(home=home, landing=home / "landing", database="clickstream")
        server.start(settings)
        os.environ["CLICKSTREAM_HOME"] = str(home)
        try:
            for path in paths:
                print(f"recording {path.relative_to(REPO)}", flush=True)
                notebook = nbformat.read(path, as_version=4)
                client = NotebookClient(
                    notebook,
                    timeout=1200,
                    kernel_name="python3",
                    resources={"metadata": {"path": str(NOTEBOOKS)}},
                    extra_arguments=["--IPKernelApp.capture_fd_output=False"],
                )
                client.execute()
                nbformat.write(notebook, path)
        finally:
            server.stop(settings)


if __name__ == "__main__":
    chosen = [Path(a).resolve() for a in sys.argv[1:]] or sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    record(chosen)
