/* TorrentSession for Godot 4 (GDExtension, 4.4 and later), in C over
 * gdextension_interface.h.
 *
 * The same class as gdnative.c, over the same core (lt_godot.c). Every
 * Godot function is looked up by name through get_proc_address at load
 * time, and builtin methods are called by name (variant_call), so the
 * library needs no per-version method hashes. Methods are registered as
 * vararg (called with Variants, never ptrcall), which also gives the
 * optional arguments of add_torrent and remove.
 *
 * No Godot 4 binary runs on CI: tests/godot/run.sh compiles and links
 * this file and checks its entry symbol, nothing more. */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "gdextension_interface.h"
#include "lt_godot.h"

#define EXPORT __attribute__((visibility("default")))

/* Storage for an engine value of opaque layout: a Variant is 24 bytes (40
 * in double-precision builds), String and StringName 8, PackedByteArray
 * 16; 64 bytes hold any of them. */
typedef struct {
    alignas(8) uint8_t bytes[64];
} opaque;

static struct {
    GDExtensionClassLibraryPtr library;
    GDExtensionInterfaceClassdbConstructObject2 construct_object;
    GDExtensionInterfaceObjectSetInstance object_set_instance;
    GDExtensionInterfaceObjectSetInstanceBinding object_set_instance_binding;
    GDExtensionInterfaceClassdbRegisterExtensionClass4 register_class;
    GDExtensionInterfaceClassdbRegisterExtensionClassMethod register_method;
    GDExtensionInterfaceClassdbUnregisterExtensionClass unregister_class;
    GDExtensionInterfaceVariantNewCopy variant_new_copy;
    GDExtensionInterfaceVariantDestroy variant_destroy;
    GDExtensionInterfaceVariantGetType variant_get_type;
    GDExtensionInterfaceVariantCall variant_call;
    GDExtensionInterfaceVariantSet variant_set;
    GDExtensionInterfaceVariantGet variant_get;
    GDExtensionInterfaceVariantGetIndexed variant_get_indexed;
    GDExtensionInterfaceVariantConstruct variant_construct;
    GDExtensionInterfaceGetVariantFromTypeConstructor from_type;
    GDExtensionInterfaceGetVariantToTypeConstructor to_type;
    GDExtensionInterfaceVariantGetPtrDestructor destructor;
    GDExtensionInterfaceStringNewWithUtf8CharsAndLen2 string_new;
    GDExtensionInterfaceStringToUtf8Chars string_to_utf8;
    GDExtensionInterfaceStringNameNewWithLatin1Chars string_name_new;
    GDExtensionInterfacePackedByteArrayOperatorIndexConst bytes_at;
    /* StringNames made once at initialisation. */
    opaque class_name, parent_name, append_name, size_name, keys_name, notification_name;
} g;

/* ---- Variant helpers ------------------------------------------------- */

static void int_variant(GDExtensionUninitializedVariantPtr out, int64_t v) {
    g.from_type(GDEXTENSION_VARIANT_TYPE_INT)(out, &v);
}

static void string_variant(GDExtensionUninitializedVariantPtr out, const char *utf8, size_t len) {
    opaque s;
    g.string_new(&s, utf8, (GDExtensionInt)len);
    g.from_type(GDEXTENSION_VARIANT_TYPE_STRING)(out, &s);
    g.destructor(GDEXTENSION_VARIANT_TYPE_STRING)(&s);
}

static bool is_type(GDExtensionConstVariantPtr v, GDExtensionVariantType t) { return g.variant_get_type(v) == t; }

/* A String Variant as a NUL-terminated UTF-8 copy the caller frees, or
 * NULL when it is not a String (or memory ran out). */
static char *utf8_copy(GDExtensionConstVariantPtr v) {
    if (!is_type(v, GDEXTENSION_VARIANT_TYPE_STRING)) {
        return NULL;
    }
    opaque s;
    g.to_type(GDEXTENSION_VARIANT_TYPE_STRING)(&s, (GDExtensionVariantPtr)v);
    GDExtensionInt len = g.string_to_utf8(&s, NULL, 0);
    char *copy = malloc((size_t)len + 1);
    if (copy != NULL) {
        g.string_to_utf8(&s, copy, len);
        copy[len] = '\0';
    }
    g.destructor(GDEXTENSION_VARIANT_TYPE_STRING)(&s);
    return copy;
}

/* Calls a builtin method without arguments (Array.size, Dictionary.keys)
 * into `out`. */
static void call0(GDExtensionConstVariantPtr self, const opaque *method, GDExtensionUninitializedVariantPtr out) {
    GDExtensionCallError error;
    g.variant_call((GDExtensionVariantPtr)self, method, NULL, 0, out, &error);
}

static int64_t size_of(GDExtensionConstVariantPtr container) {
    opaque size;
    call0(container, &g.size_name, &size);
    int64_t n = 0;
    if (is_type(&size, GDEXTENSION_VARIANT_TYPE_INT)) {
        g.to_type(GDEXTENSION_VARIANT_TYPE_INT)(&n, &size);
    }
    g.variant_destroy(&size);
    return n;
}

static int64_t as_int(GDExtensionConstVariantPtr v) {
    int64_t n;
    g.to_type(GDEXTENSION_VARIANT_TYPE_INT)(&n, (GDExtensionVariantPtr)v);
    return n;
}

static bool as_bool(GDExtensionConstVariantPtr v) {
    GDExtensionBool b;
    g.to_type(GDEXTENSION_VARIANT_TYPE_BOOL)(&b, (GDExtensionVariantPtr)v);
    return b != 0;
}

/* ---- the sink: the core's values into Dictionaries and Arrays -------- */

typedef struct {
    opaque container; /* a Dictionary or Array Variant */
    bool is_dict;
    const char *key; /* under which the parent stores this container */
} frame;

typedef struct {
    frame stack[LTG_MAX_DEPTH + 1];
    int top;
} builder;

/* Stores `value` (consumed) in the innermost container. Dictionaries and
 * Arrays are shared by reference, so setting through the Variant changes
 * the container itself. */
static void store(builder *b, const char *key, opaque *value) {
    frame *f = &b->stack[b->top];
    if (f->is_dict) {
        opaque k;
        GDExtensionBool valid;
        string_variant(&k, key, strlen(key));
        g.variant_set(&f->container, &k, value, &valid);
        g.variant_destroy(&k);
    } else {
        opaque ignored;
        GDExtensionCallError error;
        GDExtensionConstVariantPtr args[1] = {value};
        g.variant_call(&f->container, &g.append_name, args, 1, &ignored, &error);
        g.variant_destroy(&ignored);
    }
    g.variant_destroy(value);
}

static void put_int(void *ctx, const char *key, int64_t value) {
    opaque v;
    int_variant(&v, value);
    store(ctx, key, &v);
}

static void put_float(void *ctx, const char *key, double value) {
    opaque v;
    g.from_type(GDEXTENSION_VARIANT_TYPE_FLOAT)(&v, &value);
    store(ctx, key, &v);
}

static void put_bool(void *ctx, const char *key, bool value) {
    opaque v;
    GDExtensionBool b = value;
    g.from_type(GDEXTENSION_VARIANT_TYPE_BOOL)(&v, &b);
    store(ctx, key, &v);
}

static void put_string(void *ctx, const char *key, const char *utf8, size_t len) {
    opaque v;
    string_variant(&v, utf8, len);
    store(ctx, key, &v);
}

static void open_container(builder *b, const char *key, bool is_dict) {
    frame *f = &b->stack[++b->top];
    GDExtensionCallError error;
    f->is_dict = is_dict;
    f->key = key;
    g.variant_construct(is_dict ? GDEXTENSION_VARIANT_TYPE_DICTIONARY : GDEXTENSION_VARIANT_TYPE_ARRAY,
                        &f->container, NULL, 0, &error);
}

static void open_dict(void *ctx, const char *key) { open_container(ctx, key, true); }

static void open_array(void *ctx, const char *key) { open_container(ctx, key, false); }

static void close_container(void *ctx) {
    builder *b = ctx;
    frame *f = &b->stack[b->top--];
    store(b, f->key, &f->container);
}

static void builder_start(builder *b, bool is_dict, ltg_sink *sink) {
    b->top = -1;
    open_container(b, NULL, is_dict);
    *sink = (ltg_sink){b, put_int, put_float, put_bool, put_string, open_dict, open_array, close_container};
}

/* Copies the root container into the method's return Variant (which Godot
 * hands over as Nil) and releases the builder's reference. */
static void builder_return(builder *b, GDExtensionVariantPtr r_return) {
    g.variant_new_copy(r_return, &b->stack[0].container);
    g.variant_destroy(&b->stack[0].container);
}

/* Empties the result after a failure: a fresh root container. */
static void builder_reset(builder *b) {
    bool is_dict = b->stack[0].is_dict;
    g.variant_destroy(&b->stack[0].container);
    b->top = -1;
    open_container(b, NULL, is_dict);
}

/* ---- the methods ----------------------------------------------------- */

#define METHOD(name)                                                                                   \
    static void name(void *method_userdata, GDExtensionClassInstancePtr self,                           \
                     const GDExtensionConstVariantPtr *argv, GDExtensionInt argc, GDExtensionVariantPtr ret, \
                     GDExtensionCallError *r_error)
#define UNUSED_ARGS          \
    (void)method_userdata;   \
    r_error->error = GDEXTENSION_CALL_OK

/* start(settings: Dictionary) -> int: LT_OK or an lt_error code. */
METHOD(m_start) {
    UNUSED_ARGS;
    ltg_node *n = self;
    if (argc < 1 || !is_type(argv[0], GDEXTENSION_VARIANT_TYPE_DICTIONARY)) {
        int_variant(ret, ltg_fail(n, LT_ERROR_INVALID_ARG, "start: the argument must be a Dictionary of settings"));
        return;
    }
    lt_error err = ltg_start_begin(n);
    if (err != LT_OK) {
        int_variant(ret, err);
        return;
    }
    opaque keys;
    call0(argv[0], &g.keys_name, &keys);
    int64_t count = size_of(&keys);
    for (int64_t i = 0; i < count; i++) {
        opaque key, value;
        GDExtensionBool valid, oob;
        g.variant_get_indexed(&keys, i, &key, &valid, &oob);
        g.variant_get(argv[0], &key, &value, &valid);
        char *name = utf8_copy(&key);
        if (name == NULL) {
            ltg_start_reject(n, "?", "setting names must be Strings");
        } else if (is_type(&value, GDEXTENSION_VARIANT_TYPE_BOOL)) {
            ltg_start_bool(n, name, as_bool(&value));
        } else if (is_type(&value, GDEXTENSION_VARIANT_TYPE_INT)) {
            ltg_start_int(n, name, as_int(&value));
        } else if (is_type(&value, GDEXTENSION_VARIANT_TYPE_STRING)) {
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
        g.variant_destroy(&value);
        g.variant_destroy(&key);
    }
    g.variant_destroy(&keys);
    int_variant(ret, ltg_start_finish(n));
}

static void add_peer_variant(ltg_node *n, GDExtensionConstVariantPtr v) {
    char *peer = utf8_copy(v);
    if (peer == NULL) {
        ltg_add_reject(n, "peers", "each peer must be a String \"ip:port\"");
        return;
    }
    ltg_add_peer(n, peer);
    free(peer);
}

/* add_torrent(source: PackedByteArray | String, save_path: String,
 * peers: Array | String = []) -> int: the torrent id (> 0), or -code. */
METHOD(m_add_torrent) {
    UNUSED_ARGS;
    ltg_node *n = self;
    if (argc < 2) {
        int_variant(ret, -ltg_fail(n, LT_ERROR_INVALID_ARG, "add_torrent: needs (source, save_path[, peers])"));
        return;
    }
    lt_error err = ltg_add_begin(n);
    if (err != LT_OK) {
        int_variant(ret, -(int64_t)err);
        return;
    }
    if (is_type(argv[0], GDEXTENSION_VARIANT_TYPE_PACKED_BYTE_ARRAY)) {
        int64_t len = size_of(argv[0]);
        opaque bytes;
        g.to_type(GDEXTENSION_VARIANT_TYPE_PACKED_BYTE_ARRAY)(&bytes, (GDExtensionVariantPtr)argv[0]);
        ltg_add_torrent_bytes(n, len > 0 ? g.bytes_at(&bytes, 0) : (const uint8_t *)"", (size_t)len);
        g.destructor(GDEXTENSION_VARIANT_TYPE_PACKED_BYTE_ARRAY)(&bytes);
    } else if (is_type(argv[0], GDEXTENSION_VARIANT_TYPE_STRING)) {
        char *uri = utf8_copy(argv[0]);
        ltg_add_magnet(n, uri != NULL ? uri : "");
        free(uri);
    } else {
        ltg_add_reject(n, "source", "must be a PackedByteArray (.torrent bytes) or a String (magnet URI)");
    }
    char *save_path = utf8_copy(argv[1]);
    if (save_path == NULL) {
        ltg_add_reject(n, "save_path", "must be a String");
    } else {
        ltg_add_save_path(n, save_path);
        free(save_path);
    }
    if (argc >= 3 && is_type(argv[2], GDEXTENSION_VARIANT_TYPE_ARRAY)) {
        int64_t count = size_of(argv[2]);
        for (int64_t i = 0; i < count; i++) {
            opaque peer;
            GDExtensionBool valid, oob;
            g.variant_get_indexed(argv[2], i, &peer, &valid, &oob);
            add_peer_variant(n, &peer);
            g.variant_destroy(&peer);
        }
    } else if (argc >= 3 && !is_type(argv[2], GDEXTENSION_VARIANT_TYPE_NIL)) {
        add_peer_variant(n, argv[2]);
    }
    int_variant(ret, ltg_add_finish(n));
}

/* The torrent id argument: an int, else 0 (which the core rejects). */
static int64_t id_arg(const GDExtensionConstVariantPtr *argv, GDExtensionInt argc) {
    return argc >= 1 && is_type(argv[0], GDEXTENSION_VARIANT_TYPE_INT) ? as_int(argv[0]) : 0;
}

METHOD(m_pause) {
    UNUSED_ARGS;
    int_variant(ret, ltg_pause(self, id_arg(argv, argc)));
}

METHOD(m_resume) {
    UNUSED_ARGS;
    int_variant(ret, ltg_resume(self, id_arg(argv, argc)));
}

/* remove(id: int, delete_files: bool = false) -> int. */
METHOD(m_remove) {
    UNUSED_ARGS;
    bool delete_files = argc >= 2 && is_type(argv[1], GDEXTENSION_VARIANT_TYPE_BOOL) && as_bool(argv[1]);
    int_variant(ret, ltg_remove(self, id_arg(argv, argc), delete_files));
}

METHOD(m_stop) {
    UNUSED_ARGS;
    (void)argv;
    (void)argc;
    int_variant(ret, ltg_stop(self));
}

/* get_session_stats() -> Dictionary (empty on failure: see get_last_error). */
METHOD(m_get_session_stats) {
    UNUSED_ARGS;
    (void)argv;
    (void)argc;
    builder b;
    ltg_sink sink;
    builder_start(&b, true, &sink);
    if (ltg_session_stats(self, &sink) != LT_OK) {
        builder_reset(&b);
    }
    builder_return(&b, ret);
}

/* get_torrent_status(id: int) -> Dictionary (empty on failure). */
METHOD(m_get_torrent_status) {
    UNUSED_ARGS;
    builder b;
    ltg_sink sink;
    builder_start(&b, true, &sink);
    if (ltg_torrent_status(self, id_arg(argv, argc), &sink) != LT_OK) {
        builder_reset(&b);
    }
    builder_return(&b, ret);
}

/* get_alerts() -> Array of Dictionaries; never waits. */
METHOD(m_get_alerts) {
    UNUSED_ARGS;
    (void)argv;
    (void)argc;
    builder b;
    ltg_sink sink;
    builder_start(&b, false, &sink);
    ltg_alerts(self, &sink);
    builder_return(&b, ret);
}

/* get_last_error() -> String. */
METHOD(m_get_last_error) {
    UNUSED_ARGS;
    (void)argv;
    (void)argc;
    const char *msg = ltg_last_error(self);
    string_variant(ret, msg, strlen(msg));
}

/* ---- the class ------------------------------------------------------- */

/* Sends NOTIFICATION_POSTINITIALIZE (0) to a new object, as Godot asks of
 * classdb_construct_object2's callers when it says so. */
static void postinitialize(GDExtensionObjectPtr object) {
    opaque self, what, ignored;
    GDExtensionCallError error;
    int64_t zero = 0;
    g.from_type(GDEXTENSION_VARIANT_TYPE_OBJECT)(&self, &object);
    g.from_type(GDEXTENSION_VARIANT_TYPE_INT)(&what, &zero);
    GDExtensionConstVariantPtr args[1] = {&what};
    g.variant_call(&self, &g.notification_name, args, 1, &ignored, &error);
    g.variant_destroy(&ignored);
    g.variant_destroy(&what);
    g.variant_destroy(&self);
}

static GDExtensionObjectPtr create_instance(void *class_userdata, GDExtensionBool notify_postinitialize) {
    (void)class_userdata;
    ltg_node *n = malloc(sizeof *n);
    if (n == NULL) {
        return NULL;
    }
    ltg_node_init(n);
    GDExtensionObjectPtr object = g.construct_object(&g.parent_name);
    g.object_set_instance(object, &g.class_name, n);
    /* No wrapper object on our side: the binding is the instance itself,
     * with no callbacks (as Godot's C example does). */
    static const GDExtensionInstanceBindingCallbacks no_callbacks = {NULL, NULL, NULL};
    g.object_set_instance_binding(object, g.library, n, &no_callbacks);
    if (notify_postinitialize) {
        postinitialize(object);
    }
    return object;
}

static void free_instance(void *class_userdata, GDExtensionClassInstancePtr instance) {
    (void)class_userdata;
    ltg_node_free(instance);
    free(instance);
}

static void register_method(const char *name, GDExtensionClassMethodCall call, GDExtensionVariantType returns) {
    opaque method_name, empty_name, empty_string;
    g.string_name_new(&method_name, name, false);
    g.string_name_new(&empty_name, "", false);
    g.string_new(&empty_string, "", 0);
    GDExtensionPropertyInfo return_info = {
        .type = returns,
        .name = &empty_name,
        .class_name = &empty_name,
        .hint = 0,
        .hint_string = &empty_string,
        .usage = 6, /* PROPERTY_USAGE_DEFAULT */
    };
    GDExtensionClassMethodInfo info = {
        .name = &method_name,
        .call_func = call,
        .method_flags = GDEXTENSION_METHOD_FLAG_NORMAL | GDEXTENSION_METHOD_FLAG_VARARG,
        .has_return_value = true,
        .return_value_info = &return_info,
        .return_value_metadata = GDEXTENSION_METHOD_ARGUMENT_METADATA_NONE,
    };
    g.register_method(g.library, &g.class_name, &info);
    g.destructor(GDEXTENSION_VARIANT_TYPE_STRING)(&empty_string);
    g.destructor(GDEXTENSION_VARIANT_TYPE_STRING_NAME)(&empty_name);
    g.destructor(GDEXTENSION_VARIANT_TYPE_STRING_NAME)(&method_name);
}

static void initialize(void *userdata, GDExtensionInitializationLevel level) {
    (void)userdata;
    if (level != GDEXTENSION_INITIALIZATION_SCENE) {
        return;
    }
    g.string_name_new(&g.class_name, "TorrentSession", true);
    g.string_name_new(&g.parent_name, "Node", true);
    g.string_name_new(&g.append_name, "append", true);
    g.string_name_new(&g.size_name, "size", true);
    g.string_name_new(&g.keys_name, "keys", true);
    g.string_name_new(&g.notification_name, "notification", true);
    opaque no_icon;
    g.string_new(&no_icon, "", 0);
    GDExtensionClassCreationInfo4 info = {
        .is_exposed = true,
        .icon_path = &no_icon,
        .create_instance_func = create_instance,
        .free_instance_func = free_instance,
    };
    g.register_class(g.library, &g.class_name, &g.parent_name, &info);
    g.destructor(GDEXTENSION_VARIANT_TYPE_STRING)(&no_icon);
    register_method("start", m_start, GDEXTENSION_VARIANT_TYPE_INT);
    register_method("add_torrent", m_add_torrent, GDEXTENSION_VARIANT_TYPE_INT);
    register_method("pause", m_pause, GDEXTENSION_VARIANT_TYPE_INT);
    register_method("resume", m_resume, GDEXTENSION_VARIANT_TYPE_INT);
    register_method("remove", m_remove, GDEXTENSION_VARIANT_TYPE_INT);
    register_method("stop", m_stop, GDEXTENSION_VARIANT_TYPE_INT);
    register_method("get_session_stats", m_get_session_stats, GDEXTENSION_VARIANT_TYPE_DICTIONARY);
    register_method("get_torrent_status", m_get_torrent_status, GDEXTENSION_VARIANT_TYPE_DICTIONARY);
    register_method("get_alerts", m_get_alerts, GDEXTENSION_VARIANT_TYPE_ARRAY);
    register_method("get_last_error", m_get_last_error, GDEXTENSION_VARIANT_TYPE_STRING);
}

static void deinitialize(void *userdata, GDExtensionInitializationLevel level) {
    (void)userdata;
    if (level != GDEXTENSION_INITIALIZATION_SCENE) {
        return;
    }
    g.unregister_class(g.library, &g.class_name);
    opaque *names[] = {&g.class_name, &g.parent_name, &g.append_name, &g.size_name, &g.keys_name,
                       &g.notification_name};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        g.destructor(GDEXTENSION_VARIANT_TYPE_STRING_NAME)(names[i]);
    }
}

/* Looks up an interface function; `ok` turns false when one is missing
 * (an older Godot than the .gdextension's compatibility_minimum). */
static GDExtensionInterfaceFunctionPtr lookup(GDExtensionInterfaceGetProcAddress get, const char *name, bool *ok) {
    GDExtensionInterfaceFunctionPtr f = get(name);
    if (f == NULL) {
        *ok = false;
    }
    return f;
}

/* The entry point named by lt.gdextension's entry_symbol. */
EXPORT GDExtensionBool lt_godot_init(GDExtensionInterfaceGetProcAddress get, GDExtensionClassLibraryPtr library,
                                     GDExtensionInitialization *init) {
    bool ok = true;
    /* Through void (*)(void), which GCC's -Wcast-function-type accepts as
     * "any function": get_proc_address returns one generic type for all. */
#define LOAD(field, type, name) g.field = (type)(void (*)(void))lookup(get, name, &ok)
    g.library = library;
    LOAD(construct_object, GDExtensionInterfaceClassdbConstructObject2, "classdb_construct_object2");
    LOAD(object_set_instance, GDExtensionInterfaceObjectSetInstance, "object_set_instance");
    LOAD(object_set_instance_binding, GDExtensionInterfaceObjectSetInstanceBinding, "object_set_instance_binding");
    /* classdb_register_extension_class5 (4.5) takes the same struct as 4
     * (4.4, deprecated in 4.5): prefer 5, fall back to 4. */
    g.register_class = (GDExtensionInterfaceClassdbRegisterExtensionClass4)(void (*)(void))get("classdb_register_extension_class5");
    if (g.register_class == NULL) {
        LOAD(register_class, GDExtensionInterfaceClassdbRegisterExtensionClass4, "classdb_register_extension_class4");
    }
    LOAD(register_method, GDExtensionInterfaceClassdbRegisterExtensionClassMethod,
         "classdb_register_extension_class_method");
    LOAD(unregister_class, GDExtensionInterfaceClassdbUnregisterExtensionClass, "classdb_unregister_extension_class");
    LOAD(variant_new_copy, GDExtensionInterfaceVariantNewCopy, "variant_new_copy");
    LOAD(variant_destroy, GDExtensionInterfaceVariantDestroy, "variant_destroy");
    LOAD(variant_get_type, GDExtensionInterfaceVariantGetType, "variant_get_type");
    LOAD(variant_call, GDExtensionInterfaceVariantCall, "variant_call");
    LOAD(variant_set, GDExtensionInterfaceVariantSet, "variant_set");
    LOAD(variant_get, GDExtensionInterfaceVariantGet, "variant_get");
    LOAD(variant_get_indexed, GDExtensionInterfaceVariantGetIndexed, "variant_get_indexed");
    LOAD(variant_construct, GDExtensionInterfaceVariantConstruct, "variant_construct");
    LOAD(from_type, GDExtensionInterfaceGetVariantFromTypeConstructor, "get_variant_from_type_constructor");
    LOAD(to_type, GDExtensionInterfaceGetVariantToTypeConstructor, "get_variant_to_type_constructor");
    LOAD(destructor, GDExtensionInterfaceVariantGetPtrDestructor, "variant_get_ptr_destructor");
    LOAD(string_new, GDExtensionInterfaceStringNewWithUtf8CharsAndLen2, "string_new_with_utf8_chars_and_len2");
    LOAD(string_to_utf8, GDExtensionInterfaceStringToUtf8Chars, "string_to_utf8_chars");
    LOAD(string_name_new, GDExtensionInterfaceStringNameNewWithLatin1Chars, "string_name_new_with_latin1_chars");
    LOAD(bytes_at, GDExtensionInterfacePackedByteArrayOperatorIndexConst, "packed_byte_array_operator_index_const");
#undef LOAD
    if (!ok) {
        return false;
    }
    init->minimum_initialization_level = GDEXTENSION_INITIALIZATION_SCENE;
    init->userdata = NULL;
    init->initialize = initialize;
    init->deinitialize = deinitialize;
    return true;
}
