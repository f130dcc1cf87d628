"""Where the data lives, which device to train on, and whether to run in fast mode.

Everything here reads the environment when called, never at import time.
"""

import os
import sys
from pathlib import Path

import torch

DATA_ENV = "AEKIT_DATA"  # root of every data set and cache; default ~/.cache/aekit
FAST_ENV = "AEKIT_FAST"  # 1: train on a small subset for a few steps
GRADING_ENV = "AEKIT_GRADING"  # set inside the autograder's sandbox
WIDGETS_ENV = "AEKIT_WIDGETS"  # 1: widgets wherever ipywidgets imports; 0: never

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class GradingSkip(RuntimeError):
    """Raised by long-running helpers (training, data loading) inside the grading sandbox."""


def data_root() -> Path:
    """The folder that holds MNIST, ACDC caches and phantoms (``$AEKIT_DATA``)."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "aekit"


def fast_mode() -> bool:
    """True under ``AEKIT_FAST=1`` or while nbgrader executes a notebook.

    nbgrader sets ``NBGRADER_EXECUTION`` (``autograde`` or ``validate``) in the kernel, so a
    training cell shrinks to seconds there without the student doing anything.
    """
    flag = os.environ.get(FAST_ENV, "").strip().lower()
    if flag in _TRUE:
        return True
    if flag in _FALSE:
        return False
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def grading_mode() -> bool:
    """True inside the autograder's sandbox, where training and data loading are skipped."""
    return os.environ.get(GRADING_ENV, "").strip().lower() in _TRUE


def refuse_in_grading(what: str) -> None:
    """Stop a long-running helper at once when the autograder only collects definitions."""
    if grading_mode():
        raise GradingSkip(f"{what} is skipped while grading")


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` gives CUDA when there is a GPU, else the CPU; anything else is taken as is."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def widgets_available() -> bool:
    """True where a person sees widgets (sliders, progress bars): a kernel of an interactive
    front end, with ipywidgets installed, outside fast mode and nbgrader. ``AEKIT_WIDGETS=1``
    or ``0`` decides instead (nbgrader's runs excepted: they never get widgets)."""
    forced = os.environ.get(WIDGETS_ENV, "").strip().lower()
    if forced in _FALSE or os.environ.get("NBGRADER_EXECUTION"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return False
    if forced in _TRUE:
        return True
    return not fast_mode() and _interactive_front_end(shell)


def _interactive_front_end(shell) -> bool:
    """Whether this kernel serves a person, not a headless run.

    A Jupyter server (Lab, Notebook, JupyterHub, Voilà) names the session of every kernel it
    starts in JPY_SESSION_NAME; VS Code sets ``__vsc_ipynb_file__``; Colab imports
    ``google.colab``. nbclient, nbconvert and nbgrader start kernels without any of these.
    """
    return (
        bool(os.environ.get("JPY_SESSION_NAME"))
        or "__vsc_ipynb_file__" in shell.user_ns
        or "google.colab" in sys.modules
    )


def progress_bar(*args, **kwargs):
    """A tqdm bar: the widget one where a person watches a notebook, the text one elsewhere.

    Headless runs must get no widget at all: widget messages can leave nbclient waiting for
    ever on an idle kernel (jupyter/nbclient#312), and tqdm.auto picks widgets in any kernel.
    """
    if widgets_available():
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(*args, **kwargs)
