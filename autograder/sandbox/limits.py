"""The limits of a sandboxed child, in a module of their own: ``aekit grade``'s options show
these defaults without importing torch."""

from dataclasses import dataclass

from autograder.loader import STATEMENT_SECONDS


@dataclass(frozen=True)
class Limits:
    """Per-request wall time, per-submission budget, memory and restarts of a child."""

    check_seconds: float = 30.0
    statement_seconds: float = STATEMENT_SECONDS  # soft limit of one statement while loading
    load_seconds: float = 60.0  # all of loading
    submission_seconds: float = 300.0  # everything one submission may cost
    memory_mb: int = 3072  # new address space a child may map (CPU), and its resident cap
    restarts: int = 8  # fresh children per submission before giving up
