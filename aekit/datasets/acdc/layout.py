"""The official ACDC layout (https://www.creatis.insa-lyon.fr/Challenge/acdc/): its groups,
phases and labels, the names of its folders and files, and the Info.cfg format.

    training/patient001/Info.cfg                      ED, ES (frame numbers), Group, ...
    training/patient001/patient001_frame01.nii.gz     an image volume (x, y, slices)
    training/patient001/patient001_frame01_gt.nii.gz  its ground truth, labels 0-3

The reader (:mod:`.reader`) and the phantom writer (:mod:`.phantoms`) both follow it.
"""

import re

from aekit.datasets.errors import DataError

GROUPS = ("DCM", "HCM", "MINF", "NOR", "RV")  # the order of ACDC's blocks of patients
PHASES = ("ED", "ES")
LABEL_RANGE = (0, 3)  # 0 BG, 1 RV cavity, 2 myocardium, 3 LV cavity
INFO_TYPES = {"ED": int, "ES": int, "Group": str, "Height": float, "NbFrame": int, "Weight": float}
REQUIRED_INFO = ("ED", "ES", "Group")
PATIENT_FOLDER = re.compile(r"patient\d{3}")


def patient_name(number: int) -> str:
    return f"patient{number:03d}"


def frame_name(patient: str, frame: int, gt: bool = False) -> str:
    """``patient001_frame01.nii.gz`` (``..._gt.nii.gz`` for the ground truth)."""
    return f"{patient}_frame{frame:02d}{'_gt' if gt else ''}.nii.gz"


def format_info(info: dict) -> str:
    """Info.cfg text: one ``Key: value`` line per entry."""
    return "".join(f"{key}: {value}\n" for key, value in info.items())


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
