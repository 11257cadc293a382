/* The lt side of the TorrentSession node: see lt_godot.h. */

#include "lt_godot.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---------------------------------------------------------- */

lt_error ltg_fail(ltg_node *n, lt_error code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->last_error, sizeof n->last_error, fmt, ap);
    va_end(ap);
    return code;
}

/* Records a failed lt call: lt's own message for this thread (it names the
 * argument or the file), or the code's name when lt left none. */
static lt_error fail_lt(ltg_node *n, lt_error code, const char *what) {
    char msg[384];
    if (lt_last_error(msg, sizeof msg) == 0) {
        snprintf(msg, sizeof msg, "%s", lt_error_str(code));
    }
    return ltg_fail(n, code, "%s: %s", what, msg);
}

const char *ltg_last_error(const ltg_node *n) { return n->last_error; }

static lt_error need_session(ltg_node *n, const char *what) {
    if (n->session == NULL) {
        return ltg_fail(n, LT_ERROR_INVALID_ARG, "%s: the session is not started (call start first)", what);
    }
    return LT_OK;
}

/* A torrent id from GDScript's int: ids are positive and fit in 63 bits. */
static lt_error check_id(ltg_node *n, int64_t id, const char *what) {
    if (id <= 0) {
        return ltg_fail(n, LT_ERROR_INVALID_HANDLE, "%s: %lld is not a torrent id (ids are > 0)", what, (long long)id);
    }
    return LT_OK;
}

/* ---- lifecycle ------------------------------------------------------- */

void ltg_node_init(ltg_node *n) {
    memset(n, 0, sizeof *n);
}

static void drop_builders(ltg_node *n) {
    lt_settings_free(n->pending_settings);
    n->pending_settings = NULL;
    lt_params_free(n->pending_params);
    n->pending_params = NULL;
    n->pending_error = LT_OK;
}

void ltg_node_free(ltg_node *n) {
    drop_builders(n);
    lt_session_free(n->session);
    n->session = NULL;
}

lt_error ltg_stop(ltg_node *n) {
    ltg_node_free(n);
    return LT_OK;
}

/* ---- start(settings) ------------------------------------------------- */

lt_error ltg_start_begin(ltg_node *n) {
    if (n->session != NULL) {
        return ltg_fail(n, LT_ERROR_INVALID_ARG, "start: the session is already started (call stop first)");
    }
    drop_builders(n);
    n->pending_settings = lt_settings_new();
    if (n->pending_settings == NULL) {
        return fail_lt(n, LT_ERROR_IO, "start");
    }
    return LT_OK;
}

/* Keeps the first failure of a builder; later ones are checked but not
 * reported. */
static void keep_first(ltg_node *n, lt_error code, const char *what) {
    if (code != LT_OK && n->pending_error == LT_OK) {
        n->pending_error = fail_lt(n, code, what);
    }
}

void ltg_start_int(ltg_node *n, const char *name, int64_t value) {
    if (n->pending_settings != NULL) {
        keep_first(n, lt_settings_set_int(n->pending_settings, name, value), "start");
    }
}

void ltg_start_bool(ltg_node *n, const char *name, bool value) {
    if (n->pending_settings != NULL) {
        keep_first(n, lt_settings_set_bool(n->pending_settings, name, value), "start");
    }
}

void ltg_start_string(ltg_node *n, const char *name, const char *value) {
    if (n->pending_settings != NULL) {
        keep_first(n, lt_settings_set_str(n->pending_settings, name, value), "start");
    }
}

void ltg_start_reject(ltg_node *n, const char *name, const char *why) {
    if (n->pending_error == LT_OK) {
        n->pending_error = ltg_fail(n, LT_ERROR_INVALID_ARG, "start: setting '%s': %s", name, why);
    }
}

lt_error ltg_start_finish(ltg_node *n) {
    lt_error err = n->pending_error;
    if (n->pending_settings == NULL) {
        return err != LT_OK ? err : ltg_fail(n, LT_ERROR_INVALID_ARG, "start: no settings in progress");
    }
    if (err == LT_OK) {
        err = lt_session_new(n->pending_settings, &n->session);
        if (err != LT_OK) {
            n->session = NULL;
            fail_lt(n, err, "start");
        }
    }
    drop_builders(n);
    return err;
}

/* ---- add_torrent(source, save_path, peers) --------------------------- */

lt_error ltg_add_begin(ltg_node *n) {
    lt_error err = need_session(n, "add_torrent");
    if (err != LT_OK) {
        return err;
    }
    drop_builders(n);
    n->pending_params = lt_params_new();
    if (n->pending_params == NULL) {
        return fail_lt(n, LT_ERROR_IO, "add_torrent");
    }
    return LT_OK;
}

void ltg_add_torrent_bytes(ltg_node *n, const uint8_t *data, size_t len) {
    if (n->pending_params != NULL) {
        keep_first(n, lt_params_set_torrent_data(n->pending_params, data, len), "add_torrent: torrent bytes");
    }
}

void ltg_add_magnet(ltg_node *n, const char *uri) {
    if (n->pending_params != NULL) {
        keep_first(n, lt_params_set_magnet(n->pending_params, uri), "add_torrent: magnet URI");
    }
}

void ltg_add_save_path(ltg_node *n, const char *dir) {
    if (n->pending_params != NULL) {
        keep_first(n, lt_params_set_save_path(n->pending_params, dir), "add_torrent: save path");
    }
}

void ltg_add_peer(ltg_node *n, const char *ip_port) {
    if (n->pending_params != NULL) {
        keep_first(n, lt_params_add_peer(n->pending_params, ip_port), "add_torrent: peer");
    }
}

void ltg_add_reject(ltg_node *n, const char *what, const char *why) {
    if (n->pending_error == LT_OK) {
        n->pending_error = ltg_fail(n, LT_ERROR_INVALID_ARG, "add_torrent: %s: %s", what, why);
    }
}

int64_t ltg_add_finish(ltg_node *n) {
    lt_error err = n->pending_error;
    lt_torrent_id_t id = 0;
    if (n->pending_params == NULL) {
        err = err != LT_OK ? err : ltg_fail(n, LT_ERROR_INVALID_ARG, "add_torrent: no torrent in progress");
        return -(int64_t)err;
    }
    if (err == LT_OK) {
        err = lt_add_torrent(n->session, n->pending_params, &id);
        if (err != LT_OK) {
            fail_lt(n, err, "add_torrent");
        }
    }
    drop_builders(n);
    return err == LT_OK ? (int64_t)id : -(int64_t)err;
}

/* ---- pause, resume, remove ------------------------------------------- */

static lt_error torrent_call(ltg_node *n, int64_t id, const char *what) {
    lt_error err = need_session(n, what);
    return err != LT_OK ? err : check_id(n, id, what);
}

lt_error ltg_pause(ltg_node *n, int64_t id) {
    lt_error err = torrent_call(n, id, "pause");
    if (err == LT_OK && (err = lt_torrent_pause(n->session, (lt_torrent_id_t)id)) != LT_OK) {
        fail_lt(n, err, "pause");
    }
    return err;
}

lt_error ltg_resume(ltg_node *n, int64_t id) {
    lt_error err = torrent_call(n, id, "resume");
    if (err == LT_OK && (err = lt_torrent_resume(n->session, (lt_torrent_id_t)id)) != LT_OK) {
        fail_lt(n, err, "resume");
    }
    return err;
}

lt_error ltg_remove(ltg_node *n, int64_t id, bool delete_files) {
    lt_error err = torrent_call(n, id, "remove");
    uint32_t flags = delete_files ? LT_REMOVE_DELETE_FILES : 0;
    if (err == LT_OK && (err = lt_remove_torrent(n->session, (lt_torrent_id_t)id, flags)) != LT_OK) {
        fail_lt(n, err, "remove");
    }
    return err;
}

/* ---- the field tables ------------------------------------------------ */

/* How a struct field is read. The kind comes from the field's C type
 * through _Generic (arrays decay: char[] is text, uint8_t[] a hash), with
 * no default branch: a field of a new type in lt.h stops the build here
 * instead of being written wrongly. */
typedef enum { KIND_I64, KIND_U32, KIND_I32, KIND_F64, KIND_TEXT, KIND_HASH } field_kind;

typedef struct {
    const char *name;
    field_kind kind;
    size_t offset;
    size_t size;
} field;

#define FIELD(T, f)                                                                                   \
    {#f,                                                                                              \
     _Generic(((T *)0)->f, int64_t: KIND_I64, uint32_t: KIND_U32, int32_t: KIND_I32, double: KIND_F64, \
              char *: KIND_TEXT, uint8_t *: KIND_HASH),                                               \
     offsetof(T, f), sizeof(((T *)0)->f)}

/* Every field of lt_stats_t but the header (struct_size, reserved), in the
 * header's order. tests/godot checks this list against include/lt.h. */
#define S(f) FIELD(lt_stats_t, f)
static const field STATS_FIELDS[] = {
    S(download_rate), S(upload_rate), S(total_download), S(total_upload), S(payload_download_rate),
    S(payload_upload_rate), S(total_payload_download), S(total_payload_upload), S(num_peers), S(num_unchoked),
    S(num_peers_half_open), S(num_tcp_peers), S(num_incoming_connections), S(has_incoming_connections),
    S(optimistic_unchokes), S(num_torrents), S(num_downloading), S(num_seeding), S(num_checking),
    S(num_stopped), S(disk_blocks_read), S(disk_blocks_written), S(disk_queue_depth),
    S(num_tracker_announces), S(num_tracker_errors), S(total_wasted), S(num_hash_failures),
    S(alerts_dropped), S(uptime_ms), S(process_rss_bytes), S(process_cpu_permille), S(system_cpu_permille),
    S(cpu_cores), S(system_memory_total), S(system_memory_available), S(num_utp_peers), S(dht_nodes),
    S(dht_node_cache), S(dht_torrents), S(num_queued), S(disk_read_cache_size), S(disk_write_cache_size),
    S(num_tracker_scrapes),
};
#undef S

/* Every field of lt_torrent_status_t but struct_size, in the header's order. */
#define T(f) FIELD(lt_torrent_status_t, f)
static const field STATUS_FIELDS[] = {
    T(state), T(paused), T(error_code), T(progress), T(pieces_done), T(pieces_total), T(total_done),
    T(total_wanted), T(total_wanted_done), T(total_size), T(download_rate), T(upload_rate),
    T(download_payload_rate), T(upload_payload_rate), T(total_download), T(total_upload),
    T(total_payload_download), T(total_payload_upload), T(total_wasted), T(num_hash_failures), T(num_peers),
    T(num_seeds), T(list_seeds), T(list_peers), T(info_hash), T(name), T(error_message), T(save_path),
    T(avg_peer_rtt_us), T(max_peer_rtt_us), T(peak_download_rate), T(peak_upload_rate), T(active_time_s),
    T(finished_time_s), T(seeding_time_s), T(eta_s), T(distributed_copies), T(queue_position),
    T(auto_managed), T(queued), T(sequential), T(max_connections), T(download_limit), T(upload_limit),
    T(added_time), T(completed_time),
};
#undef T

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void put_hex(const ltg_sink *out, const char *key, const uint8_t *bytes, size_t len) {
    static const char digits[] = "0123456789abcdef";
    char hex[2 * 64];
    if (len > sizeof hex / 2) {
        len = sizeof hex / 2;
    }
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = digits[bytes[i] >> 4];
        hex[2 * i + 1] = digits[bytes[i] & 15];
    }
    out->put_string(out->ctx, key, hex, 2 * len);
}

static void put_fields(const ltg_sink *out, const void *record, const field *fields, size_t count) {
    const unsigned char *base = record;
    for (size_t i = 0; i < count; i++) {
        const field *f = &fields[i];
        const void *at = base + f->offset;
        switch (f->kind) {
        case KIND_I64: {
            int64_t v;
            memcpy(&v, at, sizeof v);
            out->put_int(out->ctx, f->name, v);
            break;
        }
        case KIND_U32: {
            uint32_t v;
            memcpy(&v, at, sizeof v);
            out->put_int(out->ctx, f->name, v);
            break;
        }
        case KIND_I32: {
            int32_t v;
            memcpy(&v, at, sizeof v);
            out->put_int(out->ctx, f->name, v);
            break;
        }
        case KIND_F64: {
            double v;
            memcpy(&v, at, sizeof v);
            out->put_float(out->ctx, f->name, v);
            break;
        }
        case KIND_TEXT: {
            /* NUL-terminated by lt; bounded by the array anyway. */
            const char *end = memchr(at, 0, f->size);
            out->put_string(out->ctx, f->name, at, end != NULL ? (size_t)(end - (const char *)at) : f->size);
            break;
        }
        case KIND_HASH:
            put_hex(out, f->name, at, f->size);
            break;
        }
    }
}

/* ---- get_session_stats ----------------------------------------------- */

/* The uTP socket gauges, under libtorrent's utp_status names. */
static const struct {
    const char *key;
    const char *metric;
} UTP_GAUGES[] = {
    {"num_idle", "utp.num_utp_idle"},
    {"num_syn_sent", "utp.num_utp_syn_sent"},
    {"num_connected", "utp.num_utp_connected"},
    {"num_fin_sent", "utp.num_utp_fin_sent"},
    {"num_close_wait", "utp.num_utp_close_wait"},
};

/* The binary snapshot's layout (docs/stats.md, "Binary snapshot"): the
 * header's length is the little-endian u16 at offset 6, the metric count
 * the u32 at offset 12, then one little-endian int64 per metric in
 * lt_stats_metric order. */
#define SNAPSHOT_HEADER_LEN_AT 6
#define SNAPSHOT_COUNT_AT 12

static uint64_t read_le(const unsigned char *p, size_t bytes) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

/* Writes the uTP gauges as `utp_stats`, read now from the binary
 * snapshot (a few microseconds: counters only, no torrent statuses),
 * the metrics found by name with lt_stats_find_metric. */
static lt_error put_utp_stats(ltg_node *n, const ltg_sink *out) {
    unsigned char *snap = NULL;
    size_t len = 0;
    lt_error err = lt_session_stats_export(n->session, LT_STATS_BINARY, (char **)&snap, &len);
    if (err != LT_OK) {
        return fail_lt(n, err, "get_session_stats: uTP gauges");
    }
    int64_t values[COUNT(UTP_GAUGES)];
    for (size_t i = 0; i < COUNT(UTP_GAUGES) && err == LT_OK; i++) {
        size_t index;
        if (lt_stats_find_metric(UTP_GAUGES[i].metric, &index) != LT_OK) {
            err = ltg_fail(n, LT_ERROR_NOT_FOUND, "get_session_stats: liblt has no metric '%s'",
                           UTP_GAUGES[i].metric);
            break;
        }
        size_t header = len >= 16 ? (size_t)read_le(snap + SNAPSHOT_HEADER_LEN_AT, 2) : 0;
        size_t count = len >= 16 ? (size_t)read_le(snap + SNAPSHOT_COUNT_AT, 4) : 0;
        if (header == 0 || index >= count || header + 8 * (index + 1) > len) {
            err = ltg_fail(n, LT_ERROR_NOT_FOUND, "get_session_stats: '%s' missing from the snapshot",
                           UTP_GAUGES[i].metric);
            break;
        }
        values[i] = (int64_t)read_le(snap + header + 8 * index, 8);
    }
    lt_free(snap);
    if (err != LT_OK) {
        return err;
    }
    out->open_dict(out->ctx, "utp_stats");
    for (size_t i = 0; i < COUNT(UTP_GAUGES); i++) {
        out->put_int(out->ctx, UTP_GAUGES[i].key, values[i]);
    }
    out->close(out->ctx);
    return LT_OK;
}

lt_error ltg_session_stats(ltg_node *n, const ltg_sink *out) {
    lt_error err = need_session(n, "get_session_stats");
    if (err != LT_OK) {
        return err;
    }
    lt_stats_t stats;
    memset(&stats, 0, sizeof stats);
    if ((err = lt_session_stats(n->session, &stats, sizeof stats)) != LT_OK) {
        return fail_lt(n, err, "get_session_stats");
    }
    put_fields(out, &stats, STATS_FIELDS, COUNT(STATS_FIELDS));
    return put_utp_stats(n, out);
}

/* ---- get_torrent_status ---------------------------------------------- */

lt_error ltg_torrent_status(ltg_node *n, int64_t id, const ltg_sink *out) {
    lt_error err = torrent_call(n, id, "get_torrent_status");
    if (err != LT_OK) {
        return err;
    }
    lt_torrent_status_t st;
    memset(&st, 0, sizeof st);
    if ((err = lt_torrent_status(n->session, (lt_torrent_id_t)id, &st, sizeof st)) != LT_OK) {
        return fail_lt(n, err, "get_torrent_status");
    }
    put_fields(out, &st, STATUS_FIELDS, COUNT(STATUS_FIELDS));
    return LT_OK;
}

/* ---- get_alerts ------------------------------------------------------ */

static void put_cstr(const ltg_sink *out, const char *key, const char *s) {
    out->put_string(out->ctx, key, s, strlen(s));
}

/* The session_stats alert's figures (posted every `stats_interval_ms`):
 * its lt_stats_t, and every catalogue metric by name. */
static void put_stats_alert(const ltg_sink *out, const lt_alert_t *a) {
    lt_stats_t stats;
    memset(&stats, 0, sizeof stats);
    if (lt_alert_stats(a, &stats, sizeof stats) == LT_OK) {
        out->open_dict(out->ctx, "stats");
        put_fields(out, &stats, STATS_FIELDS, COUNT(STATS_FIELDS));
        out->close(out->ctx);
    }
    size_t count = 0;
    if (lt_alert_counters(a, NULL, 0, &count) != LT_OK || count == 0) {
        return;
    }
    int64_t *values = calloc(count, sizeof *values);
    if (values == NULL) {
        return;
    }
    if (lt_alert_counters(a, values, count, &count) == LT_OK) {
        out->open_dict(out->ctx, "counters");
        for (size_t i = 0; i < count; i++) {
            const char *name = NULL;
            if (lt_stats_metric(i, &name, NULL) == LT_OK && name != NULL) {
                out->put_int(out->ctx, name, values[i]);
            }
        }
        out->close(out->ctx);
    }
    free(values);
}

/* The bits set in an alerts_dropped alert's 128-bit type set, as type numbers. */
static void put_dropped_types(const ltg_sink *out, const uint64_t types[2]) {
    out->open_array(out->ctx, "dropped_types");
    for (uint32_t t = 0; t < 128; t++) {
        if (types[t / 64] >> (t % 64) & 1) {
            out->put_int(out->ctx, NULL, t);
        }
    }
    out->close(out->ctx);
}

/* One alert: the fields every alert has, then each typed field whose
 * getter accepts this alert's type (the others answer
 * LT_ERROR_WRONG_ALERT_TYPE and are left out). Not mapped, because the
 * node has no method that leads to those alerts: read_piece's and
 * save_resume_data's bytes, state_update's statuses, dht_stats' tables,
 * scrape_reply's counts, file_renamed's and storage_moved's names,
 * peer_blocked's reason (no IP or port filter). */
static void put_alert(const ltg_sink *out, const lt_alert_t *a) {
    uint32_t type = lt_alert_type(a);
    out->put_int(out->ctx, "type", type);
    put_cstr(out, "type_name", lt_alert_type_name(type));
    out->put_int(out->ctx, "category", lt_alert_category(a));
    put_cstr(out, "message", lt_alert_message(a));
    out->put_int(out->ctx, "torrent_id", (int64_t)lt_alert_torrent(a));
    out->put_int(out->ctx, "timestamp_us", lt_alert_timestamp_us(a));

    int32_t i32;
    uint32_t u1, u2;
    uint64_t count, types[2];
    int64_t v1, v2;
    bool flag;
    const char *text;
    char buf[96];
    uint8_t hash[20];

    if (lt_alert_error(a, &i32) == LT_OK) {
        out->put_int(out->ctx, "error_code", i32);
    }
    if (lt_alert_operation(a, &u1) == LT_OK) {
        out->put_int(out->ctx, "operation", u1);
        put_cstr(out, "operation_name", lt_operation_name(u1));
    }
    if (lt_alert_piece(a, &u1) == LT_OK) {
        out->put_int(out->ctx, "piece", u1);
    }
    if (lt_alert_peer(a, buf, sizeof buf) == LT_OK) {
        put_cstr(out, "peer", buf);
    }
    if (lt_alert_states(a, &u1, &u2) == LT_OK) {
        out->put_int(out->ctx, "prev_state", u1);
        out->put_int(out->ctx, "state", u2);
    }
    if ((text = lt_alert_tracker_url(a)) != NULL) {
        put_cstr(out, "tracker_url", text);
    }
    if (lt_alert_num_peers(a, &u1) == LT_OK) {
        out->put_int(out->ctx, "num_peers", u1);
    }
    if (lt_alert_times_in_row(a, &u1) == LT_OK) {
        out->put_int(out->ctx, "times_in_row", u1);
    }
    if (lt_alert_announce_event(a, &text) == LT_OK && text != NULL) {
        put_cstr(out, "event", text);
    }
    if (lt_alert_url_seed_url(a, &text) == LT_OK && text != NULL) {
        put_cstr(out, "url", text);
    }
    if (lt_alert_dropped(a, &count, types) == LT_OK) {
        out->put_int(out->ctx, "dropped_count", (int64_t)count);
        put_dropped_types(out, types);
    }
    if (lt_alert_incoming(a, &flag) == LT_OK) {
        out->put_bool(out->ctx, "incoming", flag);
    }
    if (lt_alert_performance(a, &text, &v1, &v2, &u1) == LT_OK) {
        put_cstr(out, "metric", text != NULL ? text : "");
        out->put_int(out->ctx, "value", v1);
        out->put_int(out->ctx, "threshold", v2);
        out->put_int(out->ctx, "severity", u1);
    }
    if (lt_alert_info_hash(a, hash) == LT_OK) {
        put_hex(out, "info_hash", hash, sizeof hash);
    }
    if (type == LT_ALERT_SESSION_STATS) {
        put_stats_alert(out, a);
    }
}

lt_error ltg_alerts(ltg_node *n, const ltg_sink *out) {
    lt_error err = need_session(n, "get_alerts");
    if (err != LT_OK) {
        return err;
    }
    lt_alert_t *batch[64];
    size_t total = 0;
    while (total < LTG_ALERTS_PER_CALL) {
        size_t want = LTG_ALERTS_PER_CALL - total < COUNT(batch) ? LTG_ALERTS_PER_CALL - total : COUNT(batch);
        size_t got = lt_pop_alerts(n->session, batch, want);
        for (size_t i = 0; i < got; i++) {
            out->open_dict(out->ctx, NULL);
            put_alert(out, batch[i]);
            out->close(out->ctx);
            lt_alert_free(batch[i]);
        }
        total += got;
        if (got < want) {
            break;
        }
    }
    return LT_OK;
}
