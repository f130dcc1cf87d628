"""``aekit gradescope ASSIGNMENT --out ZIP``: the autograder zip that Gradescope runs as is.

The zip mirrors the course tree, so the grader finds everything where it does at home:

    setup.sh          installs Python 3.11 and the pinned packages (CPU-only torch) in /opt/aekit,
                      moves the public aekit library there and locks the rest to root
    run_autograder    grades /autograder/submission/ into /autograder/results/results.json
    requirements.txt  the pins of pyproject.toml
    aekit/            the course library (public)
    autograder/       the grader and its hidden checks (readable by root only once set up)
    source/<assignment>/<assignment>.ipynb   the reference solutions (likewise)

Student code runs in the sandbox of :mod:`autograder.sandbox`: a child forked from a fresh
interpreter, as ``nobody`` (the venv is world-readable, the hidden parts are not), fenced by
Landlock and an audit hook from ``source/`` and ``autograder/``.

``run_autograder`` reads two environment variables, for testing outside Gradescope:
``AUTOGRADER_ROOT`` (default ``/autograder``) and ``AEKIT_PYTHON`` (default
``/opt/aekit/bin/python``); :mod:`autograder.gradescope_run` also reads ``AEKIT_MEMORY_MB`` and
``AEKIT_CHECK_SECONDS`` (the sandbox's limits). To try a zip by hand::

    mkdir -p /tmp/ag/submission /tmp/ag/results && unzip -q autograder.zip -d /tmp/ag/source
    cp my.ipynb /tmp/ag/submission/
    AUTOGRADER_ROOT=/tmp/ag AEKIT_PYTHON=.venv/bin/python bash /tmp/ag/source/run_autograder
"""

import sys
from pathlib import Path

from autograder.assignments import COURSE_ROOT, Assignment, UnknownAssignment, get_assignment
from autograder.bundle import (
    TORCH_INDEX,
    BundleError,
    package_files,
    pinned_dependencies,
    read_project,
    write_zip,
)
from autograder.report import VISIBILITIES

VENV = "/opt/aekit"
# Students see the hidden checks' results, and a total that counts them, after the due date:
# before it, a full score of the public checks would read as a full score.
HIDDEN_CHECKS = "after_due_date"


def members(
    assignment: Assignment, root: Path = COURSE_ROOT, hidden_checks: str = HIDDEN_CHECKS
) -> dict[str, tuple[bytes, int]]:
    """The zip's files: name -> (content, unix mode)."""
    notebook = root / "source" / assignment.name / f"{assignment.name}.ipynb"
    if not notebook.exists():
        raise BundleError(f"the source notebook {notebook} is missing")
    setup = SETUP_SH.replace("@VENV@", VENV).replace("@TORCH_INDEX@", TORCH_INDEX)
    if hidden_checks not in VISIBILITIES:
        raise BundleError(f"hidden checks' visibility {hidden_checks!r}: one of {VISIBILITIES}")
    run = RUN_AUTOGRADER.replace("@ASSIGNMENT@", assignment.name).replace("@VENV@", VENV)
    run = run.replace("@HIDDEN_CHECKS@", hidden_checks)
    files = {
        "setup.sh": (setup.encode(), 0o755),
        "run_autograder": (run.encode(), 0o755),
        "requirements.txt": (requirements(root).encode(), 0o644),
        f"source/{assignment.name}/{assignment.name}.ipynb": (notebook.read_bytes(), 0o644),
    }
    for package in ("aekit", "autograder"):
        for path in package_files(root / package):
            files[path.relative_to(root).as_posix()] = (path.read_bytes(), 0o644)
    return files


def sandbox_dependencies(root: Path = COURSE_ROOT) -> list[str]:
    """The pins of the sandbox's own packages, from pyproject's instructor extra."""
    extras = read_project(root).get("optional-dependencies", {}).get("instructor", [])
    return [pin for pin in extras if pin.startswith("pyseccomp")]


def requirements(root: Path = COURSE_ROOT) -> str:
    pins = pinned_dependencies(root) + sandbox_dependencies(root)
    return (
        "# What the grader needs on Gradescope: the course's pins (pyproject.toml).\n"
        "# setup.sh installs torch and torchvision from PyTorch's CPU-only index first.\n"
        + "".join(f"{pin}\n" for pin in pins)
    )


def build(
    assignment: Assignment,
    out: Path,
    check_reference: bool = True,
    hidden_checks: str = HIDDEN_CHECKS,
) -> Path:
    """Write the zip for ``assignment`` to ``out``; first make sure its reference grades itself.
    ``hidden_checks``: when students see the hidden checks (Gradescope's visibility)."""
    if out.is_dir():
        raise BundleError(f"{out} is a folder; --out names the zip to write, e.g. {out}/grader.zip")
    files = members(assignment, hidden_checks=hidden_checks)
    if check_reference:
        from autograder.reference import ReferenceFailure, load_reference

        try:
            load_reference(assignment)
        except ReferenceFailure as error:
            raise BundleError(f"the reference cannot grade: {error}") from None
    write_zip(out, files)
    return out


def run(args) -> int:
    """``aekit gradescope``: 0 when the zip was written, 2 when it could not be."""
    out = Path(args.out)
    try:
        build(get_assignment(args.assignment), out, hidden_checks=args.hidden_checks)
    except (UnknownAssignment, BundleError) as error:
        print(f"aekit gradescope: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"aekit gradescope: cannot write {out}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(f"Gradescope autograder for {args.assignment} written to {out}")
    print("upload it as the assignment's autograder (Ubuntu 22.04 base image); setup.sh installs")
    print(f"Python 3.11 and the pinned packages (CPU-only torch) into {VENV}")
    print(f"students see the hidden checks: {args.hidden_checks.replace('_', ' ')}")
    return 0


SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu 22.04).
# It installs bubblewrap and libseccomp (the sandbox around student code), Python 3.11 and the
# course's pinned packages in a venv, moves the public aekit library into it, and locks what
# stays in source/ (the grader, its hidden checks, the solutions) to root.
set -euo pipefail

SOURCE="${AUTOGRADER_ROOT:-/autograder}/source"
VENV="${AEKIT_VENV:-@VENV@}"
TORCH_INDEX="@TORCH_INDEX@"
export DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

install_python() {
    if python3.11 -c "import ensurepip, venv" 2>/dev/null; then
        return
    fi
    apt-get update -q
    # Ubuntu 22.04 ships Python 3.11 in universe; the deadsnakes PPA is the fallback.
    if ! apt-get install -y -q python3.11 python3.11-venv; then
        apt-get install -y -q software-properties-common
        add-apt-repository -y ppa:deadsnakes/ppa
        apt-get update -q
        apt-get install -y -q python3.11 python3.11-venv
    fi
}

install_python
# The sandbox around student code: bubblewrap (namespaces) and libseccomp (the syscall filter).
apt-get install -y -q bubblewrap libseccomp2 || { apt-get update -q && apt-get install -y -q bubblewrap libseccomp2; }
python3.11 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# CPU-only torch: about 210 MB resident instead of 640 MB, in a 768 MB container. The second
# install keeps it (2.x.y+cpu satisfies ==2.x.y) and adds the other pins from PyPI.
"$VENV/bin/python" -m pip install -q --index-url "$TORCH_INDEX" \
    $(grep -E '^(torch|torchvision)==' "$SOURCE/requirements.txt")
"$VENV/bin/python" -m pip install -q -r "$SOURCE/requirements.txt"

# The public library goes where `nobody` can read it; one copy only.
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ -d "$SOURCE/aekit" ]; then
    rm -rf "$SITE/aekit"
    mv "$SOURCE/aekit" "$SITE/aekit"
fi
# Bytecode once, here: run_autograder writes none, so every submission would compile the
# grader and the kit again (0.3 s of each run).
"$VENV/bin/python" -m compileall -q "$SITE/aekit" "$SOURCE/autograder"
chmod -R a+rX "$VENV"

# The hidden parts: readable by root (the grader) only.
chown -R root:root "$SOURCE"
chmod -R go-rwx "$SOURCE"

cd "$SOURCE"
PYTHONPATH="$SOURCE" "$VENV/bin/python" -c \
    "import torch, aekit, autograder.engine; print('aekit', aekit.__version__, 'torch', torch.__version__)"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this as root for every submission. It grades the one notebook in
# submission/ and always leaves results/results.json behind, even when grading fails.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AEKIT_PYTHON:-@VENV@/bin/python}"
RESULTS="$ROOT/results/results.json"

mkdir -p "$ROOT/results"
rm -f "$RESULTS"
cd "$ROOT/source" &&
    PYTHONPATH="$ROOT/source" PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg \
        AEKIT_HIDDEN_CHECKS="@HIDDEN_CHECKS@" \
        "$PYTHON" -m autograder.gradescope_run "@ASSIGNMENT@"
status=$?
if [ ! -s "$RESULTS" ]; then
    cat >"$RESULTS" <<EOF
{"score": 0.0, "output": "@ASSIGNMENT@: not graded. The autograder could not run (exit status $status); this is not your fault. Please tell your instructor.", "output_format": "text", "stdout_visibility": "hidden", "tests": []}
EOF
fi
exit 0
"""
