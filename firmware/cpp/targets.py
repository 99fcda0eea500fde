"""The C++ firmware's executables, each built once per hash of its sources into a cache.

    python3 firmware/cpp/targets.py TARGET [TARGET ...] [--cache DIR]   # prints each built file
    python3 firmware/cpp/targets.py --sizes [--json] [--cache DIR]      # ARM flash and RAM vs budgets

Targets:
  host        phyll-cpp-host: the core on stdin/stdout, a linear test medium or the emulator's
              medium channel (--medium-fd); system g++ (or CXX), -O2. emu://...?firmware=cpp
  mps2-an385  phyll-cpp-mps2-an385.elf: Cortex-M3 image for qemu-system-arm -M mps2-an385 (arm/mps2):
              UART0 the host link, UART1 the medium channel, SysTick. emu://...?firmware=cpp-arm
  rp2040      phyll-cpp-rp2040.elf: Cortex-M0+ image of the metasurface rig with the RP2040's memory
              map (arm/rp2040), built for the flash and RAM a Pico must hold (firmware/README.md)

A build lands in CACHE/firmware-cpp/TARGET-HASH/ (CACHE: --cache, else $PHYLL_CACHE_DIR, else
$XDG_CACHE_HOME/phyll or ~/.cache/phyll). HASH covers every file under src/, host/ and arm/, this
script, the compiler's version and the flags, so a changed source builds anew and anything else
is reused. A build is made in a temporary folder and renamed into place, so processes building
at once never see half of one. ARM builds also write sizes.json (arm-none-eabi-size).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

CPP = Path(__file__).resolve().parent
SOURCE_DIRS = ("src", "host", "arm")

BASE_FLAGS = ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-g"]
# Firmware sources build for 32-bit MCUs: conversions that are harmless on x86-64 may not be.
FIRMWARE_FLAGS = ["-Wpedantic", "-Wshadow", "-Wconversion", "-Wsign-conversion", "-Wcast-align", "-Wdouble-promotion"]
# Bare metal: no exceptions, RTTI or atexit; every function and object in its own section, so the
# link keeps only what is used.
ARM_FLAGS = ["-mthumb", "-ffunction-sections", "-fdata-sections", "-fno-exceptions", "-fno-rtti",
             "-fno-threadsafe-statics", "-fno-use-cxa-atexit"]
# newlib-nano; -u _printf_float: INFO's scales are printed with %g. nosys: newlib's stdio refers to
# file calls (_write, _close, ...) that snprintf into a buffer never makes; libnosys answers them
# ENOSYS. Its _sbrk is replaced by arm/cortex_m/syscalls.cpp's, bounded by the heap reservation.
ARM_LINK_FLAGS = ["-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs", "-u", "_printf_float", "-Wl,--gc-sections",
                  "-L", str(CPP / "arm" / "cortex_m")]
KIB = 1024


class BuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class Budget:
    """What a board has: flash for the image (text + data) and RAM (data + bss, heap and stack)."""

    flash: int
    ram: int


@dataclass(frozen=True)
class Target:
    name: str
    output: str
    compiler_env: str  # the variable naming the compiler, and its default
    compiler_default: str
    install: str  # how to get the compiler, for the error when it is missing
    sources: tuple[str, ...]  # relative to firmware/cpp; globs allowed
    flags: tuple[str, ...]
    link_flags: tuple[str, ...] = ()
    budget: Budget | None = None

    def source_files(self) -> list[Path]:
        files = []
        for pattern in self.sources:
            found = sorted(CPP.glob(pattern))
            if not found:
                raise BuildError(f"{self.name}: no source matches {pattern!r} in {CPP}")
            files += found
        return files

    def compiler(self) -> str:
        name = os.environ.get(self.compiler_env, self.compiler_default)
        path = shutil.which(name)
        if path is None:
            raise BuildError(f"the {self.name} firmware needs {name!r}, which is not on PATH; {self.install}")
        return path


CORE = ("src/core/*.cpp",)
EMULATED_MEDIA = ("src/hal/medium_description.cpp", "src/hal/medium_channel_hal.cpp", "src/hal/loopback_hal.cpp")
CORTEX_M = ("arm/cortex_m/*.cpp",)

TARGETS = {
    "host": Target(
        "host", "phyll-cpp-host", "CXX", "g++", "install g++ (Debian: apt-get install g++) or set CXX",
        CORE + EMULATED_MEDIA + ("host/*.cpp",), ("-O2", *FIRMWARE_FLAGS)),
    "mps2-an385": Target(
        "mps2-an385", "phyll-cpp-mps2-an385.elf", "ARM_CXX", "arm-none-eabi-g++",
        "install the Arm GNU toolchain (Debian: apt-get install gcc-arm-none-eabi)",
        CORE + EMULATED_MEDIA + CORTEX_M + ("arm/mps2/*.cpp",),
        ("-mcpu=cortex-m3", "-O2", *ARM_FLAGS, *FIRMWARE_FLAGS),
        (*ARM_LINK_FLAGS, "-T", str(CPP / "arm" / "mps2" / "mps2_an385.ld")),
        Budget(flash=4096 * KIB, ram=4096 * KIB)),
    "rp2040": Target(
        "rp2040", "phyll-cpp-rp2040.elf", "ARM_CXX", "arm-none-eabi-g++",
        "install the Arm GNU toolchain (Debian: apt-get install gcc-arm-none-eabi)",
        CORE + ("src/hal/metasurface_hal.cpp", "src/hal/adf4351.cpp") + CORTEX_M + ("arm/rp2040/*.cpp",),
        # As platformio.ini's env:pico: 4 reply slots; -Os as PlatformIO builds.
        ("-mcpu=cortex-m0plus", "-Os", "-DPHYLL_IN_FLIGHT=4", *ARM_FLAGS, *FIRMWARE_FLAGS),
        (*ARM_LINK_FLAGS, "-T", str(CPP / "arm" / "rp2040" / "rp2040.ld")),
        Budget(flash=2048 * KIB, ram=264 * KIB)),
}
ARM_TARGETS = tuple(name for name, target in TARGETS.items() if target.budget)


def cache_root(cache: Path | None = None) -> Path:
    if cache is None:
        if os.environ.get("PHYLL_CACHE_DIR"):
            cache = Path(os.environ["PHYLL_CACHE_DIR"])
        else:
            cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "phyll"
    return cache / "firmware-cpp"


def run(command: list[str]) -> str:
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        raise BuildError(f"failed: {shlex.join(command)}\n{result.stdout}")
    return result.stdout


def source_hash(target: Target, compiler: str, extra_flags: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for folder in SOURCE_DIRS:
        for path in sorted((CPP / folder).rglob("*")):
            if path.is_file() and path.suffix in (".cpp", ".h", ".ld"):
                digest.update(str(path.relative_to(CPP)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(Path(__file__).read_bytes())
    digest.update(run([compiler, "--version"]).encode())
    digest.update("\0".join((target.name, *target.flags, *target.link_flags, *extra_flags)).encode())
    return digest.hexdigest()[:16]


def build(name: str, cache: Path | None = None, extra_flags: tuple[str, ...] = ()) -> Path:
    """The built file of target `name`, from the cache when its sources are unchanged.

    extra_flags: more compiler flags (e.g. -DPHYLL_IN_FLIGHT=16); part of the hash."""
    if name not in TARGETS:
        raise BuildError(f"unknown firmware target {name!r}; the targets are {', '.join(TARGETS)}")
    target = TARGETS[name]
    compiler = target.compiler()
    root = cache_root(cache)
    final = root / f"{name}-{source_hash(target, compiler, extra_flags)}"
    if (final / target.output).is_file():
        return final / target.output
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        _compile_and_link(target, compiler, extra_flags, work)
        try:
            work.rename(final)
        except OSError:  # another process finished the same build first: use its copy
            if not (final / target.output).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final / target.output


def _compile_and_link(target: Target, compiler: str, extra_flags: tuple[str, ...], work: Path) -> None:
    flags = [*BASE_FLAGS, *target.flags, *extra_flags]
    sources = target.source_files()

    def compile_one(source: Path) -> str:
        obj = work / (str(source.relative_to(CPP)).replace("/", "_") + ".o")
        run([compiler, *flags, "-c", str(source), "-o", str(obj)])
        return str(obj)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objects = list(pool.map(compile_one, sources))
    output = work / target.output
    link = [compiler, *flags, *objects, *target.link_flags, "-o", str(output)]
    if target.budget is None:
        run(link)
        return
    link.insert(-2, f"-Wl,-Map={work / (target.output + '.map')}")
    try:
        run(link)
    except BuildError as exc:
        overflow = next((line for line in str(exc).splitlines() if "overflowed by" in line), None)
        if overflow:
            raise BuildError(f"{target.name}: the image outgrows the board ({overflow.split(': ', 1)[-1].strip()}; "
                             f"budget {target.budget.flash // KIB} KiB flash, {target.budget.ram // KIB} KiB RAM)") from None
        raise
    (work / "sizes.json").write_text(json.dumps(measure(target, output)))


def measure(target: Target, elf: Path) -> dict:
    """arm-none-eabi-size's Berkeley figures: flash = text + data (data's initial values live in
    flash), RAM = data + bss (bss includes the heap and stack reservations)."""
    size_tool = shutil.which(str(Path(target.compiler()).with_name("arm-none-eabi-size"))) or shutil.which("arm-none-eabi-size")
    if size_tool is None:
        raise BuildError("arm-none-eabi-size is not on PATH; install binutils-arm-none-eabi")
    text, data, bss = (int(v) for v in run([size_tool, "-B", str(elf)]).splitlines()[1].split()[:3])
    assert target.budget is not None
    return {"target": target.name, "text": text, "data": data, "bss": bss, "flash": text + data, "ram": data + bss,
            "flash_budget": target.budget.flash, "ram_budget": target.budget.ram}


def sizes(name: str, cache: Path | None = None, extra_flags: tuple[str, ...] = ()) -> dict:
    return json.loads((build(name, cache, extra_flags).parent / "sizes.json").read_text())


def size_table(rows: list[dict]) -> str:
    lines = [f"{'target':12s} {'flash':>10s} {'of':>10s} {'RAM':>10s} {'of':>10s}"]
    for s in rows:
        lines.append(f"{s['target']:12s} {s['flash']:>10,d} {s['flash_budget']:>10,d} {s['ram']:>10,d} "
                     f"{s['ram_budget']:>10,d}   ({100 * s['flash'] / s['flash_budget']:.1f} % flash, "
                     f"{100 * s['ram'] / s['ram_budget']:.1f} % RAM)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Build the C++ firmware's executables (cached by source hash).")
    parser.add_argument("targets", nargs="*", help=f"any of {', '.join(TARGETS)}")
    parser.add_argument("--cache", type=Path, help="cache folder (default $PHYLL_CACHE_DIR or ~/.cache/phyll)")
    parser.add_argument("--sizes", action="store_true", help="build the ARM targets and print flash and RAM against budgets")
    parser.add_argument("--json", action="store_true", help="with --sizes: one JSON list")
    options = parser.parse_args(argv)
    if not options.targets and not options.sizes:
        parser.error("name a target, or --sizes")
    try:
        for name in options.targets:
            print(build(name, options.cache))
        if options.sizes:
            rows = [sizes(name, options.cache) for name in ARM_TARGETS]
            print(json.dumps(rows) if options.json else size_table(rows))
    except BuildError as exc:
        print(f"targets.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
