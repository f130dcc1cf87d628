"""The assignments the autograder knows: notebooks, exercises, checks and composites."""

from dataclasses import dataclass, field
from pathlib import Path

from aekit.checks import cardiac as public_cardiac
from aekit.checks import mnist as public_mnist
from aekit.checks.core import Check
from autograder.hidden import cardiac as hidden_cardiac
from autograder.hidden import mnist as hidden_mnist

COURSE_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Assignment:
    """One assignment: its exercises (grade_ids, in notebook order) and their checks.

    ``pieces`` names, for each composite exercise, the exercises it calls: the grader runs
    the composite with the reference versions of those, so one mistake costs points once.
    """

    name: str
    exercises: tuple[str, ...]
    public: tuple[Check, ...]
    hidden: tuple[Check, ...]
    pieces: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def notebook(self) -> Path:
        return COURSE_ROOT / "source" / self.name / f"{self.name}.ipynb"

    @property
    def checks(self) -> list[Check]:
        """Every check, exercise by exercise: public ones first, then hidden ones."""
        ordered = []
        for exercise in self.exercises:
            ordered += [check for check in self.public + self.hidden if check.exercise == exercise]
        return ordered

    def points(self, exercise: str) -> float:
        return sum(check.points for check in self.checks if check.exercise == exercise)

    @property
    def max_score(self) -> float:
        return sum(check.points for check in self.checks)


ASSIGNMENTS = {
    "mnist_autoencoders": Assignment(
        name="mnist_autoencoders",
        exercises=(
            "make_encoder",
            "make_decoder",
            "reconstruction_loss",
            "autoencoder_forward",
            "VAEEncoder",
            "reparameterize",
            "kl_divergence",
            "vae_forward",
            "interpolate",
        ),
        public=tuple(public_mnist.CHECKS),
        hidden=tuple(hidden_mnist.CHECKS),
        pieces={
            "autoencoder_forward": ("reconstruction_loss",),
            "vae_forward": ("reconstruction_loss", "reparameterize", "kl_divergence"),
        },
    ),
    "cardiac_autoencoders": Assignment(
        name="cardiac_autoencoders",
        exercises=(
            "to_onehot",
            "downsampling_block",
            "upsampling_block",
            "ConvVAEEncoder",
            "ConvDecoder",
            "segmentation_loss",
            "dice_score",
            "reparameterize",
            "kl_divergence",
            "cardiac_vae_forward",
            "project_segmentation",
        ),
        public=tuple(public_cardiac.CHECKS),
        hidden=tuple(hidden_cardiac.CHECKS),
        pieces={
            "ConvVAEEncoder": ("downsampling_block",),
            "ConvDecoder": ("upsampling_block",),
            "cardiac_vae_forward": (
                "to_onehot",
                "reparameterize",
                "segmentation_loss",
                "kl_divergence",
            ),
            "project_segmentation": ("to_onehot",),
        },
    ),
}


class UnknownAssignment(ValueError):
    pass


def get_assignment(name: str) -> Assignment:
    if name not in ASSIGNMENTS:
        raise UnknownAssignment(
            f"unknown assignment {name!r}; the assignments are: {', '.join(ASSIGNMENTS)}"
        )
    return ASSIGNMENTS[name]
