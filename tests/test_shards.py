"""Grading past one machine: a class graded in shards and merged equals the class in one run."""

import json
import shutil
from pathlib import Path

import pytest
from mutants_mnist import MUTANTS
from scenarios import MNIST, MNIST_SOLUTION, ROOT

from aekit.cli import main as aekit
from autograder import batch, samples, written
from autograder.sandbox import Limits

RELEASE = ROOT / "release" / MNIST / f"{MNIST}.ipynb"
SHARDS = 3
PER_RUN = ("execution_time",)  # what differs between two gradings of the same notebook


@pytest.fixture(scope="module")
def classroom(tmp_path_factory, reference):
    """A small class graded once whole and once in three shards, then merged."""
    root = tmp_path_factory.mktemp("shards")
    submitted = root / "submitted"
    for index, mutant in enumerate(MUTANTS[:5]):
        samples.write(mutant.scenario(MNIST).notebook, submitted, f"s{index}-{mutant.name}", MNIST)
    for student in ("ada", "bea-copy"):
        path = submitted / student / MNIST / f"{MNIST}.ipynb"
        path.parent.mkdir(parents=True)
        shutil.copy(MNIST_SOLUTION, path)
    (submitted / "ugo" / MNIST).mkdir(parents=True)
    shutil.copy(RELEASE, submitted / "ugo" / MNIST / f"{MNIST}.ipynb")
    (submitted / "vic" / MNIST).mkdir(parents=True)
    (submitted / "vic" / MNIST / "broken.ipynb").write_text("{not json")
    (submitted / "wes").mkdir()  # no notebook at all
    limits = Limits(check_seconds=10.0)
    grade = lambda out, **options: batch.grade_all(  # noqa: E731
        submitted, out, reference, limits=limits, progress=False, **options
    )
    grade(root / "one")
    for shard in range(1, SHARDS + 1):
        grade(root / f"shard-{shard}", shard=(shard, SHARDS))
    return root


def comparable(results: Path) -> dict:
    found = json.loads(results.read_text())
    return {key: value for key, value in found.items() if key not in PER_RUN}


def test_every_student_is_in_exactly_one_shard(classroom):
    shards = [
        {path.name for path in (classroom / f"shard-{k}").iterdir() if path.is_dir()}
        for k in range(1, SHARDS + 1)
    ]
    everyone = {path.name for path in (classroom / "one").iterdir() if path.is_dir()}
    assert set().union(*shards) == everyone and sum(map(len, shards)) == len(everyone) == 10
    assert all(shards), "each of the three shards grades someone in this class"


def test_the_merged_shards_equal_one_run(classroom, capsys):
    merged = classroom / "merged"
    command = ["merge", MNIST, *(str(classroom / f"shard-{k}") for k in range(1, SHARDS + 1))]
    assert aekit([*command, "--out", str(merged)]) == 0
    assert "10 students from 3 shards merged" in capsys.readouterr().out
    one = classroom / "one"
    for name in ("grades.csv", written.SHEET, "report.csv"):
        assert (merged / name).read_text() == (one / name).read_text(), name
    for results in sorted(one.glob("*/results.json")):
        twin = merged / results.parent.name / "results.json"
        assert comparable(twin) == comparable(results), results.parent.name
    assert sorted(p.parent.name for p in merged.glob(f"*/{batch.GRADER_ERROR}")) == sorted(
        p.parent.name for p in one.glob(f"*/{batch.GRADER_ERROR}")
    )
    run = json.loads((merged / batch.RUN).read_text())
    assert [shard["shard"] for shard in run["shards"]] == ["1/3", "2/3", "3/3"]
    whole = json.loads((one / batch.RUN).read_text())
    assert (run["graded"], run["grader_errors"]) == (whole["graded"], whole["grader_errors"])


def test_a_merge_keeps_the_marks_already_merged_into_out(classroom, tmp_path):
    merged = tmp_path / "merged"
    shards = [classroom / f"shard-{k}" for k in range(1, SHARDS + 1)]
    assert aekit(["merge", MNIST, *map(str, shards), "--out", str(merged)]) == 0
    answer = json.loads((merged / "ada" / written.ANSWERS).read_text())["written"]["q_sigmoid"]
    mark = {"points": 1.0, "comment": "Right.", "answer_sha256": written.digest(answer)}
    (merged / "ada" / written.MARKS).write_text(json.dumps({"marks": {"q_sigmoid": mark}}))
    assert aekit(["merge", MNIST, *map(str, shards), "--out", str(merged)]) == 0
    assert (merged / "ada" / written.MARKS).exists()
    ada = json.loads((merged / "ada" / "results.json").read_text())
    assert (
        ada["extra_data"]["written"]["score"] == 1
        and ada["score"] == ada["extra_data"]["autograded"] + 1
    )


def test_a_student_in_two_shards_or_another_assignment_is_refused(classroom, tmp_path, capsys):
    one, shard = classroom / "one", classroom / "shard-1"
    assert aekit(["merge", MNIST, str(one), str(shard), "--out", str(tmp_path / "m")]) == 2
    assert "was graded in two shards" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    other = tmp_path / "cardiac"
    other.mkdir()
    (other / batch.RUN).write_text(json.dumps({"assignment": "cardiac_autoencoders"}))
    assert aekit(["merge", MNIST, str(other), "--out", str(tmp_path / "m")]) == 2
    assert "holds grades of cardiac_autoencoders" in capsys.readouterr().err
    assert aekit(["merge", MNIST, str(shard), "--out", str(shard)]) == 2
    assert "is one of the shards" in capsys.readouterr().err


@pytest.mark.parametrize("shard", ["0/3", "4/3", "two/3", "1-3"])
def test_a_shard_that_is_not_k_of_n_is_refused_in_one_line(tmp_path, capsys, shard):
    (tmp_path / "in").mkdir()
    shutil.copy(MNIST_SOLUTION, tmp_path / "in" / "ada.ipynb")
    command = ["grade", MNIST, str(tmp_path / "in"), "--out", str(tmp_path / "out")]
    assert aekit([*command, "--shard", shard]) == 2
    error = capsys.readouterr().err
    assert f"--shard {shard}" in error and "Traceback" not in error


def test_shards_are_a_fixed_function_of_the_student_id():
    students = [batch.Submission(f"student{index:03d}", None) for index in range(200)]
    slices = [batch.in_shard(students, k, 4) for k in range(1, 5)]
    assert sorted(s.student for part in slices for s in part) == [s.student for s in students]
    assert min(map(len, slices)) > 30  # roughly even
    fewer = batch.in_shard(students[:50], 2, 4)
    assert {s.student for s in fewer} <= {s.student for s in slices[1]}  # whoever else is there
