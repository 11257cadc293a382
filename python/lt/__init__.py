"""lt: a BitTorrent engine (liblt.so), from Python.

Loaded with ctypes; no compiler is needed. Where the library is found is
described in ``lt._native`` (``LT_LIBRARY_PATH`` first, then the copy
bundled by ``pip install``). Constants of ``lt.h`` are attributes without
their ``LT_`` prefix (``lt.ADD_PAUSED``, ``lt.ALERT_CATEGORY_STATUS``,
``lt.ERROR_UNKNOWN_SETTING``); the C structs are dataclasses
(``lt.TorrentStatus``, ``lt.PeerInfo`` ...); alert types are classes
(``lt.TorrentFinishedAlert`` ...).
"""

from __future__ import annotations

from typing import Any

from . import _runtime
from ._native import LtError, c_string, live_objects, string
from ._structs import class_name
from .alerts import Alert
from .ip_filter import ImportResult, IpFilter, PortFilter
from .session import Session, Settings, TorrentHandle, set_log_callback
from .stats_snapshot import StatsSnapshot, iter_stats_snapshots, read_stats_snapshot
from .torrent_info import TorrentInfo, create_torrent

_n = _runtime.NATIVE

__all__ = [
    "Alert",
    "ImportResult",
    "IpFilter",
    "LtError",
    "PortFilter",
    "Session",
    "Settings",
    "StatsSnapshot",
    "TorrentHandle",
    "TorrentInfo",
    "abi_version",
    "alert_type_name",
    "create_torrent",
    "error_str",
    "iter_stats_snapshots",
    "live_objects",
    "metrics",
    "operation_name",
    "read_stats_snapshot",
    "set_log_callback",
    "version",
    "version_number",
]


def version() -> str:
    """The library's version string."""
    return string(_n.fn("lt_version")()) or ""


def version_number() -> int:
    """``(major << 16) | (minor << 8) | patch`` of the loaded library."""
    return _n.fn("lt_version_number")()


def abi_version() -> int:
    """The loaded library's ABI version (the soname's number)."""
    return _n.fn("lt_abi_version")()


def error_str(code: int) -> str:
    """``"LT_ERROR_X: description"`` for an error code."""
    return string(_n.fn("lt_error_str")(code)) or ""


def operation_name(op: int) -> str:
    """libtorrent's name of an ``LT_OPERATION_*`` number."""
    return string(_n.fn("lt_operation_name")(op)) or ""


def alert_type_name(alert_type: int) -> str:
    """libtorrent's name of an ``LT_ALERT_*`` type number."""
    return string(_n.fn("lt_alert_type_name")(alert_type)) or ""


def metrics() -> list[tuple[str, str]]:
    """Every metric of the catalogue: ``(name, "counter" | "gauge")``, by index."""
    import ctypes

    result = []
    name, kind = ctypes.c_void_p(), ctypes.c_uint32()
    for i in range(_n.fn("lt_stats_metric_count")()):
        _n.call("lt_stats_metric", i, ctypes.byref(name), ctypes.byref(kind))
        result.append((c_string(name), "gauge" if kind.value == _n.constants["LT_METRIC_GAUGE"] else "counter"))
    return result


# The header's constants (without "LT_"), struct dataclasses and alert classes.
for _name, _value in _n.constants.items():
    globals()[_name.removeprefix("LT_")] = _value
for _c_name, _cls in _runtime.STRUCTS.classes.items():
    globals()[class_name(_c_name)] = _cls
for _cls in _runtime.ALERT_CLASSES.values():
    globals()[_cls.__name__] = _cls


def __getattr__(name: str) -> Any:
    # Contract structs (TorrentFile, IpRange) exist only in a header that has them.
    raise AttributeError(f"module 'lt' has no attribute {name!r} (this liblt's header may not have it)")
