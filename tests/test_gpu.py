"""GPU runners: the same scores with --device cuda as on the CPU (skipped without CUDA)."""

import json
from pathlib import Path

import pytest
import torch
from scenarios import MNIST, mnist_scenarios

from aekit.checks import check
from autograder.assignments import get_assignment
from autograder.batch import grade_all
from autograder.loader import read_cells
from autograder.reference import load_quietly, load_reference

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]
NAMES = ("solution", "typical-mistakes", "written-differently", "untouched-release")


def scores(out: Path, student: str) -> list[tuple[str, float]]:
    tests = json.loads((out / student / "results.json").read_text())["tests"]
    return [(test["name"], test["score"]) for test in tests]


def test_cuda_grading_gives_the_cpu_scores(tmp_path):
    submitted = tmp_path / "submitted"
    for scenario in mnist_scenarios(tmp_path / "planted.json"):
        if scenario.name in NAMES:
            scenario.write(submitted, MNIST)
    reference = load_reference(get_assignment(MNIST))
    for device in ("cpu", "cuda"):
        grade_all(submitted, tmp_path / device, reference, jobs=2, device=device, progress=False)
    for name in NAMES:
        assert scores(tmp_path / "cuda", name) == scores(tmp_path / "cpu", name)


def test_public_checks_pass_on_the_gpu():
    namespace = load_quietly(read_cells(get_assignment(MNIST).notebook))
    for exercise in ("reparameterize", "kl_divergence", "vae_forward", "VAEEncoder"):
        assert all(result.verdict.passed for result in check(exercise, namespace, device="cuda"))
