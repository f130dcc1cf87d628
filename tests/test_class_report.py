"""The instructor's class report and the similar-submission flags, on real graded folders and
on hand-written ones for what a real run rarely leaves behind (corrupt files, hostile text)."""

import copy
import csv
import io
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from scenarios import MNIST, ROOT, written_differently

from autograder import batch, samples, similarity
from autograder.class_report import (
    CODE_STUB,
    REPORT_CSV,
    REPORT_HTML,
    cleared,
    read_class,
    starter_code,
    write_class_report,
)
from autograder.sandbox import Limits

RELEASE = ROOT / "release" / MNIST / f"{MNIST}.ipynb"
SOURCE = ROOT / "source" / MNIST / f"{MNIST}.ipynb"
HOSTILE = "<img src=x onerror=alert(1)>"
# Local names of written_differently() renamed in its disguised copy (no parameter: the checks
# may call with keywords).
RENAMES = {
    "flat": "inputs_2d",
    "per_image": "loss_each",
    "rows": "points",
    "posterior": "q_dist",
    "prior": "p_dist",
    "log_p": "log_on",
    "log_not_p": "log_off",
    "x_hat": "recon",
}


def disguised(notebook: dict) -> dict:
    """A copy as a student who copied it would hand it in: local variables renamed, comments
    reworded, the code laid out differently."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code" or not samples.grade_id(cell):
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for old, new in RENAMES.items():
            source = re.sub(rf"\b{old}\b", new, source)
        source = re.sub(r"#[^\n]*", "# my own work", source)
        source = (
            source.replace(" = ", "  =  ")
            .replace(", ", " ,  ")
            .replace("\n    return", "\n\n    return")
        )
        cell["source"] = source
    return notebook


def code_of(notebook: dict) -> dict[str, str]:
    """What answers.json keeps of a notebook: its solution code cells by grade_id."""
    return {
        samples.grade_id(cell): "".join(cell["source"])
        if isinstance(cell["source"], list)
        else cell["source"]
        for cell in notebook["cells"]
        if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {}).get("solution")
    }


@pytest.fixture(scope="module")
def starter() -> dict[str, str]:
    return starter_code(RELEASE)


@pytest.fixture(scope="module")
def graded(reference, tmp_path_factory) -> Path:
    """A small class graded by the real batch: OUT with every file a run writes."""
    folder = tmp_path_factory.mktemp("class")
    students = {
        "ada": samples.load("solutions", MNIST),
        "bob": samples.load("release", MNIST),
        "fay": samples.load("release", MNIST),
        "cy": samples.with_mistakes(MNIST),
        "dee": written_differently(),
        "dee-copy": disguised(written_differently()),
        "eve": "{ this is not a notebook",
    }
    for student, notebook in students.items():
        samples.write(notebook, folder / "submitted", student, MNIST)
    out = folder / "out"
    limits = Limits(check_seconds=10.0)
    batch.grade_all(folder / "submitted", out, reference, jobs=2, limits=limits, progress=False)
    write_class_report(out, MNIST, starter_code(RELEASE))
    return out


def report_rows(out: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / REPORT_CSV).read_text())))


# --- the starter ------------------------------------------------------------------------------


@pytest.mark.parametrize("assignment", [MNIST, "cardiac_autoencoders"])
def test_the_starter_of_a_source_notebook_is_what_nbgrader_gave_the_release(assignment):
    release = ROOT / "release" / assignment / f"{assignment}.ipynb"
    source = ROOT / "source" / assignment / f"{assignment}.ipynb"
    assert starter_code(source) == starter_code(release)
    assert all("raise NotImplementedError()" in code for code in starter_code(release).values())


def test_a_solution_region_becomes_the_stub_at_its_indentation_and_a_bare_cell_the_stub():
    source = "def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"
    assert cleared(source) == (
        "def f(x):\n    '''doc'''\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    )
    assert cleared("x = 1") == CODE_STUB
    with pytest.raises(ValueError, match="without its END"):
        cleared("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(ValueError, match="inside another"):
        cleared("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION")


# --- similar submissions ------------------------------------------------------------------------


def test_a_disguised_copy_is_flagged_and_independent_solutions_are_not(starter):
    codes = {
        "ada": code_of(samples.load("solutions", MNIST)),
        "dee": code_of(written_differently()),
        "dee-copy": code_of(disguised(written_differently())),
        "bob": code_of(samples.load("release", MNIST)),
        "fay": code_of(samples.load("release", MNIST)),
    }
    found = similarity.find_similar(codes, starter)
    assert [(pair.first, pair.second) for pair in found.pairs] == [("dee", "dee-copy")]
    assert found.pairs[0].similarity == 1.0  # renaming, comments and layout change nothing
    assert sorted(found.too_little) == ["bob", "fay"]  # untouched: nothing of theirs to compare
    lower = similarity.find_similar(codes, starter, threshold=0.0)
    independent = {(p.first, p.second): p.similarity for p in lower.pairs}[("ada", "dee")]
    assert independent < 0.5 < similarity.THRESHOLD


def test_untouched_notebooks_are_never_flagged_even_at_threshold_zero(starter):
    release = code_of(samples.load("release", MNIST))
    edited = dict(release, kl_divergence=release["kl_divergence"] + "\n    pass")
    codes = {"bob": release, "fay": dict(release), "gil": edited, "hal": dict(edited)}
    found = similarity.find_similar(codes, starter, threshold=0.0)
    assert found.pairs == [] and found.compared == []


def test_in_a_large_class_the_canonical_solution_is_common_code_and_a_shared_one_is_not(starter):
    solution = code_of(samples.load("solutions", MNIST))
    codes = {f"student{i:02d}": dict(solution) for i in range(similarity.COMMON + 2)}
    codes["dee"] = code_of(written_differently())
    codes["dee-copy"] = code_of(disguised(written_differently()))
    found = similarity.find_similar(codes, starter)
    assert [(pair.first, pair.second) for pair in found.pairs] == [("dee", "dee-copy")]
    assert found.common > 0 and "student00" in found.too_little


def test_without_the_starter_nothing_is_compared(graded, tmp_path):
    shutil.copytree(graded, tmp_path / "out")
    page = write_class_report(tmp_path / "out", MNIST, {})[0].read_text()
    assert "The starter code was not given" in page


def test_a_threshold_outside_zero_to_one_is_refused(starter):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        similarity.find_similar({}, starter, threshold=80)


# --- the report on a graded class ---------------------------------------------------------------


def test_the_report_of_a_graded_class_maps_its_mistakes_and_flags_the_copy(graded):
    page = (graded / REPORT_HTML).read_text()
    assert "7 students in OUT, 6 graded, 1 not graded" in page
    assert page.count("data:image/png;base64,") == 2  # the histogram and the exercises
    assert "your KL is negative: check the sign" in page  # cy's mistake, with its message
    similar = page[page.index('id="similar"') : page.index('id="run"')].split("<table>")[-1]
    pairs = re.findall(r"<tr><td><code>([^<]+)</code></td><td><code>([^<]+)</code>", similar)
    # cy is ada's notebook with three mistakes: in a class this small nothing is common code
    assert sorted(pairs) == [("ada", "cy"), ("dee", "dee-copy")]
    ungraded = page[page.index('id="ungraded"') : page.index('id="similar"')]
    assert "<code>eve</code>" in ungraded and "not valid JSON" in ungraded
    assert "seccomp" in page[page.index('id="run"') :]  # the run's fences


def test_the_report_csv_ranks_every_check_by_how_many_students_failed_it(graded):
    rows = report_rows(graded)
    results = json.loads((graded / "ada" / "results.json").read_text())
    assert len(rows) == len(results["tests"])
    failed = [int(row["failed"]) for row in rows]
    assert failed == sorted(failed, reverse=True) and [row["rank"] for row in rows][:2] == [
        "1",
        "2",
    ]
    sign = next(row for row in rows if row["check"].startswith("kl_divergence: gives 2"))
    assert sign["graded"] == "6" and sign["failed"] == "3"  # cy, bob and fay
    assert "not implemented yet" in sign["commonest_message"] and sign["commonest_count"] == "2"


def test_the_same_files_give_the_same_report(graded, tmp_path, starter):
    """Shards merged into one folder give the report one run gives: it reads only the files."""
    merged = tmp_path / "merged"
    shutil.copytree(graded, merged)
    write_class_report(merged, MNIST, starter)
    assert (merged / REPORT_HTML).read_bytes() == (graded / REPORT_HTML).read_bytes()
    assert (merged / REPORT_CSV).read_bytes() == (graded / REPORT_CSV).read_bytes()


def test_two_hundred_students_take_seconds(graded, tmp_path, starter):
    """Grading takes about half a second per notebook: the report must stay a small part."""
    folders = [path for path in graded.iterdir() if (path / "answers.json").is_file()]
    out = tmp_path / "class"
    for index in range(200):
        source = folders[index % len(folders)]
        shutil.copytree(source, out / f"student{index:03d}")
        answers = json.loads((source / "answers.json").read_text())
        for grade_id in answers["code"]:  # a line of each student's own
            answers["code"][grade_id] += f"\n    _seen_{index} = {index * 7919 % 1000}"
        (out / f"student{index:03d}" / "answers.json").write_text(json.dumps(answers))
    start = time.perf_counter()
    write_class_report(out, MNIST, starter)
    assert time.perf_counter() - start < 20.0
    assert "200 students in OUT" in (out / REPORT_HTML).read_text()


# --- hand-written folders ---------------------------------------------------------------------


def write_results(folder: Path, tests: list[dict], status: str = "graded", **extra) -> None:
    folder.mkdir(parents=True)
    score = sum(test["score"] for test in tests)
    results = {
        "score": score,
        "execution_time": 0.5,
        "tests": tests,
        "extra_data": {"student_id": folder.name, "assignment": MNIST, "status": status, **extra},
    }
    (folder / "results.json").write_text(json.dumps(results))


def result(name: str, passed: bool, message: str = "") -> dict:
    return {
        "name": name,
        "score": 0.5 if passed else 0.0,
        "max_score": 0.5,
        "status": "passed" if passed else "failed",
        "output": "" if passed else message,
    }


def test_an_empty_out_gives_a_report_that_says_so(tmp_path, starter):
    html_path, csv_path = write_class_report(tmp_path, MNIST, starter)
    page = html_path.read_text()
    assert "0 students in OUT" in page and "No student was graded" in page
    assert "No run.json in OUT" in page
    assert csv_path.read_text().splitlines() == [
        "rank,check,exercise,title,hidden,points,graded,failed,failed_share,"
        "commonest_message,commonest_count"
    ]


def test_every_kind_of_missing_grade_is_listed_with_its_reason(tmp_path, starter):
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "results.json").write_text('{"score": 3, "tests": [')
    (tmp_path / "listy").mkdir()
    (tmp_path / "listy" / "results.json").write_text("[1, 2]")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "crashed").mkdir()
    (tmp_path / "crashed" / "grader-error.txt").write_text(
        "grader error: RuntimeError: the zygote died\n\nTraceback (most recent call last): ..."
    )
    write_results(
        tmp_path / "unread",
        [result("kl_divergence: sign", False, "could not read")],
        status="error: The submission could not be read",
    )
    (tmp_path / "grades.csv").write_text(
        "student_id,score,max_score,status\nghost,0,21,refused: a reserved name\n"
    )
    page = write_class_report(tmp_path, MNIST, starter)[0].read_text()
    ungraded = page[page.index('id="ungraded"') : page.index('id="similar"')]
    for reason in (
        "results.json cannot be read (JSONDecodeError)",
        "results.json is not a JSON object",
        "no results.json",
        "grader error: RuntimeError: the zygote died",
        "error: The submission could not be read",
        "no folder in OUT; grades.csv: refused: a reserved name",
    ):
        assert reason in ungraded, reason
    assert "6 students in OUT, 0 graded, 6 not graded" in page
    assert "Traceback" not in page  # the first line says why; the traceback stays in its file


def test_hostile_text_is_escaped_everywhere(tmp_path, starter):
    write_results(
        tmp_path / HOSTILE,
        [result(f"kl_divergence: {HOSTILE}", False, f"<script>alert(1)</script> `{HOSTILE}`")],
        status="check: <script>alert(2)</script>",
        fences=["<script>alert(3)</script>"],
    )
    (tmp_path / HOSTILE / "answers.json").write_text(
        json.dumps({"assignment": MNIST, "code": {"kl_divergence": "<script>alert(4)</script>"}})
    )
    (tmp_path / "run.json").write_text(json.dumps({"device": "<script>alert(5)</script>"}))
    page = write_class_report(tmp_path, MNIST, starter)[0].read_text()
    assert "<script" not in page and "<img" not in page.replace('<img alt="', "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "alert(5)" in page


def test_a_message_a_spreadsheet_would_run_is_quoted_in_the_csv(tmp_path, starter):
    write_results(tmp_path / "ada", [result("kl_divergence: sign", False, "=HYPERLINK(1)")])
    write_class_report(tmp_path, MNIST, starter)
    rows = report_rows(tmp_path)
    assert rows[0]["commonest_message"] == "'=HYPERLINK(1)"


def test_messages_that_differ_only_in_numbers_count_as_one(tmp_path, starter):
    for index, value in enumerate(["-1.5", "-2.25", "-0.5"]):
        write_results(
            tmp_path / f"s{index}",
            [result("kl_divergence: sign", False, f"Your KL is {value}: check the sign.")],
        )
    write_class_report(tmp_path, MNIST, starter)
    rows = report_rows(tmp_path)
    assert rows[0]["failed"] == "3" and rows[0]["commonest_count"] == "3"


def test_students_graded_behind_other_fences_are_pointed_out(tmp_path, starter):
    fences = ["bubblewrap namespaces", "seccomp filter (104 rules)"]
    write_results(tmp_path / "ada", [result("kl_divergence: sign", True)], fences=fences)
    write_results(tmp_path / "bob", [result("kl_divergence: sign", True)], fences=fences[:1])
    (tmp_path / "run.json").write_text(json.dumps({"fences": fences, "seconds": 3.2}))
    data = read_class(tmp_path, MNIST)
    assert [student.graded for student in data.students] == [True, True]
    page = write_class_report(tmp_path, MNIST, starter)[0].read_text()
    assert "1 student graded without: seccomp filter (104 rules)" in page


def test_a_folder_of_another_assignment_is_not_counted(tmp_path, starter):
    write_results(tmp_path / "ada", [result("kl_divergence: sign", True)])
    other = json.loads((tmp_path / "ada" / "results.json").read_text())
    other["extra_data"]["assignment"] = "cardiac_autoencoders"
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "results.json").write_text(json.dumps(other))
    page = write_class_report(tmp_path, MNIST, starter)[0].read_text()
    assert "results.json is for cardiac_autoencoders, not mnist_autoencoders" in page
