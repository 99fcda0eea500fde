"""Host-side build and checks of the C++ firmware with the system g++ (no PlatformIO needed).

    python3 firmware/cpp/test/build.py [--out DIR] [--no-sanitize] [--run] [FILTER]

1. generates DIR/generated/protocol_vectors.h from docs/protocol-vectors.json;
2. builds DIR/phyll_cpp_tests: the portable core and HAL (src/core, src/hal) and the host
   build's link (host/posix_stdio_link) with -std=c++17 -Wall -Wextra -Werror plus stricter
   warnings, optimised (some warnings only appear then), and the harness (test/*.cpp)
   unoptimised (it compiles 3x faster), all with
   AddressSanitizer + UndefinedBehaviorSanitizer unless --no-sanitize or the compiler has no
   sanitizer runtime (then it says so and builds without);
3. builds DIR/phyll-cpp-host, the protocol on stdin/stdout with a linear test medium or the
   emulator's medium channel (host/), under the same sanitizers (the emulator's own copy is
   targets.py's, optimised and cached);
4. compiles src/main.cpp (the Arduino entry) once per board with -fsyntax-only against
   test/arduino_api/, declarations of the Arduino calls the board code makes: it catches C++
   errors in the board code, not differences between real cores (no PlatformIO here);
5. with --run, runs the harness (tests whose name contains FILTER) and exits with its status.

DIR defaults to firmware/cpp/build (git-ignored). Needs g++ (or CXX) and Python 3.8+.
"""
from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CPP = Path(__file__).resolve().parents[1]
REPO = CPP.parents[1]
VECTORS = REPO / "docs" / "protocol-vectors.json"
BOARDS = ("PHYLL_BOARD_ESP32_DEVKITC", "PHYLL_BOARD_RP2_PICO")
HOST_LINK = CPP / "host" / "posix_stdio_link.cpp"

sys.path.insert(0, str(CPP))
from targets import BASE_FLAGS, FIRMWARE_FLAGS  # noqa: E402  (the flags every firmware build shares)

SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


class BuildError(RuntimeError):
    pass


def compiler() -> str:
    name = os.environ.get("CXX", "g++")
    path = shutil.which(name)
    if path is None:
        raise BuildError(f"no C++ compiler {name!r} on PATH (install g++ or set CXX)")
    return path


def run(command: list[str]) -> None:
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        raise BuildError(f"failed: {shlex.join(command)}\n{result.stdout}")


def firmware_sources() -> list[Path]:
    return sorted((CPP / "src" / "core").glob("*.cpp")) + sorted((CPP / "src" / "hal").glob("*.cpp"))


def build_objects(cxx: str, jobs: list[tuple[Path, list[str]]], objects: Path, flags: list[str]) -> list[Path]:
    """Compile each (source, extra flags) to objects/ in parallel; return the object paths."""
    objects.mkdir(parents=True, exist_ok=True)

    def compile_one(job: tuple[Path, list[str]]) -> Path:
        source, extra = job
        target = objects / (source.parent.name + "_" + source.stem + ".o")
        run([cxx, *flags, *extra, "-c", str(source), "-o", str(target)])
        return target

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(compile_one, jobs))


def sanitizers_work(cxx: str, out: Path) -> bool:
    probe = out / "sanitizer_probe.cpp"
    probe.write_text("int main() { return 0; }\n")
    result = subprocess.run([cxx, *SANITIZE_FLAGS, str(probe), "-o", str(out / "sanitizer_probe")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return result.returncode == 0


def build(out: Path, sanitize: bool) -> tuple[Path, Path]:
    cxx = compiler()
    generated = out / "generated"
    generated.mkdir(parents=True, exist_ok=True)
    run([sys.executable, str(CPP / "test" / "gen_vectors.py"), str(VECTORS), str(generated / "protocol_vectors.h")])
    if sanitize and not sanitizers_work(cxx, out):
        print(f"build.py: {cxx} cannot link -fsanitize=address,undefined (libasan/libubsan missing?); "
              "building without sanitizers")
        sanitize = False
    flags = BASE_FLAGS + (SANITIZE_FLAGS if sanitize else [])
    optimised = ["-O1" if sanitize else "-O2", *FIRMWARE_FLAGS]
    firmware = [(source, optimised) for source in firmware_sources()]
    harness = [(source, ["-O0", "-I", str(generated), "-I", str(CPP / "test")])
               for source in sorted((CPP / "test").glob("*.cpp"))]
    host = [(source, optimised) for source in sorted((CPP / "host").glob("*.cpp"))]
    objects = build_objects(cxx, firmware + harness + host, out / "objects", flags)
    built = {source: target for (source, _), target in zip(firmware + harness + host, objects)}
    tests = out / "phyll_cpp_tests"
    # the harness also checks the host build's link on real pipes
    run([cxx, *flags, *(str(built[s]) for s, _ in firmware + harness), str(built[HOST_LINK]), "-o", str(tests)])
    host_exe = out / "phyll-cpp-host"
    run([cxx, *flags, *(str(built[s]) for s, _ in firmware + host), "-o", str(host_exe)])
    for board in BOARDS:
        run([cxx, *BASE_FLAGS, *FIRMWARE_FLAGS, "-fsyntax-only", f"-D{board}", "-I", str(CPP / "test" / "arduino_api"),
             "-I", str(CPP / "src"), str(CPP / "src" / "main.cpp")])
    return tests, host_exe


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Host-side build and checks of the C++ firmware with g++.")
    parser.add_argument("--out", type=Path, default=CPP / "build")
    parser.add_argument("--no-sanitize", dest="sanitize", action="store_false")
    parser.add_argument("--run", action="store_true")
    parser.add_argument("filter", nargs="?", default="")
    options = parser.parse_args(argv)
    try:
        tests, host_exe = build(options.out.resolve(), options.sanitize)
    except BuildError as exc:
        print(f"build.py: {exc}", file=sys.stderr)
        return 1
    print(f"built {tests} and {host_exe}")
    if not options.run:
        return 0
    return subprocess.run([str(tests), *([options.filter] if options.filter else [])]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
