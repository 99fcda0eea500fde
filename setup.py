"""Build glue for the Cython kernels; all metadata lives in pyproject.toml.

The package `phyll` comes from host/phyll, and its subpackage `phyll.kernels` from cython_kernels/,
so the kernels' sources, their NumPy references and their compiled modules sit in one room.
"""
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

# Portable by default; PHYLL_NATIVE=1 opts in to -march=native for a machine-specific build.
# -fno-math-errno lets sqrt vectorise; the kernels never read errno.
# -Wno-psabi: small_step.h's functions that pass 32-byte vectors are always inlined, so the ABI
# note GCC prints for them in the baseline (non-AVX) copy concerns no real call.
_COMPILE_ARGS = ["-O3", "-fno-math-errno", "-Wno-psabi"]
if os.environ.get("PHYLL_NATIVE") == "1":
    _COMPILE_ARGS.append("-march=native")
# PHYLL_DEBUG=1 builds the kernels with bounds checks on (see cython_kernels/README.md).
_DEBUG = os.environ.get("PHYLL_DEBUG") == "1"

_KERNELS = ["_encode", "_layer", "_local_update"]  # module names in cython_kernels/

extensions = [
    Extension(
        f"phyll.kernels.{name}",
        [f"cython_kernels/{name}.pyx"],
        include_dirs=[numpy.get_include(), "cython_kernels"],  # small_step.h
        extra_compile_args=_COMPILE_ARGS,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for name in _KERNELS
]

# The MicroPython firmware ships inside the package as phyll._firmware, so an installed phyll can
# run the very same firmware for emu:// devices and `phyll flash` it: main.py, boards/, phyllfw/
# (and cpython/, the emulator's CPython shims), the tree firmware/micropython/ deploys. Its tests/
# stay in the checkout. tests/test_package_data.py builds this and compares it with the repo.
_FIRMWARE = {"phyll._firmware": "firmware/micropython",
             **{f"phyll._firmware.{sub}": f"firmware/micropython/{sub.replace('.', '/')}"
                for sub in ("boards", "cpython", "phyllfw", "phyllfw.hal")}}

# The C++ firmware's sources ship as phyll._firmware_cpp (firmware/cpp without its tests and
# builds): emu:// firmware=cpp and cpp-arm build them at first use with targets.py, and `phyll flash
# --firmware cpp` hands the PlatformIO project to pio, from an installed phyll as from a checkout.
# Each source folder is listed as a package of its own, as setuptools wants for data folders.
_CPP_FOLDERS = ["", "src", "src/boards", "src/core", "src/hal", "host", "arm/cortex_m", "arm/mps2", "arm/rp2040"]
_FIRMWARE_CPP = {".".join(["phyll._firmware_cpp", *filter(None, folder.split("/"))]):
                 f"firmware/cpp/{folder}".rstrip("/") for folder in _CPP_FOLDERS}
_FIRMWARE_CPP_FILES = {package: ["*.cpp", "*.h", "*.ld", "platformio.ini"] for package in _FIRMWARE_CPP}

setup(
    packages=find_packages("host") + ["phyll.kernels", *_FIRMWARE, *_FIRMWARE_CPP],
    package_dir={"": "host", "phyll.kernels": "cython_kernels", **_FIRMWARE, **_FIRMWARE_CPP},
    package_data=_FIRMWARE_CPP_FILES,
    ext_modules=cythonize(
        extensions,
        # Regenerate the C every build: cythonize's timestamps do not see a PHYLL_DEBUG change.
        force=True,
        compiler_directives={
            "language_level": 3,
            "boundscheck": _DEBUG,
            "wraparound": _DEBUG,
            "initializedcheck": _DEBUG,
            "cdivision": True,
        },
    ),
    include_package_data=True,
)
