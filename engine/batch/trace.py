"""Tracing in batch mode: Rete inference on every row, spread over worker processes (durable_rules
holds the GIL), with a bounded window of chunks in flight and Ctrl-C left to the parent."""

from __future__ import annotations

import itertools
import signal
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from llm_advisor.engine.batch.read import utf8_error
from llm_advisor.engine.batch.verdict import Decided, RowError, Values, verdict_of
from llm_advisor.engine.errors import EngineError, InputError
from llm_advisor.engine.language.model import KnowledgeBase

if TYPE_CHECKING:
    from llm_advisor.engine.inference.run import Engine

CHUNK = 64
"""Rows per task sent to a worker when tracing."""
T = TypeVar("T")


def trace_one(kb: KnowledgeBase, facts: tuple[str, ...], engine: Engine, values: Values) -> Decided:
    """Validate one row and run inference on it."""
    from llm_advisor.engine.language.facts import make_case

    bad = utf8_error(facts, values)
    if bad is not None:
        return bad
    raw = {name: v for name, v in zip(facts, values, strict=True) if v is not None}
    try:
        case = make_case(kb, raw)
    except InputError as err:
        return RowError(str(err), err.item)
    return verdict_of(engine.evaluate(case), "inference")


_WORKER: tuple[KnowledgeBase, tuple[str, ...], Engine] | None = None


def _init_worker(kb: KnowledgeBase, facts: tuple[str, ...]) -> None:
    """Load the rule base into a worker process once: its own durable_rules host. Ctrl-C
    reaches every process of the terminal's group: workers ignore it, their parent stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from llm_advisor.engine.inference.run import Engine

    global _WORKER
    _WORKER = (kb, facts, Engine(kb))


def _trace_chunk(chunk: list[Values | RowError]) -> list[Decided]:
    assert _WORKER is not None
    kb, facts, engine = _WORKER
    return [v if isinstance(v, RowError) else trace_one(kb, facts, engine, v) for v in chunk]


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Block SIGINT while the pool may start worker processes, so that they start with it
    blocked until `_init_worker` ignores it; here it is raised when the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # not on Windows
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def traced(
    kb: KnowledgeBase,
    facts: tuple[str, ...],
    items: Iterable[T],
    values: Callable[[T], Values | RowError],
    jobs: int,
) -> Generator[tuple[T, Decided], None, None]:
    """Inference on every row, in input order, over `jobs` processes (in this one when 1)."""
    if jobs == 1:
        from llm_advisor.engine.inference.run import engine_for

        engine = engine_for(kb)
        for item in items:
            v = values(item)
            yield item, v if isinstance(v, RowError) else trace_one(kb, facts, engine, v)
        return
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # Executor.map would read the whole input ahead: a bounded window of chunks keeps memory
    # flat. A worker that dies fails the run (BrokenProcessPool) where a Pool would hang. When
    # the run stops early (Ctrl-C, an error), the chunks not started are cancelled and the few
    # running ones finish: killing a worker could leave half a result in the pool's pipe.
    window = 2 * jobs
    rows = iter(items)
    pool = ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(kb, facts))
    pending: deque[tuple[list[T], Future[list[Decided]]]] = deque()
    try:
        while True:
            chunk = list(itertools.islice(rows, CHUNK))
            if chunk:
                task = [values(i) for i in chunk]
                with _sigint_held():  # submit may start a worker
                    pending.append((chunk, pool.submit(_trace_chunk, task)))
            while pending and (len(pending) >= window or not chunk):
                done, future = pending.popleft()
                yield from zip(done, future.result(), strict=True)
            if not chunk:
                return
    except BrokenProcessPool as err:
        raise EngineError(f"a worker process stopped unexpectedly: {err}") from None
    finally:
        pool.shutdown(cancel_futures=True)
