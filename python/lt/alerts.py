"""Alerts as Python objects.

Every ``LT_ALERT_*`` type of the header has a class here (``torrent_finished``
-> :class:`TorrentFinishedAlert`), all subclasses of :class:`Alert`. An
alert's payload is read through the C accessors the header declares
(``lt_alert_piece``, ``lt_alert_states``, ``lt_alert_stats`` ...): each
accessor that answers for the alert's type becomes an attribute, named
after the accessor (``alert.piece``) or, for accessors with several
outputs, after the outputs (``alert.prev`` and ``alert.state``). The set is
read from the header, not listed here, so a new accessor shows up with the
next build. The C alert is freed once the fields are copied.
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable

from ._header import CType, Param
from ._native import Native, borrowed_bytes, c_string, string
from ._structs import Structs

#: Accessors that every alert answers; they become Alert's fixed attributes.
_BASIC = {
    "lt_alert_free",
    "lt_alert_type",
    "lt_alert_type_name",
    "lt_alert_category",
    "lt_alert_message",
    "lt_alert_torrent",
    "lt_alert_timestamp_us",
}

#: Output lengths the header states only in words: lt_alert_dropped's
#: ``types_out`` has room for 2 words, lt_alert_info_hash writes 20 bytes.
_OUT_LENGTHS = {("lt_alert_dropped", "types_out"): 2, ("lt_alert_info_hash", "out"): 20}

#: Room for an endpoint; the header says 48 bytes always do.
_PEER_BUFFER = 64


class Alert:
    """One alert, copied out of the library.

    Attributes: ``type`` (the ``LT_ALERT_*`` number), ``type_name``
    (libtorrent's name without ``_alert``), ``category`` (``LT_ALERT_CATEGORY_*``
    bits), ``message``, ``torrent`` (the torrent id, 0 for session alerts),
    ``timestamp_us``, and the typed payload fields listed in ``fields``.
    """

    type: int
    type_name: str
    category: int
    message: str
    torrent: int
    timestamp_us: int

    def __init__(self, basic: dict[str, Any], fields: dict[str, Any]) -> None:
        self.__dict__.update(basic)
        self.__dict__.update(fields)
        self.fields = fields

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.fields.items() if k not in ("counters", "stats"))
        return f"<{type(self).__name__} torrent={self.torrent} message={self.message!r}{extra}>"


def _class_name(constant: str) -> str:
    core = constant.removeprefix("LT_ALERT_")
    return "".join(part.capitalize() for part in core.split("_")) + "Alert"


class _Accessor:
    """Reads one payload accessor's value(s) from an alert; built from the
    accessor's prototype."""

    def __init__(self, native: Native, structs: Structs, name: str, ret: CType, params: list[Param]):
        self.native = native
        self.structs = structs
        self.name = name
        self.suffix = name.removeprefix("lt_alert_")
        self.read = self._plan(ret, params[1:])

    def _plan(self, ret: CType, rest: list[Param]) -> Callable[[int], dict[str, Any] | None]:
        n = self.native
        f = n.fn(self.name)
        suffix = self.suffix
        if ret.base != "lt_error":
            # A direct result, NULL for other types (lt_alert_tracker_url).
            return lambda a: None if (v := f(a)) is None else {suffix: string(v)}
        names = [p.name for p in rest]
        wrong = n.constants["LT_ERROR_WRONG_ALERT_TYPE"]

        def checked(code: int) -> bool:
            if code == wrong:
                return False
            if code != 0:
                raise n.error(code)
            return True

        if names == ["buf", "cap"]:

            def read_text(a: int) -> dict[str, Any] | None:
                buf = ctypes.create_string_buffer(_PEER_BUFFER)
                return {suffix: string(buf.value)} if checked(f(a, buf, len(buf))) else None

            return read_text
        if len(rest) == 2 and rest[0].type.base in self.structs.native.structs and names[1] == "size":
            c_name = rest[0].type.base

            def read_struct(a: int) -> dict[str, Any] | None:
                value = self.structs.new(c_name)
                if not checked(f(a, ctypes.byref(value), ctypes.sizeof(value))):
                    return None
                return {suffix: self.structs.to_python(c_name, value)}

            return read_struct
        if names[1:] == ["elem_size", "cap", "count_out"] and rest[0].type.base in n.structs:
            c_name = rest[0].type.base

            def read_list(a: int) -> dict[str, Any] | None:
                count = ctypes.c_size_t()
                if not checked(f(a, None, ctypes.sizeof(n.structs[c_name]), 0, ctypes.byref(count))):
                    return None
                array = self.structs.new(c_name, count.value) if count.value else None
                if array is not None:
                    checked(f(a, array, ctypes.sizeof(n.structs[c_name]), count.value, ctypes.byref(count)))
                items = [] if array is None else array[: min(count.value, len(array))]
                return {suffix: [self.structs.to_python(c_name, item) for item in items]}

            return read_list
        if names[1:] == ["cap", "count_out"]:
            elem = n.ctype(CType(rest[0].type.base))

            def read_values(a: int) -> dict[str, Any] | None:
                count = ctypes.c_size_t()
                if not checked(f(a, None, 0, ctypes.byref(count))):
                    return None
                values = (elem * count.value)()
                checked(f(a, values, count.value, ctypes.byref(count)))
                return {suffix: list(values[: count.value])}

            return read_values
        if names == ["data_out", "len_out"]:

            def read_bytes(a: int) -> dict[str, Any] | None:
                data, length = ctypes.c_void_p(), ctypes.c_size_t()
                if not checked(f(a, ctypes.byref(data), ctypes.byref(length))):
                    return None
                return {suffix: borrowed_bytes(data, length.value)}

            return read_bytes
        # Otherwise: scalar or string outputs, one field each.
        outs: list[tuple[str, str, Any, int]] = []
        for p in rest:
            length = _OUT_LENGTHS.get((self.name, p.name))
            field = suffix if len(rest) == 1 else p.name.removesuffix("_out")
            if p.type.pointers == 2 and p.type.base == "char":
                outs.append((field, "str", ctypes.c_void_p, 1))
            elif p.type.pointers == 1 and p.type.base in ("uint8_t", "char") and length:
                outs.append((field, "bytes", ctypes.c_char, length))
            elif p.type.pointers == 1:
                outs.append((field, "int", n.ctype(CType(p.type.base)), length or 1))
            else:
                raise ValueError(f"{self.name}: parameter {p.name} is not an output")

        def read_outs(a: int) -> dict[str, Any] | None:
            buffers = [(ctype * count)() for (_, _, ctype, count) in outs]
            if not checked(f(a, *buffers)):
                return None
            result: dict[str, Any] = {}
            for (field, kind, _, count), buf in zip(outs, buffers):
                if kind == "str":
                    result[field] = c_string(ctypes.c_void_p(buf[0])) if buf[0] else None
                elif kind == "bytes":
                    result[field] = bytes(buf)
                else:
                    result[field] = buf[0] if count == 1 else list(buf)
            return result

        return read_outs


class AlertReader:
    """Turns C alerts into :class:`Alert` objects and frees them."""

    def __init__(self, native: Native, structs: Structs, classes: dict[int, type[Alert]]):
        self.native = native
        self.classes = classes
        self.accessors = [
            _Accessor(native, structs, name, ret, params)
            for name, (ret, params) in native.header.functions.items()
            if name.startswith("lt_alert_")
            and name not in _BASIC
            and params
            and params[0].type.base == "lt_alert_t"
            and native.has(name)
        ]
        # Per alert type: the accessors that answered for it (learnt from the first such alert).
        self._answering: dict[int, list[_Accessor]] = {}
        self._metric_names: list[str] | None = None

    def metric_names(self) -> list[str]:
        if self._metric_names is None:
            n = self.native
            names = []
            name, kind = ctypes.c_void_p(), ctypes.c_uint32()
            for i in range(n.fn("lt_stats_metric_count")()):
                n.call("lt_stats_metric", i, ctypes.byref(name), ctypes.byref(kind))
                names.append(c_string(name))
            self._metric_names = names
        return self._metric_names

    def take(self, pointer: int) -> Alert:
        """Copies the alert at ``pointer`` and frees it."""
        n = self.native
        try:
            kind = n.fn("lt_alert_type")(pointer)
            basic = {
                "type": kind,
                "type_name": string(n.fn("lt_alert_type_name")(kind)),
                "category": n.fn("lt_alert_category")(pointer),
                "message": string(n.fn("lt_alert_message")(pointer)),
                "torrent": n.fn("lt_alert_torrent")(pointer),
                "timestamp_us": n.fn("lt_alert_timestamp_us")(pointer),
            }
            fields: dict[str, Any] = {}
            known = self._answering.get(kind)
            answered = []
            for accessor in self.accessors if known is None else known:
                values = accessor.read(pointer)
                if values is not None:
                    fields.update(values)
                    answered.append(accessor)
            if known is None:
                self._answering[kind] = answered
            if "counters" in fields:
                fields["counters"] = dict(zip(self.metric_names(), fields["counters"]))
        finally:
            n.fn("lt_alert_free")(pointer)
        return self.classes.get(kind, Alert)(basic, fields)
