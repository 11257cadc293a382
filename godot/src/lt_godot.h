/* The lt side of the TorrentSession node, shared by the Godot 3 (GDNative)
 * and Godot 4 (GDExtension) bindings.
 *
 * Everything that knows lt.h lives in lt_godot.c: the session, the settings
 * and add-torrent builders, and the tables that turn lt_stats_t,
 * lt_torrent_status_t and alerts into named plain C values. The bindings
 * only convert between their engine's Variant types and these calls, so a
 * field added to lt.h is added to one table and reaches both Godots.
 */
#ifndef LT_GODOT_H
#define LT_GODOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt.h"

/* Where the core writes values. Each binding turns these calls into its
 * engine's Dictionary and Array: values go into the innermost open
 * container, under `key` in a Dictionary, appended in an Array (`key` is
 * NULL there). `open_dict` / `open_array` start a nested container under
 * `key`; `close` ends the innermost one and stores it in its parent.
 * Keys are static strings (they stay valid until the matching `close`).
 * The nesting is at most LTG_MAX_DEPTH deep below the binding's root. */
typedef struct ltg_sink {
    void *ctx;
    void (*put_int)(void *ctx, const char *key, int64_t value);
    void (*put_float)(void *ctx, const char *key, double value);
    void (*put_bool)(void *ctx, const char *key, bool value);
    /* `len` bytes of UTF-8, not necessarily NUL-terminated. */
    void (*put_string)(void *ctx, const char *key, const char *utf8, size_t len);
    void (*open_dict)(void *ctx, const char *key);
    void (*open_array)(void *ctx, const char *key);
    void (*close)(void *ctx);
} ltg_sink;

/* Nesting below the root: an alert (1) holding its counters or its
 * dropped types (2). */
#define LTG_MAX_DEPTH 2

/* Alerts popped by one `ltg_alerts` call at most, so that one frame never
 * converts an unbounded backlog; the rest come with the next call. */
#define LTG_ALERTS_PER_CALL 1000

/* One TorrentSession object: its session (NULL until started and after
 * stop), the builders of a `start` or `add_torrent` call in progress, and
 * the message of the last failure. */
typedef struct ltg_node {
    lt_session_t *session;
    lt_settings_t *pending_settings;
    lt_params_t *pending_params;
    /* The first failure while building settings or params; LT_OK if none. */
    lt_error pending_error;
    char last_error[512];
} ltg_node;


void ltg_node_init(ltg_node *n);
/* Frees the session (telling trackers "stopped", with lt's bounded wait)
 * and any builder in progress. */
void ltg_node_free(ltg_node *n);

/* Records a failure: `code` and a message (printf-style) for get_last_error.
 * Returns `code`. */
lt_error ltg_fail(ltg_node *n, lt_error code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The message of the last failure ("" when none yet). */
const char *ltg_last_error(const ltg_node *n);

/* start(settings): `ltg_start_begin`, one `ltg_start_*` per Dictionary
 * entry, then `ltg_start_finish`, which returns LT_OK or the first
 * failure. A failing entry does not stop the others from being checked,
 * but only the first is reported. */
lt_error ltg_start_begin(ltg_node *n);
void ltg_start_int(ltg_node *n, const char *name, int64_t value);
void ltg_start_bool(ltg_node *n, const char *name, bool value);
void ltg_start_string(ltg_node *n, const char *name, const char *value);
/* An entry the binding cannot pass on (a key that is not a String, a value
 * that is not int, bool or String). */
void ltg_start_reject(ltg_node *n, const char *name, const char *why);
lt_error ltg_start_finish(ltg_node *n);
/* stop(): frees the session; start may be called again. LT_OK. */
lt_error ltg_stop(ltg_node *n);

/* add_torrent(source, save_path, peers): the same pattern. The source is
 * either .torrent bytes or a magnet URI; peers are "ip:port" to dial.
 * `ltg_add_finish` returns the new torrent's id (> 0) or -code. */
lt_error ltg_add_begin(ltg_node *n);
void ltg_add_torrent_bytes(ltg_node *n, const uint8_t *data, size_t len);
void ltg_add_magnet(ltg_node *n, const char *uri);
void ltg_add_save_path(ltg_node *n, const char *dir);
void ltg_add_peer(ltg_node *n, const char *ip_port);
void ltg_add_reject(ltg_node *n, const char *what, const char *why);
int64_t ltg_add_finish(ltg_node *n);

lt_error ltg_pause(ltg_node *n, int64_t id);
lt_error ltg_resume(ltg_node *n, int64_t id);
lt_error ltg_remove(ltg_node *n, int64_t id, bool delete_files);

/* Writes every lt_stats_t field by its C name, and `utp_stats`, all read
 * now, into the sink's root Dictionary. */
lt_error ltg_session_stats(ltg_node *n, const ltg_sink *out);
/* Writes every lt_torrent_status_t field by its C name into the sink's root
 * Dictionary. */
lt_error ltg_torrent_status(ltg_node *n, int64_t id, const ltg_sink *out);
/* Pops the waiting alerts (never waits) and appends one Dictionary per
 * alert to the sink's root Array. */
lt_error ltg_alerts(ltg_node *n, const ltg_sink *out);

#endif
