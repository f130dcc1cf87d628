"""The public checks students run: they accept the solution and teach on typical mistakes."""

import pytest
import torch
from scenarios import MNIST_EXERCISES

from aekit.checks import ChecksFailed, UnknownExercise, check, public_checks, render
from aekit.checks.core import explain
from autograder.assignments import get_assignment
from autograder.loader import read_cells
from autograder.reference import load_quietly


@pytest.fixture(scope="module")
def solution() -> dict:
    return load_quietly(read_cells(get_assignment("mnist_autoencoders").notebook))


@pytest.mark.parametrize("exercise", MNIST_EXERCISES)
def test_the_solution_passes_every_public_check(solution, exercise):
    results = check(exercise, solution)
    assert results and all(result.verdict.passed for result in results)


def test_a_wrong_kl_sign_is_rejected_with_the_reason(solution, capsys):
    namespace = dict(solution)
    namespace["kl_divergence"] = lambda mu, logvar: (
        0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=1)
    )
    assert len(failures(check("kl_divergence", namespace))) == 1
    assert "your KL is negative: check the sign" in capsys.readouterr().out


def test_noise_made_on_the_default_device_is_caught_on_a_cpu_machine(solution, capsys):
    namespace = dict(solution)
    namespace["reparameterize"] = lambda mu, logvar: (
        mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape)
    )
    assert failures(check("reparameterize", namespace))
    assert "On a GPU runner this code would mix devices" in capsys.readouterr().out


def test_a_stub_says_it_is_not_implemented(capsys):
    def interpolate(z_start, z_end, steps):
        raise NotImplementedError()

    assert failures(check("interpolate", {"interpolate": interpolate}))
    assert "`interpolate` is not implemented yet" in capsys.readouterr().out


def failures(results: list) -> list:
    return [result for result in results if not result.verdict.passed]


def test_a_failure_prints_and_lets_the_notebook_go_on(capsys):
    results = check("interpolate", {})
    assert len(failures(results)) == 1
    printed = capsys.readouterr().out
    assert "✗" in printed and "Fix what is marked ✗" in printed


def test_while_nbgrader_validates_a_failure_fails_the_cell(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    with pytest.raises(ChecksFailed, match="1 of 1 public checks of interpolate failed"):
        check("interpolate", {})
    assert "`interpolate` is not defined" in capsys.readouterr().out


def test_under_nbgrader_autograde_a_failure_prints_but_does_not_raise(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    results = check("interpolate", {})
    assert not results[0].verdict.passed
    assert "`interpolate` is not defined" in capsys.readouterr().out


def test_public_checks_never_need_the_reference():
    for exercise in MNIST_EXERCISES:
        assert all(not c.needs_reference and not c.hidden for c in public_checks(exercise))


def test_the_report_reads_as_a_checklist(solution):
    text = render("kl_divergence", check("kl_divergence", solution))
    assert text.splitlines()[0] == "kl_divergence: 3 of 3 public checks passed"
    assert "✓ is 0 when mu = 0 and logvar = 0 (q is the prior)" in text


def test_noise_seeded_inside_reparameterize_is_caught(solution, capsys):
    def reparameterize(mu, logvar):
        generator = torch.Generator(device=mu.device).manual_seed(0)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    namespace = dict(solution) | {"reparameterize": reparameterize}
    assert failures(check("reparameterize", namespace))
    assert "draw new noise at every call" in capsys.readouterr().out


def test_an_encoder_with_a_hard_coded_flatten_size_is_caught(capsys):
    from aekit.checks.cardiac import OTHER_ENCODER, SMALL_ENCODER

    cardiac = load_quietly(read_cells(get_assignment("cardiac_autoencoders").notebook))
    source = get_assignment("cardiac_autoencoders").notebook.read_text()
    assert "channels[-1] * side * side" in source  # the line the mistake replaces
    namespace = dict(cardiac)
    exec(  # noqa: S102 - the solution's class with the flatten size of SMALL_ENCODER hard-coded
        "class ConvVAEEncoder(ConvVAEEncoder):\n"
        "    def __init__(self, in_channels=4, image_size=128, latent_dim=32, channels=(16, 32, 64, 128)):\n"
        "        super().__init__(in_channels, image_size, latent_dim, channels)\n"
        "        self.mu_head = nn.Linear(channels[-1] * 8 * 8, latent_dim)\n"
        "        self.logvar_head = nn.Linear(channels[-1] * 8 * 8, latent_dim)\n",
        namespace,
    )
    assert (
        SMALL_ENCODER["image_size"] // 2 ** len(SMALL_ENCODER["channels"]) == 8
    )  # it passes there
    assert OTHER_ENCODER["image_size"] // 2 ** len(OTHER_ENCODER["channels"]) != 8  # not here
    assert failures(check("ConvVAEEncoder", namespace))


def test_only_the_stubs_bare_raise_reads_as_not_implemented_yet():
    stub = {"kind": "raised", "type": "NotImplementedError", "message": "", "function": "f"}
    assert explain(stub, "f").startswith("`f` is not implemented yet")
    # torch's own, for an operation the meta device lacks, is an error of the code as written
    lacking = {**stub, "message": "Cannot copy out of meta tensor; no data!", "where": "line 3"}
    assert explain(lacking, "f") == (
        "Your code raised NotImplementedError: Cannot copy out of meta tensor; no data! (line 3)"
    )


def test_a_misspelt_exercise_is_named_with_the_likely_one_in_a_single_line():
    with pytest.raises(UnknownExercise, match="did you mean 'kl_divergence'?") as raised:
        check("kl_divergance", {})
    (line,) = raised.value._render_traceback_()  # what the notebook shows: no traceback
    assert line.startswith("UnknownExercise: no exercise called 'kl_divergance'")
