"""ACDC segmentation maps: the reader, the preprocessing, the split and the cache.

The same code reads the official ACDC tree and the synthetic phantoms of
:mod:`aekit.datasets.phantoms` (the default when ``$AEKIT_ACDC`` names no real ACDC root):

1. :func:`read_patient` reads ``patientXXX/Info.cfg`` and the ED and ES image and ground-truth
   volumes (x, y, slices) it points to, with the voxel spacing from the NIfTI header.
2. :func:`preprocess_patient` turns every short-axis slice of the ED and ES ground truth into a
   fixed-size 2-D map (labels 0 BG, 1 RV, 2 MYO, 3 LV), with its z-scored MR image.
3. The split goes by patient, stratified by group, seeded: for real ACDC the committed
   ``data/acdc_split.json`` (the tutorial's 75 train / 25 val patients, 50 test).
4. :func:`load_acdc` builds everything once into a compressed ``.npz`` under
   ``$AEKIT_DATA/cache/acdc/`` and loads a split from it in about a second.

``aekit data acdc`` and ``aekit data phantoms`` (:func:`acdc_command`, :func:`phantoms_command`) do the same from
the command line and report bad patients instead of stopping at the first.
"""

import argparse
import hashlib
import json
import os
import re
import sys
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from scipy import ndimage

from aekit.datasets.errors import DataError
from aekit.datasets.errors import one_line as _one_line
from aekit.runtime import data_root, pick_device, progress_bar, refuse_in_grading

# --- ACDC facts (https://www.creatis.insa-lyon.fr/Challenge/acdc/) -------------------------

ACDC_ENV = "AEKIT_ACDC"  # the root of a real ACDC download; unset: the phantoms
GROUPS = ("DCM", "HCM", "MINF", "NOR", "RV")  # the order of ACDC's blocks of patients
PHASES = ("ED", "ES")
SPLITS = ("train", "val", "test")
MODES = ("heart", "centre")
LABEL_RANGE = (0, 3)  # 0 BG, 1 RV cavity, 2 myocardium, 3 LV cavity
INFO_TYPES = {"ED": int, "ES": int, "Group": str, "Height": float, "NbFrame": int, "Weight": float}
REQUIRED_INFO = ("ED", "ES", "Group")
PHANTOM_MARKER = "phantoms.json"  # written by the phantom generator at the root of its tree
PATIENT_FOLDER = re.compile(r"patient\d{3}")
MANIFEST = Path(__file__).resolve().parents[2] / "data" / "acdc_split.json"
OFFICIAL_SEED = 1337  # vital's dataset_generator, which made the tutorial's acdc.h5
CACHE_FORMAT = 1  # bump when the cache's content changes meaning
FIELDS = ("labels", "images", "patients", "groups", "phases", "slice_index", "position", "spacing")


def patient_name(number: int) -> str:
    return f"patient{number:03d}"


def frame_name(patient: str, frame: int, gt: bool = False) -> str:
    """``patient001_frame01.nii.gz`` (``..._gt.nii.gz`` for the ground truth)."""
    return f"{patient}_frame{frame:02d}{'_gt' if gt else ''}.nii.gz"


def format_info(info: dict) -> str:
    """Info.cfg text: one ``Key: value`` line per entry."""
    return "".join(f"{key}: {value}\n" for key, value in info.items())


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patient:
    """One patient: ``image[phase]`` float32 and ``gt[phase]`` uint8 (x, y, slices) arrays for
    ``phase`` in ``"ED"``, ``"ES"``; ``spacing`` (x, y, slice) in mm from the ED image header."""

    id: str
    folder: Path
    info: dict
    image: dict[str, np.ndarray]
    gt: dict[str, np.ndarray]
    spacing: tuple[float, float, float]

    @property
    def group(self) -> str:
        return self.info["Group"]


def parse_info(text: str, source: str = "Info.cfg") -> dict:
    """The ``Key: value`` lines of an Info.cfg, typed (ED, ES, NbFrame int; Height, Weight float)."""
    info = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, colon, value = (part.strip() for part in line.partition(":"))
        if not colon:
            raise DataError(f"{source}, line {number}: expected `Key: value`, found {line!r}")
        try:
            info[key] = INFO_TYPES.get(key, str)(value)
        except ValueError:
            raise DataError(
                f"{source}, line {number}: {key} should be a number, not {value!r}"
            ) from None
    missing = [key for key in REQUIRED_INFO if key not in info]
    if missing:
        raise DataError(
            f"{source} lacks {', '.join(missing)}: ACDC's Info.cfg gives ED, ES and Group"
        )
    if info["Group"] not in GROUPS:
        raise DataError(
            f"{source}: Group {info['Group']!r} is not an ACDC group ({', '.join(GROUPS)})"
        )
    return info


def read_patient(folder: str | Path) -> Patient:
    """Read a ``patientXXX`` folder: Info.cfg, then the ED and ES frames it names.

    Raises :class:`DataError` naming the patient and the file for a missing Info.cfg or frame,
    a damaged or non-NIfTI file, labels outside 0-3, or a ground truth whose shape differs from
    its image.
    """
    folder = Path(folder)
    name = folder.name
    info_path = folder / "Info.cfg"
    if not info_path.is_file():
        raise DataError(f"{name}: Info.cfg is missing in {folder}; copy the folder again from ACDC")
    try:
        text = info_path.read_text(errors="replace")
    except OSError as error:
        raise DataError(f"{name}: Info.cfg cannot be read ({_one_line(error)})") from None
    info = parse_info(text, source=f"{name}/Info.cfg")
    image, gt, spacing = {}, {}, None
    for phase in PHASES:
        image_path = _frame_path(folder, info[phase], phase)
        gt_path = _frame_path(folder, info[phase], phase, gt=True)
        image[phase], zooms = _read_volume(image_path)
        gt[phase], _ = _read_volume(gt_path)
        _check_frame(image[phase], gt[phase], image_path, gt_path, image["ED"].shape)
        spacing = spacing or zooms
        gt[phase] = gt[phase].astype(np.uint8)
        image[phase] = image[phase].astype(np.float32)
    return Patient(name, folder, info, image, gt, spacing)


def _frame_path(folder: Path, frame: int, phase: str, gt: bool = False) -> Path:
    path = folder / frame_name(folder.name, frame, gt)
    for candidate in (path, path.with_suffix("")):  # .nii.gz, or an unpacked .nii
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{folder.name}: {path.name} is missing (Info.cfg says {phase} is frame {frame}); "
        "copy the folder again from ACDC"
    )


def _read_volume(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The (x, y, slices) array of a NIfTI file and its voxel size in mm."""
    try:
        volume = nib.load(path)
        array = np.asanyarray(volume.dataobj)
        zooms = tuple(float(zoom) for zoom in volume.header.get_zooms()[:3])
    except Exception as error:  # nibabel fails on damaged files with many exception types
        raise DataError(
            f"{path.parent.name}: {path.name} cannot be read as NIfTI ({_one_line(error)}); "
            "the file is damaged or truncated: copy it again from ACDC"
        ) from None
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise DataError(
            f"{path.parent.name}: {path.name} holds {array.shape}, not an (x, y, slices) volume"
        )
    return array, zooms


def _check_frame(image, gt, image_path: Path, gt_path: Path, ed_shape: tuple) -> None:
    patient = gt_path.parent.name
    if gt.shape != image.shape:
        raise DataError(
            f"{patient}: {gt_path.name} has shape {gt.shape} but its image {image_path.name} has "
            f"{image.shape}; the ground truth must match its image voxel for voxel"
        )
    if image.shape != ed_shape:
        raise DataError(
            f"{patient}: {image_path.name} has shape {image.shape}, the ED frame {ed_shape}"
        )
    low, high = LABEL_RANGE
    wrong = (gt < low) | (gt > high) | (gt != np.round(gt))
    if wrong.any():
        found = np.unique(gt[wrong])[:5]
        raise DataError(
            f"{patient}: {gt_path.name} holds labels {found.tolist()} outside 0-3 (ACDC: 0 background, "
            "1 RV, 2 myocardium, 3 LV); is it a ground truth from another data set?"
        )


def find_patients(root: str | Path) -> list[Path]:
    """The ``patientXXX`` folders under ``root``, sorted by id.

    Accepts ACDC's ``training/`` and ``testing/`` folders, a root that holds patient folders
    directly, and one folder more in between (``ACDC/database/training``).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"{root} is not a folder; give the ACDC folder that holds training/ and testing/"
        )
    found: dict[str, Path] = {}
    for pattern in ("patient*", "*/patient*", "*/*/patient*"):
        for folder in sorted(root.glob(pattern)):
            if not (folder.is_dir() and PATIENT_FOLDER.fullmatch(folder.name)):
                continue
            if folder.name in found:
                raise DataError(
                    f"{folder.name} appears twice: {found[folder.name]} and {folder}; keep one"
                )
            found[folder.name] = folder
    if not found:
        raise DataError(
            f"no patientXXX folders under {root}: expected {root}/training/patient001/ (ACDC's "
            "layout) or {root}/patient001/. See data/README.md, or write phantoms with "
            "`aekit data phantoms DIR`."
        )
    return [found[name] for name in sorted(found)]


def is_phantom_tree(root: str | Path) -> bool:
    return (Path(root) / PHANTOM_MARKER).is_file()


# --- preprocessing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Preprocessing:
    """How slices become maps: ``size`` x ``size`` pixels, windowed around the heart
    (``"heart"``) or the image centre (``"centre"``), at the native spacing or resampled to
    ``spacing`` mm per pixel."""

    size: int = 128
    mode: str = "heart"
    spacing: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"size must be an integer >= 8, not {self.size!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.spacing is not None and not self.spacing > 0:
            raise ValueError(f"spacing must be a positive number of mm, not {self.spacing!r}")


def preprocess_patient(patient: Patient, prep: Preprocessing = Preprocessing()) -> dict:
    """Every slice of the ED then the ES ground truth as maps, with images and metadata.

    Returns numpy arrays: ``labels`` (N, size, size) uint8, ``images`` (N, size, size) float32
    z-scored per map, ``phases``, ``slice_index`` (N,), ``position`` (N,) from 0 (base) to 1
    (apex), ``spacing`` (N, 2) mm per map pixel, and ``cut`` (bool): the window cut the heart.
    """
    native = np.array(patient.spacing[:2])
    step = np.ones(2) if prep.spacing is None else prep.spacing / native
    start = _window_start(patient.gt, prep, step)
    positions = slice_positions(patient.gt["ED"])
    labels, images, phases, indices = [], [], [], []
    for phase in PHASES:
        labels.append(sample_window(patient.gt[phase], start, step, prep.size, order=0))
        window = sample_window(patient.image[phase], start, step, prep.size, order=1)
        images.append(_zscore(window))
        phases += [phase] * window.shape[2]
        indices.append(np.arange(window.shape[2]))
    count = len(phases)
    return {
        "labels": np.concatenate(labels, axis=2).transpose(2, 0, 1),
        "images": np.concatenate(images, axis=2).transpose(2, 0, 1),
        "phases": np.array(phases),
        "slice_index": np.concatenate(indices),
        "position": np.tile(positions, len(PHASES)),
        "spacing": np.tile(native * step, (count, 1)).astype(np.float32),
        "cut": not _window_holds_heart(patient.gt, start, step, prep.size),
    }


def sample_window(volume: np.ndarray, start, step, size: int, order: int) -> np.ndarray:
    """A (size, size, slices) window of an (H, W, slices) volume.

    Output pixel (i, j) reads the volume at (start[0] + i * step[0], start[1] + j * step[1]);
    outside the volume it reads 0. ``order=0`` (labels) takes the nearest voxel, so no new label
    value can appear; ``order=1`` (images) interpolates linearly. With step 1 and an integer
    start this is a plain crop or zero pad.
    """
    rows = start[0] + step[0] * np.arange(size)
    cols = start[1] + step[1] * np.arange(size)
    if order == 0:
        return _nearest(volume, rows, cols)
    grid = np.meshgrid(rows, cols, indexing="ij")
    planes = [
        ndimage.map_coordinates(volume[:, :, k], grid, order=1, mode="constant", output=np.float32)
        for k in range(volume.shape[2])
    ]
    return np.stack(planes, axis=2)


def _nearest(volume: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    rows, cols = np.floor(rows + 0.5).astype(int), np.floor(cols + 0.5).astype(int)
    keep_rows = (rows >= 0) & (rows < volume.shape[0])
    keep_cols = (cols >= 0) & (cols < volume.shape[1])
    window = np.zeros((len(rows), len(cols), *volume.shape[2:]), dtype=volume.dtype)
    window[np.ix_(keep_rows, keep_cols)] = volume[np.ix_(rows[keep_rows], cols[keep_cols])]
    return window


def heart_centre(gts: dict[str, np.ndarray]) -> np.ndarray:
    """(row, col) centre of the bounding box of the foreground of all volumes and slices.

    The box's centre, not the centre of mass: the mass sits in the LV, and windowing on it
    would cut a large RV first. An empty ground truth gives the volume's centre.
    """
    foreground = np.zeros(next(iter(gts.values())).shape[:2], dtype=bool)
    for gt in gts.values():
        foreground |= (gt > 0).any(axis=2)
    if not foreground.any():
        return (np.array(foreground.shape) - 1) / 2
    rows, cols = np.flatnonzero(foreground.any(axis=1)), np.flatnonzero(foreground.any(axis=0))
    return np.array([(rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2])


def _window_start(gts: dict[str, np.ndarray], prep: Preprocessing, step: np.ndarray) -> np.ndarray:
    """Where the window's first pixel reads the volume, in voxels (row, col)."""
    shape = np.array(next(iter(gts.values())).shape[:2])
    if prep.mode == "centre" and prep.spacing is None:
        # The tutorial's centre crop or pad (vital's centered_resize): crop (H - size) // 2
        # rows from the top, or pad (size - H) // 2 rows above.
        return np.where(shape >= prep.size, (shape - prep.size) // 2, -((prep.size - shape) // 2))
    centre = (shape - 1) / 2 if prep.mode == "centre" else heart_centre(gts)
    start = centre - (prep.size - 1) / 2 * step
    # At the native spacing, a whole-voxel start keeps the crop exact (no interpolation).
    return np.floor(start + 0.5) if prep.spacing is None else start


def _window_holds_heart(gts: dict[str, np.ndarray], start, step, size: int) -> bool:
    """True when every foreground voxel lies inside the window."""
    low, high = np.floor(start + 0.5), np.floor(start + (size - 1) * step + 0.5)
    for gt in gts.values():
        voxels = np.argwhere((gt > 0).any(axis=2))
        if len(voxels) and ((voxels.min(axis=0) < low).any() or (voxels.max(axis=0) > high).any()):
            return False
    return True


def slice_positions(gt: np.ndarray) -> np.ndarray:
    """Relative position of each slice of an (x, y, slices) ground truth: 0 base, 1 apex.

    The files do not say which end is the base, so the heart's shape does: the base is the
    wider end, so the area-weighted mean slice lies in the basal half.
    """
    slices = gt.shape[2]
    if slices == 1:
        return np.zeros(1, dtype=np.float32)
    position = np.arange(slices) / (slices - 1)
    area = (gt > 0).sum(axis=(0, 1))
    if area.sum() and (area * position).sum() / area.sum() > 0.5:
        position = 1 - position
    return position.astype(np.float32)


def _zscore(images: np.ndarray) -> np.ndarray:
    """Each (H, W) plane of an (H, W, slices) array to zero mean and unit variance."""
    mean = images.mean(axis=(0, 1), keepdims=True)
    std = images.std(axis=(0, 1), keepdims=True)
    return ((images - mean) / np.where(std > 0, std, 1)).astype(np.float32)


# --- the split ------------------------------------------------------------------------------


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


# --- building and caching -------------------------------------------------------------------


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
    prep: Preprocessing = Preprocessing(),
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


def default_phantoms() -> Path:
    """150 phantom patients (seed 0) under ``$AEKIT_DATA/phantoms``, written once."""
    from aekit.datasets.phantoms import write_phantoms

    folder = data_root() / "phantoms"
    write_phantoms(folder, patients=150, seed=0)
    return folder


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
        rule = f"training patients 001-100: 75/25 per group (RandomState({seed})); 101-150: test"
        return _manifest(
            "ACDC", rule, seed, {"train": 0.75, "val": 0.25}, official_split(groups, seed), groups
        )
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


# --- the public loader ----------------------------------------------------------------------


@dataclass(frozen=True)
class AcdcSlices:
    """The 2-D maps of one split, one entry per slice.

    ``labels`` (N, H, W) int64 in 0-3 (0 BG, 1 RV, 2 MYO, 3 LV); ``images`` (N, H, W) float32,
    z-scored per map; ``patients``, ``groups``, ``phases`` ("ED"/"ES") lists of N strings;
    ``slice_index`` (N,) int64 in the volume; ``position`` (N,) float32 from 0 (base) to 1
    (apex); ``spacing`` (N, 2) float32 mm per map pixel (rows, cols).
    """

    labels: torch.Tensor
    images: torch.Tensor
    patients: list[str]
    groups: list[str]
    phases: list[str]
    slice_index: torch.Tensor
    position: torch.Tensor
    spacing: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


def load_acdc(
    split: str = "train",
    *,
    size: int = 128,
    root: str | Path | None = None,
    mode: str = "heart",
    spacing: float | None = None,
    device: str | torch.device = "cpu",
    seed: int | None = None,
    cache_dir: str | Path | None = None,
) -> AcdcSlices:
    """One split (``"train"``, ``"val"`` or ``"test"``) of ACDC-format maps as tensors.

    ``root`` defaults to ``$AEKIT_ACDC``, else to 150 phantom patients written once under
    ``$AEKIT_DATA/phantoms``. ``size``, ``mode`` (``"heart"``: window centred on the heart at
    native spacing, nothing cut; ``"centre"``: the tutorial's centre crop or pad, use size 256)
    and ``spacing`` (mm per pixel, resampled; None keeps the native 1.37-1.68 mm) choose the
    maps. The first call builds the cache (under a minute, phantoms included), later calls
    load it in about a second. ``seed`` draws another split (see :func:`prepare_acdc`);
    ``cache_dir`` defaults to ``$AEKIT_DATA/cache/acdc``.
    """
    refuse_in_grading("loading ACDC")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    cache = prepare_acdc(root, Preprocessing(size, mode, spacing), seed=seed, cache_dir=cache_dir)
    if cache.built and (cache.report.skipped or cache.report.notes):
        warnings.warn(_report_text(cache.report), stacklevel=2)
    arrays = read_split(cache.path, split)
    if len(arrays["labels"]) == 0:
        raise DataError(
            f"the {split} split is empty ({cache.manifest['dataset']}, {cache.manifest['rule']}): "
            "the tree has too few usable patients per group; use a larger tree, e.g. "
            "`aekit data phantoms DIR --patients 30`"
        )
    target = pick_device(device)
    tensor = lambda name, dtype: torch.from_numpy(arrays[name]).to(target, dtype)  # noqa: E731
    return AcdcSlices(
        labels=tensor("labels", torch.int64),
        images=tensor("images", torch.float32),
        patients=arrays["patients"].tolist(),
        groups=arrays["groups"].tolist(),
        phases=arrays["phases"].tolist(),
        slice_index=tensor("slice_index", torch.int64),
        position=tensor("position", torch.float32),
        spacing=tensor("spacing", torch.float32),
    )


def read_split(path: str | Path, split: str) -> dict[str, np.ndarray]:
    """The arrays of one split from a cache file (only that split is decompressed)."""
    with np.load(path) as stored:
        return {name: stored[f"{split}.{name}"] for name in FIELDS}


# --- the command line -----------------------------------------------------------------------


def acdc_command(args: argparse.Namespace) -> int:
    """``aekit data acdc``: preprocess a tree, print the counts."""
    started = time.perf_counter()
    prep = Preprocessing(args.size, args.mode, args.spacing)
    cache = prepare_acdc(Path(args.root), prep, seed=args.seed, cache_dir=args.out)
    state = "built" if cache.built else "already up to date"
    print(f"ACDC maps {state} in {time.perf_counter() - started:.1f} s: {cache.path}")
    print(
        f"Split ({cache.manifest['dataset']}, seed {cache.manifest['seed']}): {cache.manifest['rule']}"
    )
    print(count_table(cache.path))
    if cache.report.skipped or cache.report.notes:
        print(_report_text(cache.report), file=sys.stderr)
    return 0


def count_table(path: str | Path) -> str:
    """Patients and slices per split and group in a cache file, as a text table."""
    header = f"{'split':<6}" + "".join(f"{group:>12}" for group in GROUPS) + f"{'total':>12}"
    lines = [header, " " * 6 + "".join(f"{'pat/slices':>12}" for _ in range(len(GROUPS) + 1))]
    with np.load(path) as stored:
        for split in SPLITS:
            groups, patients = stored[f"{split}.groups"], stored[f"{split}.patients"]
            cells = []
            for group in (*GROUPS, None):
                chosen = groups == group if group else np.ones(len(groups), dtype=bool)
                cells.append(f"{len(set(patients[chosen].tolist()))}/{int(chosen.sum())}")
            lines.append(f"{split:<6}" + "".join(f"{cell:>12}" for cell in cells))
    return "\n".join(lines)


def _report_text(report: Report) -> str:
    lines = []
    if report.skipped:
        lines.append(f"Skipped {len(report.skipped)} bad patient(s):")
        lines += [f"  {message}" for message in report.skipped]
    if report.notes:
        lines.append("Notes:")
        lines += [f"  {message}" for message in report.notes]
    return "\n".join(lines)


def phantoms_command(args: argparse.Namespace) -> int:
    """``aekit data phantoms``: write a phantom tree."""
    from aekit.datasets.phantoms import group_of, phantoms_ready, write_phantoms

    last = args.first_id + args.patients - 1
    if last > 999:
        raise DataError(
            f"patient numbers have three digits: --first-id + --patients - 1 is {last}, above 999"
        )
    out = Path(args.out_dir).expanduser()
    existing = phantoms_ready(out, args.patients, args.seed, args.first_id)
    started = time.perf_counter()
    folders = write_phantoms(out, args.patients, args.seed, args.first_id)
    counts = Counter(group_of(index, args.patients) for index in range(args.patients))
    groups = ", ".join(f"{group} {counts[group]}" for group in GROUPS if counts[group])
    verb = "Already there" if existing else f"Wrote in {time.perf_counter() - started:.1f} s"
    print(
        f"{verb}: {len(folders)} phantom patients ({folders[0].name}-{folders[-1].name}) in {out}"
    )
    print(f"Groups: {groups}")
    print(f"Next: aekit data acdc {out}   (or set {ACDC_ENV} only for real ACDC)")
    return 0
