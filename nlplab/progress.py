"""Progress for long work: a live bar with rates and ETA on a terminal, and periodic lines
in a log file (the run's log), so the same figures are there after the fact."""

from __future__ import annotations

import logging
import sys
import time


def file_logger(path, name: str = "nlplab") -> logging.Logger:
    """A logger writing to `path` only (the run folder's log)."""
    log = logging.getLogger(f"{name}:{path}")
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    h = logging.FileHandler(path, mode="w", encoding="utf-8")
    h.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(h)
    return log


def close_logger(log: logging.Logger) -> None:
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()


class Progress:
    """Tracks `done` out of `total` (any unit, e.g. bytes) plus named counters (rows,
    tokens), and shows counter rates and the ETA.

        with Progress(total=size, counters=("rows", "tokens"), log=log) as p:
            p.update(advance=len(chunk), rows=n, tokens=k)
    """

    def __init__(self, total: float | None, counters=("rows",), log: logging.Logger | None = None,
                 desc: str = "", enabled: bool | None = None, log_every: float = 10.0, deadline: float | None = None):
        self.total, self.names, self.log, self.desc = total, counters, log, desc
        self.deadline = deadline  # time.perf_counter() at which the work stops (a time budget), if any
        self.counts = dict.fromkeys(counters, 0)
        self.done = self.base = 0.0  # base: work done before this start (a resumed run's steps)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.log_every = log_every
        self._bar = None

    def __enter__(self):
        self.t0 = self._last_log = time.perf_counter()
        if self.enabled:
            from rich.progress import BarColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(TextColumn(self.desc), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                     TextColumn("{task.fields[rates]}"), TextColumn("ETA"), TimeRemainingColumn(),
                                     transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.desc, total=self.total, rates="")
        return self

    def rates(self) -> dict:
        dt = max(time.perf_counter() - self.t0, 1e-9)
        return {f"{k}_per_s": v / dt for k, v in self.counts.items()}

    def resume_at(self, done: float) -> None:
        """Work already done by an earlier start: counted in `done`, not in this start's rate."""
        self.done = self.base = done

    def expected(self) -> float | None:
        """`total`, or under a deadline the work the present rate reaches by then if that is less."""
        if self.deadline is None or not self.total or self.done <= self.base:
            return self.total
        now = time.perf_counter()
        rate = (self.done - self.base) / max(now - self.t0, 1e-9)
        return min(self.total, self.done + max(0.0, self.deadline - now) * rate)

    def eta(self) -> float | None:
        total = self.expected()
        if not total or self.done <= self.base:
            return None
        dt = time.perf_counter() - self.t0
        return dt * max(0.0, total - self.done) / (self.done - self.base)

    def line(self) -> str:
        parts = [f"{self.counts[k]:,} {k} ({r:,.0f}/s)" for k, r in zip(self.names, self.rates().values())]
        eta = self.eta()
        if eta is not None:
            parts.append(f"{100 * self.done / self.expected():.0f}% ETA {eta:,.0f}s")
        return ", ".join(parts)

    def update(self, advance: float = 0, **counts) -> None:
        self.done += advance
        for k, v in counts.items():
            self.counts[k] += v
        if self._bar is not None:
            rates = "  ".join(f"{r:,.0f} {k}/s" for k, r in zip(self.names, self.rates().values()))
            self._bar.update(self._task, completed=self.done, rates=rates, total=self.expected())
        now = time.perf_counter()
        if self.log and now - self._last_log >= self.log_every:
            self._last_log = now
            self.log.info("progress: %s", self.line())

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False


def null_logger() -> logging.Logger:
    """A logger that writes nowhere (the ranks other than 0 of a multi-process run)."""
    log = logging.getLogger("nlplab.null")
    log.propagate = False
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    return log
