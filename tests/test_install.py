"""The distribution as a user installs it: one `llm_advisor` import package beside anything else.

These tests build the sdist and wheel for real and install them into new virtual environments,
together with PyPI's `diagrams` (diagram-as-code) and `rules` (django-rules), whose import names
are the repository's folder names. They use the package registries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 900
CASE = ["--fact", "problem_type=knowledge", "--fact", "change_frequency=daily"]


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONSTRAINT"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and, built from it, the wheel (what `python -m build` makes)."""
    out = tmp_path_factory.mktemp("dist")
    ok(run(sys.executable, "-m", "build", "--outdir", out, ROOT))
    return out


def wheel_of(dist: Path) -> Path:
    (wheel,) = dist.glob("llm_advisor-*.whl")
    return wheel


def new_venv(where: Path) -> Path:
    venv.create(where, with_pip=True)
    return where / "bin" / "python"


def test_twine_accepts_the_sdist_and_the_wheel(dist: Path) -> None:
    files = sorted(dist.iterdir())
    assert sorted(f.suffix for f in files) == [".gz", ".whl"]
    ok(run(sys.executable, "-m", "twine", "check", "--strict", *files))


def test_the_wheel_holds_only_llm_advisor_with_its_rules(dist: Path) -> None:
    names = zipfile.ZipFile(wheel_of(dist)).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"llm_advisor"}
    shipped = {Path(n).name for n in names if n.startswith("llm_advisor/rules/")}
    assert {p.name for p in (ROOT / "rules").glob("*.yaml")} <= shipped
    assert "llm_advisor/py.typed" in names
    for folder in ("engine", "cli", "diagrams", "rules"):
        for source in (ROOT / folder).rglob("*.py"):
            assert f"llm_advisor/{source.relative_to(ROOT)}" in names, source
    assert not any(n.startswith("llm_advisor/tests/") for n in names)


@pytest.mark.parametrize("ours_first", [True, False], ids=["ours-first", "theirs-first"])
def test_installs_beside_pypi_diagrams_and_rules(
    dist: Path, tmp_path: Path, ours_first: bool
) -> None:
    python = new_venv(tmp_path / "venv")
    pip = [python, "-m", "pip", "install", "--quiet"]
    theirs = ["diagrams", "rules"]
    if ours_first:
        ok(run(*pip, wheel_of(dist)))
        ok(run(*pip, *theirs))
    else:
        ok(run(*pip, *theirs))
        ok(run(*pip, wheel_of(dist)))
    others = "from diagrams import Diagram; from rules import predicate; print('fine')"
    assert ok(run(python, "-c", others, cwd=tmp_path)).strip() == "fine"
    script = tmp_path / "venv" / "bin" / "llm-advisor"
    result = json.loads(ok(run(script, "recommend", "--json", "--no-audit", *CASE)))
    assert result["recommendation"] == "rag"

    ok(run(python, "-m", "pip", "uninstall", "--yes", "llm-advisor"))
    assert ok(run(python, "-c", others, cwd=tmp_path)).strip() == "fine"
    assert run(python, "-c", "import llm_advisor", cwd=tmp_path).returncode != 0


def test_runs_the_same_in_a_folder_with_its_own_rules_and_cli(tmp_path: Path) -> None:
    """Neither `python -m llm_advisor` nor the console script picks up the current folder's
    `rules/`, `cli/`, `engine/` or `diagrams/`."""
    for name in ("rules", "cli", "engine", "diagrams"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise SystemExit('wrong package')\n")
    (tmp_path / "rules" / "facts.yaml").write_text("facts: nonsense\n")
    script = Path(sys.executable).parent / "llm-advisor"
    elsewhere = tmp_path.parent
    commands = ([sys.executable, "-m", "llm_advisor"], [str(script)])
    for command in commands:
        here = ok(run(*command, "recommend", "--json", "--no-audit", *CASE, cwd=tmp_path))
        there = ok(run(*command, "recommend", "--json", "--no-audit", *CASE, cwd=elsewhere))
        assert json.loads(here) == json.loads(there)
