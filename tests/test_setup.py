"""The set-up's messages when the machine cannot build the project (run through make for real)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fake_python(where: Path, version: str, *, headers: bool = True) -> Path:
    """An interpreter stand-in that reports `version` and whether it has its headers."""
    major, minor = (int(part) for part in version.split(".")[:2])
    script = where / f"python{version}"
    script.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        f"  *version_info*) [ {minor} -ge 11 ] && [ {major} -eq 3 ] ;;\n"
        f"  *python_version*) echo {version} ;;\n"
        f"  *Python.h*) {'true' if headers else 'false'} ;;\n"
        "  *) exit 3 ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script


def test_make_consult_with_an_old_python_stops_with_the_versions_that_work(
    tmp_path: Path,
) -> None:
    old = fake_python(tmp_path, "3.10.4")
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "consult", f"PYTHON={old}", f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert len(ours) == 1, done.stderr
    assert "3.11, 3.12 or 3.13" in ours[0] and "3.10.4" in ours[0]
    assert not venv.exists()


def test_a_failed_build_names_the_missing_compiler_and_headers(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "command"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    python = fake_python(tmp_path, "3.12.1", headers=False)
    done = subprocess.run(
        ["/bin/sh", str(ROOT / "scripts" / "check-build"), str(python)],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(bin_dir), "CC": "no-such-compiler"},
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "C compiler" in done.stderr and "Python headers" in done.stderr


def test_a_failed_build_with_compiler_and_headers_points_at_pip(tmp_path: Path) -> None:
    python = fake_python(tmp_path, "3.12.1", headers=True)
    done = subprocess.run(
        ["/bin/sh", str(ROOT / "scripts" / "check-build"), str(python)],
        capture_output=True,
        text=True,
        env={**os.environ, "CC": "sh"},
        check=False,
    )
    assert done.returncode == 1
    assert "missing" not in done.stderr and "pip" in done.stderr
