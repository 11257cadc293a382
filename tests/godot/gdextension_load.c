/* Loads the Godot 4 GDExtension as Godot would (dlopen, then the entry
 * symbol named in lt.gdextension) and checks the entry point's contract
 * without a Godot 4 binary, which this machine cannot run:
 *  - with a get_proc_address that knows no function (an older Godot), the
 *    entry point refuses (returns false) instead of crashing later;
 *  - with one that knows every function, it accepts, asks for the SCENE
 *    level and gives initialize/deinitialize callbacks, and it asked for
 *    every function by a name that gdextension_interface.h documents.
 * Nothing is called through the looked-up pointers (there is no engine
 * behind them). Usage: gdextension_load LIBRARY HEADER; exit 0 on success. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdextension_interface.h"

static const char *header_text;
static int lookups;
static int unknown_names;

static void never_called(void) { abort(); }

/* Knows every function gdextension_interface.h documents ("@name NAME"). */
static GDExtensionInterfaceFunctionPtr every_function(const char *name) {
    char tag[160];
    snprintf(tag, sizeof tag, "@name %s\n", name);
    lookups++;
    if (strstr(header_text, tag) == NULL) {
        fprintf(stderr, "asked for '%s', which gdextension_interface.h does not document\n", name);
        unknown_names++;
        return NULL;
    }
    return (GDExtensionInterfaceFunctionPtr)never_called;
}

static GDExtensionInterfaceFunctionPtr no_function(const char *name) {
    (void)name;
    return NULL;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (text != NULL) {
        size_t got = fread(text, 1, (size_t)len, f);
        text[got] = '\0';
    }
    fclose(f);
    return text;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIBRARY gdextension_interface.h\n", argv[0]);
        return 2;
    }
    header_text = read_all(argv[2]);
    if (header_text == NULL) {
        fprintf(stderr, "cannot read %s\n", argv[2]);
        return 1;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 1;
    }
    GDExtensionInitializationFunction entry;
    *(void **)&entry = dlsym(lib, "lt_godot_init");
    if (entry == NULL) {
        fprintf(stderr, "no lt_godot_init in %s\n", argv[1]);
        return 1;
    }
    int failures = 0;
    GDExtensionInitialization init;
    memset(&init, 0, sizeof init);
    if (entry(no_function, (GDExtensionClassLibraryPtr)&init, &init)) {
        fprintf(stderr, "the entry point accepted a Godot without any interface function\n");
        failures++;
    }
    memset(&init, 0, sizeof init);
    if (!entry(every_function, (GDExtensionClassLibraryPtr)&init, &init)) {
        fprintf(stderr, "the entry point refused a Godot with every interface function\n");
        failures++;
    }
    if (init.minimum_initialization_level != GDEXTENSION_INITIALIZATION_SCENE || init.initialize == NULL ||
        init.deinitialize == NULL) {
        fprintf(stderr, "the entry point did not ask for the SCENE level with both callbacks\n");
        failures++;
    }
    if (unknown_names > 0 || lookups == 0) {
        failures++;
    }
    printf("lt_godot_init: %d interface functions looked up, %s\n", lookups, failures ? "FAIL" : "PASS");
    dlclose(lib);
    return failures ? 1 : 0;
}
