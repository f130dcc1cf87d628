"""Hostile submissions, one or more per class of attack on the grader, each with the exact score
it must get: what its honest code earns, never more.

Built like the scenarios, from the committed release (no code of its own) and solutions
notebooks. Several attacks prove themselves through the score: an exercise is correct only if
every attempt of the attack failed, so a fence that gave way would cost (or, for a forger, earn)
points and the test would see it.
"""

from dataclasses import dataclass, field
from pathlib import Path

from scenarios import MNIST, NOTHING, Scenario

from autograder.samples import insert_after, load, replace

QUEUE_KEY = 0xAE41  # the SysV key the queue writer uses and the reader looks for
DROP = "aekit-stolen.py"  # the file name the writer leaves in every shared folder it finds


@dataclass
class Adversary(Scenario):
    """A hostile submission; ``kind`` is the class of attack of issue 14 it belongs to."""

    kind: str = ""
    expected: dict[str, float] = field(default_factory=dict)


def _release_with(cell: str, after: str = "make_encoder") -> dict:
    return insert_after(load("release", MNIST), after, cell)


# 1. Forged observations: replace everything the grader once ran in the child.
FORGER = """
import aekit.checks.core as _core
import autograder.sandbox.child as _child
import autograder.sandbox.channel as _channel
import torch

CANNED = {"shape": [5, 32], "negative": True, "layers": [[784, 128], [128, 64], [64, 32]],
          "parameters": 110816, "same": False, "low": 0.1, "high": 0.9}


def _forged(*args, **kwargs):
    return "observed", dict(CANNED)


_core.run_probe = _core.probe_outcome = _forged
_core.judge_outcome = lambda *args, **kwargs: True


def _answer(self, request):
    reply = {"op": "value", "value": dict(CANNED), "call": 1, "leaves": 0, "records": []}
    if request.get("op") == "load":
        reply = {"op": "loaded", "notes": [], "fences": ["none"], "slow": []}
    self.connection.send_bytes(_channel.pack(reply))


_child.Worker.answer = _answer
"""

# 2. Honest code in a notebook that monkeypatches torch's comparisons.
PATCHER = """
import torch
torch.equal = lambda *args, **kwargs: True
torch.allclose = lambda *args, **kwargs: True
torch.isfinite = lambda value: torch.ones_like(value, dtype=torch.bool)
"""

# 3. Wrong code that zeroes the inputs it was given, in place.
ZEROING = {
    "reparameterize": """
def reparameterize(mu, logvar):
    with torch.no_grad():
        mu.zero_()
        logvar.zero_()
    return torch.zeros_like(mu)
""",
    "kl_divergence": """
def kl_divergence(mu, logvar):
    with torch.no_grad():
        mu.zero_()
        logvar.zero_()
    return torch.zeros(mu.shape[0], dtype=mu.dtype, device=mu.device)
""",
    "interpolate": """
def interpolate(z_start, z_end, steps):
    with torch.no_grad():
        z_start.zero_()
        z_end.zero_()
    return torch.zeros(steps, z_start.shape[0])
""",
}

# 4. Looking for the reference (and the hidden checks) in the child's memory and files.
SEEKER = """
import base64
import gc
import sys


def _loot():
    found = [name for name in sys.modules if name.startswith(("autograder", "aekit"))]
    for item in gc.get_objects():
        if isinstance(item, dict):
            for value in list(item.values())[:50]:
                if isinstance(value, str) and ("BEGIN SOLUTION" in value or "def probe" in value):
                    found.append(value)
    for path in ("source", "solutions", "autograder/hidden", "../source", "/work"):
        try:
            found.append(open(path + "/mnist_autoencoders/mnist_autoencoders.ipynb").read())
        except OSError:
            pass
    for name in ("reparameterize", "kl_divergence", "reconstruction_loss"):
        piece = globals().get(name)
        code = getattr(piece, "__code__", None)
        found.append(repr(getattr(code, "co_consts", None)))
    return base64.b64encode("\\n".join(found).encode()).decode()


def vae_forward(encoder, decoder, x, beta=1.0):
    raise RuntimeError(_loot())


def autoencoder_forward(encoder, decoder, x):
    raise RuntimeError(_loot()[::-1])
"""

# 5. State shared across sandboxes: a writer leaves its solutions behind, a reader takes them.
WRITER = f'''
import ctypes
import os


def _leave(text):
    libc = ctypes.CDLL(None, use_errno=True)
    queue = libc.msgget({QUEUE_KEY}, 0o1666)
    if queue >= 0:
        buffer = ctypes.create_string_buffer(8 + len(text))
        ctypes.memmove(ctypes.addressof(buffer), (1).to_bytes(8, "little"), 8)
        ctypes.memmove(ctypes.addressof(buffer) + 8, text, len(text))
        libc.msgsnd(queue, buffer, len(text), 0)
    for folder in ("/tmp", "/dev/shm", os.environ.get("HOME", "/tmp")):
        try:
            with open(os.path.join(folder, "{DROP}"), "wb") as handle:
                handle.write(text)
        except OSError:
            pass


def interpolate(z_start, z_end, steps):
    weights = torch.linspace(0.0, 1.0, steps, dtype=z_start.dtype, device=z_start.device)
    _leave(b"def kl_divergence(mu, logvar):\\n    return -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(dim=-1)\\n")
    return z_start + weights[:, None] * (z_end - z_start)
'''

READER = f'''
import ctypes
import os


def _take():
    libc = ctypes.CDLL(None, use_errno=True)
    queue = libc.msgget({QUEUE_KEY}, 0o666)
    if queue >= 0:
        buffer = ctypes.create_string_buffer(8 + 65536)
        size = libc.msgrcv(queue, buffer, 65536, 0, 0o4000)
        if size > 0:
            return buffer.raw[8 : 8 + size].decode()
    for folder in ("/tmp", "/dev/shm", os.environ.get("HOME", "/tmp")):
        try:
            return open(os.path.join(folder, "{DROP}")).read()
        except OSError:
            pass
    return ""


def kl_divergence(mu, logvar):
    namespace = {{"torch": torch}}
    exec(_take(), namespace)
    return namespace["kl_divergence"](mu, logvar)
'''

# 6. Crashing or starving the trusted side with malformed, deep or huge answers.
ANSWERING = """
import struct
import autograder.sandbox.channel as _channel
import autograder.sandbox.child as _child
_original = _child.Worker.answer


def _answer(self, request):
    if request.get("op") == "load":
        return _original(self, request)
    self.connection.send_bytes({message})


_child.Worker.answer = _answer
"""
MALFORMED = {
    "string-answers": ANSWERING.format(message='_channel.pack("not a mapping")'),
    "deep-header": ANSWERING.format(
        message='struct.pack("<I", 200_000) + b"[" * 100_000 + b"]" * 100_000'
    ),
    "huge-answers": ANSWERING.format(
        message='struct.pack("<I", 90_000_003) + b"[" + b"[]," * 30_000_000 + b"[]]"'
    ),
}

# 7. Root powers: each exercise is right only if every attempt was refused.
ROOT_POWERS = """
import ctypes
import fcntl
import os
import stat
import termios


def _refused(action):
    try:
        action()
    except Exception:
        return True
    return False


def _attempts():
    libc = ctypes.CDLL(None, use_errno=True)

    def shadow():
        open("/etc/shadow").read()

    def device():
        os.mknod("/tmp/tty-copy", stat.S_IFCHR | 0o666, os.makedev(5, 0))

    def inject():
        for fd in (0, 1, 2):
            fcntl.ioctl(fd, termios.TIOCSTI, b"x")
        fcntl.ioctl(os.open("/dev/tty", os.O_RDWR), termios.TIOCSTI, b"x")

    def bpf():
        if libc.syscall(321, 5, None, 0) < 0:
            raise OSError(ctypes.get_errno(), "bpf")

    return [_refused(attempt) for attempt in (shadow, device, inject, bpf)]


def kl_divergence(mu, logvar):
    if not all(_attempts()):
        return torch.zeros(mu.shape[0]) - 1.0
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=-1)
"""

# 8. Processes and channels past the fences.
ESCAPER = """
import ctypes
import os
import socket


def _escapes(path):
    libc = ctypes.CDLL(None, use_errno=True)
    found = []
    pid = libc.fork()
    if pid == 0:  # only if the fence gave way: live long enough to be counted
        libc.sleep(30)
        os._exit(0)
    found.append(pid > 0)
    found.append(libc.syscall(56, 17, 0, 0, 0, 0) > 0)  # clone(SIGCHLD)
    try:
        os.execv("/bin/sh", ["sh", "-c", "sleep 1000"])
    except OSError:
        found.append(False)
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)
        found.append(True)
    except OSError:
        found.append(False)
    return found


def kl_divergence(mu, logvar):
    if any(_escapes(HOST_SOCKET)):
        return torch.zeros(mu.shape[0]) - 1.0
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=-1)
"""

# 9. A tarpit: every exercise sleeps just under the per-check limit.
TARPIT = """
import time


def _sleepy(*args, **kwargs):
    time.sleep(1.8)
    raise NotImplementedError()


make_encoder = make_decoder = reconstruction_loss = autoencoder_forward = _sleepy
VAEEncoder = reparameterize = kl_divergence = vae_forward = interpolate = _sleepy
"""

# A memory hog: past the memory limit, it costs that exercise only.
HOG = """
def kl_divergence(mu, logvar):
    hoard = [bytearray(256 << 20) for _ in range(64)]  # 16 GB, well past the limit
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=-1) + 0 * len(hoard)
"""

# Holding the reference, which a whole class shares: huge piece calls are refused at once.
HOLDER = """
def vae_forward(encoder, decoder, x, beta=1.0):
    big = torch.zeros(2100, 2100)
    for _ in range(5):
        try:
            reparameterize(big, big)
        except RuntimeError:
            pass
    raise RuntimeError("held")
"""

# 10. NaN where a number belongs.
NAN_KL = """
def kl_divergence(mu, logvar):
    return (mu * float("nan")).sum(dim=-1) + 0.0 * logvar.sum(dim=-1)
"""


def mnist_adversaries(host_socket: Path) -> list[Adversary]:
    """Every hostile mnist_autoencoders submission with its exact points per exercise."""
    solution = load("solutions", MNIST)
    zeroing = load("release", MNIST)
    for exercise, source in ZEROING.items():
        zeroing = replace(zeroing, exercise, source)
    zeroing_twin = load("release", MNIST)
    for exercise, source in ZEROING.items():
        honest = source.replace("mu.zero_()", "pass").replace("z_start.zero_()", "pass")
        honest = honest.replace("logvar.zero_()", "pass").replace("z_end.zero_()", "pass")
        zeroing_twin = replace(zeroing_twin, exercise, honest)
    escaper = replace(
        solution, "kl_divergence", ESCAPER.replace("HOST_SOCKET", repr(str(host_socket)))
    )
    return [
        Adversary("forger", _release_with(FORGER), dict(NOTHING), kind="forged observations"),
        Adversary(
            "torch-patcher",
            insert_after(solution, "make_encoder", PATCHER),
            kind="judged in the child",
        ),
        Adversary("input-zeroer", zeroing, ZEROED_SCORES, kind="echoed inputs"),
        Adversary("input-zeroer-twin", zeroing_twin, ZEROED_SCORES, kind="echoed inputs"),
        Adversary(
            "seeker",
            insert_after(load("release", MNIST), "interpolate", SEEKER),
            dict(NOTHING),
            kind="the reference leaks",
        ),
        Adversary(
            "root-powers", replace(solution, "kl_divergence", ROOT_POWERS), kind="root powers"
        ),
        Adversary("escaper", escaper, kind="processes and channels"),
        Adversary(
            "tarpit", _release_with(TARPIT, after="interpolate"), dict(NOTHING), kind="tarpit"
        ),
        Adversary(
            "reference-holder",
            replace(solution, "vae_forward", HOLDER),
            {"vae_forward": 0.0},
            kind="crashing the trusted side",
        ),
        Adversary(
            "memory-hog",
            replace(solution, "kl_divergence", HOG),
            {"kl_divergence": 0.0},
            kind="memory",
        ),
        Adversary(
            "nan-kl",
            replace(solution, "kl_divergence", NAN_KL),
            {"kl_divergence": 0.5},
            kind="NaN",
        ),
    ] + [
        Adversary(name, _release_with(cell), dict(NOTHING), kind="crashing the trusted side")
        for name, cell in MALFORMED.items()
    ]


def queue_writer() -> Adversary:
    return Adversary(
        "queue-writer",
        replace(load("solutions", MNIST), "interpolate", WRITER),
        kind="state shared across sandboxes",
    )


def queue_reader() -> Adversary:
    return Adversary(
        "queue-reader",
        replace(load("release", MNIST), "kl_divergence", READER),
        dict(NOTHING),
        kind="state shared across sandboxes",
    )


# What the zeroing code earns honestly (its twin without the in-place zeroing earns the same):
# reparameterize keeps mu's shape, dtype and device for any shape; the KL is one value per
# sample and 0 at the prior; interpolate's zeros pass nothing.
ZEROED_SCORES = dict(NOTHING) | {"reparameterize": 1.0, "kl_divergence": 1.0, "interpolate": 0.0}
