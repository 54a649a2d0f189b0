"""Progress bars for runs and sweeps (rich), quiet when asked or when output is not a terminal.

    with Progress(enabled=True) as progress:
        task = progress.task("memory", total=40)
        progress.advance(task, 4)
"""

from __future__ import annotations

from typing import Any, Self


class Progress:
    """A thin wrapper over :class:`rich.progress.Progress` that can be switched off."""

    def __init__(self, *, enabled: bool = True, console: Any = None):
        self.enabled = enabled
        self._rich = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                                      transient=False)

    def __enter__(self) -> Self:
        if self._rich is not None:
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()

    def task(self, description: str, total: int | None, completed: int = 0) -> Any:
        if self._rich is None:
            return None
        return self._rich.add_task(description, total=total, completed=completed)

    def advance(self, task: Any, amount: int = 1) -> None:
        if self._rich is not None and task is not None:
            self._rich.advance(task, amount)

    def finish(self, task: Any) -> None:
        if self._rich is not None and task is not None:
            total = next((t.total for t in self._rich.tasks if t.id == task), None)
            self._rich.update(task, completed=total or 1, total=total or 1)
