"""Reading one ``patientXXX`` folder of the ACDC layout (the official tree or the phantoms):
Info.cfg, then the ED and ES image and ground-truth volumes it points to, read with nibabel,
with the voxel spacing from the NIfTI header. Bad files raise :class:`DataError` naming the
patient and the file.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aekit.datasets.acdc.layout import LABEL_RANGE, PATIENT_FOLDER, PHASES, frame_name, parse_info
from aekit.datasets.errors import DataError
from aekit.datasets.errors import one_line as _one_line


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
    import nibabel as nib  # here: 0.2 s that importing the kit (and grading) never needs

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
