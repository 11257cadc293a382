"""Native objects are freed by close()/with, and at garbage collection."""

from __future__ import annotations

import gc
import weakref

import lt
from conftest import LOOPBACK


def test_sessions_are_freed_at_garbage_collection() -> None:
    before = lt.live_objects.snapshot().get("session", 0)
    sessions = [lt.Session(LOOPBACK) for _ in range(3)]
    for ses in sessions:
        ses.set_alert_notify(lambda: None)
        ses.add_torrent("magnet:?xt=urn:btih:" + "ab" * 20, ".", flags=lt.ADD_PAUSED)
    refs = [weakref.ref(ses) for ses in sessions]
    assert lt.live_objects.snapshot()["session"] == before + 3
    # A handle keeps its session alive; a cycle is collected too.
    handle = sessions[0].torrents()[0]
    sessions[1].cycle = sessions[1]
    del sessions, ses
    gc.collect()
    assert [r() is None for r in refs] == [False, True, True]
    assert lt.live_objects.snapshot()["session"] == before + 1
    del handle
    gc.collect()
    assert all(r() is None for r in refs)
    assert lt.live_objects.snapshot().get("session", 0) == before


def test_context_manager_and_close_free_at_once() -> None:
    before = lt.live_objects.snapshot()
    with lt.Session(LOOPBACK) as ses, lt.Settings({"enable_dht": False}) as settings:
        assert lt.live_objects.snapshot().get("session", 0) == before.get("session", 0) + 1
        assert lt.live_objects.snapshot().get("settings", 0) == before.get("settings", 0) + 1
    assert ses.closed
    ses.close()  # idempotent
    assert lt.live_objects.snapshot() == before
    settings.close()
    assert lt.live_objects.snapshot() == before


def test_alerts_hold_no_native_memory() -> None:
    with lt.Session(dict(LOOPBACK, alert_mask=lt.ALERT_CATEGORY_ALL)) as ses:
        ses.post_session_stats()
        alerts = []
        while not any(isinstance(a, lt.SessionStatsAlert) for a in alerts):
            alert = ses.wait_for_alert(5.0)
            assert alert is not None
            alerts.append(alert)
    # The session is gone, the copied fields remain readable.
    stats = next(a for a in alerts if isinstance(a, lt.SessionStatsAlert))
    assert stats.counters["ses.num_torrents"] == 0
    assert stats.message
