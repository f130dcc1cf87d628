"""Scenario submissions for the grader's tests, built from the committed notebooks.

Each scenario is a notebook a student could hand in, named for what it is, with the exact
score it must get per exercise. They are built from ``solutions/`` (a perfect student) and
``release/`` (an untouched one) by replacing or adding cells, so no solution is written twice.
"""

import copy
import json
import textwrap
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
    notebook = replaced(load("solutions", MNIST), WRITTEN_DIFFERENTLY)
    return insert_after(notebook, "make_encoder", HELPER_CELL)


# Yet other correct styles: a ModuleList with functional ReLUs, an OrderedDict Sequential, a
# trunk of the student's own class, nn.BCELoss, randn_like(logvar), torch.lerp.
WRITTEN_OTHERWISE = {
    "make_encoder": """
class Encoder(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x):
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index < len(self.layers) - 1:
                x = F.relu(x)
        return x


def make_encoder(in_features=784, latent_dim=32):
    return Encoder([in_features, 128, 64, latent_dim])
""",
    "make_decoder": """
from collections import OrderedDict


def make_decoder(out_features=784, latent_dim=32):
    return nn.Sequential(OrderedDict([
        ("hidden1", nn.Linear(latent_dim, 64)), ("act1", nn.ReLU()),
        ("hidden2", nn.Linear(64, 128)), ("act2", nn.ReLU()),
        ("output", nn.Linear(128, out_features)), ("squash", nn.Sigmoid()),
    ]))
""",
    "reconstruction_loss": """
def reconstruction_loss(x_hat, x):
    return nn.BCELoss(reduction="none")(x_hat.flatten(1), x.flatten(1)).sum(dim=1)
""",
    "autoencoder_forward": """
def autoencoder_forward(encoder, decoder, x):
    x_hat = decoder(encoder(x.flatten(start_dim=1))).view(x.shape)
    return torch.mean(reconstruction_loss(x_hat, x)), x_hat
""",
    "VAEEncoder": """
class Trunk(nn.Module):
    def __init__(self, in_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, 128)
        self.fc2 = nn.Linear(128, 64)

    def forward(self, x):
        return F.relu(self.fc2(F.relu(self.fc1(x))))


class VAEEncoder(nn.Module):
    def __init__(self, in_features=784, latent_dim=2):
        super().__init__()
        self.trunk = Trunk(in_features)
        self.mu_head = nn.Linear(64, latent_dim)
        self.logvar_head = nn.Linear(64, latent_dim)

    def forward(self, x):
        h = self.trunk(x)
        return self.mu_head(h), self.logvar_head(h)
""",
    "reparameterize": """
def reparameterize(mu, logvar):
    return mu + torch.randn_like(logvar) * logvar.mul(0.5).exp()
""",
    "kl_divergence": """
def kl_divergence(mu, logvar):
    return 0.5 * (mu ** 2 + torch.exp(logvar) - 1.0 - logvar).sum(-1)
""",
    "vae_forward": """
def vae_forward(encoder, decoder, x, beta=1.0):
    mu, logvar = encoder(torch.flatten(x, 1))
    x_hat = decoder(reparameterize(mu, logvar)).reshape_as(x)
    return reconstruction_loss(x_hat, x).mean() + beta * kl_divergence(mu, logvar).mean(), x_hat
""",
    "interpolate": """
def interpolate(z_start, z_end, steps):
    return torch.stack([torch.lerp(z_start, z_end, i / (steps - 1)) for i in range(steps)])
""",
}


def written_otherwise() -> dict:
    return replaced(load("solutions", MNIST), WRITTEN_OTHERWISE)


# Correct code as public VAE examples write it: pytorch/examples' reparameterization on
# ``std.data.new``, in-place ops, a log with an epsilon, a Flatten first, a sum divided by the
# batch size for the mean.
WRITTEN_CLASSICALLY = {
    "make_encoder": """
def make_encoder(in_features: int = 784, latent_dim: int = 32) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, 128), nn.ReLU(True),
                         nn.Linear(128, 64), nn.ReLU(True), nn.Linear(64, latent_dim))
""",
    "make_decoder": """
class Decoder(nn.Module):
    def __init__(self, out_features, latent_dim):
        super().__init__()
        self.fc1 = nn.Linear(latent_dim, 64)
        self.fc2 = nn.Linear(64, 128)
        self.fc3 = nn.Linear(128, out_features)

    def forward(self, z):
        h = torch.relu(self.fc1(z))
        return torch.sigmoid(self.fc3(torch.relu(self.fc2(h))))


def make_decoder(out_features: int = 784, latent_dim: int = 32) -> nn.Module:
    return Decoder(out_features, latent_dim)
""",
    "reconstruction_loss": """
def reconstruction_loss(x_hat, x):
    eps = 1e-8
    bce = -(x * torch.log(x_hat + eps) + (1 - x) * torch.log(1 - x_hat + eps))
    return bce.view(bce.size(0), -1).sum(dim=1)
""",
    "autoencoder_forward": """
def autoencoder_forward(encoder, decoder, x):
    n = x.shape[0]
    x_hat = decoder(encoder(x.reshape(n, -1))).reshape(*x.shape)
    return reconstruction_loss(x_hat, x).mean(), x_hat
""",
    "reparameterize": """
def reparameterize(mu, logvar):
    std = logvar.mul(0.5).exp_()
    eps = std.data.new(std.size()).normal_()
    return eps.mul(std).add_(mu)
""",
    "kl_divergence": """
def kl_divergence(mu, logvar):
    sigma2 = logvar.exp()
    return (0.5 * (sigma2 + mu ** 2 - 1 - torch.log(sigma2))).sum(axis=1)
""",
    "vae_forward": """
def vae_forward(encoder, decoder, x, beta=1.0):
    batch = x.size(0)
    mu, logvar = encoder(x.view(batch, -1))
    x_hat = decoder(reparameterize(mu, logvar)).view(x.size())
    loss = (reconstruction_loss(x_hat, x) + beta * kl_divergence(mu, logvar)).sum() / batch
    return loss, x_hat
""",
    "interpolate": """
def interpolate(z_start, z_end, steps):
    t = torch.arange(steps, dtype=z_start.dtype, device=z_start.device) / (steps - 1)
    return z_start[None, :] + t[:, None] * (z_end - z_start)[None, :]
""",
}


def written_classically() -> dict:
    return replaced(load("solutions", MNIST), WRITTEN_CLASSICALLY)


def replaced(notebook: dict, sources: dict[str, str]) -> dict:
    """``notebook`` with the solution cell of each exercise replaced by its source."""
    for exercise, source in sources.items():
        notebook = replace(notebook, exercise, source)
    return notebook


# --- the cardiac_autoencoders scenarios ---------------------------------------------------------

CARDIAC = "cardiac_autoencoders"

# Correct code in other styles, per exercise: each passes every check of its exercise.
CARDIAC_WRITTEN_DIFFERENTLY = {
    "to_onehot": [
        """
        def to_onehot(labels, num_classes=4):
            # rows of the identity matrix, one per label
            return torch.eye(num_classes, device=labels.device)[labels].permute(0, 3, 1, 2)
        """,
        """
        def to_onehot(labels, num_classes=4):
            shape = (len(labels), num_classes, *labels.shape[1:])
            blank = torch.zeros(shape, dtype=torch.float32, device=labels.device)
            return blank.scatter_(1, labels.unsqueeze(1), 1.0)
        """,
        """
        def to_onehot(labels, num_classes=4):
            classes = torch.arange(num_classes, device=labels.device).view(1, -1, 1, 1)
            return (labels.unsqueeze(1) == classes).to(torch.float32)
        """,
    ],
    "downsampling_block": [
        """
        def downsampling_block(in_channels, out_channels):
            return nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
            )
        """,
        """
        class Down(nn.Module):
            def __init__(self, c_in, c_out):
                super().__init__()
                self.first = nn.Conv2d(c_in, c_out, (3, 3), stride=(2, 2), padding=(1, 1))
                self.second = nn.Conv2d(c_out, c_out, 3, padding="same")

            def forward(self, x):
                return F.relu(self.second(F.relu(self.first(x))))

        def downsampling_block(in_channels, out_channels):
            return Down(in_channels, out_channels)
        """,
    ],
    "upsampling_block": [
        """
        class Up(nn.Module):
            def __init__(self, c_in, c_out):
                super().__init__()
                self.grow = nn.ConvTranspose2d(c_in, c_out, 2, 2)
                self.refine = nn.Conv2d(c_out, c_out, 3, 1, 1)

            def forward(self, x):
                return torch.relu(self.refine(torch.relu(self.grow(x))))

        def upsampling_block(in_channels, out_channels):
            return Up(in_channels, out_channels)
        """
    ],
    "ConvVAEEncoder": [
        """
        class ConvVAEEncoder(nn.Module):
            def __init__(self, in_channels=4, image_size=128, latent_dim=32,
                         channels=(16, 32, 64, 128)):
                super().__init__()
                blocks, previous = [], in_channels
                for width in channels:
                    blocks.append(downsampling_block(previous, width))
                    previous = width
                self.features = nn.Sequential(*blocks)
                with torch.no_grad():  # measure the flattened size with a dummy pass
                    flat = self.features(torch.zeros(1, in_channels, image_size, image_size)).numel()
                self.flatten = nn.Flatten()
                self.mu_head = nn.Linear(flat, latent_dim)
                self.logvar_head = nn.Linear(flat, latent_dim)

            def forward(self, x):
                hidden = self.flatten(self.features(x))
                mu = self.mu_head(hidden)
                logvar = self.logvar_head(hidden)
                return mu, logvar
        """,
        """
        class ConvVAEEncoder(nn.Module):
            def __init__(self, in_channels=4, image_size=128, latent_dim=32, channels=(16, 32, 64, 128)):
                super().__init__()
                widths = [in_channels, *channels]
                self.features = nn.Sequential(*[downsampling_block(a, b) for a, b in zip(widths, widths[1:])])
                side = image_size // (2 ** len(channels))
                self.flat_dim = channels[-1] * side * side
                self.mu_head = nn.Linear(self.flat_dim, latent_dim)
                self.logvar_head = nn.Linear(self.flat_dim, latent_dim)

            def forward(self, x):
                h = self.features(x)
                h = h.view(h.size(0), -1)
                return self.mu_head(h), self.logvar_head(h)
        """,
    ],
    "ConvDecoder": [
        """
        class ConvDecoder(nn.Module):
            def __init__(self, out_channels=4, image_size=128, latent_dim=32,
                         channels=(128, 64, 32, 16)):
                super().__init__()
                s = image_size // 2 ** len(channels)
                self.fc = nn.Linear(latent_dim, channels[0] * s * s)
                self.unflatten = nn.Unflatten(1, (channels[0], s, s))
                blocks = [upsampling_block(a, b) for a, b in zip(channels[:-1], channels[1:])]
                self.blocks = nn.Sequential(*blocks, upsampling_block(channels[-1], channels[-1]))
                self.head = nn.Conv2d(channels[-1], out_channels, 3, padding=1)

            def forward(self, z):
                return self.head(self.blocks(self.unflatten(self.fc(z))))
        """
    ],
    "segmentation_loss": [
        """
        def segmentation_loss(logits, labels):
            losses = [F.cross_entropy(l[None], t[None], reduction="sum") for l, t in zip(logits, labels)]
            return torch.stack(losses)
        """,
        """
        def segmentation_loss(logits, labels):
            log_p = F.log_softmax(logits, dim=1).gather(1, labels.unsqueeze(1))
            return -log_p.sum(dim=(1, 2, 3))
        """,
        """
        def segmentation_loss(logits, labels):
            onehot = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2)
            return -(onehot * logits.log_softmax(1)).reshape(len(logits), -1).sum(-1)
        """,
        """
        def segmentation_loss(logits, labels):
            return nn.CrossEntropyLoss(reduction="none")(logits, labels).sum(dim=(1, 2))
        """,
        """
        def segmentation_loss(logits, labels):
            return F.nll_loss(F.log_softmax(logits, 1), labels, reduction="none").flatten(1).sum(1)
        """,
        """
        def segmentation_loss(logits, labels):
            per_pixel = F.cross_entropy(logits, labels, reduction="none").mean(dim=(1, 2))
            return per_pixel * labels.shape[1] * labels.shape[2]  # the mean, times the pixels
        """,
    ],
    "dice_score": [
        """
        def dice_score(pred, target, num_classes=4):
            scores = []
            for c in range(1, num_classes):
                p, t = (pred == c).double(), (target == c).double()
                inter = (p * t).flatten(1).sum(1)
                total = p.flatten(1).sum(1) + t.flatten(1).sum(1)
                scores.append(torch.where(total > 0, 2 * inter / total.clamp(min=1), 1.0))
            return torch.stack(scores, dim=1)
        """,
        """
        def dice_score(pred, target, num_classes=4):
            p = F.one_hot(pred, num_classes).permute(0, 3, 1, 2)[:, 1:].float()
            t = F.one_hot(target, num_classes).permute(0, 3, 1, 2)[:, 1:].float()
            overlap = (p * t).sum(dim=(2, 3))
            total = p.sum(dim=(2, 3)) + t.sum(dim=(2, 3))
            return torch.where(total == 0, torch.ones_like(total), 2 * overlap / total)
        """,
        """
        def dice_score(pred, target, num_classes=4):
            out = []
            for c in range(1, num_classes):
                p, t = pred == c, target == c
                inter = (p & t).sum(dim=(1, 2)).float()
                total = (p.sum(dim=(1, 2)) + t.sum(dim=(1, 2))).float()
                out.append(torch.nan_to_num(2 * inter / total, nan=1.0))
            return torch.stack(out, dim=1)
        """,
        """
        def dice_score(pred, target, num_classes=4):
            smooth = 1e-5  # a smoothing term too small to move a score past the tolerance
            out = []
            for c in range(1, num_classes):
                p, t = (pred == c).float().flatten(1), (target == c).float().flatten(1)
                out.append((2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth))
            return torch.stack(out, dim=1)
        """,
        """
        def dice_score(pred, target, num_classes=4):
            scores = torch.zeros(len(pred), num_classes - 1, device=pred.device)
            for i in range(len(pred)):
                for c in range(1, num_classes):
                    p, t = pred[i] == c, target[i] == c
                    total = p.sum() + t.sum()
                    scores[i, c - 1] = 1.0 if total == 0 else 2.0 * (p & t).sum() / total
            return scores
        """,
    ],
    "cardiac_vae_forward": [
        """
        def cardiac_vae_forward(encoder, decoder, labels, beta=1.0):
            mu, logvar = encoder(to_onehot(labels))
            std = torch.exp(0.5 * logvar)
            logits = decoder(mu + std * torch.randn_like(std))
            return torch.mean(segmentation_loss(logits, labels) + beta * kl_divergence(mu, logvar)), logits
        """,
        """
        def cardiac_vae_forward(encoder, decoder, labels, beta=1.0):
            x = to_onehot(labels)
            mu, logvar = encoder(x)
            logits = decoder(reparameterize(mu, logvar))
            reconstruction = segmentation_loss(logits, labels).mean()
            return reconstruction + beta * kl_divergence(mu, logvar).mean(), logits
        """,
        """
        def cardiac_vae_forward(encoder, decoder, labels, beta=1.0):
            mu, logvar = encoder(to_onehot(labels))
            z = reparameterize(mu, logvar)
            logits = decoder(z)
            ce = F.cross_entropy(logits, labels, reduction="none").sum(dim=(1, 2))
            kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp(), dim=1)
            return (ce + beta * kl).mean(), logits
        """,
    ],
    "project_segmentation": [
        """
        def project_segmentation(encoder, decoder, labels):
            with torch.inference_mode():
                mu = encoder(to_onehot(labels))[0]
                return decoder(mu).argmax(1)
        """,
        """
        @torch.no_grad()
        def project_segmentation(encoder, decoder, labels):
            encoder.eval()
            decoder.eval()
            mean, _ = encoder(to_onehot(labels))
            return torch.softmax(decoder(mean), dim=1).argmax(dim=1)
        """,
    ],
    "reparameterize": [
        """
        from torch.distributions import Normal
        def reparameterize(mu, logvar):
            return Normal(mu, torch.exp(0.5 * logvar)).rsample()
        """,
        """
        def reparameterize(mu, logvar):
            eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype)
            return mu + eps * (0.5 * logvar).exp()
        """,
        """
        def reparameterize(mu, logvar):
            return mu + torch.normal(torch.zeros_like(mu), torch.ones_like(mu)) * torch.exp(logvar / 2)
        """,
    ],
    "kl_divergence": [
        """
        from torch.distributions import Normal, kl_divergence as kl
        def kl_divergence(mu, logvar):
            q = Normal(mu, torch.exp(0.5 * logvar))
            p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
            return kl(q, p).sum(dim=1)
        """,
        """
        def kl_divergence(mu, logvar):
            var = logvar.exp()
            return 0.5 * torch.sum(var + mu.pow(2) - 1.0 - logvar, dim=-1)
        """,
    ],
}


def cardiac_written_differently(variant: int) -> dict:
    """The cardiac solution with variant ``variant`` of every exercise (the last one where an
    exercise has fewer), each cell replaced whole."""
    chosen = {
        exercise: textwrap.dedent(sources[min(variant, len(sources) - 1)])
        for exercise, sources in CARDIAC_WRITTEN_DIFFERENTLY.items()
    }
    return replaced(load("solutions", CARDIAC), chosen)


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
        Scenario("written-otherwise", written_otherwise()),
        Scenario("written-classically", written_classically()),
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
