"""The alert loop: add a torrent, follow its state changes to
torrent_finished, and read a session_stats alert's counters."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import lt
from conftest import DEADLINE_S, LOOPBACK


def test_alert_loop(seeder, tmp_path: Path) -> None:
    peer, torrent, layout, _data = seeder
    settings = dict(LOOPBACK, alert_mask=lt.ALERT_CATEGORY_STATUS | lt.ALERT_CATEGORY_ERROR)
    with lt.Session(settings) as ses:
        woken = threading.Event()
        ses.set_alert_notify(woken.set)
        handle = ses.add_torrent(torrent.read_bytes(), tmp_path / "down", peers=[peer.endpoint])
        seen: list[lt.Alert] = []
        deadline = time.monotonic() + DEADLINE_S
        while not any(isinstance(a, lt.TorrentFinishedAlert) for a in seen):
            assert time.monotonic() < deadline, [a.type_name for a in seen]
            alert = ses.wait_for_alert(1.0)
            if alert is not None:
                seen.append(alert)
                seen.extend(ses.pop_alerts())
        assert woken.is_set()

        names = [a.type_name for a in seen]
        assert "add_torrent" in names
        finished = next(a for a in seen if a.type_name == "torrent_finished")
        assert finished.type == lt.ALERT_TORRENT_FINISHED
        assert finished.torrent == handle.id
        assert finished.category & lt.ALERT_CATEGORY_STATUS
        assert finished.message
        changes = [(a.prev, a.state) for a in seen if isinstance(a, lt.StateChangedAlert)]
        assert changes, names
        assert changes[-1][1] in (lt.STATE_FINISHED, lt.STATE_SEEDING)
        assert all(a.torrent == handle.id for a in seen if isinstance(a, lt.StateChangedAlert))

        ses.post_session_stats()
        stats_alert = None
        while stats_alert is None:
            assert time.monotonic() < deadline
            alert = ses.wait_for_alert(1.0)
            if isinstance(alert, lt.SessionStatsAlert):
                stats_alert = alert
        names_by_index = [name for name, _kind in lt.metrics()]
        assert list(stats_alert.counters) == names_by_index
        payload = sum(layout.values())
        assert stats_alert.counters["net.recv_payload_bytes"] >= payload
        assert stats_alert.stats.total_payload_download >= payload
        assert stats_alert.counters["ses.num_torrents"] == 1

        # The same metrics without a round trip, and in the three export formats.
        now = ses.stats()
        assert set(now) == set(names_by_index)
        assert now["net.recv_payload_bytes"] >= payload
        assert ses.stats_summary().num_torrents == 1
        csv_rows = ses.stats_export("csv").splitlines()
        assert csv_rows[0].startswith("id,state,")
        assert [row.split(",")[0] for row in csv_rows[1:]] == [str(handle.id)]
        assert "# TYPE" in ses.stats_export("prometheus")


def test_alert_payloads_are_read_from_the_header() -> None:
    with lt.Session(dict(LOOPBACK, alert_mask=lt.ALERT_CATEGORY_ALL)) as ses:
        listen = None
        deadline = time.monotonic() + DEADLINE_S
        while listen is None:
            assert time.monotonic() < deadline
            alert = ses.wait_for_alert(1.0)
            if isinstance(alert, lt.ListenSucceededAlert):
                listen = alert
        assert listen.peer == f"127.0.0.1:{ses.listen_port()}"
        assert listen.fields == {"peer": listen.peer}
    assert lt.alert_type_name(lt.ALERT_TORRENT_FINISHED) == "torrent_finished"
    assert lt.TorrentFinishedAlert.__name__ == "TorrentFinishedAlert"
