"""The cardiac checks: they accept the solution and correct code written differently, and
reject typical mistakes with a message that names them."""

import textwrap

import pytest
import torch
from scenarios import CARDIAC_WRITTEN_DIFFERENTLY as WRITTEN_DIFFERENTLY

from aekit.checks import check, public_checks
from aekit.checks.core import run_in_process, run_probe
from autograder.assignments import get_assignment
from autograder.loader import read_cells
from autograder.reference import load_quietly

CARDIAC = get_assignment("cardiac_autoencoders")


@pytest.fixture(scope="module")
def solution() -> dict:
    return load_quietly(read_cells(CARDIAC.notebook))


@pytest.fixture(scope="module")
def reference(solution) -> dict:
    """The solution's observations under every check that compares with the reference."""
    return {c.name: run_probe(c, solution)[1] for c in CARDIAC.checks if c.needs_reference}


def with_code(solution: dict, code: str) -> dict:
    """The solution's namespace with ``code`` (a redefinition) run on top of it."""
    namespace = dict(solution)
    exec(textwrap.dedent(code), namespace)  # noqa: S102 - test code written here
    return namespace


def failures(namespace: dict, exercise: str, reference: dict) -> list[str]:
    """Messages of every failed check, public and hidden, of ``exercise``."""
    checks = [c for c in CARDIAC.checks if c.exercise == exercise]
    results = run_in_process(checks, namespace, lambda c: reference.get(c.name))
    return [f"{r.check.title}: {r.verdict.message}" for r in results if not r.verdict.passed]


@pytest.mark.parametrize("exercise", CARDIAC.exercises)
def test_the_solution_passes_every_public_check(solution, exercise, capsys):
    results = check(exercise, solution)
    assert results and all(result.verdict.passed for result in results)


def test_public_checks_never_need_the_reference():
    for exercise in CARDIAC.exercises:
        assert all(not c.needs_reference and not c.hidden for c in public_checks(exercise))


def test_every_exercise_has_public_and_hidden_checks_worth_its_grade_cell():
    for exercise in CARDIAC.exercises:
        checks = [c for c in CARDIAC.checks if c.exercise == exercise]
        assert any(c.hidden for c in checks) and any(not c.hidden for c in checks)
        assert all(c.points == 0.5 for c in checks)
    assert CARDIAC.max_score == 29


# --- correct code written differently passes every check, hidden ones included ---------------


@pytest.mark.parametrize(
    "exercise, code",
    [(exercise, code) for exercise, codes in WRITTEN_DIFFERENTLY.items() for code in codes],
    ids=[
        f"{exercise}-{i}"
        for exercise, codes in WRITTEN_DIFFERENTLY.items()
        for i in range(len(codes))
    ],
)
def test_correct_code_written_differently_passes_every_check(solution, reference, exercise, code):
    assert failures(with_code(solution, code), exercise, reference) == []


# --- typical mistakes are rejected by the public checks, with the reason ----------------------

MISTAKES = [
    (
        "to_onehot",
        "def to_onehot(labels, num_classes=4):\n    return F.one_hot(labels, num_classes).float()",
        "The classes come last",
    ),
    (
        "to_onehot",
        "def to_onehot(labels, num_classes=4):\n"
        "    return F.one_hot(labels, num_classes).permute(0, 3, 1, 2)",
        "convert them with .float()",
    ),
    (
        "downsampling_block",
        "def downsampling_block(i, o):\n"
        "    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),\n"
        "                         nn.Conv2d(o, o, 3, padding=1), nn.ReLU())",
        "Convolution 1 of downsampling_block(3, 5) is Conv2d(3, 5, 3, stride=1, padding=1)",
    ),
    (
        "upsampling_block",
        "def upsampling_block(i, o):\n"
        "    return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(i, o, 3, padding=1),\n"
        "                         nn.ReLU(), nn.Conv2d(o, o, 3, padding=1), nn.ReLU())",
        "expected ConvTranspose2d(5, 3, 2, stride=2, padding=0)",
    ),
    (
        "upsampling_block",
        "def upsampling_block(i, o):\n"
        "    return nn.Sequential(nn.ConvTranspose2d(i, o, 2, stride=2), nn.ReLU(),\n"
        "                         nn.Conv2d(o, o, 3), nn.ReLU())",
        "ConvTranspose2d with kernel 2 and stride 2 doubles",
    ),
    (
        "ConvVAEEncoder",
        "class ConvVAEEncoder(nn.Module):\n"
        "    def __init__(self, in_channels=4, image_size=128, latent_dim=32, channels=(16, 32, 64, 128)):\n"
        "        super().__init__()\n"
        "        widths = (in_channels, *channels)\n"
        "        self.features = nn.Sequential(*(downsampling_block(a, b) for a, b in zip(widths, widths[1:])))\n"
        "        self.mu_head = nn.Linear(8192, latent_dim)\n"
        "        self.logvar_head = nn.Linear(8192, latent_dim)\n",
        "do not hard-code it",
    ),
    (
        "ConvDecoder",
        "class Softmaxed(ConvDecoder):\n"
        "    def forward(self, z):\n"
        "        return super().forward(z).softmax(dim=1)\n"
        "ConvDecoder = Softmaxed",
        "The outputs look like probabilities",
    ),
    (
        "ConvDecoder",
        "class Squashed(ConvDecoder):\n"
        "    def forward(self, z):\n"
        "        return torch.sigmoid(super().forward(z))\n"
        "ConvDecoder = Squashed",
        "Every output is ≥ 0",
    ),
    (
        "segmentation_loss",
        "def segmentation_loss(logits, labels):\n"
        "    return F.cross_entropy(logits, labels, reduction='none').flatten(1).mean(1)",
        "you averaged over the pixels",
    ),
    (
        "segmentation_loss",
        "def segmentation_loss(logits, labels):\n    return F.cross_entropy(logits, labels)",
        "keep one value per sample",
    ),
    (
        "dice_score",
        "def dice_score(pred, target, num_classes=4):\n"
        "    scores = []\n"
        "    for c in range(1, num_classes):\n"
        "        p, t = pred == c, target == c\n"
        "        scores.append(2 * (p & t).sum((1, 2)) / (p.sum((1, 2)) + t.sum((1, 2))))\n"
        "    return torch.stack(scores, 1)",
        "gives 0 / 0 = NaN",
    ),
    (
        "dice_score",
        "def dice_score(pred, target, num_classes=4):\n"
        "    scores = []\n"
        "    for c in range(1, num_classes):\n"
        "        p, t = pred == c, target == c\n"
        "        union = (p | t).sum((1, 2))\n"
        "        iou = (p & t).sum((1, 2)) / union.clamp(min=1)\n"
        "        scores.append(torch.where(union > 0, iou, torch.ones_like(iou)))\n"
        "    return torch.stack(scores, 1)",
        "this is the IoU",
    ),
    (
        "dice_score",
        "_dice = dice_score\n"
        "def dice_score(pred, target, num_classes=4):\n"
        "    return torch.cat([torch.ones(len(pred), 1), _dice(pred, target, num_classes)], 1)",
        "leave the background out",
    ),
    (
        "cardiac_vae_forward",
        "def cardiac_vae_forward(encoder, decoder, labels, beta=1.0):\n"
        "    mu, logvar = encoder(to_onehot(labels))\n"
        "    logits = decoder(reparameterize(mu, logvar))\n"
        "    loss = beta * segmentation_loss(logits, labels) + kl_divergence(mu, logvar)\n"
        "    return loss.mean(), logits",
        "beta multiplies the cross-entropy",
    ),
    (
        "cardiac_vae_forward",
        "def cardiac_vae_forward(encoder, decoder, labels, beta=1.0):\n"
        "    mu, logvar = encoder(labels.float())\n"
        "    logits = decoder(reparameterize(mu, logvar))\n"
        "    loss = segmentation_loss(logits, labels) + beta * kl_divergence(mu, logvar)\n"
        "    return loss.mean(), logits",
        "encode to_onehot(labels)",
    ),
    (
        "cardiac_vae_forward",
        "_forward = cardiac_vae_forward\n"
        "def cardiac_vae_forward(encoder, decoder, labels, beta=1.0):\n"
        "    loss, logits = _forward(encoder, decoder, labels, beta)\n"
        "    return loss, logits.argmax(dim=1)",
        "not a label map",
    ),
    (
        "project_segmentation",
        "def project_segmentation(encoder, decoder, labels):\n"
        "    mu, logvar = encoder(to_onehot(labels))\n"
        "    return decoder(reparameterize(mu, logvar)).argmax(dim=1)",
        "decode mu, the mean of q(z | x)",
    ),
    (
        "project_segmentation",
        "def project_segmentation(encoder, decoder, labels):\n"
        "    return decoder(encoder(to_onehot(labels))[0]).argmax(dim=-1)",
        "take the argmax over the classes, dimension 1",
    ),
]


@pytest.mark.parametrize(
    "exercise, code, reason", MISTAKES, ids=[f"{m[0]}-{i}" for i, m in enumerate(MISTAKES)]
)
def test_a_typical_mistake_fails_a_public_check_that_names_it(
    solution, exercise, code, reason, capsys
):
    assert not all(result.verdict.passed for result in check(exercise, with_code(solution, code)))
    assert reason in capsys.readouterr().out


def test_hidden_checks_name_a_softmax_before_the_cross_entropy(solution, reference):
    code = (
        "def segmentation_loss(logits, labels):\n"
        "    per_pixel = F.cross_entropy(logits.softmax(1), labels, reduction='none')\n"
        "    return per_pixel.flatten(1).sum(1)"
    )
    found = failures(with_code(solution, code), "segmentation_loss", reference)
    assert any("you applied a softmax before F.cross_entropy" in message for message in found)


def test_hidden_checks_name_the_relu_the_tutorial_put_after_fc(solution, reference):
    code = (
        "class WithRelu(ConvDecoder):\n"
        "    def forward(self, z):\n"
        "        start = torch.relu(self.fc(z)).reshape(len(z), *self.start_shape)\n"
        "        return self.head(self.blocks(start))\n"
        "ConvDecoder = WithRelu"
    )
    found = failures(with_code(solution, code), "ConvDecoder", reference)
    assert any("There is a ReLU between fc and the reshape" in message for message in found)


def test_hidden_checks_catch_one_hot_maps_made_on_the_cpu(solution, reference):
    code = (
        "def to_onehot(labels, num_classes=4):\n"
        "    return torch.eye(num_classes)[labels].permute(0, 3, 1, 2)"
    )
    found = failures(with_code(solution, code), "to_onehot", reference)
    assert found == [
        "keeps the labels' device (so it runs on a GPU too): The one-hot tensor is on cpu while "
        "its inputs are on meta: create new tensors on the inputs' device (torch.zeros_like, "
        "device=x.device), never on a device of your own."
    ]


def test_a_float32_dice_with_a_tiny_smoothing_term_gets_full_marks(solution, reference):
    """milesial's Pytorch-UNet dice_coeff style: float32, ε = 1e-6, absent classes exactly 1."""
    code = (
        "def dice_score(pred, target, num_classes=4):\n"
        "    scores = []\n"
        "    for c in range(1, num_classes):\n"
        "        p = (pred == c).float().flatten(1)\n"
        "        t = (target == c).float().flatten(1)\n"
        "        inter = 2 * (p * t).sum(1)\n"
        "        sets = p.sum(1) + t.sum(1)\n"
        "        sets = torch.where(sets == 0, inter, sets)\n"
        "        scores.append((inter + 1e-6) / (sets + 1e-6))\n"
        "    return torch.stack(scores, dim=1)\n"
    )
    assert failures(with_code(solution, code), "dice_score", reference) == []


def test_a_heavily_smoothed_dice_is_told_about_its_smoothing_term(solution, reference):
    code = (
        "def dice_score(pred, target, num_classes=4):\n"
        "    scores = []\n"
        "    for c in range(1, num_classes):\n"
        "        p = (pred == c).double().flatten(1)\n"
        "        t = (target == c).double().flatten(1)\n"
        "        scores.append((2 * (p * t).sum(1) + 1.0) / (p.sum(1) + t.sum(1) + 1.0))\n"
        "    return torch.stack(scores, dim=1)\n"
    )
    messages = " ".join(failures(with_code(solution, code), "dice_score", reference))
    assert "this is a smoothed Dice" in messages and "ε ≈ 1:" in messages


def test_the_decoders_verdict_never_depends_on_the_notebooks_random_state(solution):
    """The decoder is built from torch's global generator: the check seeds it first, or some
    states a notebook leaves behind (seed 6 here) give a correct decoder dead ReLUs and a fail."""
    checks = public_checks("ConvDecoder", CARDIAC.name)
    for seed in range(10):
        torch.manual_seed(seed)
        results = run_in_process(checks, solution)
        assert all(result.verdict.passed for result in results), seed
