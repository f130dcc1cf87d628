"""The public loader the notebooks call: one split of ACDC-format maps as tensors."""

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from aekit.datasets.acdc.cache import prepare_acdc, read_split, report_text
from aekit.datasets.acdc.preprocess import Preprocessing
from aekit.datasets.acdc.split import SPLITS
from aekit.datasets.errors import DataError
from aekit.runtime import pick_device, refuse_in_grading


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
        warnings.warn(report_text(cache.report), stacklevel=2)
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
