"""Finds and loads ``liblt.so`` and the ``lt.h`` it was built with, and
turns the header into ctypes: constants, ``ctypes.Structure`` classes and
typed function bindings.

Where the library comes from, first match wins:

1. ``LT_LIBRARY_PATH``: the path of ``liblt.so`` or of the directory that
   holds it (a cargo ``target/release`` or ``target/debug``).
2. The copy bundled into the package by ``pip install`` (``lt/_native/``).

The header comes from ``LT_HEADER_PATH`` when set; otherwise from beside the
library (``lt.h`` in its directory, or ``include/lt.h`` two levels up, where
a cargo ``target/<profile>`` directory sits in the source tree); otherwise
the bundled copy.

Functions are bound on first use, so the package imports against a library
that lacks some of them; calling one of those raises :class:`LtError` with
``LT_ERROR_NOT_SUPPORTED``.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Any, Callable

from . import _header

_PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_DIR = _PACKAGE_DIR / "_native"
LIBRARY_NAME = "liblt.so"
HEADER_NAME = "lt.h"


class LtError(Exception):
    """A call into liblt failed.

    ``code`` is the C ``lt_error`` value, ``name`` its ``LT_ERROR_*`` name and
    ``message`` the detailed message ``lt_last_error`` gave for the call.
    """

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(f"{name} ({code}): {message}")
        self.code = code
        self.name = name
        self.message = message


def find_library() -> Path:
    """The ``liblt.so`` to load, in the order the module docstring gives."""
    env = os.environ.get("LT_LIBRARY_PATH")
    if env:
        path = Path(env)
        if path.is_dir():
            path = path / LIBRARY_NAME
        if not path.is_file():
            raise OSError(f"LT_LIBRARY_PATH={env!r}: no {LIBRARY_NAME} there")
        return path.resolve()
    bundled = BUNDLED_DIR / LIBRARY_NAME
    if bundled.is_file():
        return bundled
    raise OSError(
        f"no {LIBRARY_NAME}: set LT_LIBRARY_PATH to the library (or its directory), "
        "or reinstall the package after `cargo build --release --lib`"
    )


def find_header(library: Path) -> Path:
    """The ``lt.h`` describing ``library``, in the order the module docstring gives."""
    env = os.environ.get("LT_HEADER_PATH")
    candidates = [Path(env)] if env else []
    candidates += [
        library.parent / HEADER_NAME,
        library.parent.parent.parent / "include" / HEADER_NAME,
        BUNDLED_DIR / HEADER_NAME,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise OSError(f"no {HEADER_NAME} for {library}: set LT_HEADER_PATH")


def _nullable(fn_type: Any) -> Any:
    """A function-pointer type that also takes None (a NULL pointer), as
    every callback parameter of the C API does."""

    class Nullable(fn_type):  # type: ignore[misc, valid-type]
        _flags_ = fn_type._flags_
        _argtypes_ = fn_type._argtypes_
        _restype_ = fn_type._restype_

        @classmethod
        def from_param(cls, obj: Any) -> Any:
            return None if obj is None else fn_type.from_param(obj)

    Nullable.__name__ = fn_type.__name__
    return Nullable


_SCALAR_CTYPES: dict[str, Any] = {
    name: getattr(ctypes, attr) for name, attr in _header.SCALARS.items() if attr != "void"
}
_BYTE_TYPES = {"char", "uint8_t", "int8_t"}


class Native:
    """The loaded library with its header: constants, struct classes and
    lazily bound functions."""

    def __init__(self, library: Path, header_path: Path) -> None:
        self.library_path = library
        self.header_path = header_path
        self.header = _header.parse(header_path.read_text(encoding="utf-8"))
        self.lib = ctypes.CDLL(str(library))
        self.constants = dict(self.header.constants)
        self.error_names = {
            v: k for k, v in self.constants.items() if k.startswith("LT_ERROR_") or k == "LT_OK"
        }
        self._fn_types: dict[Any, Any] = {}
        self.structs: dict[str, type[ctypes.Structure]] = {}
        for name, fields in self.header.structs.items():
            self.structs[name] = type(
                name,
                (ctypes.Structure,),
                {"_fields_": [(f.name, self.ctype(f.type, field=True)) for f in fields]},
            )
        self._bound: dict[str, Any] = {}
        self._lock = threading.Lock()

    def ctype(self, t: _header.CType, field: bool = False) -> Any:
        """The ctypes type for a header type. Byte pointers are ``c_char_p``
        (in-buffers, out-buffers and borrowed strings alike); pointers to
        pointers are ``POINTER(c_void_p)`` so that buffers the library hands
        out are read with an explicit length."""
        if t.func is not None:
            key = (t.func[0], t.func[1])
            if key not in self._fn_types:
                ret = None if t.func[0].base == "void" and t.func[0].pointers == 0 else self.ctype(t.func[0])
                self._fn_types[key] = _nullable(ctypes.CFUNCTYPE(ret, *(self.ctype(p) for p in t.func[1])))
            return self._fn_types[key]
        base = t.base
        if base in self.header.typedefs and t.pointers == 0 and t.array is None:
            return self.ctype(self.header.typedefs[base])
        if base in self.header.typedefs:
            target = self.header.typedefs[base]
            base = target.base
        if t.array is not None:
            if t.pointers:
                raise _header.HeaderError(f"array of pointers: {t}")
            if field:
                return _SCALAR_CTYPES[base] * t.array
            return ctypes.c_char_p if base in _BYTE_TYPES else ctypes.POINTER(_SCALAR_CTYPES[base])
        if t.pointers == 0:
            if base == "void":
                return None
            return _SCALAR_CTYPES[base]
        if t.pointers >= 2:
            return ctypes.POINTER(ctypes.c_void_p)
        if base in _BYTE_TYPES:
            return ctypes.c_char_p
        if base == "void" or base in self.header.opaque:
            return ctypes.c_void_p
        if base in self.structs:
            return ctypes.POINTER(self.structs[base])
        if base in self.header.structs:
            raise _header.HeaderError(f"struct {base} used before it is declared")
        if base in _SCALAR_CTYPES:
            return ctypes.POINTER(_SCALAR_CTYPES[base])
        # An opaque type the header declares later or only by name.
        return ctypes.c_void_p

    def has(self, name: str) -> bool:
        """Whether both the header and the library have function ``name``."""
        return name in self.header.functions and hasattr(self.lib, name)

    def fn(self, name: str) -> Any:
        """The bound ctypes function ``name``, with argument and result
        types from the header; ``LT_ERROR_NOT_SUPPORTED`` when the header or
        the library does not have it."""
        bound = self._bound.get(name)
        if bound is not None:
            return bound
        with self._lock:
            if name not in self.header.functions or not hasattr(self.lib, name):
                where = "header" if name not in self.header.functions else "library"
                raise self.error_not_supported(f"this liblt's {where} has no {name} ({self.library_path})")
            ret, params = self.header.functions[name]
            f = getattr(self.lib, name)
            f.restype = None if ret.base == "void" and ret.pointers == 0 else self.ctype(ret)
            f.argtypes = [self.ctype(p.type) for p in params]
            self._bound[name] = f
            return f

    def returns_error(self, name: str) -> bool:
        """Whether function ``name`` returns an ``lt_error``."""
        return self.header.functions[name][0].base == "lt_error"

    def call(self, name: str, *args: Any) -> Any:
        """Calls ``name``; for a function returning ``lt_error``, raises
        :class:`LtError` (with ``lt_last_error``'s message) unless it is ``LT_OK``."""
        result = self.fn(name)(*args)
        if self.returns_error(name) and result != 0:
            raise self.error(result)
        return result

    def error(self, code: int) -> LtError:
        """The exception for ``code``, with this thread's last error message."""
        size = self.fn("lt_last_error")(None, 0)
        buf = ctypes.create_string_buffer(size + 1)
        self.fn("lt_last_error")(buf, size + 1)
        message = buf.value.decode("utf-8", "replace")
        if not message:
            message = (self.fn("lt_error_str")(code) or b"").decode("utf-8", "replace")
        return LtError(code, self.error_names.get(code, "unknown error code"), message)

    def error_not_supported(self, message: str) -> LtError:
        """The exception for a function or struct this build of liblt lacks."""
        code = self.constants["LT_ERROR_NOT_SUPPORTED"]
        return LtError(code, "LT_ERROR_NOT_SUPPORTED", message)

    def callback_type(self, function: str, param: str) -> Any:
        """The CFUNCTYPE of function-pointer parameter ``param`` of ``function``."""
        self.fn(function)
        for p in self.header.functions[function][1]:
            if p.name == param:
                return self.ctype(p.type)
        raise _header.HeaderError(f"{function} has no parameter {param}")


def string(value: bytes | None) -> str | None:
    """A C string as Python text (None stays None)."""
    return None if value is None else value.decode("utf-8", "replace")


def c_string(pointer: ctypes.c_void_p) -> str:
    """The NUL-terminated UTF-8 string a ``const char **`` output points at."""
    if not pointer.value:
        raise ValueError("the library returned a NULL string")
    return ctypes.string_at(pointer.value).decode("utf-8", "replace")


def borrowed_bytes(data: ctypes.c_void_p, length: int) -> bytes:
    """A copy of ``length`` bytes the library lent (owned by one of its objects)."""
    return ctypes.string_at(data.value, length) if data.value and length else b""


def taken_buffer(native: Native, data: ctypes.c_void_p, length: int) -> bytes:
    """Copies a buffer the library handed out and frees it with ``lt_free``."""
    try:
        return borrowed_bytes(data, length)
    finally:
        native.fn("lt_free")(data)


_native: Native | None = None
_native_lock = threading.Lock()


def native() -> Native:
    """The process's loaded library (loaded on first use)."""
    global _native
    if _native is None:
        with _native_lock:
            if _native is None:
                library = find_library()
                _native = Native(library, find_header(library))
    return _native


class Counter:
    """Counts live native objects of each kind, so tests (and users
    chasing a leak) can see that every object was freed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, int] = {}

    def add(self, kind: str) -> None:
        with self._lock:
            self._live[kind] = self._live.get(kind, 0) + 1

    def remove(self, kind: str) -> None:
        with self._lock:
            self._live[kind] -= 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in self._live.items() if v}


live_objects = Counter()


def freer(kind: str, free_name: str) -> Callable[[int], None]:
    """A function that frees one native object of ``kind`` with
    ``free_name`` and counts it; for ``weakref.finalize``, so it holds no
    reference to the Python wrapper."""

    def free(pointer: int) -> None:
        native().fn(free_name)(pointer)
        live_objects.remove(kind)

    return free
