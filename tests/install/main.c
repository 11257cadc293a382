/* Built by tests/install/run.sh against an installed liblt only: through
 * pkg-config (shared and static) and through CMake's find_package(lt)
 * (lt::lt and lt::lt_static). Exits non-zero on the first failed check. */
#include <stdio.h>
#include <string.h>
#include <lt.h>

static int failures = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                    \
        }                                                                  \
    } while (0)

int main(void) {
    /* The installed header and the library agree. */
    char expect[64];
    snprintf(expect, sizeof expect, "%d.%d.%d", LT_VERSION_MAJOR, LT_VERSION_MINOR, LT_VERSION_PATCH);
    CHECK(strcmp(lt_version(), expect) == 0);
    CHECK(lt_version_number() == LT_VERSION_NUMBER);
    CHECK(lt_abi_version() == LT_ABI_VERSION);

    /* An error code round-trips through lt_error_str. */
    CHECK(strstr(lt_error_str(LT_ERROR_INVALID_TORRENT), "invalid torrent") != NULL);
    CHECK(strcmp(lt_error_str(12345), "unknown error code") == 0);
    CHECK(lt_settings_set_int(NULL, "alert_mask", 0) == LT_ERROR_NULL_ARG);

    /* A session starts on loopback and reports the port it listens on. */
    lt_settings_t *set = lt_settings_new();
    CHECK(set != NULL);
    CHECK(lt_settings_set_str(set, "listen_interfaces", "127.0.0.1:0") == LT_OK);
    CHECK(lt_settings_set_int(set, "no_such_setting", 1) == LT_ERROR_UNKNOWN_SETTING);
    lt_session_t *ses = NULL;
    CHECK(lt_session_new(set, &ses) == LT_OK);
    lt_settings_free(set);
    if (ses) {
        uint16_t port = 0;
        CHECK(lt_session_listen_port(ses, &port) == LT_OK);
        CHECK(port != 0);
        printf("lt %s (ABI %u): session listening on 127.0.0.1:%u\n", lt_version(), lt_abi_version(), port);
        lt_session_free(ses);
    }
    if (failures == 0) printf("PASS\n");
    return failures == 0 ? 0 : 1;
}
