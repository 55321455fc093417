"""The project's two install routes and its test entry points agree.

``environment.yml`` (conda) must name the same packages, with the same
version ranges, as ``requirements.txt`` plus ``requirements-dev.txt`` (pip);
``.ci/run`` must run ``make test``, whose recipe lints and tests the package,
the tests and the notebooks.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
IGNORED = {"python", "pip"}


def _strip_comment(line: str) -> str:
    return line.split("#", 1)[0].strip()


def _add(specs: dict, text: str, source: str) -> None:
    requirement = Requirement(text)
    name = canonicalize_name(requirement.name)
    assert name not in specs, f"{source}: {name} is listed twice"
    specs[name] = requirement.specifier


def conda_specs(path: Path) -> tuple[dict[str, SpecifierSet], dict[str, str]]:
    """Packages of ``dependencies:`` (and its ``pip:`` list), and the ignored ones.

    Only the subset of YAML that environment files use is read: top-level
    keys, and ``- item`` list entries indented below them.
    """
    specs: dict[str, SpecifierSet] = {}
    ignored: dict[str, str] = {}
    in_dependencies = False
    for raw in path.read_text().splitlines():
        line = _strip_comment(raw)
        if not line:
            continue
        if not raw[0].isspace():
            in_dependencies = line == "dependencies:"
            continue
        item = re.fullmatch(r"-\s+(.+)", line)
        if not (in_dependencies and item):
            continue
        entry = item.group(1).strip()
        if entry.endswith(":"):  # "- pip:" opens the pip sub-list
            continue
        if entry.startswith("-e "):
            ignored["-e"] = entry
            continue
        name = canonicalize_name(re.split(r"[<>=!~ ]", entry, maxsplit=1)[0])
        if name in IGNORED:
            ignored[name] = entry
            continue
        _add(specs, entry, path.name)
    return specs, ignored


def pip_specs(*paths: Path) -> dict[str, SpecifierSet]:
    specs: dict[str, SpecifierSet] = {}
    for path in paths:
        for raw in path.read_text().splitlines():
            line = _strip_comment(raw)
            if not line or line.startswith(("-r ", "-e ")):
                continue
            _add(specs, line, path.name)
    return specs


def test_parsers_read_what_they_should(tmp_path):
    sample = tmp_path / "environment.yml"
    sample.write_text(
        "name: x\nchannels:\n  - conda-forge\ndependencies:\n"
        "  - python>=3.11\n  # a comment\n  - numpy>=1.26,<3  # arrays\n"
        "  - pip\n  - pip:\n      - -e .\n      - Some_Package==1.0\n"
    )
    specs, ignored = conda_specs(sample)
    assert specs == {
        "numpy": SpecifierSet(">=1.26,<3"),
        "some-package": SpecifierSet("==1.0"),
    }
    assert set(ignored) == {"python", "pip", "-e"}
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("-r other.txt\n# why\nnumpy<3,>=1.26\nsome_package==1.0\n")
    assert pip_specs(reqs) == specs


def test_conda_and_pip_name_the_same_packages_and_ranges():
    conda, ignored = conda_specs(ROOT / "environment.yml")
    pip = pip_specs(ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
    assert set(conda) == set(pip)
    for name in sorted(conda):
        assert conda[name] == pip[name], name
    assert "pytensor" in conda  # the parse found the real list
    assert len(conda) >= 10
    assert ignored["-e"] == "-e ."


def test_dev_requirements_include_the_runtime_ones():
    lines = [
        _strip_comment(line)
        for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
    ]
    assert "-r requirements.txt" in lines


def test_python_version_agrees_with_pyproject():
    _, ignored = conda_specs(ROOT / "environment.yml")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    required = SpecifierSet(pyproject["project"]["requires-python"])
    assert Requirement(ignored["python"]).specifier == required


def test_ci_runs_make_test():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK)
    lines = [_strip_comment(line) for line in script.read_text().splitlines()]
    commands = [line for line in lines if line]
    assert "set -euo pipefail" in commands  # a failing step fails the job
    assert commands[-1] == "make test"


def test_make_test_lints_and_tests_everything():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry_run = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert dry_run.returncode == 0, dry_run.stderr
    commands = " ".join(dry_run.stdout.split())
    assert "-m ruff check helpers tests notebooks" in commands
    assert "-m ruff format --check helpers tests notebooks" in commands
    assert "-m pytest helpers tests notebooks --nbval" in commands
    assert "--nbval-current-env" in commands
