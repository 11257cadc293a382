"""IpFilter and PortFilter round trips (issue 12's contract functions
lt_ip_filter_* / lt_port_filter_*, so they need a library that has them)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import lt
from conftest import DEADLINE_S, LOOPBACK


def test_rules_overlap_and_later_rules_win() -> None:
    with lt.IpFilter() as f:
        assert f.access("10.0.0.1") == 0
        f.add_rule("10.0.0.0", "10.255.255.255", lt.IP_FILTER_BLOCKED)
        f.add_rule("10.1.0.0", "10.1.255.255", 0)
        assert f.access("10.0.0.1") == lt.IP_FILTER_BLOCKED
        assert f.is_allowed("10.1.2.3")
        assert not f.is_allowed("10.2.0.0")
        f.add_rule("2001:db8::", "2001:db8::ffff", lt.IP_FILTER_BLOCKED)
        assert not f.is_allowed("2001:db8::1")
        assert f.is_allowed("2001:db9::1")

        ranges = [(r.first, r.last, r.flags) for r in f.export()]
        assert ("10.0.0.0", "10.0.255.255", lt.IP_FILTER_BLOCKED) in ranges
        assert ("10.1.0.0", "10.1.255.255", 0) in ranges
        assert ("10.2.0.0", "10.255.255.255", lt.IP_FILTER_BLOCKED) in ranges
        assert ("2001:db8::", "2001:db8::ffff", lt.IP_FILTER_BLOCKED) in ranges

        f.remove_rule("10.1.0.0", "10.1.255.255")
        assert not f.is_allowed("10.1.2.3")
        with pytest.raises(lt.LtError) as info:
            f.remove_rule("10.1.0.0", "10.1.255.255")
        assert info.value.name == "LT_ERROR_NOT_FOUND"
        with pytest.raises(lt.LtError) as info:
            f.add_rule("not an address", "10.0.0.1", lt.IP_FILTER_BLOCKED)
        assert info.value.name == "LT_ERROR_INVALID_ARG"


def test_blocklist_import_reports_bad_lines(tmp_path: Path) -> None:
    p2p = b"# comment\nSome range:1.2.3.0-1.2.3.255\nbroken line\nOther:5.6.7.8-5.6.7.9\n"
    with lt.IpFilter() as f:
        result = f.import_blocklist(p2p, "p2p")
        assert (result.added, result.rejected) == (2, 1)
        assert [line for line, _ in result.errors] == [3]
        assert not f.is_allowed("1.2.3.4") and not f.is_allowed("5.6.7.9")
        assert f.is_allowed("5.6.7.10")
    dat = tmp_path / "ipfilter.dat"
    dat.write_bytes(b"001.002.004.000 - 001.002.004.255 , 000 , Bad\n")
    with lt.IpFilter() as f:
        result = f.import_blocklist(dat, "dat")
        assert (result.added, result.rejected, result.errors) == (1, 0, [])
        assert not f.is_allowed("1.2.4.9")


def test_session_takes_a_copy_of_the_filter() -> None:
    with lt.Session(LOOPBACK) as ses, lt.IpFilter() as f:
        f.add_rule("192.0.2.0", "192.0.2.255", lt.IP_FILTER_BLOCKED)
        ses.set_ip_filter(f)
        f.add_rule("198.51.100.0", "198.51.100.255", lt.IP_FILTER_BLOCKED)
        with ses.get_ip_filter() as copy:
            assert not copy.is_allowed("192.0.2.7")
            assert copy.is_allowed("198.51.100.7")
        ses.set_ip_filter(None)
        with ses.get_ip_filter() as copy:
            assert copy.is_allowed("192.0.2.7")


def test_port_filter() -> None:
    with lt.PortFilter() as pf, lt.Session(LOOPBACK) as ses:
        pf.add_rule(1, 1023, lt.IP_FILTER_BLOCKED)
        assert pf.access(80) == lt.IP_FILTER_BLOCKED
        assert pf.access(6881) == 0
        ses.set_port_filter(pf)
    assert lt.live_objects.snapshot().get("port_filter", 0) == 0


def test_a_blocked_seeder_is_reported_then_used_once_allowed(seeder, tmp_path: Path) -> None:
    """The session refuses a libtorrent seeder its filter blocks (a
    peer_blocked alert with libtorrent's reason 0 and the address, counted),
    and downloads from it once the filter is lifted."""
    peer, torrent, layout, data = seeder
    settings = dict(LOOPBACK, alert_mask=lt.ALERT_CATEGORY_ALL)
    with lt.Session(settings) as ses, lt.IpFilter() as f:
        f.add_rule("127.0.0.1", "127.0.0.1", lt.IP_FILTER_BLOCKED)
        ses.set_ip_filter(f)
        handle = ses.add_torrent(torrent.read_bytes(), tmp_path / "down", peers=[peer.endpoint])
        deadline = time.monotonic() + DEADLINE_S
        blocked = None
        while blocked is None:
            assert time.monotonic() < deadline
            alert = ses.wait_for_alert(1.0)
            if alert is not None and alert.type == lt.ALERT_PEER_BLOCKED:
                blocked = alert
        assert blocked.type_name == "peer_blocked"
        assert blocked.torrent == handle.id
        assert blocked.peer_blocked_reason == 0
        assert str(blocked.peer) == peer.endpoint
        assert ses.stats()["peer.blocked_by_ip_filter"] >= 1
        assert handle.status().num_peers == 0

        ses.set_ip_filter(None)
        handle.connect_peer(peer.endpoint)
        while handle.status().state not in (lt.STATE_FINISHED, lt.STATE_SEEDING):
            assert time.monotonic() < deadline, handle.status()
            ses.wait_for_alert(0.5)
        for name in layout:
            assert (tmp_path / "down" / name).read_bytes() == (data / name).read_bytes(), name
