"""The split by patient, stratified by group, seeded.

For real ACDC the committed ``data/acdc_split.json``: the tutorial's 75 train / 25 val
training patients, the 50 testing patients as test. For phantoms a seeded draw of the same
proportions.
"""

import json
from pathlib import Path

import numpy as np

from aekit.datasets.acdc.layout import GROUPS, patient_name
from aekit.datasets.errors import DataError
from aekit.datasets.errors import one_line as _one_line

SPLITS = ("train", "val", "test")
# data/ of the course tree (or of the student bundle): three folders above aekit/datasets/acdc/
MANIFEST = Path(__file__).resolve().parents[3] / "data" / "acdc_split.json"
OFFICIAL_SEED = 1337  # vital's dataset_generator, which made the tutorial's acdc.h5


def stratified_split(groups: dict[str, str], fractions: dict[str, float], seed: int) -> dict:
    """Patient ids per split, drawn group by group.

    Within each group (in ACDC's block order) the patients, sorted by id, are shuffled with
    numpy's legacy ``RandomState(seed)`` and cut in the order of ``fractions``: every split
    but the first takes round(n * fraction), the first the rest. With the official groups,
    ``{"train": 0.75, "val": 0.25}`` and seed 1337 this is exactly vital's split, the one
    the tutorial's ``acdc.h5`` used.
    """
    if abs(sum(fractions.values()) - 1) > 1e-9 or min(fractions.values()) < 0:
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {fractions}")
    unknown = set(groups.values()) - set(GROUPS)
    if unknown:
        raise ValueError(f"groups must be ACDC groups {GROUPS}, found {sorted(unknown)}")
    rng = np.random.RandomState(seed)
    splits: dict[str, list[str]] = {name: [] for name in fractions}
    for group in GROUPS:  # an absent group shuffles nothing and draws no random number
        members = sorted(pid for pid, g in groups.items() if g == group)
        order = np.arange(len(members))
        rng.shuffle(order)
        counts = {name: round(len(members) * f) for name, f in list(fractions.items())[1:]}
        first = next(iter(fractions))
        counts = {first: len(members) - sum(counts.values()), **counts}
        taken = 0
        for name, count in counts.items():
            splits[name] += [members[i] for i in order[taken : taken + count]]
            taken += count
    return {name: sorted(ids) for name, ids in splits.items()}


def official_split(groups: dict[str, str], seed: int = OFFICIAL_SEED) -> dict:
    """ACDC's rule: training patients (001-100) 75 % train / 25 % val per group; testing
    patients (101-150) are the test split."""
    training = {pid: g for pid, g in groups.items() if int(pid[-3:]) <= 100}
    splits = stratified_split(training, {"train": 0.75, "val": 0.25}, seed)
    splits["test"] = sorted(pid for pid in groups if int(pid[-3:]) > 100)
    return splits


def official_groups() -> dict[str, str]:
    """The groups of ACDC's training patients: blocks of 20 in the order of ``GROUPS``."""
    return {patient_name(n): GROUPS[(n - 1) // 20] for n in range(1, 101)}


def official_manifest() -> dict:
    """The manifest committed as ``data/acdc_split.json`` (regenerate it with this function)."""
    groups = official_groups()
    splits = official_split(groups)
    splits["test"] = [patient_name(n) for n in range(101, 151)]
    return _manifest(
        "ACDC",
        "training patients 001-100: 15 train / 5 val per group, as vital's dataset_generator "
        "(RandomState(1337), 75/25 per block of 20); testing patients 101-150: test",
        OFFICIAL_SEED,
        {"train": 0.75, "val": 0.25},
        splits,
        groups,
    )


PHANTOM_FRACTIONS = {"train": 0.5, "val": 1 / 6, "test": 1 / 3}  # ACDC's 75/25/50 of 150


def reseeded_manifest(groups: dict[str, str], seed: int) -> dict:
    """ACDC's rule (see :func:`official_split`) drawn with another seed, for a real ACDC tree."""
    rule = f"training patients 001-100: 75/25 per group (RandomState({seed})); 101-150: test"
    return _manifest(
        "ACDC", rule, seed, {"train": 0.75, "val": 0.25}, official_split(groups, seed), groups
    )


def phantom_manifest(groups: dict[str, str], seed: int = 0) -> dict:
    """Seeded stratified split of a phantom tree, sized like ACDC's (75/25/50 of 150)."""
    splits = stratified_split(groups, PHANTOM_FRACTIONS, seed)
    rule = "stratified by group: 1/2 train, 1/6 val, 1/3 test (ACDC's 75/25/50 of 150)"
    return _manifest("phantoms", rule, seed, PHANTOM_FRACTIONS, splits, groups)


def _manifest(
    dataset: str, rule: str, seed: int, fractions: dict, splits: dict, groups: dict
) -> dict:
    return {
        "dataset": dataset,
        "rule": rule,
        "seed": seed,
        "fractions": fractions,
        "splits": {name: splits.get(name, []) for name in SPLITS},
        "groups": dict(sorted(groups.items())),
    }


def write_manifest(manifest: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def read_manifest(path: str | Path) -> dict:
    """A split manifest, checked: the three splits are present and share no patient."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
        splits = manifest["splits"]
        ids = [pid for name in SPLITS for pid in splits[name]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(
            f"{path} is not a split manifest ({_one_line(error)}); restore it from git"
        ) from None
    if len(ids) != len(set(ids)):
        raise DataError(f"{path}: a patient appears in two splits; restore the file from git")
    return manifest


def committed_manifest() -> dict:
    """``data/acdc_split.json``, or the same split recomputed when the kit is installed
    without its data folder."""
    return read_manifest(MANIFEST) if MANIFEST.is_file() else official_manifest()
