"""Builds the ``lt`` package: pure Python plus the liblt.so and lt.h that the
cargo build made, copied into ``lt/_native/``.

Where the library is taken from, first match wins:

1. ``LT_LIBRARY_PATH``: ``liblt.so`` or the directory holding it;
2. ``../target/release/liblt.so`` (``cargo build --release --lib``);
3. ``../target/debug/liblt.so`` (``cargo build --lib``).

The header is ``LT_HEADER_PATH`` or ``../include/lt.h``. When no library is
found the package installs without one and finds it at run time through
``LT_LIBRARY_PATH``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def library() -> Path | None:
    env = os.environ.get("LT_LIBRARY_PATH")
    if env:
        path = Path(env)
        path = path / "liblt.so" if path.is_dir() else path
        if not path.is_file():
            raise SystemExit(f"LT_LIBRARY_PATH={env!r}: no liblt.so there")
        return path
    for profile in ("release", "debug"):
        path = REPO / "target" / profile / "liblt.so"
        if path.is_file():
            return path
    return None


def header() -> Path | None:
    env = os.environ.get("LT_HEADER_PATH")
    path = Path(env) if env else REPO / "include" / "lt.h"
    return path if path.is_file() else None


class BuildWithLibrary(build_py):
    """Copies liblt.so and lt.h into the built package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "lt" / "_native"
        target.mkdir(parents=True, exist_ok=True)
        lib, head = library(), header()
        if lib is not None:
            print(f"lt: bundling {lib}")
            shutil.copyfile(lib, target / "liblt.so")
        else:
            print("lt: no liblt.so found; set LT_LIBRARY_PATH at run time")
        if head is not None:
            shutil.copyfile(head, target / "lt.h")


class BinaryDistribution(Distribution):
    """The wheel carries a native library: tag it for this platform."""

    def has_ext_modules(self) -> bool:
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
