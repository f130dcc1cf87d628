"""``torch._dynamo`` imported only when something compiles: 1.7 s and 70 MB less per zygote.

torch marks a few hundred of its own functions "never compile this" with
``torch._disable_dynamo``, which imports ``torch._dynamo`` the first time a marked function runs.
Ordinary eager code runs them: a ``Linear`` on the meta device (the device checks), the first
step of any optimizer. Outside ``torch.compile`` the mark changes nothing, so importing the
compiler for it is wasted: the zygote installs :class:`DeferredDynamo` in its place instead.

The stand-in answers ``disable`` and ``graph_break`` alone. Marked functions run as they are
until the real ``torch._dynamo`` is loaded, and through the real ``disable`` after. Anything
else asked of it (``torch.compile``, ``import torch._dynamo.config``) loads the real module
first, so a notebook that compiles behaves as it would anywhere.
"""

import functools
import importlib
import sys
import types

NAME = "torch._dynamo"


class DeferredDynamo(types.ModuleType):
    """Stands in for ``torch._dynamo`` until something beyond ``disable`` and ``graph_break``
    is asked of it."""

    def disable(self, fn=None, recursive=True, **options):
        if fn is None:  # used as @disable(recursive=False)
            return functools.partial(self.disable, recursive=recursive, **options)
        real_disabled = None

        @functools.wraps(fn)
        def run(*args, **kwargs):
            nonlocal real_disabled
            if sys.modules.get(NAME) is self:  # nothing compiles: the mark has no effect
                return fn(*args, **kwargs)
            if real_disabled is None:
                real_disabled = sys.modules[NAME].disable(fn, recursive, **options)
            return real_disabled(*args, **kwargs)

        return run

    def graph_break(self, msg: str = "") -> None:
        """Nothing, as the real one does outside ``torch.compile`` (every optimizer step)."""

    def __getattr__(self, name: str):
        # Tools that walk sys.modules probe dunders (inspect looks for __file__): those are
        # simply missing. __path__ is what importing a submodule asks for.
        if name.startswith("__") and name != "__path__":
            raise AttributeError(name)
        return getattr(load_real(), name)


def install() -> None:
    """Put the stand-in in place of ``torch._dynamo`` (torch imported, the compiler not yet)."""
    import torch

    if NAME not in sys.modules:
        sys.modules[NAME] = torch._dynamo = DeferredDynamo(NAME)


def load_real() -> types.ModuleType:
    """The real ``torch._dynamo``, imported now if the stand-in is still in its place."""
    module = sys.modules.get(NAME)
    if isinstance(module, DeferredDynamo):
        del sys.modules[NAME]
        try:
            return importlib.import_module(NAME)
        except BaseException:
            sys.modules[NAME] = module
            raise
    return module
