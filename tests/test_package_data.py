"""The installed package carries the firmware tree firmware/micropython/ deploys, file for file.

setup.py's own package layout is built with setuptools' build_py into a temporary folder (the
Cython kernels are left out: build_py copies sources only), and compared with the repo."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from phyll.flash.boards import micropython_board
from phyll.flash.deploy import firmware_files

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware" / "micropython"
# build_py as setup.py configures it, Cython stubbed out (no extension is built here).
BUILD_PY = """
import runpy, sys, types
cython, build = types.ModuleType("Cython"), types.ModuleType("Cython.Build")
build.cythonize = lambda extensions, **options: []
sys.modules.update({"Cython": cython, "Cython.Build": build})
import setuptools
real_setup = setuptools.setup
def setup(**kwargs):
    real_setup(**{**kwargs, "ext_modules": []}, script_args=["-q", "build_py", "--build-lib", sys.argv[1]])
setuptools.setup = setup
runpy.run_path("setup.py", run_name="__main__")
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """phyll as build_py lays it out. Built from a folder holding setup.py and the source folders
    but not pyproject.toml, whose metadata needs a newer setuptools than a venv may have; the
    package layout is all setup.py's."""
    stage = tmp_path_factory.mktemp("stage")
    for name in ("setup.py", "firmware", "cython_kernels"):
        (stage / name).symlink_to(REPO / name)
    # A copy: setuptools writes its egg-info beside the package sources, which stay untouched.
    shutil.copytree(REPO / "host", stage / "host", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("build")
    done = subprocess.run([sys.executable, "-c", BUILD_PY, str(out)], cwd=stage, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "phyll"


def repo_firmware() -> set[str]:
    files = {"main.py"}
    for folder in ("boards", "cpython", "phyllfw"):
        files |= {p.relative_to(FIRMWARE).as_posix() for p in (FIRMWARE / folder).rglob("*.py")
                  if "__pycache__" not in p.parts}
    return files


def test_the_installed_firmware_is_the_repos_deployable_tree_file_for_file(installed):
    tree = installed / "_firmware"
    shipped = {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}
    assert shipped == repo_firmware()  # main.py included; no caches, no tests
    for name in shipped:
        assert (tree / name).read_bytes() == (FIRMWARE / name).read_bytes(), name


def test_the_installed_tree_deploys_the_same_files(installed):
    tree = installed / "_firmware"
    from_package = [(f.target, f.source.read_bytes()) for f in firmware_files(micropython_board("emu", tree), tree)]
    from_repo = [(f.target, f.source.read_bytes()) for f in firmware_files(micropython_board("emu"), FIRMWARE)]
    assert from_package == from_repo
    assert from_package[-1][0] == "main.py" and not any("__pycache__" in target for target, _ in from_package)


def test_what_runs_on_boards_ships_with_the_host(installed):
    assert (installed / "flash" / "on_board.py").is_file()
    assert (installed / "emulator" / "board_boot.py").is_file()


def test_the_installed_cpp_firmware_is_the_repos_minus_its_tests(installed):
    """emu:// firmware=cpp and cpp-arm and phyll flash --firmware cpp need only the installed package."""
    cpp, tree = REPO / "firmware" / "cpp", installed / "_firmware_cpp"
    tracked = subprocess.run(["git", "ls-files", "firmware/cpp"], cwd=REPO, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout: the C++ firmware's tracked files are unknown")
    wanted = {Path(name).relative_to("firmware/cpp").as_posix() for name in tracked.stdout.split()
              if not name.startswith("firmware/cpp/test/") and not name.endswith(".gitignore")}
    shipped = {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}
    assert shipped == wanted
    for name in shipped:
        assert (tree / name).read_bytes() == (cpp / name).read_bytes(), name
