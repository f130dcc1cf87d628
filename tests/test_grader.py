"""The batch grader against scenario submissions, each with its exact expected score."""

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from scenarios import (
    CARDIAC_WRITTEN_DIFFERENTLY,
    MNIST,
    MNIST_EXERCISES,
    ROOT,
    Scenario,
    cardiac_written_differently,
    exercise_points,
    mnist_scenarios,
    stored_results,
)

from aekit.cli import main as aekit
from autograder import samples
from autograder.assignments import get_assignment
from autograder.batch import discover, grade_all
from autograder.reference import load_reference
from autograder.sandbox import Limits, shared_zygote

ASSIGNMENT = get_assignment(MNIST)
LIMITS = Limits(check_seconds=5.0, statement_seconds=1.0)

# Gradescope's results.json, from gradescope/autograder_samples docs/specs.md.
GRADESCOPE_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
        "visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]},
        "stdout_visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]},
        "extra_data": {"type": "object"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "score", "max_score"],
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number"},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "visibility": {
                        "enum": ["hidden", "after_due_date", "after_published", "visible"]
                    },
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "extra_data": {"type": "object"},
                },
                "additionalProperties": False,
            },
        },
    },
    "required": ["tests"],
    "additionalProperties": False,
}


@pytest.fixture(scope="session")
def planted(tmp_path_factory) -> Path:
    """A file the tampering scenario tries to write from inside the sandbox."""
    return tmp_path_factory.mktemp("planted") / "results.json"


@pytest.fixture(scope="session")
def graded(tmp_path_factory, reference, planted):
    """Every scenario, graded once in one batch with two workers."""
    submitted = tmp_path_factory.mktemp("submitted")
    scenarios = mnist_scenarios(planted)
    for scenario in scenarios:
        scenario.write(submitted, MNIST)
    (submitted / "no-notebook" / MNIST).mkdir(parents=True)
    out = tmp_path_factory.mktemp("out")
    rows = grade_all(submitted, out, reference, jobs=2, limits=LIMITS, progress=False)
    return {
        "submitted": submitted,
        "out": out,
        "rows": rows,
        "scenarios": {s.name: s for s in scenarios},
    }


def results_of(graded, student: str) -> dict:
    return stored_results(graded["out"], student)


SCENARIO_NAMES = [scenario.name for scenario in mnist_scenarios(Path("unused"))]


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_scenario_gets_its_exact_score(graded, name):
    scenario: Scenario = graded["scenarios"][name]
    expected = {
        exercise: ASSIGNMENT.points(exercise) for exercise in MNIST_EXERCISES
    } | scenario.expected
    results = results_of(graded, name)
    assert exercise_points(results) == expected
    assert results["score"] == sum(expected.values())


def test_no_message_places_an_error_in_the_graders_own_code(graded):
    """Where the student's code raised is one of their cells, or nothing (a model built of
    torch's layers alone fails inside torch); never the sandbox that called it."""
    messages = [
        test["output"]
        for student in graded["scenarios"]
        for test in results_of(graded, student)["tests"]
    ]
    assert any("raised RuntimeError" in message for message in messages)  # errors were seen
    assert not [message for message in messages if "op_call" in message or "Worker" in message]


def test_a_folder_without_notebook_scores_zero_with_a_reason(graded):
    results = results_of(graded, "no-notebook")
    assert results["score"] == 0
    assert "No notebook" in results["output"]


def test_an_unreadable_notebook_is_reported_not_raised(graded):
    results = results_of(graded, "unreadable")
    assert "not valid JSON" in results["output"]
    assert all("not valid JSON" in test["output"] for test in results["tests"])


def test_results_follow_gradescope_schema_and_name_tests_by_grade_id(graded):
    for student in graded["scenarios"]:
        results = results_of(graded, student)
        jsonschema.validate(results, GRADESCOPE_SCHEMA)
        for test in results["tests"]:
            assert test["name"].split(": ", 1)[0] in MNIST_EXERCISES


def test_grades_csv_has_one_row_per_student(graded):
    lines = (graded["out"] / "grades.csv").read_text().splitlines()
    assert lines[0] == "student_id,score,max_score,autograded,written,written_pending,status"
    students = sorted(graded["scenarios"]) + ["no-notebook"]
    assert [line.split(",")[0] for line in lines[1:]] == sorted(students)
    assert "solution,21,25,21,0,4,graded" in lines  # the written answers are not marked yet
    assert any(
        line.startswith("unreadable,0,25,0,0,0,error: The submission could not be read")
        for line in lines
    )
    assert any(line.startswith("no-notebook,0,25,0,0,0,error: No notebook") for line in lines)


def test_failed_checks_teach(graded):
    """A failed check names the likely mistake, not 'assert failed'."""
    results = results_of(graded, "mutant-kl-wrong-sign")
    known = next(
        test for test in results["tests"] if test["name"].startswith("kl_divergence: gives 2")
    )
    assert "check the sign" in known["output"]
    results = results_of(graded, "mutant-reparam-std-is-exp-logvar")
    assert any(
        "exp(logvar / 2)" in test["output"]
        for test in results["tests"]
        if test["status"] == "failed"
    )


def test_tampering_cannot_write_outside_the_sandbox(graded, planted):
    assert not planted.exists()


def test_stub_messages_name_the_unfinished_function(graded):
    results = results_of(graded, "untouched-release")
    messages = {test["output"] for test in results["tests"]}
    assert (
        "`VAEEncoder.__init__` is not implemented yet: replace `raise NotImplementedError()` with your code."
        in messages
    )


def test_feedback_is_a_readable_page_without_test_code(graded):
    page = (graded["out"] / "mutant-kl-wrong-sign" / "feedback.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "check the sign" in page
    for secret in ("BEGIN HIDDEN TESTS", "def probe", "hidden_checks", "bench."):
        assert secret not in page


def test_grading_is_deterministic_whatever_the_worker_count(graded, reference, tmp_path):
    submitted = tmp_path / "again"
    for name in ("solution", "mutant-vae-decodes-mu", "written-differently"):
        shutil.copytree(graded["submitted"] / name, submitted / name)
    grade_all(submitted, tmp_path / "out", reference, jobs=1, limits=LIMITS, progress=False)
    for name in ("solution", "mutant-vae-decodes-mu", "written-differently"):
        first, second = (
            results_of(graded, name),
            json.loads((tmp_path / "out" / name / "results.json").read_text()),
        )
        assert [(t["name"], t["score"], t["output"]) for t in first["tests"]] == [
            (t["name"], t["score"], t["output"]) for t in second["tests"]
        ]


KL = "def kl_divergence(mu, logvar):\n    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())\n"
# Results the grader cannot read as they are: each check says what came back and what to
# return, and none of them takes the child down (which would cost the exercise's other checks
# their own messages).
ODD_RESULTS = {
    "sparse": ("kl.sum(-1).to_sparse()", "it is a torch.sparse_coo tensor: return a dense one"),
    "bfloat16": ("kl.sum(-1).bfloat16()", "it is a bfloat16 tensor: return the dtype of the"),
    "nested": ("torch.nested.nested_tensor([kl.sum(-1)])", "it is a nested tensor: return one"),
    "expanded": ("torch.zeros(1).expand(10**9)", "it holds 1,000,000,000 values, more than"),
    "numpy": ("kl.sum(-1).detach().numpy()", "should be a torch.Tensor, but it is a numpy.ndarray"),
    "meta": ("kl.sum(-1).to('meta')", "Your result is on the meta device, not on its inputs'"),
}


def test_a_result_the_grader_cannot_read_is_named_in_every_check(reference, tmp_path):
    for name, (returned, _) in ODD_RESULTS.items():
        source = f"{KL}    return {returned}\n"
        notebook = samples.replace(samples.load("solutions", MNIST), "kl_divergence", source)
        Scenario(name, notebook).write(tmp_path / "in", MNIST)
    grade_all(tmp_path / "in", tmp_path / "out", reference, jobs=2, limits=LIMITS, progress=False)
    for name, (_, said) in ODD_RESULTS.items():
        tests = stored_results(tmp_path / "out", name)["tests"]
        kl = [test for test in tests if test["name"].startswith("kl_divergence: ")]
        first = next(test for test in kl if test["score"] < test["max_score"])
        assert said in first["output"], (name, first["output"])
        assert not any("stopped" in test["output"] for test in tests), name


def test_the_source_notebook_gets_full_marks(reference, tmp_path):
    rows = grade_all(ASSIGNMENT.notebook, tmp_path, reference, progress=False)
    assert [(row.score, row.max_score) for row in rows] == [
        (ASSIGNMENT.max_score, ASSIGNMENT.total_points)
    ]


def test_discovery_accepts_both_layouts_and_loose_notebooks(tmp_path):
    (tmp_path / "ann" / MNIST).mkdir(parents=True)
    (tmp_path / "ann" / MNIST / "whatever.ipynb").write_text("{}")
    (tmp_path / "ben").mkdir()
    (tmp_path / "ben" / "ps1 (1).ipynb").write_text("{}")
    (tmp_path / "cat.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    found = {
        submission.student: submission.notebook.name for submission in discover(tmp_path, MNIST)
    }
    assert found == {"ann": "whatever.ipynb", "ben": "ps1 (1).ipynb", "cat": "cat.ipynb"}


def test_cli_grades_one_notebook_then_resumes_then_forces(tmp_path, capsys):
    notebook = tmp_path / "alice.ipynb"
    shutil.copy(ROOT / "solutions" / MNIST / f"{MNIST}.ipynb", notebook)
    out = tmp_path / "out"
    assert aekit(["grade", MNIST, str(notebook), "--out", str(out), "--quiet"]) == 0
    assert "alice" in capsys.readouterr().out
    assert json.loads((out / "alice" / "results.json").read_text())["score"] == ASSIGNMENT.max_score
    assert aekit(["grade", MNIST, str(notebook), "--out", str(out), "--quiet"]) == 0
    assert "kept" in capsys.readouterr().out
    assert aekit(["grade", MNIST, str(notebook), "--out", str(out), "--quiet", "--force"]) == 0
    assert "graded" in capsys.readouterr().out


def test_cli_refuses_an_unknown_assignment_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        aekit(["grade", "nope", str(tmp_path), "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'nope'" in error and "mnist_autoencoders" in error


def test_grade_cell_points_match_the_checks():
    """nbgrader's points per grade cell equal the autograder's points per exercise."""
    document = json.loads(ASSIGNMENT.notebook.read_text())
    cells = {
        cell["metadata"]["nbgrader"]["grade_id"]: cell["metadata"]["nbgrader"].get("points")
        for cell in document["cells"]
        if cell["metadata"].get("nbgrader", {}).get("grade") and cell["cell_type"] == "code"
    }
    assert len(cells) == len(ASSIGNMENT.exercises) > 0
    for grade_id, points in cells.items():
        assert points == ASSIGNMENT.points(grade_id.removeprefix("check_")) > 0


# --- cardiac_autoencoders ------------------------------------------------------------------------

CARDIAC = get_assignment("cardiac_autoencoders")


def cardiac_scenarios() -> list[Scenario]:
    from mutants_cardiac import MUTANTS

    zero = {exercise: 0.0 for exercise in CARDIAC.exercises}
    return (
        [
            Scenario("solution", samples.load("solutions", CARDIAC.name)),
            Scenario("untouched-release", samples.load("release", CARDIAC.name), zero),
            Scenario(
                "typical-mistakes",
                samples.with_mistakes(CARDIAC.name),
                {"ConvDecoder": 1.5, "dice_score": 1.5, "project_segmentation": 0.5},
            ),
        ]
        + [
            # Correct code in other styles, graded through the sandbox as well as in-process
            # (test_cardiac_checks): full marks.
            Scenario(f"written-differently-{variant}", cardiac_written_differently(variant))
            for variant in range(max(map(len, CARDIAC_WRITTEN_DIFFERENTLY.values())))
        ]
        + [mutant.scenario(CARDIAC.name) for mutant in MUTANTS]
    )


@pytest.fixture(scope="session")
def cardiac_graded(tmp_path_factory):
    shared_zygote()
    submitted = tmp_path_factory.mktemp("cardiac-submitted")
    scenarios = cardiac_scenarios()
    for scenario in scenarios:
        scenario.write(submitted, CARDIAC.name)
    out = tmp_path_factory.mktemp("cardiac-out")
    grade_all(submitted, out, load_reference(CARDIAC), jobs=2, limits=LIMITS, progress=False)
    return {"out": out, "scenarios": {scenario.name: scenario for scenario in scenarios}}


@pytest.mark.parametrize("name", [scenario.name for scenario in cardiac_scenarios()])
def test_cardiac_scenario_gets_its_exact_score(cardiac_graded, name):
    """The solution gets full marks, the release 0, and every mutant loses points on its own
    exercise only."""
    scenario = cardiac_graded["scenarios"][name]
    expected = {
        exercise: CARDIAC.points(exercise) for exercise in CARDIAC.exercises
    } | scenario.expected
    results = stored_results(cardiac_graded["out"], name)
    assert exercise_points(results) == expected
    jsonschema.validate(results, GRADESCOPE_SCHEMA)
