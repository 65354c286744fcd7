"""The progress line: redrawn in place on a terminal, a few plain lines elsewhere, nothing when disabled."""

from __future__ import annotations

import io
import logging

from cryoray.runtime.progress import Progress, format_duration


class Stream(io.StringIO):
    """A text stream that says whether it is a terminal (as sys.stderr does)."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _run(stream: Stream, clock: Clock, **options: object) -> Progress:
    progress = Progress("train", 100, unit="steps", stream=stream, every_s=30.0, clock=clock, **options)
    for step in range(1, 51):
        clock.now += 1.0  # one step a second
        progress.update(step, loss=1.0 / step)
    progress.close()
    return progress


def test_terminal_gets_one_line_redrawn_in_place() -> None:
    stream, clock = Stream(tty=True), Clock()
    progress = _run(stream, clock)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended once at close
    assert text.count("\r") == 51  # every update (>= 0.1 s apart) and the final line
    last = text.rstrip("\n").split("\r")[-1].rstrip()
    assert last.startswith("train: 50/100 steps (50%), 1 steps/s")
    assert "took 0:50" in last and "loss 0.02" in last
    assert progress.eta_s is not None and abs(progress.eta_s - 50.0) < 1e-6


def test_redrawn_line_overwrites_a_longer_one() -> None:
    stream = Stream(tty=True)
    progress = Progress("ingest", stream=stream, clock=Clock())
    progress.update(1, note="a long figure here")
    progress.figures.clear()
    progress.clock.now += 1
    progress.update(2)
    first, second = stream.getvalue().split("\r")[1:]
    assert len(second) >= len(first)  # padded with spaces: no stale tail on screen


def test_log_gets_a_line_every_interval_and_at_the_end() -> None:
    stream, clock = Stream(tty=False), Clock()
    _run(stream, clock)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    # first update (step 1), then at steps 31 (30 s later), then the final line
    assert [line.split(",")[0] for line in lines] == [
        "train: 1/100 steps (1%)",
        "train: 31/100 steps (31%)",
        "train: 50/100 steps (50%)",
    ]
    assert "ETA 1:09" in lines[1]  # 69 steps left at 1 step/s
    assert "took 0:50" in lines[2]


def test_disabled_writes_nothing_but_still_counts() -> None:
    stream, clock = Stream(tty=True), Clock()
    progress = _run(stream, clock, enabled=False)
    assert stream.getvalue() == ""
    assert progress.done == 50


def test_unknown_total_and_slow_work() -> None:
    stream, clock = Stream(tty=False), Clock()
    progress = Progress("ingest", unit="entries", stream=stream, clock=clock)
    progress.update(advance=1)
    clock.now += 20.0
    progress.update(advance=1, quarantined=1)
    progress.close()
    final = stream.getvalue().splitlines()[-1]
    assert final.startswith("ingest: 2 entries, 20 s each")
    assert "quarantined 1" in final and "ETA" not in final


def test_format_duration() -> None:
    assert format_duration(65) == "1:05"
    assert format_duration(3725) == "1:02:05"
    assert format_duration(-3) == "0:00"


def test_log_records_on_the_terminal_clear_the_line_first() -> None:
    stream, clock = Stream(tty=True), Clock()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with Progress("ingest", 2, unit="entries", stream=stream, clock=clock) as progress:
            progress.update(1)
            logging.getLogger("cryoray.test").warning("entry E-1 quarantined")
            clock.now += 0.01  # sooner than a redraw would be due: the line comes back anyway
            progress.update(2)
        logging.getLogger("cryoray.test").warning("after")
    finally:
        root.removeHandler(handler)
    lines = stream.getvalue().split("\n")
    assert lines[0].endswith("\rentry E-1 quarantined")  # blanked line, then the record from column 0
    assert lines[1].startswith("\ringest: 2/2 entries") and lines[1].split("\r")[-1].startswith("ingest: 2/2")
    assert lines[2] == "after"  # the filter is gone once the progress closed
