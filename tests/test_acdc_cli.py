"""``aekit data acdc`` and ``aekit data phantoms``: counts, bad patients reported, no traceback."""

import re
import shutil

import nibabel as nib
import numpy as np
import pytest

from aekit.cli import main
from aekit.datasets.acdc import frame_name, parse_info
from aekit.datasets.phantoms import write_phantoms

FAST = ["--size", "48", "--spacing", "4"]


@pytest.fixture(scope="module")
def clean_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    write_phantoms(root, patients=10, seed=0)
    return root


@pytest.fixture
def tree(clean_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path / "data"))
    copy = tmp_path / "tree"
    shutil.copytree(clean_tree, copy)
    return copy


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([*argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def es_gt(folder) -> tuple:
    """Path of a patient's ES ground truth, and the volume in it."""
    frame = parse_info((folder / "Info.cfg").read_text())["ES"]
    path = folder / frame_name(folder.name, frame, gt=True)
    return path, nib.load(path)


def remove_info(folder):
    (folder / "Info.cfg").unlink()


def truncate(folder):
    path, _ = es_gt(folder)
    path.write_bytes(path.read_bytes()[:300])


def not_nifti(folder):
    path, _ = es_gt(folder)
    path.write_text("<html>404 Not Found</html>")


def bad_labels(folder):
    path, image = es_gt(folder)
    labels = np.asanyarray(image.dataobj).copy()
    labels[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(labels, image.affine), path)


def wrong_shape(folder):
    path, image = es_gt(folder)
    nib.save(nib.Nifti1Image(np.asanyarray(image.dataobj)[:-4], image.affine), path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (remove_info, "patient004: Info.cfg is missing"),
        (truncate, r"patient004: patient004_frame\d\d_gt.nii.gz cannot be read as NIfTI"),
        (not_nifti, r"patient004: patient004_frame\d\d_gt.nii.gz cannot be read as NIfTI"),
        (bad_labels, r"patient004: patient004_frame\d\d_gt.nii.gz holds labels \[7\] outside 0-3"),
        (wrong_shape, r"patient004: patient004_frame\d\d_gt.nii.gz has shape .* but its image"),
    ],
)
def test_a_bad_patient_is_named_and_skipped_while_the_rest_is_processed(
    tree, tmp_path, capsys, damage, message
):
    damage(tree / "patient004")
    code, out, err = run(capsys, "data", "acdc", str(tree), "--out", str(tmp_path / "cache"), *FAST)
    assert code == 0
    assert "Skipped 1 bad patient(s):" in err
    assert re.search(message, err), err
    total = [line for line in out.splitlines() if line.startswith(("train", "val", "test"))]
    assert sum(int(line.split()[-1].split("/")[0]) for line in total) == 9  # the other nine


def test_a_tree_without_a_usable_patient_exits_2_with_the_list(tree, capsys):
    for folder in tree.glob("patient*"):
        remove_info(folder)
    code, out, err = run(capsys, "data", "acdc", str(tree), *FAST)
    assert code == 2
    assert (
        "aekit: no usable patient in the tree" in err and "patient010: Info.cfg is missing" in err
    )


def test_a_missing_root_exits_2_with_what_to_do(tmp_path, capsys):
    code, _, err = run(capsys, "data", "acdc", str(tmp_path / "nowhere"))
    assert code == 2 and "is not a folder" in err and "training/" in err


def test_the_acdc_command_prints_counts_per_split_and_group(tree, tmp_path, capsys):
    cache = tmp_path / "cache"
    code, out, _ = run(capsys, "data", "acdc", str(tree), "--out", str(cache), *FAST, "--seed", "3")
    assert code == 0 and "built" in out and str(cache) in out
    assert "DCM" in out and "RV" in out and "pat/slices" in out and "seed 3" in out
    assert len(list(cache.glob("*.npz"))) == 1 and len(list(cache.glob("*.split.json"))) == 1
    code, out, _ = run(capsys, "data", "acdc", str(tree), "--out", str(cache), *FAST, "--seed", "3")
    assert code == 0 and "already up to date" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--size", "4"], "must be at least 8"),
        (["--spacing", "abc"], "expected a number"),
        (["--mode", "middle"], "invalid choice"),
    ],
)
def test_bad_options_get_a_usage_message(tree, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "acdc", str(tree), *argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_help_texts_explain_the_commands(capsys):
    for verb, words in [
        ("acdc", ["ROOT", "--mode", "--spacing", "--seed", "tutorial"]),
        ("phantoms", ["OUT_DIR", "--patients"]),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["data", verb, "--help"])
        text = capsys.readouterr().out
        assert exit_info.value.code == 0 and all(word in text for word in words)


def test_the_phantoms_command_writes_once_and_says_what(tmp_path, capsys):
    out_dir = tmp_path / "phantoms"
    code, out, _ = run(capsys, "data", "phantoms", str(out_dir), "--patients", "5", "--seed", "3")
    assert code == 0 and "Wrote" in out and "5 phantom patients (patient001-patient005)" in out
    assert "DCM 1, HCM 1, MINF 1, NOR 1, RV 1" in out
    assert len(list(out_dir.glob("patient*/Info.cfg"))) == 5
    code, out, _ = run(capsys, "data", "phantoms", str(out_dir), "--patients", "5", "--seed", "3")
    assert code == 0 and "Already there" in out


def test_the_phantoms_command_refuses_foreign_folders_and_bad_numbers(tmp_path, capsys):
    (tmp_path / "acdc" / "patient001").mkdir(parents=True)
    code, _, err = run(capsys, "data", "phantoms", str(tmp_path / "acdc"), "--patients", "2")
    assert code == 2 and "not phantoms" in err
    code, _, err = run(
        capsys, "data", "phantoms", str(tmp_path / "x"), "--first-id", "990", "--patients", "20"
    )
    assert code == 2 and "above 999" in err


def test_an_unwritable_destination_gets_a_message_not_a_traceback(tree, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    code, _, err = run(capsys, "data", "phantoms", str(blocker / "phantoms"), "--patients", "1")
    assert code == 2 and "cannot write the phantoms" in err
    code, _, err = run(capsys, "data", "acdc", str(tree), "--out", str(blocker / "cache"), *FAST)
    assert code == 2 and "cannot write the ACDC cache" in err
