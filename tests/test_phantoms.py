"""Synthetic ACDC-format phantoms: the tree's format, and anatomy that behaves like ACDC's."""

import json

import nibabel as nib
import numpy as np
import pytest

from aekit.anatomy import LV, MYO, RV, is_plausible
from aekit.datasets.acdc import GROUPS, PHANTOM_MARKER, parse_info, read_patient
from aekit.datasets.errors import DataError
from aekit.datasets.phantoms import write_phantoms


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantoms")
    write_phantoms(root, patients=10, seed=0)
    return root


@pytest.fixture(scope="module")
def patients(tree):
    return [read_patient(folder) for folder in sorted(tree.glob("patient*"))]


def areas(gt: np.ndarray, label: int, spacing) -> np.ndarray:
    """Area of ``label`` per slice of an (x, y, slices) volume, in mm^2."""
    return (gt == label).sum(axis=(0, 1)) * spacing[0] * spacing[1]


def by_group(patients, measure) -> dict[str, float]:
    values = {group: [measure(p) for p in patients if p.group == group] for group in GROUPS}
    return {group: float(np.mean(found)) for group, found in values.items()}


# --- the format -----------------------------------------------------------------------------


def test_the_tree_has_acdc_files_and_info_keys(tree):
    folders = sorted(tree.glob("patient*"))
    assert [f.name for f in folders] == [f"patient{i:03d}" for i in range(1, 11)]
    for folder in folders:
        info = parse_info((folder / "Info.cfg").read_text())
        assert list(info) == ["ED", "ES", "Group", "Height", "NbFrame", "Weight"]
        assert info["ED"] == 1 < info["ES"] <= info["NbFrame"]
        expected = {
            f"{folder.name}_frame{f:02d}{gt}.nii.gz"
            for f in (info["ED"], info["ES"])
            for gt in ("", "_gt")
        }
        expected |= {"Info.cfg", f"{folder.name}_4d.nii.gz"}
        assert {path.name for path in folder.iterdir()} == expected


def test_groups_come_in_balanced_blocks_in_acdcs_order(tree, patients):
    assert [p.group for p in patients] == [g for g in GROUPS for _ in range(2)]
    marker = json.loads((tree / PHANTOM_MARKER).read_text())
    assert marker["complete"] and marker["patients"] == 10 and marker["seed"] == 0


def test_headers_give_acdc_like_spacing_and_shapes(tree, patients):
    for patient in patients:
        x, y, slices = patient.gt["ED"].shape
        assert 200 <= x <= 260 and 200 <= y <= 260 and 6 <= slices <= 12
        assert patient.spacing[0] == patient.spacing[1] and 1.37 <= patient.spacing[0] <= 1.68
        assert 5.0 <= patient.spacing[2] <= 10.0
        image = nib.load(patient.folder / f"{patient.id}_frame01.nii.gz")
        assert np.allclose(np.diag(image.affine)[:3], patient.spacing)
        assert image.header.get_xyzt_units() == ("mm", "msec")


def test_the_4d_cine_holds_the_ed_and_es_frames(patients):
    for patient in patients[::3]:
        cine = nib.load(patient.folder / f"{patient.id}_4d.nii.gz")
        assert cine.shape == (*patient.image["ED"].shape, patient.info["NbFrame"])
        assert cine.header.get_zooms()[3] > 0
        frames = np.asanyarray(cine.dataobj)
        for phase in ("ED", "ES"):
            assert np.array_equal(frames[..., patient.info[phase] - 1], patient.image[phase])


def test_phantoms_are_seeded_and_writing_again_is_a_no_op(tree, tmp_path):
    again = write_phantoms(tree, patients=10, seed=0)
    stamp = (tree / "patient001" / "Info.cfg").stat().st_mtime_ns
    assert again == sorted(tree.glob("patient*"))
    assert (tree / "patient001" / "Info.cfg").stat().st_mtime_ns == stamp
    write_phantoms(tmp_path / "same", patients=2, seed=0)
    write_phantoms(tmp_path / "other", patients=2, seed=1)
    first = read_patient(tree / "patient001").gt["ED"]
    assert np.array_equal(read_patient(tmp_path / "same" / "patient001").gt["ED"], first)
    assert not np.array_equal(read_patient(tmp_path / "other" / "patient001").gt["ED"], first)


def test_new_arguments_replace_an_old_phantom_tree_but_never_other_data(tmp_path):
    write_phantoms(tmp_path / "tree", patients=3, seed=0)
    write_phantoms(tmp_path / "tree", patients=2, seed=0, first_id=7)
    assert sorted(p.name for p in (tmp_path / "tree").glob("patient*")) == [
        "patient007",
        "patient008",
    ]
    (tmp_path / "real" / "patient001").mkdir(parents=True)
    with pytest.raises(DataError, match="not phantoms"):
        write_phantoms(tmp_path / "real", patients=1)
    with pytest.raises(ValueError):
        write_phantoms(tmp_path / "big", patients=10, first_id=995)


# --- the anatomy ----------------------------------------------------------------------------


def test_every_slice_is_anatomically_plausible(patients):
    for patient in patients:
        for phase in ("ED", "ES"):
            gt = patient.gt[phase]
            for k in range(gt.shape[2]):
                assert is_plausible(gt[:, :, k]), (patient.id, phase, k)


def test_every_slice_holds_an_lv_in_its_ring_and_the_base_comes_first(patients):
    for patient in patients:
        lv = areas(patient.gt["ED"], LV, patient.spacing)
        assert (lv > 0).all() and (areas(patient.gt["ED"], MYO, patient.spacing) > 0).all()
        assert lv[0] > lv[-1] and np.all(
            np.diff(lv) < 10
        )  # shrinks from base to apex (10 mm² for pixelisation)


def test_the_lv_is_smaller_at_end_systole(patients):
    for patient in patients:
        ed, es = (areas(patient.gt[p], LV, patient.spacing).sum() for p in ("ED", "ES"))
        assert es < 0.9 * ed, patient.id


def test_the_rv_shrinks_towards_the_apex_and_vanishes_there(patients):
    for patient in patients:
        rv = areas(patient.gt["ED"], RV, patient.spacing)
        assert rv[0] > 0 and rv[-1] == 0 and rv[0] == rv.max(), patient.id


def test_groups_change_the_anatomy_as_in_acdc(patients):
    lv_volume = by_group(patients, lambda p: areas(p.gt["ED"], LV, p.spacing).sum())
    rv_volume = by_group(patients, lambda p: areas(p.gt["ED"], RV, p.spacing).sum())
    assert lv_volume["DCM"] > 1.5 * lv_volume["NOR"]
    assert rv_volume["RV"] > 1.5 * rv_volume["NOR"]
    assert by_group(patients, basal_wall)["HCM"] > 1.5 * by_group(patients, basal_wall)["NOR"]
    ejection = by_group(
        patients,
        lambda p: (
            1 - areas(p.gt["ES"], LV, p.spacing).sum() / areas(p.gt["ED"], LV, p.spacing).sum()
        ),
    )
    assert ejection["DCM"] < ejection["NOR"] and ejection["MINF"] < ejection["NOR"]


def basal_wall(patient) -> float:
    """Mean wall thickness (mm) on the basal ED slice, from the areas of the disc and ring."""
    lv, myo = (areas(patient.gt["ED"][:, :, :1], label, patient.spacing)[0] for label in (LV, MYO))
    return float(np.sqrt((lv + myo) / np.pi) - np.sqrt(lv / np.pi))


def test_the_image_shows_bright_blood_and_dark_muscle(patients):
    for patient in patients[::4]:
        image, gt = patient.image["ED"], patient.gt["ED"]
        assert image[gt == LV].mean() > 2 * image[gt == MYO].mean()
