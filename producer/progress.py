"""The progress bar: events, files and rate while producing (rich, on stderr)."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


class Progress:
    """A rich progress bar, or nothing at all when disabled or when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None
        self._task: Any = None
        self._total = total
        self._files = 0

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("producing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("events · {task.fields[files]} files · {task.fields[rate]:,.0f} ev/s"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("produce", total=self._total, files=0, rate=0.0)
        return self

    def advance(self, events: int, files: int, elapsed_s: float, done: int) -> None:
        if self._bar is None:
            return
        self._files += files
        rate = done / elapsed_s if elapsed_s > 0 else 0.0
        self._bar.update(self._task, advance=events, files=self._files, rate=rate)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
