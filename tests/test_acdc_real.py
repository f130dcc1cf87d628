"""Checks against the real ACDC download; skipped unless ``AEKIT_ACDC`` names it."""

import os
from collections import Counter
from pathlib import Path

import pytest

from aekit.datasets import acdc

pytestmark = pytest.mark.acdc


@pytest.fixture(scope="module")
def root() -> Path:
    configured = os.environ.get(acdc.ACDC_ENV, "").strip()
    if not configured:
        pytest.skip("real ACDC is not configured: set AEKIT_ACDC to the folder holding training/")
    return Path(configured).expanduser()


def test_patient001_is_the_documented_one(root):
    folder = next(p for p in acdc.find_patients(root) if p.name == "patient001")
    patient = acdc.read_patient(folder)
    assert {key: patient.info[key] for key in ("ED", "ES", "Group", "NbFrame")} == {
        "ED": 1,
        "ES": 12,
        "Group": "DCM",
        "NbFrame": 30,
    }
    assert 1.3 <= patient.spacing[0] <= 1.8 and 4.5 <= patient.spacing[2] <= 10.5


def test_the_training_groups_match_the_committed_manifest(root):
    committed = acdc.read_manifest(acdc.MANIFEST)["groups"]
    folders = [p for p in acdc.find_patients(root) if int(p.name[-3:]) <= 100]
    groups = {p.name: acdc.parse_info((p / "Info.cfg").read_text())["Group"] for p in folders}
    assert len(groups) == 100 and groups == committed
    assert Counter(groups.values()) == dict.fromkeys(acdc.GROUPS, 20)


def test_the_loader_gives_the_tutorials_split(root, tmp_path, monkeypatch):
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path))
    train = acdc.load_acdc("train", root=root)
    assert len(set(train.patients)) == 75 and train.labels.shape[1:] == (128, 128)
    assert int(train.labels.min()) == 0 and int(train.labels.max()) == 3
    val = acdc.load_acdc("val", root=root)
    assert len(set(val.patients)) == 25 and not set(val.patients) & set(train.patients)
