"""The fences around a sandboxed child: no network, no course files, no writes outside scratch."""

import multiprocessing
import os
import socket
import tempfile
from pathlib import Path

import pytest

from autograder import isolation
from autograder.assignments import COURSE_ROOT
from autograder.sandbox import _raise_fences, forbidden_defaults


def fenced(action, scratch: Path) -> str:
    """Run ``action()`` in a forked child behind the sandbox's fences; return what it reports."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def child():
        config = {
            "device": "cpu",
            "memory_mb": 2048,
            "aekit": str(COURSE_ROOT / "aekit"),
            "forbidden": [str(path) for path in forbidden_defaults(COURSE_ROOT)],
        }
        _raise_fences(config, scratch)
        try:
            send.send(f"ok: {action()}")
        except BaseException as error:  # noqa: BLE001
            send.send(f"refused: {type(error).__name__}")

    process = context.Process(target=child)
    process.start()
    process.join(30)
    return receive.recv() if receive.poll(1) else "no answer"


@pytest.fixture
def scratch():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def test_the_course_source_notebooks_cannot_be_read(scratch):
    notebook = COURSE_ROOT / "source" / "mnist_autoencoders" / "mnist_autoencoders.ipynb"
    assert fenced(lambda: len(notebook.read_text()), scratch).startswith("refused")


def test_no_network_even_to_this_machine(scratch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        assert fenced(
            lambda: socket.create_connection(("127.0.0.1", port), timeout=2), scratch
        ).startswith("refused")
    finally:
        listener.close()


def test_no_new_processes(scratch):
    assert fenced(lambda: os.system("true"), scratch).startswith("refused")


def test_writes_stay_in_the_scratch_folder(scratch, tmp_path):
    assert fenced(lambda: (scratch / "ok.txt").write_text("fine"), scratch) == "ok: 4"
    outside = tmp_path / "outside.txt"
    result = fenced(lambda: outside.write_text("planted"), scratch)
    if isolation.landlock_abi() >= 1:
        assert result.startswith("refused") and not outside.exists()


def test_torch_still_computes_behind_the_fences(scratch):
    import torch

    assert fenced(lambda: float(torch.ones(3).sum()), scratch) == "ok: 3.0"
