"""Python dataclasses made from the C structs of ``lt.h``.

Each ``lt_<name>_t`` struct becomes a frozen dataclass ``<Name>`` with every
field of the struct except the ``struct_size`` / ``reserved`` header: text
arrays and string pointers become ``str``, byte arrays ``bytes``, numbers
stay numbers. Nothing here lists a field by hand, so a field the library
adds appears in Python with the next build.
"""

from __future__ import annotations

import ctypes
import dataclasses
from typing import Any

from ._native import Native

#: Fields every size-versioned struct starts with; they describe the copy, not the data.
HEADER_FIELDS = ("struct_size", "reserved")


def class_name(c_name: str) -> str:
    """``lt_torrent_status_t`` -> ``TorrentStatus``."""
    core = c_name.removeprefix("lt_").removesuffix("_t")
    return "".join(part.capitalize() for part in core.split("_"))


def _python_type(ctype: Any) -> type:
    if isinstance(ctype, type) and issubclass(ctype, ctypes.Array):
        return str if ctype._type_ is ctypes.c_char else bytes
    if ctype is ctypes.c_char_p:
        return str
    if ctype is ctypes.c_bool:
        return bool
    if ctype in (ctypes.c_double, ctypes.c_float):
        return float
    return int


def _convert(value: Any, ctype: Any) -> Any:
    if isinstance(ctype, type) and issubclass(ctype, ctypes.Array):
        if ctype._type_ is ctypes.c_char:
            return value.decode("utf-8", "replace")  # ctypes stops at the NUL
        return bytes(value)
    if ctype is ctypes.c_char_p:
        return None if value is None else value.decode("utf-8", "replace")
    return value


class Structs:
    """The dataclass for every struct of the header, and conversion from
    the filled ctypes struct."""

    def __init__(self, native: Native) -> None:
        self.native = native
        self.classes: dict[str, type] = {}
        for c_name, struct in native.structs.items():
            fields = [(f[0], _python_type(f[1])) for f in struct._fields_ if f[0] not in HEADER_FIELDS]
            doc = f"Python copy of the C struct ``{c_name}`` (see lt.h for each field's meaning)."
            cls = dataclasses.make_dataclass(
                class_name(c_name), fields, frozen=True, namespace={"__doc__": doc}
            )
            cls.__module__ = "lt"
            self.classes[c_name] = cls

    def new(self, c_name: str, count: int = 0) -> Any:
        """A zeroed C struct (or array of ``count``) with ``struct_size`` set."""
        struct = self.native.structs[c_name]
        if count:
            array = (struct * count)()
            for item in array:
                item.struct_size = ctypes.sizeof(struct)
            return array
        value = struct()
        value.struct_size = ctypes.sizeof(struct)
        return value

    def to_python(self, c_name: str, value: Any) -> Any:
        """The dataclass copy of a filled C struct."""
        struct = self.native.structs[c_name]
        args = {f[0]: _convert(getattr(value, f[0]), f[1]) for f in struct._fields_ if f[0] not in HEADER_FIELDS}
        return self.classes[c_name](**args)
