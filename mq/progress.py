"""Progress of a long command: a tqdm bar on a terminal, one plain line per step otherwise.

Redirected output (CI, nohup, Airflow task logs) cannot redraw a bar, and tqdm disabled there printed
nothing for the minutes a backfill takes; a line per partition says where it is and how long it took.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


class LineProgress:
    """`update(n)` prints `<desc> 3/70 2026-08-05 (4.1 s)`; a context manager like tqdm's bar."""

    def __init__(self, total: int, desc: str, file: TextIO) -> None:
        self.total, self.desc, self.file, self.n = total, desc, file, 0
        self._last = time.perf_counter()

    def update(self, n: int = 1, label: str | None = None) -> None:
        self.n += n
        now = time.perf_counter()
        what = f" {label}" if label else ""
        print(f"{self.desc} {self.n}/{self.total}{what} ({now - self._last:.1f} s)", file=self.file, flush=True)
        self._last = now

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc) -> None:
        return None


class _Bar:
    """tqdm with the same `update(n, label)` signature (the label becomes the postfix)."""

    def __init__(self, total: int, desc: str, file: TextIO) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=desc, unit="day", file=file)

    def update(self, n: int = 1, label: str | None = None) -> None:
        if label:
            self._bar.set_postfix_str(label, refresh=False)
        self._bar.update(n)

    def __enter__(self) -> "_Bar":
        return self

    def __exit__(self, *exc) -> None:
        self._bar.close()


def progress(total: int, desc: str, file: TextIO | None = None):
    file = file or sys.stderr
    return _Bar(total, desc, file) if file.isatty() else LineProgress(total, desc, file)
