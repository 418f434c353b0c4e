"""binder/ alone builds an environment where the quickstart notebook runs, as repo2docker would build it.

repo2docker clones the repository, installs ``binder/requirements.txt`` with pip from the repository
root, then runs ``binder/postBuild`` from the repository root with that environment first on PATH.
This test does the same with a fresh venv (with pip's cache and configuration as they are on this
machine) in a copy of the working tree, then runs ``notebooks/01_quickstart.ipynb`` in a kernel of
that venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from notebook_runner import REPO, cell_text, errors, run_notebook

NOT_IN_A_CLONE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
                                        "test-artifacts", "pipetest_workspace", "workspace", ".ipynb_checkpoints",
                                        "scratch")
INSTALL_TIMEOUT = 900  # seconds


def run(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    with log.open("w") as out:
        done = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{log.read_text()[-4000:]}"


@pytest.mark.slow
def test_binder_environment_runs_the_quickstart(tmp_path: Path):
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, ignore=NOT_IN_A_CLONE, symlinks=True)
    venv = tmp_path / "venv"
    # --upgrade-deps: a current pip, as repo2docker's environment has (ensurepip's is older and much slower)
    subprocess.run([sys.executable, "-m", "venv", "--upgrade-deps", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv))

    run(["pip", "install", "-r", "binder/requirements.txt"], repo, env, tmp_path / "requirements.log")
    run(["binder/postBuild"], repo, env, tmp_path / "postBuild.log")

    nb = run_notebook(repo / "notebooks" / "01_quickstart.ipynb", venv / "bin" / "python", tmp_path / "kernel",
                      extra_cells=["import sys, pipetest_nb\nprint(sys.prefix)\nprint(pipetest_nb.__file__)"])
    assert not errors(nb), "\n\n".join(errors(nb))
    [prefix, package] = nb.cells[-1].outputs[0].text.split()
    assert Path(prefix) == venv  # the kernel ran in the Binder environment ...
    assert Path(package).is_relative_to(repo)  # ... with the package installed from the repository
    assert "success=True, 7 succeeded" in cell_text(nb, "run-all")


def test_binder_asks_for_the_python_the_notebooks_are_tested_with():
    runtime = (REPO / "binder" / "runtime.txt").read_text().strip()
    assert runtime == f"python-{sys.version_info.major}.{sys.version_info.minor}", (
        "binder/runtime.txt names another Python than the one the tests run on; update it")
