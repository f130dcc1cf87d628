"""Synthetic ACDC-format phantoms: a complete ``patientXXX/`` tree the ACDC reader reads as is.

Real ACDC needs a manual download, so the kit ships these as the default data set. Each
phantom is a short-axis cine stack drawn from a small geometric model:

- the LV cavity is a slightly elliptical disc inside a myocardial ring; both narrow from the
  base (slice 0) to the apex like half an ellipsoid;
- the RV cavity is a crescent wrapped around the septum, thinning towards the apex and gone
  before it;
- systole shrinks the LV cavity and conserves the myocardium's area, so the wall thickens
  at end-systole (ES) as it does in a real heart;
- the five ACDC groups change the numbers (see ``GROUP_RANGES``): DCM dilated with a thin wall
  and a low ejection, HCM a thick wall and a small cavity, MINF a thinned, akinetic segment,
  RV an enlarged RV with a poor RV ejection, NOR normal;
- position, orientation, pixel spacing (1.37-1.68 mm), image size (200-260 pixels), and a
  stack of 6-12 slices 5-10 mm apart spanning a 50-110 mm long LV are drawn within ACDC's
  ranges;
- the MR image gives each label its own intensity (bright blood, dark myocardium) over a
  textured body, blurred a little (partial volume), with a smooth bias field and noise.

The ``_4d`` file holds a short cycle (5-8 frames, ``NbFrame`` says how many) whose ED and ES
frames are the ``frameYY`` files, so the tree stays small and quick to write. The tree's root
holds ``phantoms.json`` (:data:`PHANTOM_MARKER`), the recipe it was written with; the loader
splits such a tree as phantoms. :func:`default_phantoms` is the loader's tree when
``$AEKIT_ACDC`` is unset.
"""

import json
import multiprocessing
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from aekit.anatomy import LV, MYO, RV
from aekit.datasets.acdc.layout import GROUPS, format_info, frame_name, patient_name
from aekit.datasets.errors import DataError
from aekit.runtime import data_root, progress_bar, refuse_in_grading

GENERATOR_VERSION = 2  # bump when the model changes, so old trees are regenerated
MIN_WALL_MM = 3.0  # keeps the ring at least two pixels thick, so it always closes
MIN_CAVITY_MM = 2.0
PHANTOM_MARKER = "phantoms.json"  # written by the phantom generator at the root of its tree


@dataclass(frozen=True)
class GroupRanges:
    """Uniform ranges of one group's anatomy at end-diastole (mm) and its ejection fractions.

    ``lv_diameter`` is the endocardial diameter at the base (clinical normal LV end-diastolic
    diameter roughly 42-58 mm; DCM above about 60 mm). ``wall`` follows ACDC's rules (NOR below
    12 mm, HCM above 15 mm; databasesClassification.html). Ejections are fractions of the cavity
    area lost at ES (the RV's is a fraction of its width: the measured RV EF comes out about
    12 points higher); ``scar_depth`` the fraction of the wall an infarct thins away.
    """

    lv_diameter: tuple[float, float]
    wall: tuple[float, float]
    lv_ejection: tuple[float, float]
    rv_width: tuple[float, float]
    rv_ejection: tuple[float, float]
    scar_depth: tuple[float, float] = (0.0, 0.0)


GROUP_RANGES = {
    "NOR": GroupRanges((44, 54), (7, 10), (0.55, 0.70), (16, 22), (0.40, 0.52)),
    "MINF": GroupRanges((52, 64), (8, 11), (0.22, 0.40), (16, 22), (0.35, 0.50), (0.5, 0.65)),
    "DCM": GroupRanges((62, 74), (5, 7), (0.10, 0.30), (16, 22), (0.25, 0.45)),
    "HCM": GroupRanges((40, 50), (15, 21), (0.60, 0.78), (14, 20), (0.40, 0.52)),
    "RV": GroupRanges((42, 52), (7, 10), (0.50, 0.65), (30, 40), (0.10, 0.25)),
}


@dataclass(frozen=True)
class Heart:
    """One phantom's anatomy: radii and widths in mm at the base and end-diastole, angles in
    radians measured from the direction of the RV."""

    group: str
    lv_radius: float
    wall: float
    lv_ejection: float
    rv_width: float
    rv_ejection: float
    rv_end: float  # relative position (0 base, 1 apex) where the RV ends
    rv_span: float  # half the angle the RV crescent wraps around the LV
    scar_angle: float
    scar_width: float
    scar_depth: float  # 0 outside MINF
    ellipticity: float  # LV axis ratio
    length: float  # base to apex, mm


@dataclass(frozen=True)
class Scan:
    """How the heart was imaged: grid, pose and cine timing."""

    shape: tuple[int, int, int]  # (x, y, slices)
    spacing: tuple[float, float, float]  # mm
    centre: tuple[float, float]  # the LV's centre on the basal slice, mm from voxel (0, 0)
    drift: tuple[float, float]  # how far the centre moves from base to apex, mm
    angle: float  # direction of the RV from the LV in the image plane
    frames: int  # NbFrame
    ed: int  # frame numbers from 1, as in Info.cfg
    es: int
    frame_ms: float


def sample_heart(group: str, rng: np.random.Generator) -> Heart:
    """Draw one heart of ``group`` from ``GROUP_RANGES``."""
    ranges = GROUP_RANGES[group]
    draw = lambda bounds: float(rng.uniform(*bounds))  # noqa: E731
    radius = draw(ranges.lv_diameter) / 2
    return Heart(
        group=group,
        lv_radius=radius,
        wall=draw(ranges.wall),
        lv_ejection=draw(ranges.lv_ejection),
        rv_width=draw(ranges.rv_width),
        rv_ejection=draw(ranges.rv_ejection),
        rv_end=draw((0.7, 0.9)),
        rv_span=np.deg2rad(draw((75, 100))),
        scar_angle=draw((-np.pi, np.pi)),
        scar_width=np.deg2rad(draw((20, 35))),
        scar_depth=draw(ranges.scar_depth),
        ellipticity=draw((0.9, 1.1)),
        # a dilated LV is a longer one too: length about 3-3.4 radii, within 50-110 mm
        length=float(np.clip(radius * draw((3.0, 3.4)), 50, 110)),
    )


def sample_scan(heart: Heart, rng: np.random.Generator) -> Scan:
    """Draw a grid, a pose and a cine timing within ACDC's ranges."""
    slices, between = _stack(heart.length, rng)
    shape = (int(rng.integers(200, 261)), int(rng.integers(200, 261)), slices)
    pixel = float(rng.uniform(1.37, 1.68))
    spacing = (pixel, pixel, between)
    field = np.array(shape[:2]) * pixel
    centre = field / 2 + rng.uniform(-0.12, 0.12, size=2) * field
    frames = int(rng.integers(5, 9))
    es = 1 + round(frames * float(rng.uniform(0.3, 0.45)))
    beat_ms = 60_000 / rng.uniform(55, 85)
    return Scan(
        shape=shape,
        spacing=spacing,
        centre=(float(centre[0]), float(centre[1])),
        drift=tuple(float(value) for value in rng.uniform(-6, 6, size=2)),
        angle=float(rng.uniform(0.55, 0.95) * np.pi),
        frames=frames,
        ed=1,
        es=es,
        frame_ms=float(beat_ms / frames),
    )


def _stack(length: float, rng: np.random.Generator) -> tuple[int, float]:
    """Slice count (6-12) and distance between slices (5-10 mm) that span ``length`` mm.

    The stack covers the LV from base to apex, so volumes (area x distance) come out in
    clinical ranges instead of depending on how many slices were drawn.
    """
    fewest, most = max(6, int(np.ceil(length / 10)) + 1), min(12, int(length // 5) + 1)
    slices = int(rng.integers(fewest, most + 1))
    return slices, round(length / (slices - 1), 1)


def contraction(frame: int, scan: Scan) -> float:
    """0 at end-diastole, 1 at end-systole, smooth in between; ``frame`` counts from 1."""
    systole = scan.es - scan.ed
    elapsed = frame - scan.ed
    if elapsed <= systole:
        return float(np.sin(np.pi / 2 * elapsed / systole) ** 2)
    return float(np.cos(np.pi / 2 * (elapsed - systole) / (scan.frames - systole)) ** 2)


def render_labels(heart: Heart, scan: Scan, t: float) -> np.ndarray:
    """Label volume (x, y, slices) uint8 at contraction ``t`` (0 ED, 1 ES)."""
    labels = np.zeros(scan.shape, dtype=np.uint8)
    reach = heart.lv_radius + heart.wall + heart.rv_width + 5.0  # farthest extent, mm
    slices = scan.shape[2]
    for k in range(slices):
        position = k / (slices - 1)
        centre = np.add(scan.centre, np.multiply(scan.drift, position))
        box, (u, v) = _local_frame(centre, scan, reach)
        labels[box + (k,)] = _slice_labels(heart, u, v, position, t)
    return labels


def _local_frame(centre: np.ndarray, scan: Scan, reach: float):
    """The pixel box around ``centre`` that can hold heart, and its mm coordinates in the
    heart's frame (u towards the RV, v across)."""
    spacing = np.array(scan.spacing[:2])
    low = np.maximum(np.floor((centre - reach) / spacing).astype(int), 0)
    high = np.minimum(np.ceil((centre + reach) / spacing).astype(int) + 1, scan.shape[:2])
    dx = np.arange(low[0], high[0])[:, None] * spacing[0] - centre[0]
    dy = np.arange(low[1], high[1])[None, :] * spacing[1] - centre[1]
    cos, sin = np.cos(scan.angle), np.sin(scan.angle)
    box = (slice(low[0], high[0]), slice(low[1], high[1]))
    return box, (cos * dx + sin * dy, cos * dy - sin * dx)


def _slice_labels(heart: Heart, u: np.ndarray, v: np.ndarray, position: float, t: float):
    """One slice's labels on the (u, v) grid: LV disc, myocardial ring, RV crescent outside."""
    radius = np.hypot(u, v / heart.ellipticity)
    angle = np.arctan2(v, u)
    endo, epi = _lv_radii(heart, angle, position, t)
    crescent = _rv_width(heart, position, t) * _crescent(
        angle, heart.rv_span * (1 - 0.3 * position)
    )
    labels = np.zeros(radius.shape, dtype=np.uint8)
    labels[(radius >= epi) & (radius < epi + crescent)] = RV
    labels[(radius >= endo) & (radius < epi)] = MYO
    labels[radius < endo] = LV
    return _largest_rv_piece(labels)


def _lv_radii(heart: Heart, angle: np.ndarray, position: float, t: float):
    """Endocardial and epicardial radius (mm) per direction, at ``position`` and contraction t.

    The myocardium's area is conserved direction by direction, so the wall thickens as the
    cavity shrinks; an infarct's segment is thinner and barely moves (akinetic).
    """
    taper = np.sqrt(1 - (0.8 * position) ** 2)  # half an ellipsoid from base to apex
    scar = np.exp(-0.5 * (_wrap(angle - heart.scar_angle) / heart.scar_width) ** 2)
    scar = scar if heart.scar_depth > 0 else np.zeros_like(angle)
    endo_ed = heart.lv_radius * taper
    wall_ed = np.maximum(
        heart.wall * (1 - 0.2 * position) * (1 - heart.scar_depth * scar), MIN_WALL_MM
    )
    shrink = 1 - np.sqrt(1 - heart.lv_ejection)  # radius lost at ES for that area ejection
    endo = np.maximum(endo_ed * (1 - t * shrink * (1 - 0.9 * scar)), MIN_CAVITY_MM)
    epi = np.sqrt(endo**2 + (endo_ed + wall_ed) ** 2 - endo_ed**2)
    return endo, epi


def _rv_width(heart: Heart, position: float, t: float) -> float:
    """Largest radial width of the RV crescent (mm); 0 from ``rv_end`` to the apex."""
    if position >= heart.rv_end:
        return 0.0
    width = heart.rv_width * (1 - position / heart.rv_end) ** 0.7 * (1 - t * heart.rv_ejection)
    return width if width >= 2.0 else 0.0


def _crescent(angle: np.ndarray, span: float) -> np.ndarray:
    """Relative width of the crescent per direction: 1 facing the RV, 0 past ``span``."""
    inside = np.abs(angle) < span
    return np.where(inside, np.cos(np.pi / 2 * np.clip(angle / span, -1, 1)) ** 0.6, 0.0)


def _largest_rv_piece(labels: np.ndarray) -> np.ndarray:
    """Keep the RV's largest piece: the crescent's thin tips can break into stray pixels."""
    pieces, count = ndimage.label(labels == RV, structure=np.ones((3, 3)))
    if count > 1:
        sizes = np.bincount(pieces.ravel())[1:]
        labels[(pieces > 0) & (pieces != 1 + sizes.argmax())] = 0
    return labels


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def render_images(labels: np.ndarray, scan: Scan, rng: np.random.Generator) -> np.ndarray:
    """MR-like int16 images (x, y, slices, frames) for label volumes (x, y, slices, frames).

    Bright blood, dark myocardium, textured tissue; a slight blur for the partial volume, a
    smooth multiplicative bias field and noise, as a cine SSFP sequence shows them.
    """
    blood, muscle = rng.uniform(330, 450), rng.uniform(80, 120)
    intensity = np.array([0.0, 0.93 * blood, muscle, blood], dtype=np.float32)
    background = _body(scan, rng)[..., None]
    images = np.where(labels > 0, intensity[labels], background)
    images = ndimage.gaussian_filter(images, sigma=(0.7, 0.7, 0, 0))
    images *= _bias_field(scan, rng)[:, :, None, None]
    images += rng.standard_normal(images.shape, dtype=np.float32) * rng.uniform(8, 18)
    return np.clip(np.abs(images), 0, np.iinfo(np.int16).max).astype(np.int16)


def _body(scan: Scan, rng: np.random.Generator) -> np.ndarray:
    """Static tissue (x, y, slices) float32: a textured elliptical body in dark air."""
    nx, ny, slices = scan.shape
    coarse = rng.uniform(-1, 1, size=(6, 6, slices)).astype(np.float32)
    texture = ndimage.zoom(coarse, (nx / 6, ny / 6, 1), order=1, grid_mode=True, mode="nearest")
    x = np.linspace(-1, 1, nx)[:, None]
    y = np.linspace(-1, 1, ny)[None, :]
    body = (x / rng.uniform(0.85, 0.98)) ** 2 + (y / rng.uniform(0.75, 0.9)) ** 2 < 1
    tissue = rng.uniform(110, 160) * (1 + 0.4 * texture)
    return np.where(body[..., None], tissue, 8.0).astype(np.float32)


def _bias_field(scan: Scan, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative field (x, y), about 0.7-1.3 across the image (coil sensitivity)."""
    x = np.linspace(-1, 1, scan.shape[0])[:, None]
    y = np.linspace(-1, 1, scan.shape[1])[None, :]
    a, b, c = rng.uniform(-0.15, 0.15, size=3)
    return np.exp(a * x + b * y + c * (x**2 + y**2)).astype(np.float32)


def write_patient(folder: Path, number: int, group: str, rng: np.random.Generator) -> Path:
    """Write one phantom patient (Info.cfg, ED/ES frames and ground truth, ``_4d``) to ``folder``."""
    heart = sample_heart(group, rng)
    scan = sample_scan(heart, rng)
    frames = range(1, scan.frames + 1)
    labels = np.stack([render_labels(heart, scan, contraction(f, scan)) for f in frames], axis=-1)
    images = render_images(labels, scan, rng)
    name = patient_name(number)
    folder.mkdir(parents=True, exist_ok=True)
    affine = np.diag([*scan.spacing, 1.0])
    affine[:3, 3] = -np.multiply(scan.shape, scan.spacing) / 2  # origin at the volume's centre
    for frame in (scan.ed, scan.es):
        _save(images[..., frame - 1], affine, folder / frame_name(name, frame))
        _save(labels[..., frame - 1], affine, folder / frame_name(name, frame, gt=True))
    _save(images, affine, folder / f"{name}_4d.nii.gz", frame_ms=scan.frame_ms)
    info = {
        "ED": scan.ed,
        "ES": scan.es,
        "Group": group,
        "Height": round(float(rng.uniform(150, 195)), 1),
        "NbFrame": scan.frames,
        "Weight": round(float(rng.uniform(50, 110)), 1),
    }
    (folder / "Info.cfg").write_text(format_info(info))
    return folder


def _save(array: np.ndarray, affine: np.ndarray, path: Path, frame_ms: float | None = None) -> None:
    import nibabel as nib  # here, as in reader.py: importing the kit never needs it

    image = nib.Nifti1Image(array, affine)
    if frame_ms is not None:
        image.header.set_zooms((*image.header.get_zooms()[:3], frame_ms))
    image.header.set_xyzt_units("mm", "msec")
    nib.save(image, path)


def group_of(index: int, patients: int) -> str:
    """The group of the ``index``-th phantom (from 0): balanced blocks in ACDC's order."""
    return GROUPS[index * len(GROUPS) // patients]


def write_phantoms(
    out_dir: str | Path, patients: int = 150, seed: int = 0, first_id: int = 1
) -> list[Path]:
    """Write ``patients`` phantom patients to ``out_dir`` and return their folders in order.

    Patients are numbered from ``first_id`` and grouped in balanced blocks (like ACDC's
    training set: DCM, HCM, MINF, NOR, RV). Each patient's draws depend on ``seed`` and its
    number only. Idempotent: a tree already written with the same arguments is kept as is.
    """
    refuse_in_grading("generating ACDC phantoms")
    if patients < 1 or first_id < 1 or first_id + patients - 1 > 999:
        raise ValueError(
            "patients must be >= 1 and the ids (first_id ...) fit three digits (<= 999)"
        )
    out = Path(out_dir).expanduser()
    numbers = range(first_id, first_id + patients)
    folders = [out / patient_name(number) for number in numbers]
    if phantoms_ready(out, patients, seed, first_id) and all(f.is_dir() for f in folders):
        return folders
    _clear_old_phantoms(out)
    marker = {"generator": "aekit phantoms", **_recipe(patients, seed, first_id)}
    marker["complete"] = False
    marker["groups"] = {patient_name(n): group_of(i, patients) for i, n in enumerate(numbers)}
    try:
        _write_marker(out, marker)  # claims the folder first: an interrupted run is ours to redo
        jobs = [
            (out / patient_name(n), n, group_of(i, patients), seed) for i, n in enumerate(numbers)
        ]
        _run_jobs(jobs)
        _write_marker(out, {**marker, "complete": True})
    except OSError as error:
        raise DataError(
            f"cannot write the phantoms to {out} ({error}); choose a writable folder with about "
            "5 MB free per patient"
        ) from None
    return folders


def _run_jobs(jobs: list[tuple]) -> None:
    """Write the patients, on every core where forking is safe and cheap (Linux).

    Each patient draws from its own seeded generator, so the tree is the same however the
    work is shared; gzip and rendering dominate, so two cores halve the time.
    """
    workers = min(len(jobs), os.cpu_count() or 1)
    bar = dict(total=len(jobs), desc="Writing phantoms", unit="patient", leave=False)
    if workers < 2 or sys.platform != "linux":
        for job in progress_bar(jobs, **bar):
            _write_job(job)
        return
    context = multiprocessing.get_context("fork")  # no re-import of torch in the workers
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        for _ in progress_bar(pool.map(_write_job, jobs, chunksize=2), **bar):
            pass


def _write_job(job: tuple) -> None:
    folder, number, group, seed = job
    write_patient(folder, number, group, np.random.default_rng([seed, number]))


def _write_marker(out: Path, marker: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / PHANTOM_MARKER).write_text(json.dumps(marker, indent=1) + "\n")


def _recipe(patients: int, seed: int, first_id: int) -> dict:
    return {"version": GENERATOR_VERSION, "patients": patients, "seed": seed, "first_id": first_id}


def phantoms_ready(out: Path, patients: int, seed: int, first_id: int = 1) -> bool:
    """True when ``out`` holds a finished phantom tree written with these arguments."""
    marker = out / PHANTOM_MARKER
    if not marker.is_file():
        return False
    try:
        written = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    wanted = {**_recipe(patients, seed, first_id), "complete": True}
    return all(written.get(key) == value for key, value in wanted.items())


def _clear_old_phantoms(out: Path) -> None:
    """Remove a previous phantom tree; refuse to write over anything else."""
    patients = sorted(out.glob("patient[0-9][0-9][0-9]")) if out.is_dir() else []
    marker = out / PHANTOM_MARKER
    if patients and not marker.exists():
        raise DataError(
            f"{out} already holds patient folders ({patients[0].name}, ...) that are not phantoms "
            "written by aekit. Choose an empty folder for the phantoms; real ACDC data stays untouched."
        )
    for folder in patients:
        shutil.rmtree(folder)


def is_phantom_tree(root: str | Path) -> bool:
    return (Path(root) / PHANTOM_MARKER).is_file()


def default_phantoms() -> Path:
    """150 phantom patients (seed 0) under ``$AEKIT_DATA/phantoms``, written once."""
    folder = data_root() / "phantoms"
    write_phantoms(folder, patients=150, seed=0)
    return folder
