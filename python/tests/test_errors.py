"""C errors become LtError with the code, its LT_ERROR_ name and lt_last_error's message."""

from __future__ import annotations

from pathlib import Path

import pytest

import lt
from conftest import LOOPBACK


def test_unknown_setting_is_an_error() -> None:
    with pytest.raises(lt.LtError) as info:
        lt.Session({"no_such_setting": 1})
    assert info.value.code == lt.ERROR_UNKNOWN_SETTING
    assert info.value.name == "LT_ERROR_UNKNOWN_SETTING"
    assert "no_such_setting" in info.value.message


def test_wrong_value_type_for_a_setting_is_an_error() -> None:
    # listen_interfaces is a string setting; an int goes to lt_settings_set_int, which refuses.
    with pytest.raises(lt.LtError) as info:
        lt.Settings({"listen_interfaces": 6881})
    assert info.value.code == lt.ERROR_INVALID_ARG
    assert info.value.name == "LT_ERROR_INVALID_ARG"
    with pytest.raises(lt.LtError) as info:
        lt.Settings({"enable_dht": "yes"})
    assert info.value.code == lt.ERROR_INVALID_ARG


def test_value_of_no_c_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        lt.Settings({"download_rate_limit": 1.5})


def test_settings_apply_to_a_running_session() -> None:
    with lt.Session(LOOPBACK) as ses:
        ses.apply_settings({"download_rate_limit": 1000, "enable_lsd": False})
        with pytest.raises(lt.LtError) as info:
            ses.apply_settings({"download_rate_limit": "fast"})
        assert info.value.code == lt.ERROR_INVALID_ARG
        state = ses.save_state()
        assert state
        with ses.get_settings() as copy, lt.Session(copy) as other:
            assert other.listen_port() != 0


def test_bad_torrent_and_handle_errors(tmp_path: Path) -> None:
    with lt.Session(LOOPBACK) as ses:
        with pytest.raises(lt.LtError) as info:
            ses.add_torrent(b"d4:infoi1ee", tmp_path)
        assert info.value.name == "LT_ERROR_INVALID_TORRENT"
        assert info.value.message
        with pytest.raises(lt.LtError) as info:
            ses.add_torrent("magnet:?xt=urn:btih:nothex", tmp_path)
        assert info.value.name == "LT_ERROR_INVALID_MAGNET"
        with pytest.raises(lt.LtError) as info:
            lt.TorrentHandle(ses, 12345).pause()
        assert info.value.code == lt.ERROR_INVALID_HANDLE
        assert lt.error_str(lt.ERROR_INVALID_HANDLE).startswith("LT_ERROR_INVALID_HANDLE")
    with pytest.raises(ValueError):
        ses.listen_port()
