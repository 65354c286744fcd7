"""Progress of long runs on the terminal: counts, rate, ETA and the latest figures (loss, metrics).

On a terminal one line is redrawn in place (``\\r`` on stderr; log records written to the same
stream meanwhile first clear it, so they do not run into it); elsewhere (a log file, a CI
job, a pipe) a plain line is written at most every ``every_s`` seconds and once at the end, so
logs stay short. Training, sweeps, ingest and batch inference share this one helper.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

__all__ = ["Progress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``3725`` -> ``1:02:05``; ``65`` -> ``1:05``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _figure(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Progress:
    """One progress line for ``total`` units of work (None: unknown).

    The rate (and so the ETA) is measured from the first :meth:`update` on, so start-up time
    (Ray, workers) and work restored from a checkpoint do not distort it.

    Args:
        label: what runs, e.g. ``"train"``; starts the line.
        total: units of work in all, or None.
        unit: name of a unit, e.g. ``"steps"``, ``"entries"``.
        stream: where to write; default ``sys.stderr`` (stdout stays for results and ``--json``).
        enabled: False writes nothing (``--quiet``, or runs nested in a sweep).
        every_s: least seconds between lines when the stream is not a terminal.
        clock: seconds, monotonic (tests pass their own).
    """

    TTY_REDRAW_S = 0.1  # least seconds between redraws on a terminal

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        unit: str = "",
        stream: TextIO | None = None,
        enabled: bool = True,
        every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.every_s = every_s
        self.clock = clock
        self.done = 0
        self.figures: dict[str, object] = {}
        self.tty = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self._started = clock()
        self._first: tuple[float, int] | None = None  # (time, done) at the first update
        self._written: float | None = None
        self._width = 0
        self._closed = False
        self._handlers = [
            h for h in logging.getLogger().handlers if self.tty and getattr(h, "stream", None) is self.stream
        ]
        for handler in self._handlers:
            handler.addFilter(self._clear)

    @property
    def rate(self) -> float | None:
        """Units per second since the first update (None until there are two points)."""
        if self._first is None:
            return None
        elapsed = self.clock() - self._first[0]
        gained = self.done - self._first[1]
        return gained / elapsed if elapsed > 0 and gained > 0 else None

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate (None when unknown)."""
        rate = self.rate
        if rate is None or self.total is None:
            return None
        return max(0, self.total - self.done) / rate

    def line(self) -> str:
        """The progress line as it would be written now."""
        count = f"{self.done}/{self.total}" if self.total is not None else str(self.done)
        parts = [f"{self.label}: {count}{f' {self.unit}' if self.unit else ''}"]
        if self.total:
            parts[0] += f" ({100 * self.done / self.total:.0f}%)"
        rate = self.rate
        if rate is not None:
            parts.append(f"{rate:.3g} {self.unit or 'units'}/s" if rate >= 1 else f"{1 / rate:.3g} s each")
        if self._closed:
            parts.append(f"took {format_duration(self.clock() - self._started)}")
        elif self.eta_s is not None:
            parts.append(f"ETA {format_duration(self.eta_s)}")
        parts.extend(f"{key} {_figure(value)}" for key, value in self.figures.items())
        return ", ".join(parts)

    def update(self, done: int | None = None, *, advance: int = 0, **figures: object) -> None:
        """Set the count to ``done`` (or add ``advance``) and the figures shown beside it; writes when due."""
        if done is not None:
            self.done = done
        self.done += advance
        self.figures.update(figures)
        now = self.clock()
        if self._first is None:
            self._first = (now, self.done)
        due = self.TTY_REDRAW_S if self.tty else self.every_s
        if self._written is None or now - self._written >= due:
            self._write(now)

    def close(self) -> None:
        """Write the final line (count, rate, time taken); later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        for handler in self._handlers:
            handler.removeFilter(self._clear)
        self._write(self.clock())
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _clear(self, record: logging.LogRecord) -> bool:
        """Log filter (terminal only): blank the line before the record is written; the next update redraws it."""
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
            self._written = None
        return True

    def _write(self, now: float) -> None:
        self._written = now
        if not self.enabled:
            return
        text = self.line()
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
