"""nbgrader configuration of the course, tuned for PyTorch notebooks (nbgrader 0.9.6)."""

from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearOutput, IncludeHeaderFooter, LockCells

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "aekit"
# Student solutions after the deadline: solutions in, hidden tests out, outputs cleared and not
# re-executed, so solutions/ is reproducible and checked against a fresh generation.
c.CourseDirectory.solution_directory = "solutions"
c.GenerateSolution.preprocessors = [IncludeHeaderFooter, LockCells, ClearOutput, ClearMarkScheme, ClearHiddenTests]

# Autograding. Training cells shrink to seconds under NBGRADER_EXECUTION (aekit's fast mode);
# the first grade cell starts the sandboxed grader, which takes a few seconds.
c.Execute.timeout = 180
# nbgrader raises when a cell's output stops for iopub_timeout seconds (nbclient's default 4 s),
# which a loaded grading server (or a busy CI) reaches: a correct cell would score 0.
c.Execute.iopub_timeout = 120
# A warning on stderr must not zero a grade cell (nbgrader scores any stderr output 0).
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?i)warning|warn\(|tqdm|it/s\]"
# A student who deletes a grade cell still gets it graded.
c.OverwriteCells.add_missing_cells = True

# Feedback: hidden test code is removed from the cells, and tracebacks (which can quote the
# lines around an error, hidden ones included) are reduced to the error's name and message.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "autograder.nbgrader_plugins.ScrubTracebacks",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
