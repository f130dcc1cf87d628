"""The ACDC reader on hand-made NIfTI trees: Info.cfg, frame lookup, spacing, folder styles."""

import random

import nibabel as nib
import numpy as np
import pytest

from aekit.datasets.acdc import (
    find_patients,
    format_info,
    frame_name,
    parse_info,
    read_patient,
)
from aekit.datasets.errors import DataError

SHAPE = (40, 48, 4)
SPACING = (1.5, 1.62, 8.0)


def write_nifti(path, array, zooms=SPACING):
    image = nib.Nifti1Image(np.asarray(array), np.diag([*zooms[:3], 1.0]))
    image.header.set_zooms(zooms)
    nib.save(image, path)


def frame_volumes(frame: int):
    """An image whose voxels say which frame they come from, and a small heart for its gt."""
    image = np.full(SHAPE, 100.0 * frame, dtype=np.float32) + np.arange(SHAPE[2])
    gt = np.zeros(SHAPE, dtype=np.uint8)
    gt[15:25, 18:30, :] = 2
    gt[18:22, 21:27, :] = 3
    gt[10:15, 18:30, :] = 1
    return image, gt


def make_patient(folder, group="NOR", ed=1, es=7, frames=(1, 4, 7, 9), info_extra=None):
    """A patient folder holding more frames than ED and ES, written in shuffled order."""
    folder.mkdir(parents=True)
    name = folder.name
    info = {"ED": ed, "ES": es, "Group": group, "Height": 175.0, "NbFrame": 10, "Weight": 70.5}
    writes = [lambda: (folder / "Info.cfg").write_text(format_info({**info, **(info_extra or {})}))]
    for frame in frames:
        image, gt = frame_volumes(frame)
        writes.append(lambda f=frame, i=image: write_nifti(folder / frame_name(name, f), i))
        writes.append(lambda f=frame, g=gt: write_nifti(folder / frame_name(name, f, gt=True), g))
    writes.append(
        lambda: write_nifti(folder / f"{name}_4d.nii.gz", np.zeros((*SHAPE, 10)), (*SPACING, 30.0))
    )
    random.Random(len(name) + ed + es).shuffle(writes)
    for write in writes:
        write()
    return folder


def test_info_cfg_is_parsed_with_types():
    text = "ED: 1\nES: 12\nGroup: DCM\nHeight: 184.0\nNbFrame: 30\nWeight: 95.0\n"
    assert parse_info(text) == {
        "ED": 1,
        "ES": 12,
        "Group": "DCM",
        "Height": 184.0,
        "NbFrame": 30,
        "Weight": 95.0,
    }
    assert parse_info("Group:  HCM \n\nES:3\nED: 01\n") == {"Group": "HCM", "ES": 3, "ED": 1}


@pytest.mark.parametrize(
    "text, message",
    [
        ("ED: 1\nES: 12\n", "lacks Group"),
        ("ED: 1\nES: twelve\nGroup: NOR\n", "ES should be a number"),
        ("ED 1\n", "expected `Key: value`"),
        ("ED: 1\nES: 2\nGroup: ARV\n", "not an ACDC group"),
    ],
)
def test_a_bad_info_cfg_says_what_is_wrong(text, message):
    with pytest.raises(DataError, match=message):
        parse_info(text, source="patient042/Info.cfg")


def test_the_ed_and_es_frames_named_in_info_cfg_are_read(tmp_path):
    patient = read_patient(make_patient(tmp_path / "patient007", group="MINF", ed=4, es=9))
    assert patient.id == "patient007" and patient.group == "MINF"
    assert patient.info["NbFrame"] == 10 and patient.info["Weight"] == 70.5
    assert patient.image["ED"][0, 0, 0] == 400 and patient.image["ES"][0, 0, 0] == 900
    assert patient.image["ED"][0, 0, 3] == 403  # slices stay in file order
    assert patient.image["ED"].shape == SHAPE and patient.image["ED"].dtype == np.float32
    assert patient.gt["ES"].dtype == np.uint8 and set(np.unique(patient.gt["ED"])) == {0, 1, 2, 3}
    assert patient.spacing == pytest.approx(SPACING)


def test_uncompressed_nii_files_are_read_too(tmp_path):
    folder = make_patient(tmp_path / "patient003")
    for path in folder.glob("*frame01*.nii.gz"):
        nib.save(nib.load(path), path.with_suffix(""))
        path.unlink()
    assert read_patient(folder).image["ED"][0, 0, 0] == 100


def test_both_folder_styles_and_a_database_level_are_found(tmp_path):
    for name in ("patient101", "patient002"):
        make_patient(tmp_path / "acdc" / ("testing" if name == "patient101" else "training") / name)
    make_patient(tmp_path / "flat" / "patient005")
    make_patient(tmp_path / "hhp" / "database" / "training" / "patient009")
    (tmp_path / "acdc" / "training" / "notes").mkdir()
    (tmp_path / "acdc" / "training" / "patient01").mkdir()  # not a three-digit patient folder
    assert [p.name for p in find_patients(tmp_path / "acdc")] == ["patient002", "patient101"]
    assert [p.name for p in find_patients(tmp_path / "flat")] == ["patient005"]
    assert [p.name for p in find_patients(tmp_path / "hhp")] == ["patient009"]


def test_an_empty_or_missing_root_or_a_duplicate_patient_is_refused(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        find_patients(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no patientXXX folders"):
        find_patients(tmp_path)
    make_patient(tmp_path / "training" / "patient001")
    make_patient(tmp_path / "copy" / "patient001")
    with pytest.raises(DataError, match="appears twice"):
        find_patients(tmp_path)


def test_a_missing_frame_names_the_file_and_the_phase(tmp_path):
    folder = make_patient(tmp_path / "patient011", es=8)
    with pytest.raises(
        DataError, match=r"patient011: patient011_frame08.nii.gz is missing .*ES is frame 8"
    ):
        read_patient(folder)


def test_a_missing_info_cfg_names_the_patient(tmp_path):
    folder = make_patient(tmp_path / "patient012")
    (folder / "Info.cfg").unlink()
    with pytest.raises(DataError, match="patient012: Info.cfg is missing"):
        read_patient(folder)


def test_a_truncated_or_foreign_file_names_the_file(tmp_path):
    folder = make_patient(tmp_path / "patient013")
    path = folder / frame_name("patient013", 7, gt=True)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="patient013: patient013_frame07_gt.nii.gz cannot be read"):
        read_patient(folder)
    (folder / frame_name("patient013", 7, gt=True)).write_text("not an image")
    with pytest.raises(DataError, match="cannot be read as NIfTI"):
        read_patient(folder)


def test_labels_outside_0_to_3_or_a_shape_mismatch_are_refused(tmp_path):
    folder = make_patient(tmp_path / "patient014")
    _, gt = frame_volumes(1)
    gt[0, 0, 0] = 4
    write_nifti(folder / frame_name("patient014", 1, gt=True), gt)
    with pytest.raises(
        DataError, match=r"patient014: patient014_frame01_gt.nii.gz holds labels \[4\]"
    ):
        read_patient(folder)
    write_nifti(folder / frame_name("patient014", 1, gt=True), gt[:, :-2] % 4)
    with pytest.raises(
        DataError, match=r"has shape \(40, 46, 4\) but its image .* has \(40, 48, 4\)"
    ):
        read_patient(folder)
