"""Set-up files agree with each other, so a course runs the same everywhere."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pyproject_pins() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        pins |= set(extra)
    return pins


def environment_pins() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    return {
        match.group(1)
        for line in lines
        if (match := re.match(r"^\s+- ([A-Za-z0-9_.-]+==\S+)$", line))
    }


def test_every_dependency_is_pinned_to_one_version():
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9a-z.]*", pin) for pin in pyproject_pins())


def test_environment_yml_lists_the_same_packages_and_versions_as_pyproject():
    assert environment_pins() == pyproject_pins()


def test_environment_yml_uses_the_python_of_pyproject():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11" and "- python=3.11" in (ROOT / "environment.yml").read_text()


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_names_the_makefile_targets():
    readme = (ROOT / "README.md").read_text()
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE)) - {
        "help",
        "clean",
        "format",
    }
    missing = [target for target in sorted(targets) if f"make {target}" not in readme]
    assert not missing, f"README does not name: {missing}"


def test_no_data_or_checkpoints_are_tracked():
    import subprocess

    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    heavy = [
        name
        for name in tracked
        if name.endswith((".pt", ".ckpt", ".npz", ".nii.gz", ".gz", ".h5", ".zip"))
    ]
    assert heavy == []
