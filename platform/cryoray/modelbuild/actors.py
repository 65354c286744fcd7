"""A pool of Ray CPU actors that thread sequences, so model building never holds up GPU stages.

Batch inference and the Serve application hand each predicted entry's states to
:meth:`AlignmentPool.submit` and carry on; the alignment runs on a CPU actor (``num_cpus=1``)
and the returned ``ObjectRef`` is collected later (``ray.get`` or ``await``). A job goes to the
actor with the fewest unfinished jobs, so one large complex does not queue small ones behind
it while another actor is free. Named pools (``name=...``) are shared: every process that
opens a pool of the same name and size gets the same actors (e.g. all Serve replicas).

An actor that dies (its process killed, its node lost) is restarted, as often as it takes, and
the jobs it was running are run once more on it: threading is a pure function of the job, so a
rerun gives the same result, and a job that kills its actor twice fails instead of looping.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Self

import ray

from cryoray.modelbuild.config import ThreadingConfig
from cryoray.modelbuild.states import HmmStates
from cryoray.modelbuild.threading import ThreadingResult, thread_chains
from cryoray.runtime import ensure_ray

__all__ = ["AlignmentJob", "AlignmentPool"]


@dataclass(frozen=True)
class AlignmentJob:
    """One entry to thread: its states, ``(chain_id, sequence)`` pairs in order, and settings."""

    states: HmmStates
    chains: Sequence[tuple[str, str]]
    config: ThreadingConfig = field(default_factory=ThreadingConfig)
    name: str = ""


@ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=1)
class _AlignmentWorker:
    """Runs :func:`thread_chains` (single-threaded numba kernels) on one CPU."""

    def align(self, job: AlignmentJob) -> ThreadingResult:
        return thread_chains(job.states, job.chains, job.config)

    def ping(self) -> int:
        import os

        return os.getpid()


class AlignmentPool:
    """``size`` CPU actors threading :class:`AlignmentJob` s; see module docs.

    Args:
        size: number of actors (each reserves ``num_cpus``).
        num_cpus: CPUs reserved per actor.
        name: share the actors under this name (``name-0`` … ``name-{size-1}``) across processes.
    """

    def __init__(self, size: int = 1, *, num_cpus: float = 1.0, name: str | None = None) -> None:
        if size < 1:
            raise ValueError(f"`size` must be at least 1, got {size}")
        ensure_ray()
        options: dict = {"num_cpus": num_cpus}
        self._actors = [
            _AlignmentWorker.options(
                **options, **({"name": f"{name}-{i}", "get_if_exists": True} if name else {})
            ).remote()
            for i in range(size)
        ]
        self._pending: list[list[ray.ObjectRef]] = [[] for _ in self._actors]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    @property
    def size(self) -> int:
        return len(self._actors)

    def worker_pids(self) -> list[int]:
        """Process ids of the actors (they live as long as the pool)."""
        return ray.get([a.ping.remote() for a in self._actors])

    def submit(self, job: AlignmentJob) -> ray.ObjectRef:
        """Queue ``job`` on the least busy actor; returns the future :class:`ThreadingResult`."""
        for refs in self._pending:
            if refs:
                done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
                finished = set(done)
                refs[:] = [r for r in refs if r not in finished]
        index = min(range(len(self._actors)), key=lambda i: len(self._pending[i]))
        ref = self._actors[index].align.remote(job)
        self._pending[index].append(ref)
        return ref

    def map(self, jobs: Iterable[AlignmentJob]) -> Iterator[ThreadingResult]:
        """Run every job (all queued at once); yield the results in the jobs' order."""
        refs = [self.submit(job) for job in jobs]
        for ref in refs:
            yield ray.get(ref)

    def shutdown(self) -> None:
        """Stop the actors (named ones too)."""
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        self._pending = []
