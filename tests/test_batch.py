"""A batch an instructor can trust: no lost, stale or misattributed grade, clear refusals."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scenarios import MNIST, MNIST_SOLUTION, ROOT, stored_results

from aekit.cli import main as aekit
from autograder import batch, loader
from autograder.assignments import get_assignment
from autograder.discovery import DiscoveryError, discover
from autograder.sandbox import Limits

SOLUTION = MNIST_SOLUTION
RELEASE = ROOT / "release" / MNIST / f"{MNIST}.ipynb"
CARDIAC = "cardiac_autoencoders"
FULL = get_assignment(MNIST).max_score  # every check's points


def place(folder: Path, student: str, notebook: Path = SOLUTION, name: str | None = None) -> Path:
    """``folder/<student>/mnist_autoencoders/<name>``, nbgrader's layout."""
    path = folder / student / MNIST / (name or f"{MNIST}.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, path)
    return path


def grade(reference, target: Path, out: Path, **options):
    limits = options.pop("limits", Limits(check_seconds=10.0))
    rows = batch.grade_all(target, out, reference, limits=limits, progress=False, **options)
    return {row.student: row for row in rows}


def stored(out: Path, student: str) -> dict:
    return stored_results(out, student)


def exit_code(argv: list[str]) -> int:
    """The exit status of ``aekit ARGV``, whether it returns it or argparse exits with it."""
    try:
        return aekit(argv)
    except SystemExit as stop:
        return stop.code


# --- discovery --------------------------------------------------------------------------------


def test_two_notebooks_grade_the_one_named_after_the_assignment_and_say_so(reference, tmp_path):
    place(tmp_path / "in", "ada", RELEASE, "draft.ipynb")
    place(tmp_path / "in", "ada")
    rows = grade(reference, tmp_path / "in", tmp_path / "out")
    assert rows["ada"].score == FULL
    assert "Graded mnist_autoencoders.ipynb" in stored(tmp_path / "out", "ada")["output"]


def test_two_notebooks_without_that_name_are_refused_with_what_to_do(tmp_path):
    place(tmp_path, "ada", RELEASE, "draft.ipynb")
    place(tmp_path, "ada", SOLUTION, "final.ipynb")
    (found,) = discover(tmp_path, MNIST)
    assert found.notebook is None
    assert "2 notebooks" in found.problem and "draft.ipynb, final.ipynb" in found.problem


def test_a_file_name_with_escape_sequences_reaches_no_terminal_or_sheet_raw(reference, tmp_path):
    # A student's file name is the student's text: on the instructor's terminal an OSC
    # sequence retitles the window or writes the clipboard, a bidi override reorders the line.
    hostile = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\u202egpj.ipynb"
    place(tmp_path / "in", "ada", RELEASE, "draft.ipynb")
    place(tmp_path / "in", "ada", SOLUTION, hostile)
    rows = grade(reference, tmp_path / "in", tmp_path / "out")
    table = batch.summary_table(list(rows.values()))
    sheet = (tmp_path / "out" / "grades.csv").read_text()
    for shown in (table, sheet):
        assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown
        assert "\\x1b]52;c;cHduZWQ=\\x07\\x1b[2J\\u202egpj.ipynb" in shown  # as ls -b shows it


def test_a_notebook_over_nbgraders_size_limit_is_refused_unread(reference, tmp_path):
    path = place(tmp_path / "in", "ada")
    with open(path, "r+b") as handle:  # a sparse file: the outputs of a long training run
        handle.truncate(loader.MAX_NOTEBOOK_BYTES + 1)
    place(tmp_path / "in", "bob")
    rows = grade(reference, tmp_path / "in", tmp_path / "out")
    assert rows["bob"].score == FULL
    assert rows["ada"].score == 0 and rows["ada"].status.startswith("error: ")
    assert (
        "over nbgrader's 100,000 KB: clear its outputs (Kernel > Restart & Clear"
        in rows["ada"].status
    )


def test_a_named_pipe_or_a_folder_for_a_notebook_is_refused_not_waited_on(reference, tmp_path):
    os.mkfifo(place(tmp_path / "in", "ada").with_name("pipe.ipynb"))  # beside one named right
    (tmp_path / "in" / "ada" / MNIST / f"{MNIST}.ipynb").unlink()
    (tmp_path / "in" / "bob" / MNIST / f"{MNIST}.ipynb").mkdir(parents=True)
    rows = grade(reference, tmp_path / "in", tmp_path / "out")
    assert rows["ada"].status.endswith("pipe.ipynb is not a regular file (a folder, a pipe)")
    assert rows["bob"].status.endswith(f"{MNIST}.ipynb is not a regular file (a folder, a pipe)")


def test_json_nested_too_deeply_is_unreadable_not_a_grader_error(reference, tmp_path):
    path = place(tmp_path / "in", "ada")
    deep = '"deep": ' + "[" * 10**5 + "]" * 10**5 + ', "metadata"'
    path.write_text(path.read_text().replace('"metadata"', deep, 1))
    rows = grade(reference, tmp_path / "in", tmp_path / "out")
    assert rows["ada"].status == (
        "error: The submission could not be read: "
        "mnist_autoencoders.ipynb is JSON nested too deeply to be a notebook"
    )


def test_a_student_folder_given_alone_is_that_student(tmp_path):
    place(tmp_path, "alice")
    assert [s.student for s in discover(tmp_path / "alice", MNIST)] == ["alice"]


def test_one_notebook_in_nbgraders_layout_belongs_to_its_student(tmp_path):
    path = place(tmp_path, "alice")
    assert [s.student for s in discover(path, MNIST)] == ["alice"]


def test_a_course_folder_and_an_empty_folder_are_refused(tmp_path):
    (tmp_path / "course" / "source" / MNIST).mkdir(parents=True)
    with pytest.raises(DiscoveryError, match="course folder"):
        discover(tmp_path / "course", MNIST)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DiscoveryError, match="no submissions found"):
        discover(tmp_path / "empty", MNIST)


def test_symbolic_links_are_refused_and_a_folder_named_feedback_is_a_student(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "mallory").symlink_to(ROOT / "source")
    (tmp_path / "in" / "eve.ipynb").symlink_to(SOLUTION)
    (tmp_path / "in" / "trudy").mkdir()  # a real folder, its assignment folder a link
    (tmp_path / "in" / "trudy" / MNIST).symlink_to(SOLUTION.parent)
    place(tmp_path / "in", "feedback")
    found = {s.student: s for s in discover(tmp_path / "in", MNIST)}
    assert set(found) == {"mallory", "eve", "trudy", "feedback"}
    for linked in ("mallory", "eve", "trudy"):
        assert found[linked].notebook is None and "symbolic link" in found[linked].problem
    assert found["feedback"].notebook is not None


def test_the_cli_says_no_submissions_found_and_exits_non_zero(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = str(tmp_path / "out")
    assert aekit(["grade", MNIST, str(tmp_path / "empty"), "--out", out]) == 2
    assert "no submissions found" in capsys.readouterr().err
    os.mkfifo(tmp_path / "pipe.ipynb")
    assert aekit(["grade", MNIST, str(tmp_path / "pipe.ipynb"), "--out", out]) == 2
    assert "pipe.ipynb is neither a notebook nor a folder of submissions" in capsys.readouterr().err


def test_an_out_another_run_is_writing_to_is_refused_at_once_and_free_after(
    reference, tmp_path, capsys
):
    place(tmp_path / "in", "ada")
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(  # another aekit grade, as flock(2) sees it: another process
        [sys.executable, "-c", HOLD, str(out / batch.LOCK)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        assert aekit(["grade", MNIST, str(tmp_path / "in"), "--out", str(out)]) == 2
        assert f"another aekit grade or merge is writing to {out}" in capsys.readouterr().err
        assert not (out / "grades.csv").exists()
    finally:
        holder.kill()
        holder.wait()
    assert grade(reference, tmp_path / "in", out)["ada"].score == FULL  # the lock went with it


HOLD = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--timeout", "0"], "argument --timeout: must be at least 0.1, got 0"),
        (["--budget", "-5"], "argument --budget: must be at least 1, got -5"),
        (["--jobs", "0"], "argument --jobs: must be at least 1, got 0"),
        (
            ["--source", "{notes}"],
            "the source notebook cannot be read: notes.txt is not valid JSON",
        ),
        (["--written", "{folder}"], "is not a file"),
    ],
)
def test_options_that_would_grade_nothing_right_are_refused_before_grading(
    tmp_path, capsys, options, said
):
    # A limit of 0 used to fail every check of every student, with each one "graded".
    place(tmp_path / "in", "ada")
    (tmp_path / "notes.txt").write_text("not a notebook")
    filled = [o.format(notes=tmp_path / "notes.txt", folder=tmp_path) for o in options]
    assert (
        exit_code(["grade", MNIST, str(tmp_path / "in"), "--out", str(tmp_path / "out"), *filled])
        == 2
    )
    assert said in capsys.readouterr().err
    assert not (tmp_path / "out" / "ada").exists()


def test_a_read_only_out_is_one_clear_message(tmp_path, capsys):
    place(tmp_path / "in", "ada")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anyway: a file in the way instead
            locked.rmdir()
            locked.write_text("a file, not a folder")
        assert aekit(["grade", MNIST, str(tmp_path / "in"), "--out", str(locked / "out")]) == 2
    finally:
        if locked.is_dir():
            locked.chmod(0o700)
    error = capsys.readouterr().err
    assert "cannot write the reports" in error and "Traceback" not in error


def test_the_other_assignments_notebook_is_flagged(reference, tmp_path):
    place(tmp_path / "in", "ada", ROOT / "solutions" / CARDIAC / f"{CARDIAC}.ipynb")
    rows = grade(reference, tmp_path / "in", tmp_path / "out")
    assert rows["ada"].status.startswith("check: This notebook looks like cardiac_autoencoders")
    assert "looks like cardiac_autoencoders" in stored(tmp_path / "out", "ada")["output"]


# --- what is stored and kept --------------------------------------------------------------------


def test_grades_of_two_assignments_never_share_a_folder(reference, tmp_path, capsys):
    place(tmp_path / "in", "ada")
    grade(reference, tmp_path / "in", tmp_path / "out")
    cardiac = tmp_path / "cardiac"
    (cardiac / "ada" / CARDIAC).mkdir(parents=True)
    shutil.copy(ROOT / "release" / CARDIAC / f"{CARDIAC}.ipynb", cardiac / "ada" / CARDIAC)
    assert aekit(["grade", CARDIAC, str(cardiac), "--out", str(tmp_path / "out")]) == 2
    assert "holds grades of mnist_autoencoders" in capsys.readouterr().err
    assert stored(tmp_path / "out", "ada")["score"] == FULL


def test_notebooks_graded_one_by_one_add_up_in_grades_csv(reference, tmp_path):
    out = tmp_path / "out"
    grade(reference, place(tmp_path / "in", "ada"), out)
    grade(reference, place(tmp_path / "in", "bea", RELEASE), out)
    lines = (out / "grades.csv").read_text().splitlines()
    assert lines == [
        "student_id,score,max_score,autograded,written,written_pending,status",
        "ada,21,25,21,0,4,graded",  # four written answers to mark
        "bea,0,25,0,0,0,graded",  # untouched: its empty answers are 0 at once
    ]


def test_any_change_to_what_decides_a_score_regrades(reference, tmp_path):
    place(tmp_path / "in", "ada")
    out = tmp_path / "out"
    grade(reference, tmp_path / "in", out)
    assert grade(reference, tmp_path / "in", out)["ada"].status == "kept (graded)"
    other = grade(reference, tmp_path / "in", out, limits=Limits(check_seconds=11.0))
    assert other["ada"].status == "graded"  # another option that changes scores
    key = stored(out, "ada")["extra_data"]["grader_key"]
    changed = json.loads(json.dumps(stored(out, "ada")))
    changed["extra_data"]["grader_key"] = "0" * 64  # as if the checks' code had changed
    (out / "ada" / "results.json").write_text(json.dumps(changed))
    assert (
        grade(reference, tmp_path / "in", out, limits=Limits(check_seconds=11.0))["ada"].status
        == "graded"
    )
    assert stored(out, "ada")["extra_data"]["grader_key"] == key


def test_the_grader_key_follows_the_checks_and_the_reference(reference, tmp_path, monkeypatch):
    first = batch.grader_key(reference, "cpu", Limits())
    assert batch.grader_key(reference, "cpu", Limits()) == first
    assert batch.grader_key(reference, "cuda", Limits()) != first
    copy = tmp_path / "source.ipynb"
    copy.write_text(SOLUTION.read_text().replace("</h1>", " </h1>") + " ")
    monkeypatch.setattr(reference, "notebook", copy)
    assert batch.grader_key(reference, "cpu", Limits()) != first


@pytest.mark.slow
def test_an_interrupted_batch_stores_no_grade_for_what_it_cut_and_the_rerun_grades_it(tmp_path):
    for student in ("ada", "bea", "cem"):
        path = place(tmp_path / "in", student)
        if student == "bea":  # slow enough to be interrupted in the middle
            text = path.read_text().replace(
                "return -0.5 *", "import time; time.sleep(8); return -0.5 *"
            )
            path.write_text(text)
    command = [sys.executable, "-m", "aekit", "grade", MNIST, str(tmp_path / "in")]
    command += ["--out", str(tmp_path / "out"), "--quiet", "--timeout", "20"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AEKIT_")}
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while not (tmp_path / "out" / "ada" / "results.json").exists():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.2)
    time.sleep(2.0)  # bea is now in her slow check
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 130, errors
    assert "interrupted" in errors and "Traceback" not in errors
    assert not (tmp_path / "out" / "bea" / "results.json").exists()
    assert "ada,21,25,21,0,4,graded" in (tmp_path / "out" / "grades.csv").read_text()
    rerun = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    assert rerun.returncode == 0
    assert "kept" in rerun.stdout.splitlines()[1]  # ada
    bea = json.loads((tmp_path / "out" / "bea" / "results.json").read_text())
    assert bea["score"] == FULL


def test_grading_uses_the_source_notebook_of_the_course_it_runs_in(tmp_path):
    course = tmp_path / "course"
    (course / "source" / MNIST).mkdir(parents=True)
    shutil.copy(ROOT / "source" / MNIST / f"{MNIST}.ipynb", course / "source" / MNIST)
    place(course / "submitted", "ada")
    command = [sys.executable, "-m", "aekit", "grade", MNIST, "submitted", "--out", "graded"]
    done = subprocess.run(
        command + ["--quiet"], cwd=course, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert f"reference: {course / 'source' / MNIST / f'{MNIST}.ipynb'}" in done.stderr
    assert json.loads((course / "graded" / "ada" / "results.json").read_text())["score"] == FULL


def test_a_source_option_that_names_no_notebook_is_refused(tmp_path, capsys):
    place(tmp_path / "in", "ada")
    options = ["--out", str(tmp_path / "out"), "--source", str(tmp_path / "nowhere")]
    assert aekit(["grade", MNIST, str(tmp_path / "in"), *options]) == 2
    assert "no source notebook" in capsys.readouterr().err


def test_the_command_lines_limits_are_the_librarys_own(capsys):
    """Defaults stated once: `aekit grade` reads them from Limits, its help shows them."""
    from aekit.cli import build_parser
    from autograder.sandbox import Limits

    args = build_parser().parse_args(["grade", MNIST, "submitted", "--out", "graded"])
    assert (args.timeout, args.budget) == (Limits().check_seconds, Limits().submission_seconds)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["grade", "--help"])
    assert f"(default {Limits().check_seconds:g})" in capsys.readouterr().out
