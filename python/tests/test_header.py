"""The header parser reads the declarator shapes cbindgen writes, including
those the contract functions of issue 12 will bring."""

from __future__ import annotations

from lt import _header
from lt._header import CType, Param


def test_declarators() -> None:
    assert _header.parse_type("size_t cap") == Param("cap", CType("size_t"))
    assert _header.parse_type("const char **url_out") == Param("url_out", CType("char", 2, const=True))
    assert _header.parse_type("const struct lt_alert_t *a") == Param("a", CType("lt_alert_t", 1, const=True))
    assert _header.parse_type("char first[46]") == Param("first", CType("char", array=46))
    assert _header.parse_type("uint8_t (*out)[20]") == Param("out", CType("uint8_t", 1))
    assert _header.parse_type("void*") == Param("", CType("void", 1))
    assert _header.parse_type("uint32_t") == Param("", CType("uint32_t"))


def test_callback_parameters_with_and_without_names() -> None:
    named, unnamed = _header.split_params(
        "bool (*filter)(void *user, const char *path), void (*on_error)(void*, size_t, const char*)"
    )
    assert named.name == "filter"
    assert named.type.func == (CType("bool"), (CType("void", 1), CType("char", 1, const=True)))
    assert unnamed.name == "on_error"
    assert unnamed.type.func == (CType("void"), (CType("void", 1), CType("size_t"), CType("char", 1, const=True)))


def test_whole_declarations() -> None:
    header = _header.parse(
        """
#define LT_FILE_PAD (1 << 0)
#define LT_CREATE_HYBRID (LT_FILE_PAD | 2)
#define LT_STATS_INIT { sizeof(lt_stats_t), 0 }
typedef struct lt_ip_filter_t lt_ip_filter_t;
typedef struct lt_ip_range_t {
  /** comment */
  size_t struct_size;
  char first[46];
  uint32_t flags;
} lt_ip_range_t;
typedef bool (*lt_progress_fn)(void *user, uint32_t done, uint32_t total);
lt_error lt_torrent_info_hash_v1(const struct lt_torrent_info_t *info, uint8_t (*out)[20]);
struct lt_ip_filter_t *lt_ip_filter_new(void);
"""
    )
    assert header.constants == {"LT_FILE_PAD": 1, "LT_CREATE_HYBRID": 3}
    assert [f.name for f in header.structs["lt_ip_range_t"]] == ["struct_size", "first", "flags"]
    assert header.opaque == {"lt_ip_filter_t"}
    assert header.typedefs["lt_progress_fn"].func is not None
    assert header.functions["lt_ip_filter_new"] == (CType("lt_ip_filter_t", 1), [])
    assert header.functions["lt_torrent_info_hash_v1"][1][1] == Param("out", CType("uint8_t", 1))
