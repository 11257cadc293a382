/* TorrentSession for Godot 3 (GDNative NativeScript 1.0, tested with 3.2).
 *
 * A thin binding: it converts GDScript's Variants to C values for the core
 * (lt_godot.c) and the core's values back to Dictionaries and Arrays.
 * Methods are called on the main thread; none of them waits for the
 * network (alerts are popped, never waited for), except `stop()` and
 * freeing the object, which tell trackers "stopped" within lt's bounded
 * wait. */
#include <stdlib.h>
#include <string.h>

#include <gdnative_api_struct.gen.h>

#include "lt_godot.h"

/* The entry points Godot looks up; everything else stays hidden
 * (-fvisibility=hidden), and GDN_EXPORT is empty outside Windows. */
#define EXPORT GDN_EXPORT __attribute__((visibility("default")))

static const godot_gdnative_core_api_struct *core;
static const godot_gdnative_ext_nativescript_api_struct *nativescript;

/* ---- Variant helpers ------------------------------------------------- */

static godot_variant int_variant(int64_t v) {
    godot_variant out;
    core->godot_variant_new_int(&out, v);
    return out;
}

static godot_variant string_variant(const char *utf8, size_t len) {
    godot_string s = core->godot_string_chars_to_utf8_with_len(utf8, (godot_int)len);
    godot_variant out;
    core->godot_variant_new_string(&out, &s);
    core->godot_string_destroy(&s);
    return out;
}

/* A String Variant as a NUL-terminated UTF-8 copy the caller frees, or
 * NULL when it is not a String (or memory ran out). */
static char *utf8_copy(const godot_variant *v) {
    if (core->godot_variant_get_type(v) != GODOT_VARIANT_TYPE_STRING) {
        return NULL;
    }
    godot_string s = core->godot_variant_as_string(v);
    godot_char_string cs = core->godot_string_utf8(&s);
    const char *data = core->godot_char_string_get_data(&cs);
    size_t len = data != NULL ? strlen(data) : 0;
    char *copy = malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, data != NULL ? data : "", len);
        copy[len] = '\0';
    }
    core->godot_char_string_destroy(&cs);
    core->godot_string_destroy(&s);
    return copy;
}

static bool is_type(const godot_variant *v, godot_variant_type t) {
    return core->godot_variant_get_type(v) == t;
}

/* ---- the sink: the core's values into Dictionaries and Arrays -------- */

typedef struct {
    bool is_dict;
    godot_dictionary dict;
    godot_array array;
    const char *key; /* under which the parent stores this container */
} frame;

typedef struct {
    frame stack[LTG_MAX_DEPTH + 1];
    int top;
} builder;

/* Stores `value` (consumed) in the innermost container. */
static void store(builder *b, const char *key, godot_variant *value) {
    frame *f = &b->stack[b->top];
    if (f->is_dict) {
        godot_variant k = string_variant(key, strlen(key));
        core->godot_dictionary_set(&f->dict, &k, value);
        core->godot_variant_destroy(&k);
    } else {
        core->godot_array_append(&f->array, value);
    }
    core->godot_variant_destroy(value);
}

static void put_int(void *ctx, const char *key, int64_t value) {
    godot_variant v = int_variant(value);
    store(ctx, key, &v);
}

static void put_float(void *ctx, const char *key, double value) {
    godot_variant v;
    core->godot_variant_new_real(&v, value);
    store(ctx, key, &v);
}

static void put_bool(void *ctx, const char *key, bool value) {
    godot_variant v;
    core->godot_variant_new_bool(&v, value);
    store(ctx, key, &v);
}

static void put_string(void *ctx, const char *key, const char *utf8, size_t len) {
    godot_variant v = string_variant(utf8, len);
    store(ctx, key, &v);
}

static void open_container(builder *b, const char *key, bool is_dict) {
    frame *f = &b->stack[++b->top];
    f->is_dict = is_dict;
    f->key = key;
    if (is_dict) {
        core->godot_dictionary_new(&f->dict);
    } else {
        core->godot_array_new(&f->array);
    }
}

static void open_dict(void *ctx, const char *key) { open_container(ctx, key, true); }

static void open_array(void *ctx, const char *key) { open_container(ctx, key, false); }

/* The variant of a container, which is then destroyed (the variant holds
 * its own reference). */
static godot_variant take_container(frame *f) {
    godot_variant v;
    if (f->is_dict) {
        core->godot_variant_new_dictionary(&v, &f->dict);
        core->godot_dictionary_destroy(&f->dict);
    } else {
        core->godot_variant_new_array(&v, &f->array);
        core->godot_array_destroy(&f->array);
    }
    return v;
}

static void close_container(void *ctx) {
    builder *b = ctx;
    frame *f = &b->stack[b->top--];
    const char *key = f->key;
    godot_variant v = take_container(f);
    store(b, key, &v);
}

static void builder_start(builder *b, bool is_dict, ltg_sink *sink) {
    b->top = -1;
    open_container(b, NULL, is_dict);
    *sink = (ltg_sink){b, put_int, put_float, put_bool, put_string, open_dict, open_array, close_container};
}

/* ---- the methods ----------------------------------------------------- */

#define METHOD(name)                                                                                    \
    static godot_variant name(godot_object *self, void *method_data, void *user_data, int argc,          \
                              godot_variant **argv)
#define UNUSED_ARGS  \
    (void)self;      \
    (void)method_data

/* An int result (an lt_error, or an id / -code). */
static godot_variant done(int64_t v) { return int_variant(v); }

/* start(settings: Dictionary) -> int: LT_OK or an lt_error code. */
METHOD(m_start) {
    UNUSED_ARGS;
    ltg_node *n = user_data;
    if (argc < 1 || !is_type(argv[0], GODOT_VARIANT_TYPE_DICTIONARY)) {
        return done(ltg_fail(n, LT_ERROR_INVALID_ARG, "start: the argument must be a Dictionary of settings"));
    }
    lt_error err = ltg_start_begin(n);
    if (err != LT_OK) {
        return done(err);
    }
    godot_dictionary settings = core->godot_variant_as_dictionary(argv[0]);
    godot_array keys = core->godot_dictionary_keys(&settings);
    godot_int count = core->godot_array_size(&keys);
    for (godot_int i = 0; i < count; i++) {
        godot_variant key = core->godot_array_get(&keys, i);
        godot_variant value = core->godot_dictionary_get(&settings, &key);
        char *name = utf8_copy(&key);
        if (name == NULL) {
            ltg_start_reject(n, "?", "setting names must be Strings");
        } else if (is_type(&value, GODOT_VARIANT_TYPE_BOOL)) {
            ltg_start_bool(n, name, core->godot_variant_as_bool(&value));
        } else if (is_type(&value, GODOT_VARIANT_TYPE_INT)) {
            ltg_start_int(n, name, core->godot_variant_as_int(&value));
        } else if (is_type(&value, GODOT_VARIANT_TYPE_STRING)) {
            char *text = utf8_copy(&value);
            if (text != NULL) {
                ltg_start_string(n, name, text);
            } else {
                ltg_start_reject(n, name, "out of memory");
            }
            free(text);
        } else {
            ltg_start_reject(n, name, "the value must be an int, a bool or a String");
        }
        free(name);
        core->godot_variant_destroy(&value);
        core->godot_variant_destroy(&key);
    }
    core->godot_array_destroy(&keys);
    core->godot_dictionary_destroy(&settings);
    return done(ltg_start_finish(n));
}

/* Passes one peer ("ip:port") Variant to the params being built. */
static void add_peer_variant(ltg_node *n, const godot_variant *v) {
    char *peer = utf8_copy(v);
    if (peer == NULL) {
        ltg_add_reject(n, "peers", "each peer must be a String \"ip:port\"");
        return;
    }
    ltg_add_peer(n, peer);
    free(peer);
}

/* add_torrent(source: PoolByteArray | String, save_path: String,
 * peers: Array | String = []) -> int: the torrent id (> 0), or -code. */
METHOD(m_add_torrent) {
    UNUSED_ARGS;
    ltg_node *n = user_data;
    if (argc < 2) {
        return done(-ltg_fail(n, LT_ERROR_INVALID_ARG, "add_torrent: needs (source, save_path[, peers])"));
    }
    lt_error err = ltg_add_begin(n);
    if (err != LT_OK) {
        return done(-(int64_t)err);
    }
    if (is_type(argv[0], GODOT_VARIANT_TYPE_POOL_BYTE_ARRAY)) {
        godot_pool_byte_array bytes = core->godot_variant_as_pool_byte_array(argv[0]);
        godot_pool_byte_array_read_access *read = core->godot_pool_byte_array_read(&bytes);
        ltg_add_torrent_bytes(n, core->godot_pool_byte_array_read_access_ptr(read),
                              (size_t)core->godot_pool_byte_array_size(&bytes));
        core->godot_pool_byte_array_read_access_destroy(read);
        core->godot_pool_byte_array_destroy(&bytes);
    } else if (is_type(argv[0], GODOT_VARIANT_TYPE_STRING)) {
        char *uri = utf8_copy(argv[0]);
        ltg_add_magnet(n, uri != NULL ? uri : "");
        free(uri);
    } else {
        ltg_add_reject(n, "source", "must be a PoolByteArray (.torrent bytes) or a String (magnet URI)");
    }
    char *save_path = utf8_copy(argv[1]);
    if (save_path == NULL) {
        ltg_add_reject(n, "save_path", "must be a String");
    } else {
        ltg_add_save_path(n, save_path);
        free(save_path);
    }
    if (argc >= 3 && is_type(argv[2], GODOT_VARIANT_TYPE_ARRAY)) {
        godot_array peers = core->godot_variant_as_array(argv[2]);
        godot_int count = core->godot_array_size(&peers);
        for (godot_int i = 0; i < count; i++) {
            godot_variant peer = core->godot_array_get(&peers, i);
            add_peer_variant(n, &peer);
            core->godot_variant_destroy(&peer);
        }
        core->godot_array_destroy(&peers);
    } else if (argc >= 3 && !is_type(argv[2], GODOT_VARIANT_TYPE_NIL)) {
        add_peer_variant(n, argv[2]);
    }
    return done(ltg_add_finish(n));
}

/* The torrent id argument: an int, else 0 (which the core rejects). */
static int64_t id_arg(int argc, godot_variant **argv) {
    return argc >= 1 && is_type(argv[0], GODOT_VARIANT_TYPE_INT) ? core->godot_variant_as_int(argv[0]) : 0;
}

METHOD(m_pause) {
    UNUSED_ARGS;
    return done(ltg_pause(user_data, id_arg(argc, argv)));
}

METHOD(m_resume) {
    UNUSED_ARGS;
    return done(ltg_resume(user_data, id_arg(argc, argv)));
}

/* remove(id: int, delete_files: bool = false) -> int. */
METHOD(m_remove) {
    UNUSED_ARGS;
    bool delete_files = argc >= 2 && is_type(argv[1], GODOT_VARIANT_TYPE_BOOL) && core->godot_variant_as_bool(argv[1]);
    return done(ltg_remove(user_data, id_arg(argc, argv), delete_files));
}

METHOD(m_stop) {
    UNUSED_ARGS;
    (void)argc;
    (void)argv;
    return done(ltg_stop(user_data));
}

/* get_session_stats() -> Dictionary (empty on failure: see get_last_error). */
METHOD(m_get_session_stats) {
    UNUSED_ARGS;
    (void)argc;
    (void)argv;
    builder b;
    ltg_sink sink;
    builder_start(&b, true, &sink);
    if (ltg_session_stats(user_data, &sink) != LT_OK) {
        core->godot_dictionary_clear(&b.stack[0].dict);
    }
    return take_container(&b.stack[0]);
}

/* get_torrent_status(id: int) -> Dictionary (empty on failure). */
METHOD(m_get_torrent_status) {
    UNUSED_ARGS;
    builder b;
    ltg_sink sink;
    builder_start(&b, true, &sink);
    if (ltg_torrent_status(user_data, id_arg(argc, argv), &sink) != LT_OK) {
        core->godot_dictionary_clear(&b.stack[0].dict);
    }
    return take_container(&b.stack[0]);
}

/* get_alerts() -> Array of Dictionaries; never waits. */
METHOD(m_get_alerts) {
    UNUSED_ARGS;
    (void)argc;
    (void)argv;
    builder b;
    ltg_sink sink;
    builder_start(&b, false, &sink);
    ltg_alerts(user_data, &sink);
    return take_container(&b.stack[0]);
}

/* get_last_error() -> String: the message of the last failure. */
METHOD(m_get_last_error) {
    UNUSED_ARGS;
    (void)argc;
    (void)argv;
    const char *msg = ltg_last_error(user_data);
    return string_variant(msg, strlen(msg));
}

/* ---- registration ---------------------------------------------------- */

static void *create(godot_object *self, void *method_data) {
    (void)self;
    (void)method_data;
    ltg_node *n = malloc(sizeof *n);
    if (n != NULL) {
        ltg_node_init(n);
    }
    return n;
}

static void destroy(godot_object *self, void *method_data, void *user_data) {
    (void)self;
    (void)method_data;
    if (user_data != NULL) {
        ltg_node_free(user_data);
        free(user_data);
    }
}

EXPORT void godot_gdnative_init(godot_gdnative_init_options *options) {
    core = options->api_struct;
    for (unsigned i = 0; i < core->num_extensions; i++) {
        if (core->extensions[i]->type == GDNATIVE_EXT_NATIVESCRIPT) {
            nativescript = (const godot_gdnative_ext_nativescript_api_struct *)core->extensions[i];
        }
    }
}

EXPORT void godot_gdnative_terminate(godot_gdnative_terminate_options *options) {
    (void)options;
    core = NULL;
    nativescript = NULL;
}

EXPORT void godot_nativescript_init(void *handle) {
    godot_instance_create_func create_func = {create, NULL, NULL};
    godot_instance_destroy_func destroy_func = {destroy, NULL, NULL};
    nativescript->godot_nativescript_register_class(handle, "TorrentSession", "Node", create_func, destroy_func);
    static const struct {
        const char *name;
        godot_variant (*fn)(godot_object *, void *, void *, int, godot_variant **);
    } methods[] = {
        {"start", m_start},
        {"add_torrent", m_add_torrent},
        {"pause", m_pause},
        {"resume", m_resume},
        {"remove", m_remove},
        {"stop", m_stop},
        {"get_session_stats", m_get_session_stats},
        {"get_torrent_status", m_get_torrent_status},
        {"get_alerts", m_get_alerts},
        {"get_last_error", m_get_last_error},
    };
    godot_method_attributes attributes = {GODOT_METHOD_RPC_MODE_DISABLED};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        godot_instance_method m = {methods[i].fn, NULL, NULL};
        nativescript->godot_nativescript_register_method(handle, "TorrentSession", methods[i].name, attributes, m);
    }
}
