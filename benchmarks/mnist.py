"""MNIST figures: loading, training speed against a DataLoader loop, quality, notebook time.

    .venv/bin/python -m benchmarks.mnist [--quick]

The models train with the solutions of the source notebook (loaded, never copied). Quality
runs follow pytorch/examples ``vae/main.py``: 784-400-20, summed BCE, Adam 1e-3, batch 128,
10 epochs, about 105.6 nats per test image.
"""

import argparse
import functools
import os
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

from aekit.datasets.mnist import load_mnist, prepare_mnist, raw_folder
from aekit.metrics import pca_reconstruction_mse, reconstruction_mse
from aekit.training import TrainConfig, evaluate, fit, seed_everything
from autograder.assignments import get_assignment
from autograder.loader import read_cells
from autograder.reference import load_quietly

EXAMPLE_NATS = 105.6  # pytorch/examples vae/main.py after 10 epochs


def solutions() -> dict:
    return load_quietly(read_cells(get_assignment("mnist_autoencoders").notebook))


class ExamplesEncoder(nn.Module):
    """The encoder of pytorch/examples vae/main.py: 784 → 400 → (mu, logvar) of 20."""

    def __init__(self, latent_dim: int = 20):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(784, 400), nn.ReLU())
        self.mu_head, self.logvar_head = nn.Linear(400, latent_dim), nn.Linear(400, latent_dim)

    def forward(self, x):
        hidden = self.trunk(x)
        return self.mu_head(hidden), self.logvar_head(hidden)


def examples_decoder(latent_dim: int = 20) -> nn.Module:
    return nn.Sequential(nn.Linear(latent_dim, 400), nn.ReLU(), nn.Linear(400, 784), nn.Sigmoid())


def loading() -> dict:
    """Seconds to get the training split as a tensor, in this process and in a fresh one."""
    prepare_mnist()
    warm = []
    for _ in range(3):
        start = time.perf_counter()
        load_mnist("train")
        warm.append(time.perf_counter() - start)
    code = "import time; t = time.perf_counter(); from aekit.datasets.mnist import load_mnist; load_mnist('train'); print(time.perf_counter() - t)"
    cold = float(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    return {"load_train_s": statistics.median(warm), "import_and_load_train_s": cold}


def training_speed(ns: dict, rounds: int = 2) -> dict:
    """One epoch of the contract VAE (latent 2, batch 128): fit against a DataLoader loop.

    The two alternate ``rounds`` times and each keeps its best epoch, so neither pays alone
    for warming up torch.
    """
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    forward = ns["vae_forward"]
    train = load_mnist("train")
    dataset = datasets.MNIST(
        str(raw_folder().parents[1]), train=True, transform=transforms.ToTensor()
    )

    def fit_epoch() -> float:
        seed_everything(0)
        models = (ns["VAEEncoder"](latent_dim=2), ns["make_decoder"](latent_dim=2))
        config = TrainConfig(epochs=1, batch_size=128, fast=False, progress=False, device="cpu")
        return fit(forward, models, train.images, None, config).seconds[0]

    def loader_epoch() -> float:
        seed_everything(0)
        encoder, decoder = ns["VAEEncoder"](latent_dim=2), ns["make_decoder"](latent_dim=2)
        optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=1e-3)
        start = time.perf_counter()
        for images, _ in DataLoader(dataset, batch_size=128, shuffle=True):
            loss, _ = forward(encoder, decoder, images)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return time.perf_counter() - start

    times = [(fit_epoch(), loader_epoch()) for _ in range(rounds)]
    best_fit, best_loader = min(t[0] for t in times), min(t[1] for t in times)
    return {
        "fit_epoch_s": best_fit,
        "dataloader_epoch_s": best_loader,
        "speedup": best_loader / best_fit,
    }


def quality(ns: dict, epochs: int = 10) -> dict:
    """Test negative ELBO (nats per image) after ``epochs`` epochs, and the AE against PCA."""
    train, test = load_mnist("train"), load_mnist("test")
    elbo = functools.partial(ns["vae_forward"], beta=1.0)
    config = TrainConfig(epochs=epochs, batch_size=128, fast=False, progress=False, device="cpu")
    figures = {}
    runs = {
        "examples_784_400_20": lambda: (ExamplesEncoder(20), examples_decoder(20)),
        "contract_vae_latent2": lambda: (
            ns["VAEEncoder"](latent_dim=2),
            ns["make_decoder"](latent_dim=2),
        ),
        "contract_vae_latent20": lambda: (
            ns["VAEEncoder"](latent_dim=20),
            ns["make_decoder"](latent_dim=20),
        ),
    }
    for name, build in runs.items():
        seed_everything(0)
        models = build()
        history = fit(elbo, models, train.images, None, config)
        figures[f"{name}_nats"] = evaluate(elbo, models, test.images)
        figures[f"{name}_s_per_epoch"] = statistics.mean(history.seconds)
    seed_everything(0)
    encoder, decoder = ns["make_encoder"](latent_dim=32), ns["make_decoder"](latent_dim=32)
    fit(ns["autoencoder_forward"], (encoder, decoder), train.images, None, config)
    with torch.no_grad():
        figures["ae32_test_mse"] = reconstruction_mse(
            lambda x: decoder(encoder(x.reshape(len(x), -1))), test.images
        )
    figures["pca32_test_mse"] = pca_reconstruction_mse(train.images, test.images, 32)
    return figures


def notebook_times() -> dict:
    """The MNIST notebook top to bottom: default settings and fast mode."""
    from autograder.notebooks import execute

    path = get_assignment("mnist_autoencoders").notebook
    figures = {}
    for label, fast in (("notebook_fast_s", "1"), ("notebook_default_s", "0")):
        previous = os.environ.get("AEKIT_FAST")
        os.environ["AEKIT_FAST"] = fast
        try:
            figures[label] = execute(path)
        finally:
            os.environ.pop("AEKIT_FAST") if previous is None else os.environ.__setitem__(
                "AEKIT_FAST", previous
            )
    return figures


TARGETS = [
    ("load_train_s", "≤ 2 s", lambda v: v <= 2),
    ("speedup", "≥ 3×", lambda v: v >= 3),
    ("examples_784_400_20_nats", "≤ 106", lambda v: v <= 106),
    ("notebook_default_s", "≤ 300 s", lambda v: v <= 300),
    ("notebook_fast_s", "≤ 60 s", lambda v: v <= 60),
]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="skip the 10-epoch quality runs and the notebooks"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    ns = solutions()
    figures = loading() | training_speed(ns)
    if not args.quick:
        figures |= quality(ns) | notebook_times()
    figures["ae32_beats_pca32"] = figures.get("ae32_test_mse", 1) < figures.get("pca32_test_mse", 0)
    report(figures)
    return figures


def report(figures: dict) -> None:
    print(f"MNIST benchmarks ({os.cpu_count()} CPU cores, torch {torch.__version__})")
    targets = {key: (text, test) for key, text, test in TARGETS}
    for key, value in figures.items():
        shown = (
            f"{value:.4f}"
            if isinstance(value, float) and value < 1
            else f"{value:.2f}"
            if isinstance(value, float)
            else str(value)
        )
        verdict = ""
        if key in targets:
            text, test = targets[key]
            verdict = f"target {text}: {'met' if test(value) else 'MISSED'}"
        print(f"  {key:32s} {shown:>10s}  {verdict}")


if __name__ == "__main__":
    main()
