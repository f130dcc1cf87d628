"""Benchmark of the ACDC data layer on 150 phantom patients: speed, and realism against ACDC.

Run: ``.venv/bin/python -m benchmarks.acdc`` (about a minute on 2 cores). It works in a
temporary ``$AEKIT_DATA``, so it times a cold start and leaves the user's cache alone.

Targets: preprocessing 150 patients <= 60 s, loading the cache <= 2 s, 100 % of the maps
anatomically plausible. Realism compares per-group ranges with published ones:

- LV end-diastolic diameter: normal 42-58 mm, LV end-systolic diameter 25-40 mm (Lang et al.,
  "Recommendations for cardiac chamber quantification", JASE 28(1), 2015, men's ranges);
  DCM above about 60 mm.
- Wall thickness: normal 6-11 mm (Lang 2015; ACDC NOR below 12 mm); HCM 15 mm or more.
- ACDC's group rules (creatis.insa-lyon.fr/Challenge/acdc/databasesClassification.html): NOR
  LV EF > 50 %; DCM LV EF < 40 % and LV EDV > 100 mL/m2; HCM LV EF > 55 %; MINF LV EF < 40 %;
  RV: RV EF < 40 % or an RV volume > 100-110 mL/m2.
"""

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from scipy import ndimage

from aekit.anatomy import LV, MYO, RV, plausibility_rate
from aekit.datasets.acdc import GROUPS, SPLITS, find_patients, load_acdc, prepare_acdc, read_patient
from aekit.datasets.phantoms import write_phantoms

PATIENTS = 150
REFERENCES = {
    "lv_edd_mm": {"NOR": "42-58", "DCM": "> 60"},
    "lv_esd_mm": {"NOR": "25-40"},
    "wall_mean_mm": {"NOR": "6-11"},
    "wall_max_mm": {"NOR": "< 12", "HCM": ">= 15"},
    "lv_ef_pct": {"NOR": "> 50", "DCM": "< 40", "HCM": "> 55", "MINF": "< 40"},
    "rv_ef_pct": {"RV": "< 40"},
    "lv_edv_ml_m2": {"DCM": "> 100"},
}
LABELS = {"BG": 0, "RV": RV, "MYO": MYO, "LV": LV}


def main(argv: list[str] | None = None) -> dict:
    """Time generation, preprocessing and loading; measure realism; print and return it all."""
    with tempfile.TemporaryDirectory() as scratch, _data_root(scratch):
        tree = Path(scratch) / "phantoms"
        figures = {"patients": PATIENTS, "cpus": os.cpu_count()}
        figures["generate_s"] = _seconds(lambda: write_phantoms(tree, PATIENTS, seed=0))
        figures["preprocess_s"] = _seconds(lambda: prepare_acdc(tree))
        figures["load_train_s"] = _seconds(lambda: load_acdc("train", root=tree))
        started = time.perf_counter()
        splits = {split: load_acdc(split, root=tree) for split in SPLITS}
        figures["load_all_s"] = time.perf_counter() - started
        figures.update(_map_figures(splits))
        figures["groups"] = _group_figures([read_patient(f) for f in find_patients(tree)])
    figures["references"] = REFERENCES
    print(render(figures))
    return figures


@contextmanager
def _data_root(folder: str):
    previous = os.environ.get("AEKIT_DATA")
    os.environ["AEKIT_DATA"] = folder
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("AEKIT_DATA", None)
        else:
            os.environ["AEKIT_DATA"] = previous


def _seconds(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _map_figures(splits: dict) -> dict:
    """Slice counts, label area fractions and plausibility of the 128 x 128 maps."""
    labels = np.concatenate([data.labels.numpy() for data in splits.values()])
    counts = np.bincount(labels.ravel(), minlength=4) / labels.size
    return {
        "slices": {split: len(data) for split, data in splits.items()},
        "label_fractions": {name: float(counts[label]) for name, label in LABELS.items()},
        "plausible_fraction": plausibility_rate(labels),
    }


def _group_figures(patients: list) -> dict:
    """Per group, the (min, max) of each clinical measure over its patients."""
    measures = [_measure(patient) for patient in patients]
    figures = {}
    for group in GROUPS:
        mine = [m for m, p in zip(measures, patients, strict=True) if p.group == group]
        figures[group] = {
            key: (min(m[key] for m in mine), max(m[key] for m in mine)) for key in mine[0]
        }
        figures[group]["patients"] = len(mine)
    return figures


def _measure(patient) -> dict[str, float]:
    """Clinical measures of one patient from its ED and ES ground truth (mm, %, mL/m2)."""
    pixel_mm2 = patient.spacing[0] * patient.spacing[1]
    ed, es = patient.gt["ED"], patient.gt["ES"]
    lv_ed = (ed == LV).sum(axis=(0, 1)) * pixel_mm2
    widest = int(lv_ed.argmax())  # the basal-mid slice where a diameter is measured
    lv_es = (es[:, :, widest] == LV).sum() * pixel_mm2
    myo = (ed[:, :, widest] == MYO).sum() * pixel_mm2
    volume = lambda gt, label: (gt == label).sum() * pixel_mm2 * patient.spacing[2] / 1000  # noqa: E731
    surface = np.sqrt(patient.info["Height"] * patient.info["Weight"] / 3600)  # Mosteller, m2
    return {
        "lv_edd_mm": _diameter(lv_ed[widest]),
        "lv_esd_mm": _diameter(lv_es),
        "wall_mean_mm": _diameter(lv_ed[widest] + myo) / 2 - _diameter(lv_ed[widest]) / 2,
        "wall_max_mm": _thickest_wall(ed, patient.spacing[0]),
        "lv_ef_pct": 100 * (1 - volume(es, LV) / volume(ed, LV)),
        "rv_ef_pct": 100 * (1 - volume(es, RV) / volume(ed, RV)),
        "lv_edv_ml_m2": volume(ed, LV) / surface,
    }


def _diameter(area_mm2: float) -> float:
    """Diameter of the circle of that area."""
    return float(2 * np.sqrt(area_mm2 / np.pi))


def _thickest_wall(gt: np.ndarray, pixel_mm: float) -> float:
    """Largest myocardial thickness at ED, from the largest distance inside the myocardium.

    A ring w pixels thick has its deepest pixel (w + 1) / 2 pixels from the outside.
    """
    depth = max(
        ndimage.distance_transform_edt(gt[:, :, k] == MYO).max() for k in range(gt.shape[2])
    )
    return float((2 * depth - 1) * pixel_mm)


def render(figures: dict) -> str:
    """The figures as a readable report."""
    slices = figures["slices"]
    fractions = ", ".join(
        f"{name} {100 * value:.1f} %" for name, value in figures["label_fractions"].items()
    )
    lines = [
        f"ACDC data layer on {figures['patients']} phantom patients ({figures['cpus']} CPUs)",
        f"  generate phantoms      {figures['generate_s']:6.1f} s",
        f"  preprocess (cold)      {figures['preprocess_s']:6.1f} s   target <= 60 s",
        f"  load train from cache  {figures['load_train_s']:6.2f} s   target <= 2 s",
        f"  load all three splits  {figures['load_all_s']:6.2f} s",
        f"  slices                 {slices['train']} train / {slices['val']} val / {slices['test']} test",
        f"  label area (128 maps)  {fractions}",
        f"  plausible maps         {100 * figures['plausible_fraction']:.1f} %   target 100 %",
        "",
        "Per group, min-max over its patients (reference in brackets):",
        f"{'measure':<14}" + "".join(f"{group:>18}" for group in GROUPS),
    ]
    for key, references in REFERENCES.items():
        cells = []
        for group in GROUPS:
            low, high = figures["groups"][group][key]
            note = f" [{references[group]}]" if group in references else ""
            cells.append(f"{low:.0f}-{high:.0f}{note}")
        lines.append(f"{key:<14}" + "".join(f"{cell:>18}" for cell in cells))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
