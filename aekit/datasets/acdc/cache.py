"""Building the maps once: find the tree, read and preprocess every patient (a bad one is
reported, not raised), split them, and store every split in one compressed ``.npz`` under
``$AEKIT_DATA/cache/acdc/`` whose name and content record what it was built from; then read
one split back in about a second.
"""

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from aekit.datasets.acdc.phantoms import default_phantoms, is_phantom_tree
from aekit.datasets.acdc.preprocess import Preprocessing, preprocess_patient
from aekit.datasets.acdc.reader import find_patients, read_patient
from aekit.datasets.acdc.split import (
    MANIFEST,
    SPLITS,
    committed_manifest,
    phantom_manifest,
    reseeded_manifest,
    write_manifest,
)
from aekit.datasets.errors import DataError
from aekit.datasets.errors import one_line as _one_line
from aekit.runtime import data_root, progress_bar, refuse_in_grading

ACDC_ENV = "AEKIT_ACDC"  # the root of a real ACDC download; unset: the phantoms
CACHE_FORMAT = 1  # bump when the cache's content changes meaning
FIELDS = ("labels", "images", "patients", "groups", "phases", "slice_index", "position", "spacing")


@dataclass
class Report:
    """What a build met: patients it skipped (one message each) and warnings it kept going after."""

    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Cache:
    """A built cache file with the split it used and what the build met."""

    path: Path
    manifest: dict
    report: Report
    built: bool  # False when the file was already there (a cache hit)


def prepare_acdc(
    root: str | Path | None = None,
    prep: Preprocessing = Preprocessing(),  # noqa: B008 (frozen: safe as a default)
    *,
    seed: int | None = None,
    cache_dir: str | Path | None = None,
) -> Cache:
    """Build the cache for ``root`` (default: ``$AEKIT_ACDC``, else the phantoms) unless a cache
    made from the same tree, options and split is already there.

    ``seed``: ``None`` uses the committed manifest for real ACDC and seed 0 for phantoms; a
    number draws a fresh split with the same rule.
    """
    refuse_in_grading("preparing ACDC")
    tree = resolve_root(root)
    patients = find_patients(tree)
    options = _cache_options(tree, patients, prep, seed)
    folder = (
        Path(cache_dir).expanduser() if cache_dir is not None else data_root() / "cache" / "acdc"
    )
    path = folder / _cache_name(options)
    cached = _read_cached(path, options)
    if cached is not None:
        return cached
    arrays, patient_groups, report = _preprocess_all(patients, prep)
    manifest = _split_for(tree, patient_groups, seed, report)
    _write_cache(path, options, arrays, manifest, report)
    write_manifest(manifest, path.with_suffix(".split.json"))
    return Cache(path, manifest, report, built=True)


def resolve_root(root: str | Path | None) -> Path:
    """``root``, else ``$AEKIT_ACDC``, else the default phantoms (written on first use)."""
    if root is not None:
        return Path(root).expanduser()
    configured = os.environ.get(ACDC_ENV, "").strip()
    if not configured:
        return default_phantoms()
    path = Path(configured).expanduser()
    if not path.is_dir():
        raise DataError(
            f"${ACDC_ENV} is {configured!r}, which is not a folder. Point it at the ACDC folder "
            f"that holds training/ and testing/, or unset it to use the phantoms."
        )
    return path


def _cache_options(tree: Path, patients: list[Path], prep: Preprocessing, seed: int | None) -> dict:
    """Everything the cache depends on; any change gives another cache file."""
    if is_phantom_tree(tree):
        split = {"rule": "phantoms", "seed": 0 if seed is None else seed}
    elif seed is None:
        split = {"rule": "manifest", "digest": _digest(committed_manifest())}
    else:
        split = {"rule": "official", "seed": seed}
    return {
        "format": CACHE_FORMAT,
        "root": str(tree.resolve()),
        "tree": _fingerprint(patients),
        **asdict(prep),
        "split": split,
    }


def _fingerprint(patients: list[Path]) -> str:
    """Digest of the names, sizes and modification times of the files in the patient folders."""
    entries = []
    for folder in patients:
        for path in sorted(folder.iterdir()):
            stat = path.stat()
            entries.append((folder.name, path.name, stat.st_size, stat.st_mtime_ns))
    return _digest(entries)


def _digest(value) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _cache_name(options: dict) -> str:
    spacing = "native" if options["spacing"] is None else f"{options['spacing']:g}mm"
    return f"acdc-{options['mode']}-{options['size']}-{spacing}-{_digest(options)[:12]}.npz"


def _preprocess_all(patients: list[Path], prep: Preprocessing) -> tuple[dict, dict, Report]:
    """Read and preprocess every patient; a bad one goes into the report, not up the stack."""
    parts, groups, report = [], {}, Report()
    for folder in progress_bar(patients, desc="Preprocessing ACDC", unit="patient", leave=False):
        try:
            patient = read_patient(folder)
            arrays = preprocess_patient(patient, prep)
        except DataError as error:
            report.skipped.append(str(error))
            continue
        if arrays.pop("cut"):
            report.notes.append(
                f"{patient.id}: the heart does not fit the {prep.size}-pixel window; part of it is cut "
                "(use a larger --size or a coarser --spacing)"
            )
        count = len(arrays["phases"])
        arrays["patients"] = np.array([patient.id] * count)
        arrays["groups"] = np.array([patient.group] * count)
        parts.append(arrays)
        groups[patient.id] = patient.group
    if not parts:
        raise DataError("no usable patient in the tree:\n  " + "\n  ".join(report.skipped))
    return {name: np.concatenate([part[name] for part in parts]) for name in FIELDS}, groups, report


def _split_for(tree: Path, groups: dict[str, str], seed: int | None, report: Report) -> dict:
    """The manifest for the patients read: phantoms drawn, real ACDC committed or drawn."""
    if is_phantom_tree(tree):
        return phantom_manifest(groups, 0 if seed is None else seed)
    if seed is not None:
        return reseeded_manifest(groups, seed)
    manifest = committed_manifest()
    listed = {pid for ids in manifest["splits"].values() for pid in ids}
    unlisted = sorted(set(groups) - listed)
    if unlisted:
        report.notes.append(
            f"{len(unlisted)} patients are not in {MANIFEST.name} and are left out ({unlisted[0]}, ...); "
            "pass a seed (--seed, or seed=) to split this tree afresh"
        )
    for pid, group in sorted(groups.items()):
        expected = manifest["groups"].get(pid)
        if expected is not None and expected != group:
            report.notes.append(f"{pid}: Info.cfg says {group}, {MANIFEST.name} says {expected}")
    return manifest


def _write_cache(path: Path, options: dict, arrays: dict, manifest: dict, report: Report) -> None:
    """One compressed file holding every split, with the options and manifest inside."""
    contents = {
        "options": np.array(json.dumps(options)),
        "manifest": np.array(json.dumps(manifest)),
        "report": np.array(json.dumps(asdict(report))),
    }
    membership = np.array([_split_of(pid, manifest) for pid in arrays["patients"]])
    for split in SPLITS:
        chosen = membership == split
        for name in FIELDS:
            contents[f"{split}.{name}"] = arrays[name][chosen]
        # float16 halves the file and the load time; a z-scored image needs no more precision
        contents[f"{split}.images"] = contents[f"{split}.images"].astype(np.float16)
    partial = path.with_name(f"{path.stem}.partial.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(partial, **contents)
        partial.replace(path)
    except OSError as error:
        raise DataError(
            f"cannot write the ACDC cache to {path} ({_one_line(error)}); "
            "give a writable folder with --out or $AEKIT_DATA"
        ) from None


def _split_of(pid: str, manifest: dict) -> str:
    return next((name for name, ids in manifest["splits"].items() if pid in ids), "none")


def _read_cached(path: Path, options: dict) -> Cache | None:
    """The cache at ``path`` when it exists and was made with ``options``; else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            if json.loads(stored["options"].item()) != options:
                return None
            manifest = json.loads(stored["manifest"].item())
            report = Report(**json.loads(stored["report"].item()))
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache is rebuilt
    return Cache(path, manifest, report, built=False)


def read_split(path: str | Path, split: str) -> dict[str, np.ndarray]:
    """The arrays of one split from a cache file (only that split is decompressed)."""
    with np.load(path) as stored:
        return {name: stored[f"{split}.{name}"] for name in FIELDS}


def report_text(report: Report) -> str:
    """The report as lines for the terminal or a warning: the skipped patients, then the notes."""
    lines = []
    if report.skipped:
        lines.append(f"Skipped {len(report.skipped)} bad patient(s):")
        lines += [f"  {message}" for message in report.skipped]
    if report.notes:
        lines.append("Notes:")
        lines += [f"  {message}" for message in report.notes]
    return "\n".join(lines)
