"""The sandbox that runs students' code: the trusted parent, the child, the fences, the channel.

- :mod:`.parent`: the grader's side: the zygote, one :class:`Sandbox` per submission, limits.
- :mod:`.remote`: probes run here against the student's objects in the child.
- :mod:`.child`: what runs in the sandboxed process: load a notebook, call its definitions.
- :mod:`.fences`: bubblewrap and a seccomp filter around the zygote and every child.
- :mod:`.channel`: the bounded format of the child's answers, the grader's trusted pickles.
- :mod:`.zygote`: the fork server.
"""

from autograder.sandbox.parent import (
    ChildLost,
    IsolationUnavailable,
    Limits,
    Sandbox,
    shared_zygote,
    weak_allowed,
)
from autograder.sandbox.remote import observe

__all__ = [
    "ChildLost",
    "IsolationUnavailable",
    "Limits",
    "Sandbox",
    "observe",
    "shared_zygote",
    "weak_allowed",
]
