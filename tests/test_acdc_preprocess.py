"""Preprocessing ACDC volumes into 2-D maps, the split by patient, and the cache."""

import json
import os
import shutil

import numpy as np
import pytest
import torch

from aekit.datasets import acdc
from aekit.datasets.acdc import (
    PHANTOM_MARKER,
    Patient,
    Preprocessing,
    load_acdc,
    prepare_acdc,
    preprocess_patient,
    read_manifest,
    slice_positions,
    stratified_split,
    write_manifest,
)
from aekit.datasets.errors import DataError
from aekit.datasets.phantoms import write_phantoms

FAST = {"size": 48, "spacing": 4.0}  # 192 mm windows: every phantom heart fits, maps stay small


def patient(gt: np.ndarray, spacing=(1.5, 1.5, 8.0), es: np.ndarray | None = None) -> Patient:
    """An in-memory patient whose image is a ramp, so a crop shows where it came from."""
    es = gt if es is None else es
    image = np.arange(gt.size, dtype=np.float32).reshape(gt.shape)
    return Patient(
        "patient001",
        None,
        {"Group": "NOR"},
        {"ED": image, "ES": image},
        {"ED": gt, "ES": es},
        spacing,
    )


def block_heart(shape=(100, 90, 3), rows=(40, 60), cols=(30, 50), seed=0) -> np.ndarray:
    """Random labels 1-3 filling a block: the 'heart' whose bounding box is known."""
    gt = np.zeros(shape, dtype=np.uint8)
    box = (slice(*rows), slice(*cols))
    gt[box] = np.random.default_rng(seed).integers(1, 4, size=gt[box].shape)
    return gt


def bbox_centre(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return np.array([(rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2])


# --- preprocessing --------------------------------------------------------------------------


def test_a_heart_window_is_an_exact_crop_of_the_slice():
    gt = block_heart()
    maps = preprocess_patient(patient(gt), Preprocessing(size=32))
    # heart box rows 40-59, cols 30-49: centre (49.5, 39.5), so the window starts at (34, 24)
    for k in range(3):
        assert np.array_equal(maps["labels"][k], gt[34:66, 24:56, k])
    assert maps["labels"].dtype == np.uint8 and maps["labels"].shape == (6, 32, 32)


def test_the_heart_centre_lands_on_the_map_centre():
    for seed, (rows, cols) in enumerate(
        [((5, 30), (60, 88)), ((70, 99), (3, 20)), ((40, 47), (40, 52))]
    ):
        gt = block_heart(rows=rows, cols=cols, seed=seed)
        maps = preprocess_patient(patient(gt), Preprocessing(size=48))
        centre = bbox_centre(maps["labels"][0] > 0)
        assert np.abs(centre - 47 / 2).max() <= 0.5
        assert (maps["labels"] > 0).sum() == 2 * (gt > 0).sum()  # nothing cut
        assert not maps["cut"]


def test_a_window_larger_than_the_slice_pads_with_background_and_keeps_every_label():
    gt = block_heart(shape=(60, 50, 2), rows=(10, 50), cols=(5, 45))
    maps = preprocess_patient(patient(gt), Preprocessing(size=128))
    for k in range(2):
        assert np.array_equal(
            np.bincount(maps["labels"][k].ravel(), minlength=4)[1:],
            np.bincount(gt[..., k].ravel(), minlength=4)[1:],
        )


def test_a_heart_larger_than_the_window_is_reported_as_cut():
    maps = preprocess_patient(patient(block_heart()), Preprocessing(size=16))
    assert maps["cut"]


@pytest.mark.parametrize("shape", [(260, 216, 2), (216, 300, 2), (256, 256, 2)])
def test_centre_mode_is_the_tutorials_centre_crop_or_pad(shape):
    gt = np.random.default_rng(1).integers(0, 4, size=shape).astype(np.uint8)
    maps = preprocess_patient(patient(gt), Preprocessing(size=256, mode="centre"))
    expected = gt
    for axis in (0, 1):  # vital's centered_resize: crop or pad half the difference on each side
        extra = expected.shape[axis] - 256
        if extra > 0:
            expected = np.take(expected, range(extra // 2, extra // 2 + 256), axis=axis)
        elif extra < 0:
            widths = [(0, 0)] * 3
            widths[axis] = (-extra // 2, -extra // 2)
            expected = np.pad(expected, widths)
    assert np.array_equal(maps["labels"][:2], expected.transpose(2, 0, 1))


def test_resampling_never_creates_label_values_and_keeps_areas():
    gt = np.zeros((80, 80, 1), dtype=np.uint8)
    rows, cols = np.mgrid[:80, :80]
    gt[np.hypot(rows - 40, cols - 40) < 20, 0] = 2
    gt[np.hypot(rows - 40, cols - 40) < 12, 0] = 0  # a ring of MYO round background: no 1 or 3
    for target in (0.7, 1.0, 2.3):
        maps = preprocess_patient(
            patient(gt, spacing=(1.5, 1.5, 8.0)), Preprocessing(128, spacing=target)
        )
        assert set(np.unique(maps["labels"])) == {0, 2}
        area_mm2 = (maps["labels"][0] == 2).sum() * target**2
        assert area_mm2 == pytest.approx((gt == 2).sum() * 1.5**2, rel=0.08)
        assert np.allclose(maps["spacing"], target)


def test_images_come_along_z_scored_as_float32():
    gt = block_heart()
    maps = preprocess_patient(patient(gt), Preprocessing(size=32))
    images = maps["images"]
    assert images.dtype == np.float32 and images.shape == (6, 32, 32)
    assert np.allclose(images.mean(axis=(1, 2)), 0, atol=1e-4)
    assert np.allclose(images.std(axis=(1, 2)), 1, atol=1e-3)
    ramp = patient(gt).image["ED"][34:66, 24:56, 0]  # the same window, before normalisation
    assert np.allclose(images[0], (ramp - ramp.mean()) / ramp.std(), atol=1e-4)


def test_slice_metadata_lists_ed_then_es_with_positions_from_base_to_apex():
    gt = np.zeros((40, 40, 4), dtype=np.uint8)
    for k, radius in enumerate([12, 10, 7, 3]):  # wide base at slice 0
        gt[20 - radius : 20 + radius, 20 - radius : 20 + radius, k] = 3
    maps = preprocess_patient(patient(gt), Preprocessing(size=32))
    assert maps["phases"].tolist() == ["ED"] * 4 + ["ES"] * 4
    assert maps["slice_index"].tolist() == [0, 1, 2, 3] * 2
    assert np.allclose(maps["position"], [0, 1 / 3, 2 / 3, 1] * 2)
    assert np.allclose(slice_positions(gt[:, :, ::-1]), [1, 2 / 3, 1 / 3, 0])
    assert slice_positions(gt[:, :, :1]).tolist() == [0.0]


def test_bad_options_are_refused():
    for options in ({"size": 4}, {"mode": "middle"}, {"spacing": 0.0}):
        with pytest.raises(ValueError):
            Preprocessing(**options)


# --- the split ------------------------------------------------------------------------------


def groups_of(count_per_group: int) -> dict[str, str]:
    return {
        f"patient{i:03d}": acdc.GROUPS[i // count_per_group] for i in range(5 * count_per_group)
    }


def test_the_split_is_by_patient_stratified_and_seeded():
    groups = groups_of(30)
    splits = stratified_split(groups, acdc.PHANTOM_FRACTIONS, seed=4)
    ids = [pid for name in acdc.SPLITS for pid in splits[name]]
    assert sorted(ids) == sorted(groups) and len(ids) == len(set(ids))
    for name, count in {"train": 15, "val": 5, "test": 10}.items():
        per_group = {g: sum(groups[pid] == g for pid in splits[name]) for g in acdc.GROUPS}
        assert set(per_group.values()) == {count}, (name, per_group)
    shuffled = dict(reversed(list(groups.items())))
    assert stratified_split(shuffled, acdc.PHANTOM_FRACTIONS, seed=4) == splits
    assert stratified_split(groups, acdc.PHANTOM_FRACTIONS, seed=5) != splits


def test_the_committed_manifest_is_the_tutorials_split():
    committed = read_manifest(acdc.MANIFEST)
    assert committed == acdc.official_manifest()
    rng = np.random.RandomState(1337)  # vital's dataset_generator, block by block
    val = []
    for block in range(5):
        order = np.arange(20) + 20 * block
        rng.shuffle(order)
        val += [f"patient{i + 1:03d}" for i in order[15:]]
    assert committed["splits"]["val"] == sorted(val)
    assert len(committed["splits"]["train"]) == 75
    assert committed["splits"]["test"] == [f"patient{i:03d}" for i in range(101, 151)]


def test_a_manifest_round_trips_and_a_bad_one_is_refused(tmp_path):
    manifest = acdc.phantom_manifest(groups_of(6), seed=3)
    assert read_manifest(write_manifest(manifest, tmp_path / "split.json")) == manifest
    manifest["splits"]["val"].append(manifest["splits"]["train"][0])
    write_manifest(manifest, tmp_path / "overlap.json")
    with pytest.raises(DataError, match="two splits"):
        read_manifest(tmp_path / "overlap.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(DataError, match="not a split manifest"):
        read_manifest(tmp_path / "broken.json")


# --- loading and the cache ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Twenty phantom patients: four per group, so every split has patients."""
    root = tmp_path_factory.mktemp("phantoms")
    write_phantoms(root, patients=20, seed=0)
    return root


@pytest.fixture(autouse=True)
def private_data(tmp_path, monkeypatch):
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("AEKIT_ACDC", raising=False)


def test_load_acdc_gives_the_maps_and_metadata_of_one_split(tree):
    slices = {split: load_acdc(split, root=tree, **FAST) for split in acdc.SPLITS}
    train = slices["train"]
    assert train.labels.dtype == torch.int64 and train.labels.shape[1:] == (48, 48)
    assert train.images.dtype == torch.float32 and train.images.shape == train.labels.shape
    assert int(train.labels.min()) == 0 and int(train.labels.max()) == 3
    assert len(train) == len(train.patients) == len(train.groups) == len(train.phases)
    assert train.slice_index.dtype == torch.int64 and train.position.dtype == torch.float32
    assert (
        set(train.phases) == {"ED", "ES"}
        and 0 <= float(train.position.min()) <= float(train.position.max()) <= 1
    )
    patients = [set(slices[s].patients) for s in acdc.SPLITS]
    assert [len(p) for p in patients] == [10, 5, 5]
    assert set.union(*patients) == {f"patient{i:03d}" for i in range(1, 21)}
    assert not (patients[0] & patients[1] or patients[0] & patients[2] or patients[1] & patients[2])


def test_the_second_load_is_a_cache_hit(tree, monkeypatch):
    first = prepare_acdc(tree, Preprocessing(**FAST))
    stamp = first.path.stat().st_mtime_ns
    monkeypatch.setattr(acdc, "_preprocess_all", lambda *a: pytest.fail("rebuilt a valid cache"))
    second = prepare_acdc(tree, Preprocessing(**FAST))
    assert first.built and not second.built
    assert second.path == first.path and second.path.stat().st_mtime_ns == stamp
    assert str(first.path).startswith(os.environ["AEKIT_DATA"])
    load_acdc("val", root=tree, **FAST)  # the loader takes the same cache


def test_changed_options_or_a_changed_tree_rebuild_and_are_recorded(tree, tmp_path):
    base = prepare_acdc(tree, Preprocessing(**FAST))
    others = [
        prepare_acdc(tree, Preprocessing(size=40, spacing=4.0)),
        prepare_acdc(tree, Preprocessing(size=48, spacing=4.0, mode="centre")),
        prepare_acdc(tree, Preprocessing(size=48, spacing=4.5)),
        prepare_acdc(tree, Preprocessing(**FAST), seed=9),
    ]
    assert all(cache.built for cache in others)
    assert len({base.path, *(cache.path for cache in others)}) == 5
    with np.load(others[2].path) as stored:
        options = json.loads(stored["options"].item())
    assert options["size"] == 48 and options["spacing"] == 4.5 and options["mode"] == "heart"
    assert options["root"] == str(tree.resolve())
    assert (
        others[3].manifest["seed"] == 9 and others[3].manifest["splits"] != base.manifest["splits"]
    )
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    assert prepare_acdc(copy, Preprocessing(**FAST)).built  # another source tree
    info = copy / "patient003" / "Info.cfg"
    info.write_text(info.read_text().replace("Weight", "Weight") + "\n")
    assert prepare_acdc(copy, Preprocessing(**FAST)).built  # an edited file


def test_a_real_acdc_tree_uses_the_committed_manifest(tree, tmp_path):
    committed = read_manifest(acdc.MANIFEST)
    chosen = {
        "train": committed["splits"]["train"][0],
        "val": committed["splits"]["val"][0],
        "test": "patient101",
    }
    real = tmp_path / "acdc" / "training"
    for split, pid in chosen.items():
        scratch = tmp_path / f"scratch-{split}"
        write_phantoms(scratch, patients=1, first_id=int(pid[-3:]))
        shutil.move(
            scratch / pid, real.parent / ("testing" if split == "test" else "training") / pid
        )
    assert not (real.parent / PHANTOM_MARKER).exists()
    cache = prepare_acdc(real.parent, Preprocessing(**FAST))
    assert cache.manifest == committed
    for split, pid in chosen.items():
        assert set(load_acdc(split, root=real.parent, **FAST).patients) == {pid}


def test_an_empty_split_says_so(tmp_path):
    write_phantoms(tmp_path / "tiny", patients=5, seed=0)  # one per group: no validation patient
    with pytest.raises(DataError, match="val split is empty"):
        load_acdc("val", root=tmp_path / "tiny", **FAST)
    with pytest.raises(ValueError, match="split"):
        load_acdc("training", root=tmp_path / "tiny")


def test_without_a_root_the_loader_uses_acdc_env_else_writes_phantoms_once(
    tree, tmp_path, monkeypatch
):
    from aekit.datasets.acdc import phantoms

    calls = []

    def few_phantoms(out_dir, patients, seed):  # the default is 150 patients: too slow for a test
        calls.append(out_dir)
        if not out_dir.exists():
            shutil.copytree(tree, out_dir)

    monkeypatch.setattr(phantoms, "write_phantoms", few_phantoms)
    first = load_acdc("test", **FAST)
    load_acdc("test", **FAST)
    default = tmp_path / "data" / "phantoms"
    assert calls == [default, default] and (default / PHANTOM_MARKER).is_file()
    assert len(first) == len(load_acdc("test", root=tree, **FAST))
    monkeypatch.setenv("AEKIT_ACDC", str(tmp_path / "missing"))
    with pytest.raises(DataError, match="AEKIT_ACDC"):
        load_acdc("train")
    monkeypatch.setenv("AEKIT_ACDC", str(tree))
    assert load_acdc("test", **FAST).patients == first.patients
