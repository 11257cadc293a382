"""The ctypes layouts and constants the package reads from lt.h agree with
a C compiler's reading of the same header: every struct's size, every
field's offset, and every integer #define."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import lt

_native = lt._runtime.NATIVE


def test_structs_and_constants_match_the_c_compiler(tmp_path: Path) -> None:
    cc = shutil.which("cc")
    assert cc, "a C compiler is needed to check the layouts (.ci/run installs build-essential)"
    lines = ['#include <stdio.h>', '#include <stddef.h>', f'#include "{_native.header_path}"', "int main(void) {"]
    expected = []
    for name, struct in _native.structs.items():
        lines.append(f'printf("%zu\\n", sizeof({name}));')
        expected.append(ctypes.sizeof(struct))
        for field, _ in struct._fields_:
            lines.append(f'printf("%zu\\n", offsetof({name}, {field}));')
            expected.append(getattr(struct, field).offset)
    for name, value in _native.constants.items():
        lines.append(f'printf("%lld\\n", (long long)({name}));')
        expected.append(value)
    lines += ["return 0;", "}"]
    source = tmp_path / "layout.c"
    source.write_text("\n".join(lines))
    subprocess.run([cc, "-Wall", "-Werror", str(source), "-o", str(tmp_path / "layout")], check=True)
    out = subprocess.run([str(tmp_path / "layout")], check=True, capture_output=True, text=True).stdout
    assert [int(x) for x in out.split()] == expected
    assert len(_native.structs) >= 8 and len(_native.constants) >= 100


def test_every_header_function_binds() -> None:
    missing = [name for name in _native.header.functions if not hasattr(_native.lib, name)]
    assert missing == []
    for name in _native.header.functions:
        _native.fn(name)
    assert lt.abi_version() == lt.ABI_VERSION
    assert lt.version_number() == lt.VERSION_NUMBER
