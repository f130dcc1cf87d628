"""Scenario submissions for the grader's tests, built from the committed notebooks.

Each scenario is a notebook a student could hand in, named for what it is, with the exact
score it must get per exercise. They are built from ``solutions/`` (a perfect student) and
``release/`` (an untouched one) by replacing or adding cells, so no solution is written twice.
"""

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

from autograder import samples
from autograder.assignments import get_assignment
from autograder.samples import edit, grade_id, insert_after, load, replace

ROOT = Path(__file__).resolve().parents[1]


def exercise_points(results: dict) -> dict[str, float]:
    """Points per exercise of a results.json (test names start with the grade_id)."""
    points: dict[str, float] = {}
    for test in results["tests"]:
        exercise = test["name"].split(": ", 1)[0]
        points[exercise] = points.get(exercise, 0.0) + test["score"]
    return points


def stored_results(out: Path, student: str) -> dict:
    """The results.json graded into ``out`` for ``student``; when there is none, the failure
    says what grades.csv recorded instead (a grader error keeps no grade)."""
    path = out / student / "results.json"
    if not path.exists():
        grades = out / "grades.csv"
        rows = grades.read_text().splitlines() if grades.exists() else ["(no grades.csv)"]
        mine = [row for row in rows if row.startswith(f"{student},")] or rows
        logged = out / student / "grader-error.txt"
        trace = logged.read_text()[-3000:] if logged.exists() else ""
        raise AssertionError(f"no results.json for {student}; grades.csv says: {mine}\n{trace}")
    return json.loads(path.read_text())


@dataclass
class Scenario:
    """A named submission and the points it must get (exercises not listed: full marks)."""

    name: str
    notebook: dict | str  # a notebook document, or raw file text (for unreadable files)
    expected: dict[str, float] = field(default_factory=dict)
    file_name: str | None = None  # default: the assignment's notebook name

    def write(self, folder: Path, assignment: str) -> Path:
        """Write as ``folder/<name>/<assignment>/<file>`` (nbgrader's submitted/ layout)."""
        return samples.write(self.notebook, folder, self.name, assignment, self.file_name)


def strip_metadata(notebook: dict) -> dict:
    """A copy without nbgrader metadata and without cell ids (as some editors save)."""
    notebook = copy.deepcopy(notebook)
    notebook["nbformat_minor"] = 4
    for cell in notebook["cells"]:
        cell["metadata"] = {}
        cell.pop("id", None)
    return notebook


def only_code(notebook: dict) -> dict:
    """A copy without markdown cells and without the check cells."""
    notebook = copy.deepcopy(notebook)
    notebook["cells"] = [
        cell
        for cell in notebook["cells"]
        if cell["cell_type"] == "code" and not grade_id(cell).startswith("check_")
    ]
    return notebook


@dataclass(frozen=True)
class Mutant:
    """The solution with one typical mistake in one exercise, and that exercise's exact score.

    Every other exercise must keep full marks: one mistake costs points once.
    """

    exercise: str
    name: str  # what the mistake is, e.g. "kl-wrong-sign"
    old: str  # text of the solution cell to replace...
    new: str  # ...by this
    score: float

    def scenario(self, assignment: str) -> Scenario:
        notebook = edit(load("solutions", assignment), self.exercise, self.old, self.new)
        return Scenario(f"mutant-{self.name}", notebook, {self.exercise: self.score})


# --- the mnist_autoencoders scenarios -----------------------------------------------------------

MNIST = "mnist_autoencoders"
MNIST_SOLUTION = ROOT / "solutions" / MNIST / f"{MNIST}.ipynb"

MNIST_EXERCISES = get_assignment(MNIST).exercises  # the source notebook's, in its order
NOTHING = {exercise: 0.0 for exercise in MNIST_EXERCISES}

WRITTEN_DIFFERENTLY = {
    "make_encoder": """
class Encoder(nn.Module):
    def __init__(self, in_features, latent_dim):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(in_features, 128), nn.Linear(128, 64)
        self.out = nn.Linear(64, latent_dim)

    def forward(self, x):
        return self.out(F.relu(self.fc2(F.relu(self.fc1(x)))))


def make_encoder(in_features: int = 784, latent_dim: int = 32) -> nn.Module:
    print("building an encoder")  # a leftover debug print
    return Encoder(in_features, latent_dim)
""",
    "make_decoder": """
def make_decoder(out_features: int = 784, latent_dim: int = 32) -> nn.Module:
    return mlp([latent_dim, 64, 128, out_features], last=nn.Sigmoid())
""",
    "reconstruction_loss": """
def reconstruction_loss(x_hat, x):
    x_hat, x = x_hat.reshape(x.shape[0], -1), x.reshape(x.shape[0], -1)
    log_p = torch.log(x_hat.clamp_min(1e-12))
    log_not_p = torch.log((1 - x_hat).clamp_min(1e-12))
    return -(x * log_p + (1 - x) * log_not_p).sum(-1)
""",
    "reparameterize": """
def reparameterize(mu, logvar):
    warnings.warn("sampling", UserWarning)
    return torch.distributions.Normal(mu, torch.exp(logvar / 2)).rsample()
""",
    "kl_divergence": """
def kl_divergence(mu, logvar):
    posterior = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return torch.distributions.kl_divergence(posterior, prior).sum(dim=-1)
""",
    "vae_forward": """
def vae_forward(encoder, decoder, x, beta=1.0):
    flat = x.view(x.size(0), -1)
    mu, logvar = encoder(flat)
    x_hat = decoder(reparameterize(mu, logvar)).view_as(x)
    per_image = reconstruction_loss(x_hat, x) + beta * kl_divergence(mu, logvar)
    print("loss", per_image.mean().item())
    return torch.mean(per_image), x_hat
""",
    "interpolate": """
def interpolate(z_start, z_end, steps):
    rows = [z_start + (z_end - z_start) * (i / (steps - 1)) for i in range(steps)]
    return torch.stack(rows)
""",
}
HELPER_CELL = '''
import warnings


def mlp(sizes, last=None):
    """A student's own helper: Linear layers with ReLUs between them."""
    layers = []
    for index, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if index < len(sizes) - 2:
            layers.append(nn.ReLU())
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)
'''


def written_differently() -> dict:
    """Correct solutions in other styles, with a helper cell of the student's own."""
    notebook = load("solutions", MNIST)
    for exercise, source in WRITTEN_DIFFERENTLY.items():
        notebook = replace(notebook, exercise, source)
    return insert_after(notebook, "make_encoder", HELPER_CELL)


def stalling() -> dict:
    """Leftovers that would stall a naive grader: training loops, sleep, input(), a stubborn loop."""
    notebook = load("solutions", MNIST)
    notebook = insert_after(
        notebook,
        "interpolate",
        """
import time
for epoch in range(10**9):
    time.sleep(1)
name = input("What is your name? ")
time.sleep(3600)
pause = time.sleep(3600)


def stubborn():
    while True:
        try:
            time.sleep(10)
        except BaseException:
            pass


result = stubborn()
""",
    )
    return edit(
        notebook,
        "kl_divergence",
        "    return -0.5 *",
        "    while True:\n        pass\n    return -0.5 *",
    )


def crashing() -> dict:
    """os.abort() at load time and a segfault inside reparameterize."""
    notebook = insert_after(
        load("solutions", MNIST), "make_decoder", "import os\nboom = os.abort()"
    )
    return edit(
        notebook,
        "reparameterize",
        "    eps = torch.randn_like(mu)",
        "    import ctypes\n    ctypes.string_at(0)\n    eps = torch.randn_like(mu)",
    )


def flooding() -> dict:
    """Megabytes of output at load time and inside an exercise."""
    notebook = insert_after(
        load("solutions", MNIST),
        "make_decoder",
        'spam = [print("spam " * 100) for _ in range(100_000)]',
    )
    return edit(
        notebook,
        "kl_divergence",
        "    return -0.5 *",
        '    for _ in range(20_000):\n        print("x" * 200)\n    return -0.5 *',
    )


def tampering(planted: Path) -> dict:
    """Attacks on the grader, each in its own exercise (see the expected scores)."""
    notebook = load("solutions", MNIST)
    source = ROOT / "source" / MNIST / f"{MNIST}.ipynb"
    notebook = insert_after(
        notebook,
        "make_encoder",
        f"""
import json
import sys
import torch.testing
import aekit.checks.compare
torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
aekit.checks.compare.is_close = lambda *args, **kwargs: True
fake = print(json.dumps({{"score": 21, "tests": []}}))
planted = open({str(planted)!r}, "w").write('{{"score": 21}}')
""",
    )
    notebook = replace(
        notebook,
        "make_encoder",
        """
def make_encoder(in_features: int = 784, latent_dim: int = 32) -> nn.Module:
    from autograder.reference import load_reference
    from autograder.assignments import get_assignment
    namespace = {"nn": nn}
    exec(load_reference(get_assignment("mnist_autoencoders")).sources["make_encoder"], namespace)
    return namespace["make_encoder"](in_features, latent_dim)
""",
    )
    notebook = edit(
        notebook,
        "make_decoder",
        "    return nn.Sequential(",
        "    import os\n    os._exit(0)\n    return nn.Sequential(",
    )
    notebook = replace(
        notebook,
        "reparameterize",
        f"""
def reparameterize(mu, logvar):
    cells = json.load(open({str(source)!r}))["cells"]
    solution = [c for c in cells if c["metadata"].get("nbgrader", {{}}).get("grade_id") == "reparameterize"]
    namespace = {{"torch": torch}}
    exec("".join(solution[0]["source"]), namespace)
    return namespace["reparameterize"](mu, logvar)
""",
    )
    notebook = edit(notebook, "kl_divergence", "return -0.5 *", "return 0.5 *")
    notebook = edit(notebook, "interpolate", "    weights =", "    sys.exit(0)\n    weights =")
    return edit(
        notebook,
        "vae_forward",
        "    return loss.mean(), x_hat",
        '    print("All tests passed! Score: 21/21")\n    return loss.mean(), x_hat',
    )


def mnist_scenarios(planted: Path) -> list[Scenario]:
    """Every mnist_autoencoders scenario with its exact expected points per exercise."""
    from mutants_mnist import MUTANTS

    solution = load("solutions", MNIST)
    return [
        Scenario("solution", solution),
        Scenario("untouched-release", load("release", MNIST), dict(NOTHING)),
        Scenario("renamed", solution, file_name="mnist_autoencoders (1).ipynb"),
        Scenario("stripped-metadata", strip_metadata(solution), file_name="homework.ipynb"),
        Scenario("code-only", only_code(solution)),
        Scenario("written-differently", written_differently()),
        Scenario("stalling", stalling(), {"kl_divergence": 0.0}),
        Scenario("crashing", crashing(), {"reparameterize": 0.0}),
        Scenario("flooding", flooding()),
        Scenario(
            "tampering",
            tampering(planted),
            {
                "make_encoder": 0.0,
                "make_decoder": 0.0,
                "reparameterize": 0.0,
                "kl_divergence": 1.0,
                "interpolate": 0.0,
            },
        ),
        Scenario("unreadable", "{ this is not a notebook", dict(NOTHING)),
        Scenario(
            "typical-mistakes",
            samples.with_mistakes(MNIST),
            {"make_decoder": 1.0, "reparameterize": 1.5, "kl_divergence": 1.0},
        ),
    ] + [mutant.scenario(MNIST) for mutant in MUTANTS]
