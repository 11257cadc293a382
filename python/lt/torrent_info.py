"""Reading .torrent files (``lt_torrent_info_t``) and creating them
(``lt_create_torrent_t``)."""

from __future__ import annotations

import ctypes
import os
import weakref
from typing import Any, Callable, Iterable, Union

from . import _runtime
from ._native import LtError, borrowed_bytes, c_string, freer, live_objects, string, taken_buffer
from .session import _c

_n = _runtime.NATIVE
_structs = _runtime.STRUCTS

PathLike = Union[str, "os.PathLike[str]"]


class TorrentInfo:
    """A parsed .torrent (libtorrent's ``torrent_info``), without adding it
    to a session: ``TorrentInfo("file.torrent")`` or ``TorrentInfo(data)``.
    Pass it to :meth:`lt.Session.add_torrent`. Freed by :meth:`close`, the
    context manager, or garbage collection."""

    def __init__(self, source: PathLike | bytes | bytearray | memoryview | None = None, *, _pointer: int | None = None):
        if _pointer is None:
            out = ctypes.c_void_p()
            if isinstance(source, (bytes, bytearray, memoryview)):
                data = bytes(source)
                _n.call("lt_torrent_info_from_buffer", data, len(data), ctypes.byref(out))
            elif isinstance(source, (str, os.PathLike)):
                _n.call("lt_torrent_info_from_file", _c(source), ctypes.byref(out))
            else:
                raise TypeError(f"TorrentInfo needs a path or bytes, not {type(source).__name__}")
            if not out.value:
                raise MemoryError("lt_torrent_info_* returned no object")
            _pointer = out.value
        live_objects.add("torrent_info")
        self._pointer: int | None = _pointer
        self._finalizer = weakref.finalize(self, freer("torrent_info", "lt_torrent_info_free"), _pointer)

    @property
    def pointer(self) -> int:
        if self._pointer is None:
            raise ValueError("the torrent info is closed")
        return self._pointer

    def close(self) -> None:
        self._pointer = None
        self._finalizer()

    def __enter__(self) -> TorrentInfo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, name: str, *args: Any) -> Any:
        return _n.fn(name)(self.pointer, *args)

    @property
    def name(self) -> str:
        return string(self._get("lt_torrent_info_name")) or ""

    @property
    def total_size(self) -> int:
        return self._get("lt_torrent_info_total_size")

    @property
    def piece_length(self) -> int:
        return self._get("lt_torrent_info_piece_length")

    @property
    def num_pieces(self) -> int:
        return self._get("lt_torrent_info_num_pieces")

    @property
    def num_files(self) -> int:
        return self._get("lt_torrent_info_num_files")

    def files(self) -> list[Any]:
        """Every file (:class:`lt.TorrentFile`: path, symlink_target, size,
        offset, flags ``lt.FILE_PAD`` / ``FILE_EXECUTABLE`` / ``FILE_HIDDEN`` /
        ``FILE_SYMLINK``, has_pieces_root, pieces_root)."""
        _runtime.struct_class("lt_torrent_file_t")
        files = []
        for index in range(self.num_files):
            value = _structs.new("lt_torrent_file_t")
            _n.call("lt_torrent_info_file", self.pointer, index, ctypes.byref(value), ctypes.sizeof(value))
            files.append(_structs.to_python("lt_torrent_file_t", value))
        return files

    def trackers(self) -> list[tuple[str, int]]:
        """``(url, tier)`` of every tracker."""
        result = []
        for index in range(self._get("lt_torrent_info_num_trackers")):
            url, tier = ctypes.c_void_p(), ctypes.c_uint32()
            _n.call("lt_torrent_info_tracker", self.pointer, index, ctypes.byref(url), ctypes.byref(tier))
            result.append((c_string(url), tier.value))
        return result

    def web_seeds(self) -> list[str]:
        return [
            string(self._get("lt_torrent_info_web_seed", i)) or ""
            for i in range(self._get("lt_torrent_info_num_web_seeds"))
        ]

    @property
    def comment(self) -> str | None:
        return string(self._get("lt_torrent_info_comment"))

    @property
    def creator(self) -> str | None:
        return string(self._get("lt_torrent_info_creator"))

    @property
    def creation_date(self) -> int:
        """Unix seconds; 0 when the torrent has none."""
        return self._get("lt_torrent_info_creation_date")

    @property
    def private(self) -> bool:
        return bool(self._get("lt_torrent_info_private"))

    def _hash(self, name: str, size: int) -> bytes | None:
        out = ctypes.create_string_buffer(size)
        code = self._get(name, out)
        if code == _n.constants["LT_ERROR_NOT_FOUND"]:
            return None
        if code != 0:
            raise _n.error(code)
        return out.raw

    @property
    def info_hash_v1(self) -> bytes | None:
        """The SHA-1 info-hash; None for a v2-only torrent."""
        return self._hash("lt_torrent_info_hash_v1", 20)

    @property
    def info_hash_v2(self) -> bytes | None:
        """The SHA-256 info-hash; None for a v1-only torrent."""
        return self._hash("lt_torrent_info_hash_v2", 32)

    def info_section(self) -> bytes:
        """The bencoded info dictionary."""
        data, length = ctypes.c_void_p(), ctypes.c_size_t()
        _n.call("lt_torrent_info_info_section", self.pointer, ctypes.byref(data), ctypes.byref(length))
        return borrowed_bytes(data, length.value)


#: ``format=`` names for :func:`create_torrent`, to the ``LT_CREATE_*`` constants.
FORMATS = {"v1": "LT_CREATE_V1", "v2": "LT_CREATE_V2", "hybrid": "LT_CREATE_HYBRID"}


def create_torrent(
    path: PathLike,
    *,
    piece_size: int = 0,
    format: str = "v1",
    trackers: Iterable[str | tuple[str, int]] = (),
    web_seeds: Iterable[str] = (),
    dht_nodes: Iterable[tuple[str, int]] = (),
    comment: str | None = None,
    creator: str | None = None,
    creation_date: int = 0,
    source: str | None = None,
    private: bool = False,
    file_filter: Callable[[str], bool] | None = None,
    progress: Callable[[int, int], bool | None] | None = None,
) -> bytes:
    """Creates a .torrent for a file or a directory and returns its bytes.

    ``piece_size`` 0 chooses it as libtorrent does; ``format`` is ``"v1"``,
    ``"v2"`` or ``"hybrid"``; ``trackers`` are URLs or ``(url, tier)``;
    ``creation_date`` 0 leaves it out. ``file_filter(relative_path)``
    returning False skips a file or directory. ``progress(done, total)``
    (pieces hashed) returning False cancels: :class:`lt.LtError` with
    ``LT_ERROR_CANCELLED``. An exception raised by a callback cancels and
    is raised again from here.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, not {format!r}")
    out = ctypes.c_void_p()
    _n.call("lt_create_torrent_new", _c(path), ctypes.byref(out))
    live_objects.add("create_torrent")
    handle = out.value
    raised: list[BaseException] = []
    try:
        if piece_size:
            _n.call("lt_create_torrent_set_piece_size", handle, piece_size)
        _n.call("lt_create_torrent_set_format", handle, _n.constants[FORMATS[format]])
        for tracker in trackers:
            url, tier = (tracker, 0) if isinstance(tracker, str) else tracker
            _n.call("lt_create_torrent_add_tracker", handle, _c(url), tier)
        for url in web_seeds:
            _n.call("lt_create_torrent_add_web_seed", handle, _c(url))
        for host, port in dht_nodes:
            _n.call("lt_create_torrent_add_dht_node", handle, _c(host), port)
        if comment is not None:
            _n.call("lt_create_torrent_set_comment", handle, _c(comment))
        if creator is not None:
            _n.call("lt_create_torrent_set_creator", handle, _c(creator))
        if creation_date:
            _n.call("lt_create_torrent_set_creation_date", handle, creation_date)
        if source is not None:
            _n.call("lt_create_torrent_set_source", handle, _c(source))
        if private:
            _n.call("lt_create_torrent_set_private", handle, True)

        c_filter = None
        if file_filter is not None:
            keep = file_filter

            def filter_trampoline(_user: int | None, rel: bytes | None) -> bool:
                if raised:
                    return False
                try:
                    return bool(keep(string(rel) or ""))
                except BaseException as e:  # noqa: BLE001 - re-raised after the C call
                    raised.append(e)
                    return False

            c_filter = _n.callback_type("lt_create_torrent_set_file_filter", "filter")(filter_trampoline)
            _n.call("lt_create_torrent_set_file_filter", handle, c_filter, None)

        c_progress = None
        if progress is not None:
            report = progress

            def progress_trampoline(_user: int | None, done: int, total: int) -> bool:
                if raised:
                    return False
                try:
                    return report(done, total) is not False
                except BaseException as e:  # noqa: BLE001 - re-raised after the C call
                    raised.append(e)
                    return False

            c_progress = _n.callback_type("lt_create_torrent_generate", "progress")(progress_trampoline)

        data, length = ctypes.c_void_p(), ctypes.c_size_t()
        try:
            _n.call("lt_create_torrent_generate", handle, c_progress, None, ctypes.byref(data), ctypes.byref(length))
        except LtError:
            if raised:
                raise raised[0] from None
            raise
        if raised:
            raise raised[0]
        return taken_buffer(_n, data, length.value)
    finally:
        _n.fn("lt_create_torrent_free")(handle)
        live_objects.remove("create_torrent")
