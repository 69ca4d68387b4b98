"""Worker processes for streamed file work (preprocess, corpus build): chunks go out to a
pool and come back in input order, with a bounded number in flight.

    with pool(workers, initializer, initargs) as p:
        for result in ordered(p, fn, chunks, workers):
            ...
"""

from __future__ import annotations

import functools
import multiprocessing
import sys
from collections import deque

from nlplab import tokenize

_INHERITED: list = []  # a forked worker's copies of the parent's analyzers: never freed


def fresh_backends() -> None:
    """In a forked worker: build analyzers anew instead of reusing the parent's copies
    (Kiwi's thread pool does not survive a fork). The copies stay referenced: freeing a
    copied Kiwi joins its pool's threads, which do not exist in the child, and the worker
    would hang there."""
    _INHERITED.append(tokenize._build)
    tokenize._build = functools.cache(tokenize._build.__wrapped__)


def start_method() -> str:
    """fork where it is safe: it skips each worker's interpreter start and imports. Not
    after this process started a JVM (KoNLPy): a forked child cannot use its parent's JVM,
    so then spawn. macOS and Windows always spawn."""
    jpype = sys.modules.get("jpype")
    if sys.platform.startswith("linux") and not (jpype and jpype.isJVMStarted()):
        return "fork"
    return "spawn"


def pool(workers: int, initializer, initargs=()):
    """A process pool whose workers run `initializer(*initargs)` first. Under fork the
    initargs are inherited, not pickled: a large index costs nothing to hand over."""
    return multiprocessing.get_context(start_method()).Pool(workers, initializer=initializer, initargs=initargs)


def ordered(p, fn, items, workers: int):
    """fn(*item) for every item, run on pool `p`, yielded in input order. At most 2N+2 items
    are in flight, so the reader never runs ahead of the consumer by more than that and
    memory stays constant on inputs of any size (Pool.imap would read them all ahead)."""
    pending = deque()
    for item in items:
        pending.append(p.apply_async(fn, item))
        if len(pending) > 2 * workers + 2:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()
