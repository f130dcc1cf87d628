"""Anatomical plausibility of 2-D cardiac segmentation maps, and the mistakes that break it.

Labels follow ACDC: 0 background, 1 RV cavity, 2 myocardium (MYO), 3 LV cavity.

The criteria are a subset of the per-slice anatomical metrics of Painchaud et al., "Cardiac
Segmentation with Strong Anatomical Guarantees", IEEE TMI 39(11), 2020 (vitalab/vital,
``vital/data/mri/acdc/metrics``), where every count must be 0:

=================  ======================================================================
``rv_one_piece``   the RV cavity is one connected component (8-connectivity)
``myo_one_piece``  the myocardium is one connected component
``lv_one_piece``   the LV cavity is one connected component
``rv_no_hole``     nothing is enclosed by the RV cavity
``myo_no_hole``    the myocardium encloses nothing but LV cavity
``lv_no_hole``     nothing is enclosed by the LV cavity
``myo_closes_lv``  the myocardium closes around the LV: no LV pixel touches the background
``lv_rv_apart``    no LV pixel touches an RV pixel
``heart_present``  the map shows a heart: at least one structure (added here, see below)
=================  ======================================================================

Conventions. Components use 8-connectivity; holes and touching use 4-connectivity (shared
edges), the dual pair, so a ring closed only through diagonal steps still encloses a hole and
keeps the LV off the background. The image border counts as background. A missing structure is
allowed (apical and basal slices lose the RV, the LV or both), with one exception: a present LV
needs a myocardium around it, so an LV without MYO fails ``myo_closes_lv``. A map with no
structure at all passes every count of the paper, yet shows no heart: ``heart_present`` fails
it, so a network that outputs only background is not called plausible.

:func:`corrupt` makes the mistakes a weak segmentation network makes (holes, islands, a broken
ring, a missing structure); each corrupted map is implausible by these criteria.
"""

from collections.abc import Callable

import numpy as np
import torch
from scipy import ndimage

BG, RV, MYO, LV = 0, 1, 2, 3
LABEL_NAMES = {BG: "background", RV: "RV cavity", MYO: "myocardium", LV: "LV cavity"}
STRUCTURES = {"rv": RV, "myo": MYO, "lv": LV}
CRITERIA = (
    "rv_one_piece",
    "myo_one_piece",
    "lv_one_piece",
    "rv_no_hole",
    "myo_no_hole",
    "lv_no_hole",
    "myo_closes_lv",
    "lv_rv_apart",
    "heart_present",
)
CORRUPTIONS = ("holes", "islands", "broken_ring", "missing_structure")

_EIGHT = np.ones((3, 3), dtype=bool)  # components: diagonal neighbours connect
_CROSS = ndimage.generate_binary_structure(2, 1)  # touching and holes: shared edges only


def check_slice(labels: np.ndarray | torch.Tensor) -> dict[str, bool]:
    """Each criterion of the module docstring for one (H, W) map: True where it holds."""
    grid = _cropped_grid(labels)
    masks = {name: grid == label for name, label in STRUCTURES.items()}
    result = {f"{name}_one_piece": _pieces(mask) <= 1 for name, mask in masks.items()}
    result["rv_no_hole"] = not _holes(masks["rv"]).any()
    result["myo_no_hole"] = not (_holes(masks["myo"]) & ~masks["lv"]).any()
    result["lv_no_hole"] = not _holes(masks["lv"]).any()
    result["myo_closes_lv"] = not _touch(masks["lv"], grid == BG)
    result["lv_rv_apart"] = not _touch(masks["lv"], masks["rv"])
    result["heart_present"] = bool((grid != BG).any())
    return {name: bool(result[name]) for name in CRITERIA}


def is_plausible(labels: np.ndarray | torch.Tensor) -> bool:
    """True when the (H, W) map meets every criterion (a missing structure is allowed, a
    missing heart is not; see above)."""
    return all(check_slice(labels).values())


def plausibility_rate(maps: np.ndarray | torch.Tensor) -> float:
    """Fraction in [0, 1] of the (N, H, W) maps that are plausible."""
    maps = _as_maps(maps)
    if len(maps) == 0:
        raise ValueError("plausibility_rate needs at least one map, got an empty (0, H, W) array")
    return float(np.mean([is_plausible(one) for one in maps]))


def corrupt(
    labels: np.ndarray | torch.Tensor,
    kind: str,
    generator: np.random.Generator | torch.Generator,
) -> np.ndarray | torch.Tensor:
    """A copy of the (N, H, W) or (H, W) label maps with one segmentation mistake per map.

    ``kind``: ``"holes"`` (a hole punched inside a structure), ``"islands"`` (a stray blob of a
    structure away from the heart), ``"broken_ring"`` (a wedge cut out of the myocardium, so the
    LV touches the background), ``"missing_structure"`` (the myocardium or the LV dropped while
    the other stays), or ``"mixed"`` (one of these drawn per map). A map that cannot take the
    asked mistake (no LV to break, no structure thick enough to hold a hole) gets an island
    instead, so every returned map is implausible. Returns the input's type, dtype and device.
    """
    if kind != "mixed" and kind not in CORRUPTIONS:
        raise ValueError(f"kind must be one of {(*CORRUPTIONS, 'mixed')}, not {kind!r}")
    rng = _numpy_generator(generator)
    maps = _as_maps(labels).copy()
    for index, one in enumerate(maps):
        chosen = kind if kind != "mixed" else CORRUPTIONS[rng.integers(len(CORRUPTIONS))]
        maps[index] = _corrupt_one(one, chosen, rng)
    return _like(maps, labels)


# --- the criteria's building blocks ---------------------------------------------------------


def _as_maps(labels: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N, H, W) integer numpy maps with labels in 0-3, from an array or tensor of 2 or 3 dims."""
    array = (
        labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    )
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise ValueError(f"expected label maps of shape (N, H, W) or (H, W), got {array.shape}")
    if array.size and (array.min() < BG or array.max() > LV):
        raise ValueError(
            f"labels must lie in 0-3 (BG, RV, MYO, LV), found {array.min()}..{array.max()}"
        )
    return array.astype(np.int64, copy=False)


def _cropped_grid(labels: np.ndarray | torch.Tensor) -> np.ndarray:
    """The map cut to its foreground's bounding box plus one background pixel all round.

    Scipy's filters then work on a few thousand pixels instead of the whole map, and the
    padding makes the image border count as background.
    """
    maps = _as_maps(labels)
    if len(maps) != 1:
        raise ValueError(f"check_slice takes one (H, W) map, got {len(maps)} maps")
    grid = maps[0]
    rows, cols = np.flatnonzero(grid.any(axis=1)), np.flatnonzero(grid.any(axis=0))
    if len(rows) == 0:
        return np.zeros((1, 1), dtype=np.int64)
    box = grid[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return np.pad(box, 1)


def _pieces(mask: np.ndarray) -> int:
    return ndimage.label(mask, structure=_EIGHT)[1]


def _holes(mask: np.ndarray) -> np.ndarray:
    """Pixels outside ``mask`` that it encloses (not 4-connected to the border)."""
    return ndimage.binary_fill_holes(mask, structure=_CROSS) & ~mask


def _touch(mask: np.ndarray, other: np.ndarray) -> bool:
    """True when a pixel of ``mask`` shares an edge with a pixel of ``other``."""
    return bool((ndimage.binary_dilation(mask, structure=_CROSS) & other).any())


# --- corruptions ----------------------------------------------------------------------------


def _corrupt_one(grid: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Apply one mistake to an (H, W) map; fall back to an island when it leaves it plausible."""
    corrupted = _MISTAKES[kind](grid.copy(), rng)
    if corrupted is None or is_plausible(corrupted):
        corrupted = _add_island(grid.copy() if corrupted is None else corrupted, rng)
    return corrupted


def _punch_hole(grid: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Set a small disc deep inside the LV, MYO or RV to background: an enclosed hole."""
    labels = [label for label in (LV, MYO, RV) if (grid == label).any()]
    for label in rng.permutation(labels):
        depth = ndimage.distance_transform_edt(np.pad(grid == label, 1))[1:-1, 1:-1]
        # A disc of radius r around a pixel at depth d stays enclosed when r + sqrt(2) < d.
        deep = np.argwhere(depth >= 2.0)
        if len(deep):
            centre = deep[rng.integers(len(deep))]
            radius = rng.uniform(0.0, max(0.0, min(depth[tuple(centre)] - 1.5, 3.0)))
            grid[_disc(grid.shape, centre, radius)] = BG
            return grid
    return None


def _add_island(grid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paint a small blob of a structure on background, two pixels or more from anything.

    The blob takes a label already present (a second piece) or, on an empty map, the LV (an LV
    without myocardium); either way the map becomes implausible.
    """
    present = [label for label in (RV, MYO, LV) if (grid == label).any()]
    label = rng.choice(present) if present else LV
    radius = rng.uniform(1.0, 3.0)
    room = ndimage.distance_transform_edt(grid == BG)
    free = np.argwhere(room > radius + 2.0)
    if len(free) == 0:
        return grid  # no background left to hold an island: nothing sensible to add
    centre = free[rng.integers(len(free))]
    grid[_disc(grid.shape, centre, radius)] = label
    return grid


def _break_ring(grid: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Cut a wedge (15-40 degrees) out of the myocardium, seen from the LV's centre."""
    lv, myo = grid == LV, grid == MYO
    if not lv.any() or not myo.any():
        return None
    centre = np.argwhere(lv).mean(axis=0)
    rows, cols = np.nonzero(myo)
    angles = np.arctan2(rows - centre[0], cols - centre[1])
    direction, half_width = rng.uniform(-np.pi, np.pi), np.deg2rad(rng.uniform(7.5, 20.0))
    in_wedge = np.abs(np.angle(np.exp(1j * (angles - direction)))) < half_width
    grid[rows[in_wedge], cols[in_wedge]] = BG
    return grid


def _drop_structure(grid: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Drop the myocardium (the LV then meets the background) or the LV (the ring is empty)."""
    if not (grid == LV).any() or not (grid == MYO).any():
        return None
    grid[grid == (MYO if rng.random() < 0.5 else LV)] = BG
    return grid


_MISTAKES: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray | None]] = {
    "holes": _punch_hole,
    "islands": _add_island,
    "broken_ring": _break_ring,
    "missing_structure": _drop_structure,
}


def _disc(shape: tuple[int, ...], centre: np.ndarray, radius: float) -> np.ndarray:
    """Boolean (H, W) mask of the pixels within ``radius`` of ``centre`` (the centre always)."""
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


def _numpy_generator(generator: np.random.Generator | torch.Generator) -> np.random.Generator:
    """A numpy generator drawn from the caller's, so the caller's seed decides everything."""
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, torch.Generator):
        seed = torch.randint(0, 2**62, (1,), generator=generator).item()
        return np.random.default_rng(seed)
    raise TypeError(f"generator must be a numpy or torch Generator, not {type(generator).__name__}")


def _like(maps: np.ndarray, original: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """``maps`` (N, H, W) back in the type, dtype, device and rank of ``original``."""
    maps = maps[0] if np.ndim(original) == 2 else maps
    if isinstance(original, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(maps)).to(original.device, original.dtype)
    return maps.astype(np.asarray(original).dtype, copy=False)
