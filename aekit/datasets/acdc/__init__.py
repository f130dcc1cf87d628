"""ACDC segmentation maps: the reader, the preprocessing, the split and the cache.

The same code reads the official ACDC tree and the synthetic phantoms (the default when
``$AEKIT_ACDC`` names no real ACDC root). One idea per module, each importing only those
above it:

- :mod:`.layout`: ACDC's groups, phases and labels, its file names and the Info.cfg format.
- :mod:`.reader`: :func:`read_patient` reads ``patientXXX/Info.cfg`` and the ED and ES image
  and ground-truth volumes (x, y, slices) it points to, with the voxel spacing from the NIfTI
  header.
- :mod:`.phantoms`: :func:`write_phantoms` writes synthetic patients in that layout.
- :mod:`.preprocess`: :func:`preprocess_patient` turns every short-axis slice of the ED and ES
  ground truth into a fixed-size 2-D map (labels 0 BG, 1 RV, 2 MYO, 3 LV), with its z-scored
  MR image.
- :mod:`.split`: by patient, stratified by group, seeded: for real ACDC the committed
  ``data/acdc_split.json`` (the tutorial's 75 train / 25 val patients, 50 test).
- :mod:`.cache`: :func:`prepare_acdc` builds everything once into a compressed ``.npz`` under
  ``$AEKIT_DATA/cache/acdc/``.
- :mod:`.loader`: :func:`load_acdc` loads a split from it in about a second.
- :mod:`.commands`: ``aekit data acdc`` and ``aekit data phantoms`` (:func:`acdc_command`,
  :func:`phantoms_command`) do the same from the command line and report bad patients instead
  of stopping at the first.

The names below are the ones ``aekit.datasets.acdc`` has always offered.
"""

from aekit.datasets.acdc.cache import (
    ACDC_ENV,
    CACHE_FORMAT,
    FIELDS,
    Cache,
    Report,
    _preprocess_all,  # noqa: F401  (acdc.py's; a test names it)
    prepare_acdc,
    read_split,
    resolve_root,
)
from aekit.datasets.acdc.commands import acdc_command, count_table, phantoms_command
from aekit.datasets.acdc.layout import (
    GROUPS,
    INFO_TYPES,
    LABEL_RANGE,
    PATIENT_FOLDER,
    PHASES,
    REQUIRED_INFO,
    format_info,
    frame_name,
    parse_info,
    patient_name,
)
from aekit.datasets.acdc.loader import AcdcSlices, load_acdc
from aekit.datasets.acdc.phantoms import PHANTOM_MARKER, default_phantoms, is_phantom_tree
from aekit.datasets.acdc.preprocess import (
    MODES,
    Preprocessing,
    heart_centre,
    preprocess_patient,
    sample_window,
    slice_positions,
)
from aekit.datasets.acdc.reader import Patient, find_patients, read_patient
from aekit.datasets.acdc.split import (
    MANIFEST,
    OFFICIAL_SEED,
    PHANTOM_FRACTIONS,
    SPLITS,
    committed_manifest,
    official_groups,
    official_manifest,
    official_split,
    phantom_manifest,
    read_manifest,
    stratified_split,
    write_manifest,
)

__all__ = [
    "ACDC_ENV",
    "CACHE_FORMAT",
    "FIELDS",
    "GROUPS",
    "INFO_TYPES",
    "LABEL_RANGE",
    "MANIFEST",
    "MODES",
    "OFFICIAL_SEED",
    "PATIENT_FOLDER",
    "PHANTOM_FRACTIONS",
    "PHANTOM_MARKER",
    "PHASES",
    "REQUIRED_INFO",
    "SPLITS",
    "AcdcSlices",
    "Cache",
    "Patient",
    "Preprocessing",
    "Report",
    "acdc_command",
    "committed_manifest",
    "count_table",
    "default_phantoms",
    "find_patients",
    "format_info",
    "frame_name",
    "heart_centre",
    "is_phantom_tree",
    "load_acdc",
    "official_groups",
    "official_manifest",
    "official_split",
    "parse_info",
    "patient_name",
    "phantom_manifest",
    "phantoms_command",
    "prepare_acdc",
    "preprocess_patient",
    "read_manifest",
    "read_patient",
    "read_split",
    "resolve_root",
    "sample_window",
    "slice_positions",
    "stratified_split",
    "write_manifest",
]
