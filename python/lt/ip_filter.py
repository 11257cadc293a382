"""IP and port filters (``lt_ip_filter_t``, ``lt_port_filter_t``), libtorrent's model:
rules over address (or port) ranges with access flags, later rules winning
where they overlap."""

from __future__ import annotations

import ctypes
import os
import weakref
from dataclasses import dataclass, field
from typing import Any

from . import _runtime
from ._native import freer, live_objects, string
from .session import _c, _read_list

_n = _runtime.NATIVE
_structs = _runtime.STRUCTS

#: ``format=`` names for :meth:`IpFilter.import_blocklist`, to the ``LT_BLOCKLIST_*`` constants.
BLOCKLIST_FORMATS = {"auto": "LT_BLOCKLIST_AUTO", "p2p": "LT_BLOCKLIST_P2P", "dat": "LT_BLOCKLIST_DAT"}

@dataclass
class ImportResult:
    """What :meth:`IpFilter.import_blocklist` did: rules added, lines
    rejected, and ``(line_number, message)`` for every bad line."""

    added: int
    rejected: int
    errors: list[tuple[int, str]] = field(default_factory=list)

class IpFilter:
    """An IP filter (libtorrent's ``ip_filter``). ``add_rule(first, last,
    lt.IP_FILTER_BLOCKED)`` blocks a range (IPv4 or IPv6), flags 0 allows it;
    ``access(ip)`` gives the flags for one address. Apply it with
    :meth:`lt.Session.set_ip_filter`, which copies it."""

    def __init__(self, *, _pointer: int | None = None) -> None:
        if _pointer is None:
            _pointer = _n.fn("lt_ip_filter_new")()
            if not _pointer:
                raise MemoryError("lt_ip_filter_new failed")
        live_objects.add("ip_filter")
        self._pointer: int | None = _pointer
        self._finalizer = weakref.finalize(self, freer("ip_filter", "lt_ip_filter_free"), _pointer)

    @property
    def pointer(self) -> int:
        if self._pointer is None:
            raise ValueError("the IP filter is closed")
        return self._pointer

    def close(self) -> None:
        self._pointer = None
        self._finalizer()

    def __enter__(self) -> IpFilter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_rule(self, first: str, last: str, flags: int) -> None:
        """Gives every address from ``first`` to ``last`` (inclusive) ``flags``."""
        _n.call("lt_ip_filter_add_rule", self.pointer, _c(first), _c(last), flags)

    def remove_rule(self, first: str, last: str) -> None:
        """Removes the rule added for exactly this range (``LT_ERROR_NOT_FOUND`` if none)."""
        _n.call("lt_ip_filter_remove_rule", self.pointer, _c(first), _c(last))

    def access(self, ip: str) -> int:
        """The flags for ``ip`` (``lt.IP_FILTER_BLOCKED`` or 0)."""
        flags = ctypes.c_uint32()
        _n.call("lt_ip_filter_access", self.pointer, _c(ip), ctypes.byref(flags))
        return flags.value

    def is_allowed(self, ip: str) -> bool:
        """Whether ``ip`` is not blocked."""
        return not self.access(ip) & _n.constants["LT_IP_FILTER_BLOCKED"]

    def export(self) -> list[Any]:
        """The resulting ranges (:class:`lt.IpRange`: first, last, flags), in address order."""
        _runtime.struct_class("lt_ip_range_t")
        return _read_list(_n.fn("lt_ip_filter_export"), "lt_ip_range_t", self.pointer)

    def import_blocklist(self, source: bytes | str | os.PathLike[str], format: str = "auto") -> ImportResult:
        """Adds the blocking rules of a blocklist: ``bytes`` are its contents,
        a ``str`` or path names a file. ``format`` is ``"p2p"`` (``name:first-last``),
        ``"dat"`` (eMule ``ipfilter.dat``) or ``"auto"``. Bad lines are
        reported in the result, not guessed at."""
        if format not in BLOCKLIST_FORMATS:
            raise ValueError(f"format must be one of {sorted(BLOCKLIST_FORMATS)}, not {format!r}")
        errors: list[tuple[int, str]] = []

        def on_error(_user: int | None, line: int, message: bytes | None) -> None:
            errors.append((line, string(message) or ""))

        added, rejected = ctypes.c_size_t(), ctypes.c_size_t()
        fmt = _n.constants[BLOCKLIST_FORMATS[format]]
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            c_on_error = _n.callback_type("lt_ip_filter_import", "on_error")(on_error)
            _n.call(
                "lt_ip_filter_import", self.pointer, data, len(data), fmt, c_on_error, None,
                ctypes.byref(added), ctypes.byref(rejected),
            )
        else:
            c_on_error = _n.callback_type("lt_ip_filter_import_file", "on_error")(on_error)
            _n.call(
                "lt_ip_filter_import_file", self.pointer, _c(source), fmt, c_on_error, None,
                ctypes.byref(added), ctypes.byref(rejected),
            )
        return ImportResult(added.value, rejected.value, errors)

class PortFilter:
    """A port filter (libtorrent's ``port_filter``): which remote ports
    lt does not dial. Apply it with :meth:`lt.Session.set_port_filter`."""

    def __init__(self) -> None:
        pointer = _n.fn("lt_port_filter_new")()
        if not pointer:
            raise MemoryError("lt_port_filter_new failed")
        live_objects.add("port_filter")
        self._pointer: int | None = pointer
        self._finalizer = weakref.finalize(self, freer("port_filter", "lt_port_filter_free"), pointer)

    @property
    def pointer(self) -> int:
        if self._pointer is None:
            raise ValueError("the port filter is closed")
        return self._pointer

    def close(self) -> None:
        self._pointer = None
        self._finalizer()

    def __enter__(self) -> PortFilter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_rule(self, first: int, last: int, flags: int) -> None:
        _n.call("lt_port_filter_add_rule", self.pointer, first, last, flags)

    def access(self, port: int) -> int:
        flags = ctypes.c_uint32()
        _n.call("lt_port_filter_access", self.pointer, port, ctypes.byref(flags))
        return flags.value

