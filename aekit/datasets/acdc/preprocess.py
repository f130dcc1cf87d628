"""From volumes to maps: every short-axis slice of the ED and ES ground truth becomes a
fixed-size 2-D map (labels 0 BG, 1 RV, 2 MYO, 3 LV), with its z-scored MR image, windowed
around the heart or the image centre, at the native spacing or resampled.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from aekit.datasets.acdc.layout import PHASES
from aekit.datasets.acdc.reader import Patient

MODES = ("heart", "centre")


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
