"""Sessions, settings and torrent handles."""

from __future__ import annotations

import ctypes
import json
import os
import threading
import weakref
from typing import Any, Callable, Iterable, Literal, Mapping, Union, cast, overload

from . import _runtime
from ._native import freer, live_objects, string, taken_buffer
from .alerts import Alert

_n = _runtime.NATIVE
_structs = _runtime.STRUCTS

SettingValue = Union[bool, int, str]
PathLike = Union[str, "os.PathLike[str]"]


def _c(text: str | os.PathLike[str]) -> bytes:
    """A string argument as NUL-terminated UTF-8; a NUL inside is an error, not a truncation."""
    data = os.fsencode(text) if isinstance(text, os.PathLike) else text.encode("utf-8")
    if b"\0" in data:
        raise ValueError(f"{text!r} contains a NUL character")
    return data


class Settings:
    """A set of session settings (``lt_settings_t``), by libtorrent's names.

    ``Settings({"enable_dht": False, "listen_interfaces": "127.0.0.1:0"})``;
    a ``bool`` goes to ``lt_settings_set_bool``, an ``int`` to
    ``lt_settings_set_int``, a ``str`` to ``lt_settings_set_str``. An
    unknown name or a value of the wrong type for the setting raises
    :class:`lt.LtError` (``LT_ERROR_UNKNOWN_SETTING``, ``LT_ERROR_INVALID_ARG``);
    a value of another Python type raises ``TypeError``.
    """

    def __init__(self, values: Mapping[str, SettingValue] | None = None, *, _pointer: int | None = None):
        pointer = _n.fn("lt_settings_new")() if _pointer is None else _pointer
        if not pointer:
            raise MemoryError("lt_settings_new failed")
        live_objects.add("settings")
        self._pointer: int | None = pointer
        self._finalizer = weakref.finalize(self, freer("settings", "lt_settings_free"), pointer)
        for name, value in (values or {}).items():
            self.set(name, value)

    @property
    def pointer(self) -> int:
        if self._pointer is None:
            raise ValueError("the settings are closed")
        return self._pointer

    def set(self, name: str, value: SettingValue) -> None:
        """Sets one setting; the C function is chosen by the value's type."""
        if isinstance(value, bool):
            _n.call("lt_settings_set_bool", self.pointer, _c(name), value)
        elif isinstance(value, int):
            _n.call("lt_settings_set_int", self.pointer, _c(name), value)
        elif isinstance(value, str):
            _n.call("lt_settings_set_str", self.pointer, _c(name), _c(value))
        else:
            raise TypeError(f"setting {name!r}: {type(value).__name__} is not bool, int or str")

    def load_state(self, state: bytes) -> None:
        """Applies the settings of a ``Session.save_state()`` blob."""
        _n.call("lt_settings_load_state", self.pointer, state, len(state))

    def close(self) -> None:
        """Frees the C settings now (also done at garbage collection)."""
        self._pointer = None
        self._finalizer()

    def __enter__(self) -> Settings:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _settings_arg(settings: Mapping[str, SettingValue] | Settings | None) -> tuple[Settings | None, bool]:
    """The Settings to pass, and whether it was made here (and is closed after the call)."""
    if settings is None or isinstance(settings, Settings):
        return settings, False
    return Settings(settings), True


def _free_session(pointer: int, keep: dict[str, Any]) -> None:
    """Frees a session; its notify callback is removed first, so the
    library never calls into a callback object being collected."""
    if "notify" in keep:
        _n.fn("lt_set_alert_notify")(pointer, None, None)
    _n.fn("lt_session_free")(pointer)
    keep.clear()
    live_objects.remove("session")


class Session:
    """A BitTorrent session (``lt_session_t``), libtorrent's ``session``.

    ``Session(settings)`` takes a dict of settings by libtorrent name (or a
    :class:`Settings`). Use it as a context manager, or call :meth:`close`;
    a session that is garbage collected is freed too. ``close`` is an
    orderly shutdown (trackers are told "stopped", with a bounded wait).
    Every method may be called from any thread, except that ``close`` must
    not race with another call on the same session (as ``lt_session_free``).
    """

    def __init__(self, settings: Mapping[str, SettingValue] | Settings | None = None) -> None:
        made, owned = _settings_arg(settings)
        out = ctypes.c_void_p()
        try:
            _n.call("lt_session_new", made.pointer if made else None, ctypes.byref(out))
        finally:
            if owned and made is not None:
                made.close()
        if not out.value:
            raise MemoryError("lt_session_new returned no session")
        live_objects.add("session")
        self._pointer: int | None = out.value
        # Objects the library holds pointers to (callbacks) live here until the session is freed.
        self._keep: dict[str, Any] = {}
        self._finalizer = weakref.finalize(self, _free_session, out.value, self._keep)

    # -- lifetime -------------------------------------------------------

    @property
    def pointer(self) -> int:
        """The ``lt_session_t *``; ValueError once closed."""
        if self._pointer is None:
            raise ValueError("the session is closed")
        return self._pointer

    @property
    def closed(self) -> bool:
        return self._pointer is None

    def close(self) -> None:
        """Frees the session now. Idempotent."""
        self._pointer = None
        self._finalizer()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- settings and state --------------------------------------------

    def apply_settings(self, settings: Mapping[str, SettingValue] | Settings) -> None:
        """Changes settings of the running session. A dict changes only the
        settings it names (the others keep their current values); a
        :class:`Settings` is applied whole."""
        if isinstance(settings, Settings):
            _n.call("lt_session_apply_settings", self.pointer, settings.pointer)
            return
        with self.get_settings() as current:
            for name, value in settings.items():
                current.set(name, value)
            _n.call("lt_session_apply_settings", self.pointer, current.pointer)

    def get_settings(self) -> Settings:
        """A copy of the session's current settings, to apply elsewhere."""
        out = ctypes.c_void_p()
        _n.call("lt_session_get_settings", self.pointer, ctypes.byref(out))
        return Settings(_pointer=out.value)

    def save_state(self) -> bytes:
        """The session's state (settings) as bytes for :meth:`Settings.load_state`."""
        data, length = ctypes.c_void_p(), ctypes.c_size_t()
        _n.call("lt_session_save_state", self.pointer, ctypes.byref(data), ctypes.byref(length))
        return taken_buffer(_n, data, length.value)

    def listen_port(self) -> int:
        """The port the session listens on (the first interface's)."""
        port = ctypes.c_uint16()
        _n.call("lt_session_listen_port", self.pointer, ctypes.byref(port))
        return port.value

    def pause(self) -> None:
        """Pauses every torrent, without changing their own paused flags."""
        _n.call("lt_session_pause", self.pointer)

    def resume(self) -> None:
        """Undoes :meth:`pause`."""
        _n.call("lt_session_resume", self.pointer)

    # -- torrents --------------------------------------------------------

    def add_torrent(
        self,
        source: Any,
        save_path: PathLike,
        *,
        flags: int = 0,
        peers: Iterable[str] = (),
        trackers: Iterable[str | tuple[str, int]] = (),
        resume_data: bytes | None = None,
        file_priorities: Iterable[int] | None = None,
    ) -> TorrentHandle:
        """Adds a torrent and returns its handle.

        ``source`` is a :class:`lt.TorrentInfo`, the bytes of a .torrent
        file, a magnet link (a ``str`` starting with ``magnet:``) or the path
        of a .torrent file. ``flags`` are ``LT_ADD_*`` bits (``lt.ADD_PAUSED``
        ...); ``peers`` are ``"ip:port"`` strings to dial; ``trackers`` URLs
        or ``(url, tier)`` pairs.
        """
        from .torrent_info import TorrentInfo

        params = _n.fn("lt_params_new")()
        if not params:
            raise MemoryError("lt_params_new failed")
        try:
            if isinstance(source, TorrentInfo):
                _n.call("lt_params_set_torrent_info", params, source.pointer)
            elif isinstance(source, (bytes, bytearray, memoryview)):
                data = bytes(source)
                _n.call("lt_params_set_torrent_data", params, data, len(data))
            elif isinstance(source, str) and source.startswith("magnet:"):
                _n.call("lt_params_set_magnet", params, _c(source))
            elif isinstance(source, (str, os.PathLike)):
                _n.call("lt_params_set_torrent_file", params, _c(source))
            else:
                raise TypeError(f"cannot add a torrent from {type(source).__name__}")
            _n.call("lt_params_set_save_path", params, _c(save_path))
            if flags:
                _n.call("lt_params_set_flags", params, flags)
            for peer in peers:
                _n.call("lt_params_add_peer", params, _c(peer))
            for tracker in trackers:
                url, tier = (tracker, 0) if isinstance(tracker, str) else tracker
                _n.call("lt_params_add_tracker", params, _c(url), tier)
            if resume_data is not None:
                _n.call("lt_params_set_resume_data", params, resume_data, len(resume_data))
            if file_priorities is not None:
                prios = bytes(file_priorities)
                _n.call("lt_params_set_file_priorities", params, prios, len(prios))
            torrent_id = ctypes.c_uint64()
            _n.call("lt_add_torrent", self.pointer, params, ctypes.byref(torrent_id))
        finally:
            _n.fn("lt_params_free")(params)
        return TorrentHandle(self, torrent_id.value)

    def remove_torrent(self, handle: TorrentHandle | int, delete_files: bool = False) -> None:
        """Removes a torrent (``LT_REMOVE_DELETE_FILES`` when ``delete_files``)."""
        torrent_id = handle.id if isinstance(handle, TorrentHandle) else handle
        flags = _n.constants["LT_REMOVE_DELETE_FILES"] if delete_files else 0
        _n.call("lt_remove_torrent", self.pointer, torrent_id, flags)

    def torrents(self) -> list[TorrentHandle]:
        """Handles of every torrent in the session."""
        count = ctypes.c_size_t()
        while True:
            ids = (ctypes.c_uint64 * max(count.value, 1))()
            cap = len(ids)
            _n.call("lt_session_torrents", self.pointer, ids, cap, ctypes.byref(count))
            if count.value <= cap:
                return [TorrentHandle(self, i) for i in ids[: count.value]]

    def post_torrent_updates(self) -> None:
        """Asks for a ``state_update`` alert with the statuses that changed."""
        _n.call("lt_post_torrent_updates", self.pointer)

    # -- alerts ------------------------------------------------------------

    def pop_alert(self) -> Alert | None:
        """The next alert, or None when the queue is empty."""
        pointer = _n.fn("lt_pop_alert")(self.pointer)
        return _runtime.READER.take(pointer) if pointer else None

    def pop_alerts(self, max_alerts: int = 1024) -> list[Alert]:
        """Every queued alert (up to ``max_alerts``), without waiting."""
        out = (ctypes.c_void_p * max_alerts)()
        count = _n.fn("lt_pop_alerts")(self.pointer, out, max_alerts)
        alerts = []
        try:
            for i in range(count):
                alerts.append(_runtime.READER.take(cast(int, out[i])))
        finally:
            # Should copying one fail, the alerts after it are still freed.
            for i in range(len(alerts) + 1, count):
                _n.fn("lt_alert_free")(out[i])
        return alerts

    def wait_for_alert(self, timeout: float) -> Alert | None:
        """Waits up to ``timeout`` seconds for an alert and pops it; None on time-out."""
        millis = max(0, min(int(timeout * 1000), 2**31 - 1))
        pointer = _n.fn("lt_wait_for_alert")(self.pointer, millis)
        return _runtime.READER.take(pointer) if pointer else None

    def set_alert_notify(self, callback: Callable[[], None] | None) -> None:
        """Calls ``callback()`` (on a library thread) when the alert queue
        goes from empty to not empty; it should only wake the application's
        thread (for example ``threading.Event.set``). None removes it.
        Exceptions it raises are printed and dropped: they cannot cross into
        the library."""
        if callback is None:
            _n.call("lt_set_alert_notify", self.pointer, None, None)
            return
        notify_type = _n.callback_type("lt_set_alert_notify", "fn_")
        notify = callback

        def trampoline(_user: int | None) -> None:
            notify()

        c_callback = notify_type(trampoline)
        # Kept (with any it replaces, which a library thread may still be
        # running) until the session is freed.
        self._keep.setdefault("notify", []).append(c_callback)
        _n.call("lt_set_alert_notify", self.pointer, c_callback, None)

    # -- statistics --------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Every metric of the catalogue, by its name (``"net.recv_bytes"``),
        as of now (no round trip through the alert queue)."""
        return json.loads(self.stats_export("json"))["session"]

    def stats_summary(self) -> Any:
        """``lt_session_stats``: the :class:`lt.Stats` dataclass (rates, totals, counts)."""
        value = _structs.new("lt_stats_t")
        _n.call("lt_session_stats", self.pointer, ctypes.byref(value), ctypes.sizeof(value))
        return _structs.to_python("lt_stats_t", value)

    def post_session_stats(self) -> None:
        """Asks for a ``session_stats`` alert, which carries ``counters``
        (every metric by name) and ``stats`` (:class:`lt.Stats`)."""
        _n.call("lt_post_session_stats", self.pointer)

    def post_dht_stats(self) -> None:
        """Asks for a ``dht_stats`` alert (routing table buckets and lookups)."""
        _n.call("lt_session_post_dht_stats", self.pointer)

    @overload
    def stats_export(self, format: Literal["binary"]) -> bytes: ...

    @overload
    def stats_export(self, format: str = "json") -> str: ...

    def stats_export(self, format: str = "json") -> str | bytes:
        """The session's statistics as ``"json"``, ``"csv"`` or ``"prometheus"``
        text, or as the ``"binary"`` snapshot's bytes (decode them with
        :func:`lt.read_stats_snapshot`)."""
        constant = f"LT_STATS_{format.upper()}"
        if constant not in _n.constants:
            raise ValueError(f"unknown stats format {format!r}")
        data, length = ctypes.c_void_p(), ctypes.c_size_t()
        _n.call("lt_session_stats_export", self.pointer, _n.constants[constant], ctypes.byref(data), ctypes.byref(length))
        exported = taken_buffer(_n, data, length.value)
        return exported if constant == "LT_STATS_BINARY" else exported.decode("utf-8")

    def stats_port(self) -> int:
        """The port of the ``stats_listen`` HTTP endpoint."""
        port = ctypes.c_uint16()
        _n.call("lt_session_stats_port", self.pointer, ctypes.byref(port))
        return port.value

    def threshold_events(self) -> list[Any]:
        """The ``perf_*`` threshold crossings so far (:class:`lt.ThresholdEvent`)."""
        return _read_list(_n.fn("lt_session_threshold_events"), "lt_threshold_event_t", self.pointer)

    # -- filters (lt_ip_filter_t / lt_port_filter_t) -------------------------

    def set_ip_filter(self, ip_filter: Any) -> None:
        """Applies a copy of an :class:`lt.IpFilter` (None: no filter)."""
        _n.call("lt_session_set_ip_filter", self.pointer, None if ip_filter is None else ip_filter.pointer)

    def get_ip_filter(self) -> Any:
        """A copy of the session's :class:`lt.IpFilter`."""
        from .ip_filter import IpFilter

        out = ctypes.c_void_p()
        _n.call("lt_session_get_ip_filter", self.pointer, ctypes.byref(out))
        return IpFilter(_pointer=out.value)

    def set_port_filter(self, port_filter: Any) -> None:
        """Applies a copy of an :class:`lt.PortFilter` (None: no filter)."""
        _n.call("lt_session_set_port_filter", self.pointer, None if port_filter is None else port_filter.pointer)


def _read_list(f: Any, c_name: str, *args: Any) -> list[Any]:
    """Calls an ``(..., elem *, elem_size, cap, count_out)`` function until
    the array holds every element, and converts them to dataclasses."""
    elem_size = ctypes.sizeof(_n.structs[c_name])
    count = ctypes.c_size_t()
    cap = 16
    while True:
        array = _structs.new(c_name, cap)
        code = f(*args, array, elem_size, cap, ctypes.byref(count))
        if code != 0:
            raise _n.error(code)
        if count.value <= cap:
            return [_structs.to_python(c_name, item) for item in array[: count.value]]
        cap = count.value


class TorrentHandle:
    """A torrent in a session, by id (libtorrent's ``torrent_handle``).

    Every method raises :class:`lt.LtError` with ``LT_ERROR_INVALID_HANDLE``
    once the torrent was removed. The handle keeps its session alive.
    """

    def __init__(self, session: Session, torrent_id: int) -> None:
        self.session = session
        self.id = torrent_id

    def __repr__(self) -> str:
        return f"<TorrentHandle id={self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TorrentHandle) and other.session is self.session and other.id == self.id

    def __hash__(self) -> int:
        return hash((id(self.session), self.id))

    def _call(self, name: str, *args: Any) -> None:
        _n.call(name, self.session.pointer, self.id, *args)

    # -- control -------------------------------------------------------------

    def pause(self) -> None:
        self._call("lt_torrent_pause")

    def resume(self) -> None:
        self._call("lt_torrent_resume")

    def remove(self, delete_files: bool = False) -> None:
        """Removes the torrent from its session (and its files when ``delete_files``)."""
        self.session.remove_torrent(self.id, delete_files)

    def force_recheck(self) -> None:
        self._call("lt_torrent_force_recheck")

    def force_reannounce(self) -> None:
        self._call("lt_torrent_force_reannounce")

    def force_dht_announce(self) -> None:
        self._call("lt_torrent_force_dht_announce")

    def scrape_tracker(self) -> None:
        self._call("lt_torrent_scrape_tracker")

    def save_resume_data(self) -> None:
        """Asks for a ``save_resume_data`` alert; its ``buffer`` is the resume data."""
        self._call("lt_torrent_save_resume_data")

    def queue_move(self, how: int) -> None:
        """Moves the torrent in the queue (``lt.QUEUE_UP`` / ``DOWN`` / ``TOP`` / ``BOTTOM``)."""
        self._call("lt_torrent_queue_move", how)

    def set_auto_managed(self, on: bool) -> None:
        self._call("lt_torrent_set_auto_managed", on)

    def set_file_priority(self, file: int, priority: int) -> None:
        self._call("lt_torrent_set_file_priority", file, priority)

    def set_piece_priority(self, piece: int, priority: int) -> None:
        self._call("lt_torrent_set_piece_priority", piece, priority)

    def set_sequential(self, on: bool) -> None:
        self._call("lt_torrent_set_sequential", on)

    def set_download_limit(self, bytes_per_s: int) -> None:
        self._call("lt_torrent_set_download_limit", bytes_per_s)

    def set_upload_limit(self, bytes_per_s: int) -> None:
        self._call("lt_torrent_set_upload_limit", bytes_per_s)

    def set_max_connections(self, limit: int) -> None:
        self._call("lt_torrent_set_max_connections", limit)

    def move_storage(self, directory: PathLike) -> None:
        self._call("lt_torrent_move_storage", _c(directory))

    def rename_file(self, file: int, name: str) -> None:
        self._call("lt_torrent_rename_file", file, _c(name))

    def read_piece(self, piece: int) -> None:
        """Asks for a ``read_piece`` alert whose ``buffer`` holds the piece."""
        self._call("lt_torrent_read_piece", piece)

    def connect_peer(self, endpoint: str) -> None:
        """Dials ``"ip:port"`` (``"[::1]:port"``)."""
        self._call("lt_torrent_connect_peer", _c(endpoint))

    def add_tracker(self, url: str, tier: int = 0) -> None:
        self._call("lt_torrent_add_tracker", _c(url), tier)

    def add_url_seed(self, url: str) -> None:
        self._call("lt_torrent_add_url_seed", _c(url))

    def remove_url_seed(self, url: str) -> None:
        self._call("lt_torrent_remove_url_seed", _c(url))

    # -- reading -------------------------------------------------------------

    def info_hash(self) -> bytes:
        """The 20-byte info-hash the swarm uses."""
        out = ctypes.create_string_buffer(20)
        self._call("lt_torrent_info_hash", out)
        return out.raw

    def status(self) -> Any:
        """The torrent's status: :class:`lt.TorrentStatus`, every field of ``lt_torrent_status_t``."""
        value = _structs.new("lt_torrent_status_t")
        self._call("lt_torrent_status", ctypes.byref(value), ctypes.sizeof(value))
        return _structs.to_python("lt_torrent_status_t", value)

    def peers(self) -> list[Any]:
        """The connected peers (:class:`lt.PeerInfo`)."""
        return _read_list(_n.fn("lt_torrent_peers"), "lt_peer_info_t", self.session.pointer, self.id)

    def files(self) -> list[Any]:
        """The torrent's files (:class:`lt.FileInfo`)."""
        return _read_list(_n.fn("lt_torrent_files"), "lt_file_info_t", self.session.pointer, self.id)

    def trackers(self) -> list[Any]:
        """The torrent's trackers (:class:`lt.TrackerInfo`)."""
        return _read_list(_n.fn("lt_torrent_trackers"), "lt_tracker_info_t", self.session.pointer, self.id)

    def metadata(self) -> bytes:
        """The .torrent bytes (for a magnet, once the metadata arrived)."""
        data, length = ctypes.c_void_p(), ctypes.c_size_t()
        self._call("lt_torrent_metadata", ctypes.byref(data), ctypes.byref(length))
        return taken_buffer(_n, data, length.value)


_log_lock = threading.Lock()
_log_callback: list[Any] = []


def set_log_callback(callback: Callable[[int, str, str], None] | None, level: int = 3) -> None:
    """Sends the library's log events at ``level`` (``lt.LOG_ERROR`` .. ``lt.LOG_TRACE``)
    and more severe to ``callback(level, target, message)``, process-wide;
    None stops logging. The callback runs on library threads."""
    with _log_lock:
        if callback is None:
            _n.call("lt_set_log_callback", None, None, level)
            return
        log_type = _n.callback_type("lt_set_log_callback", "fn_")
        log = callback

        def trampoline(_user: int | None, lvl: int, target: bytes | None, message: bytes | None) -> None:
            log(lvl, string(target) or "", string(message) or "")

        c_callback = log_type(trampoline)
        # Every callback ever installed stays alive: a library thread may
        # still be inside a replaced one, and there are only as many as calls.
        _log_callback.append(c_callback)
        _n.call("lt_set_log_callback", c_callback, None, level)
