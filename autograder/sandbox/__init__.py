"""The sandbox that runs students' code: the trusted parent, the child, the fences, the channel.

- :mod:`.launch`: the zygote (the fork server inside bubblewrap), started early, fail-closed.
- :mod:`.parent`: the grader's side: one :class:`Sandbox` per submission.
- :mod:`.limits`: its time, memory and restart limits (no torch: the CLI shows them).
- :mod:`.remote`: probes run here against the student's objects in the child.
- :mod:`.child`: what runs in the sandboxed process: load a notebook, call its definitions.
- :mod:`.fences`: bubblewrap and a seccomp filter around the zygote and every child.
- :mod:`.channel`: the bounded format of the child's answers, the grader's trusted pickles.
- :mod:`.zygote`: the fork server itself; :mod:`.deferred_dynamo` keeps torch's compiler out
  of it until a notebook compiles.

Names are imported on first use, so that ``autograder.sandbox.launch`` starts the zygote
before anything imports torch.
"""

import importlib

_NAMES = {
    "ChildLost": "parent",
    "Limits": "limits",
    "Sandbox": "parent",
    "observe": "remote",
    "IsolationUnavailable": "launch",
    "shared_zygote": "launch",
    "weak_allowed": "launch",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
