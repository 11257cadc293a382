/* Every way to get a setting wrong answers a code and a message. */
#include <string.h>
#include "helpers.h"

static void expect_message(const char *part) {
    char msg[512];
    size_t n = lt_last_error(msg, sizeof msg);
    CHECK(n > 0 && n < sizeof msg);
    if (!strstr(msg, part)) {
        fprintf(stderr, "last error '%s' lacks '%s'\n", msg, part);
        exit(1);
    }
}

int main(void) {
    lt_settings_t *s = lt_settings_new();
    CHECK(s != NULL);
    CHECK_EQ(lt_settings_set_int(s, "connections_limit", 50), LT_OK);
    CHECK_EQ(lt_settings_set_bool(s, "enable_lsd", false), LT_OK);
    CHECK_EQ(lt_settings_set_str(s, "user_agent", "ctest/1.0"), LT_OK);

    CHECK_EQ(lt_settings_set_int(s, "no_such_setting", 1), LT_ERROR_UNKNOWN_SETTING);
    expect_message("unknown setting 'no_such_setting'");
    CHECK_EQ(lt_settings_set_bool(s, "no_such_setting", true), LT_ERROR_UNKNOWN_SETTING);
    CHECK_EQ(lt_settings_set_str(s, "no_such_setting", "x"), LT_ERROR_UNKNOWN_SETTING);
    CHECK_EQ(lt_settings_set_int(s, "enable_dht", 1), LT_ERROR_INVALID_ARG);
    expect_message("enable_dht");
    CHECK_EQ(lt_settings_set_bool(s, "connections_limit", true), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_settings_set_str(s, "connections_limit", "5"), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_settings_set_int(s, "connections_limit", -1), LT_ERROR_INVALID_ARG);
    expect_message("out of range");
    CHECK_EQ(lt_settings_set_int(s, "alert_queue_size", 0), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_settings_set_int(NULL, "connections_limit", 1), LT_ERROR_NULL_ARG);
    CHECK_EQ(lt_settings_set_int(s, NULL, 1), LT_ERROR_NULL_ARG);
    CHECK_EQ(lt_settings_set_str(s, "user_agent", NULL), LT_ERROR_NULL_ARG);
    CHECK_EQ(lt_settings_set_str(s, "user_agent", "\xff\xfe"), LT_ERROR_INVALID_ARG);
    expect_message("UTF-8");

    /* Values that pass the setter but not the session. */
    CHECK_EQ(lt_settings_set_str(s, "listen_interfaces", "not an address"), LT_OK);
    lt_session_t *ses = NULL;
    CHECK_EQ(lt_session_new(s, &ses), LT_ERROR_INVALID_ARG);
    CHECK(ses == NULL);
    expect_message("listen_interfaces");
    CHECK_EQ(lt_settings_set_str(s, "listen_interfaces", "127.0.0.1:0"), LT_OK);
    CHECK_EQ(lt_settings_set_str(s, "dht_bootstrap_nodes", "no port"), LT_OK);
    CHECK_EQ(lt_session_new(s, &ses), LT_ERROR_INVALID_ARG);
    expect_message("dht_bootstrap_nodes");
    CHECK_EQ(lt_settings_set_str(s, "dht_bootstrap_nodes", ""), LT_OK);
    CHECK_EQ(lt_session_new(s, &ses), LT_OK);

    /* apply_settings refuses bad packs and keeps the old settings. */
    CHECK_EQ(lt_settings_set_str(s, "dht_bootstrap_nodes", "host:port"), LT_OK);
    CHECK_EQ(lt_session_apply_settings(ses, s), LT_ERROR_INVALID_ARG);
    expect_message("dht_bootstrap_nodes");
    CHECK_EQ(lt_session_apply_settings(ses, NULL), LT_ERROR_NULL_ARG);
    CHECK_EQ(lt_settings_set_str(s, "dht_bootstrap_nodes", ""), LT_OK);
    /* The DHT starts with the session: turning it on later is refused. */
    CHECK_EQ(lt_settings_set_bool(s, "enable_dht", true), LT_OK);
    CHECK_EQ(lt_session_apply_settings(ses, s), LT_ERROR_INVALID_ARG);
    expect_message("enable_dht cannot change on a running session");
    CHECK_EQ(lt_settings_set_bool(s, "enable_dht", false), LT_OK);
    CHECK_EQ(lt_settings_set_int(s, "alert_queue_size", 10), LT_OK);
    CHECK_EQ(lt_session_apply_settings(ses, s), LT_OK);

    /* Settings read only when the session starts refuse a change, and say so. */
    static const char *const fixed_ints[] = {"network_threads", "aio_threads", "hashing_threads"};
    static const int64_t started_with[] = {2, 4, 2}; /* the defaults */
    for (size_t i = 0; i < sizeof fixed_ints / sizeof fixed_ints[0]; i++) {
        CHECK_EQ(lt_settings_set_int(s, fixed_ints[i], 7), LT_OK);
        CHECK_EQ(lt_session_apply_settings(ses, s), LT_ERROR_INVALID_ARG);
        char want[96];
        snprintf(want, sizeof want, "%s cannot change on a running session", fixed_ints[i]);
        expect_message(want);
        CHECK_EQ(lt_settings_set_int(s, fixed_ints[i], started_with[i]), LT_OK);
    }
    CHECK_EQ(lt_session_apply_settings(ses, s), LT_OK);
    lt_settings_t *fresh = lt_settings_new();
    CHECK_EQ(lt_settings_set_str(fresh, "listen_interfaces", "127.0.0.1:0"), LT_OK);
    CHECK_EQ(lt_settings_set_str(fresh, "user_agent", "ctest/1.0"), LT_OK);
    CHECK_EQ(lt_settings_set_str(fresh, "user_agent", "ctest/2.0"), LT_OK);
    CHECK_EQ(lt_session_apply_settings(ses, fresh), LT_ERROR_INVALID_ARG);
    expect_message("user_agent cannot change on a running session");
    CHECK_EQ(lt_settings_set_str(fresh, "user_agent", "ctest/1.0"), LT_OK);
    CHECK_EQ(lt_settings_set_str(fresh, "peer_fingerprint", "-XX0001-"), LT_OK);
    CHECK_EQ(lt_session_apply_settings(ses, fresh), LT_ERROR_INVALID_ARG);
    expect_message("peer_fingerprint cannot change on a running session");
    CHECK_EQ(lt_settings_set_str(fresh, "peer_fingerprint", "-LT0010-"), LT_OK);
    CHECK_EQ(lt_settings_set_str(fresh, "stats_listen", "127.0.0.1:0"), LT_OK);
    CHECK_EQ(lt_session_apply_settings(ses, fresh), LT_ERROR_INVALID_ARG);
    expect_message("stats_listen cannot change on a running session");
    CHECK_EQ(lt_settings_set_str(fresh, "stats_listen", ""), LT_OK);
    CHECK_EQ(lt_settings_set_str(fresh, "listen_interfaces", "127.0.0.1:1"), LT_OK);
    CHECK_EQ(lt_session_apply_settings(ses, fresh), LT_ERROR_INVALID_ARG);
    expect_message("listen_interfaces cannot change on a running session");
    /* A pack read from the running session changes what may change. */
    lt_settings_t *running = NULL;
    CHECK_EQ(lt_session_get_settings(ses, &running), LT_OK);
    CHECK(running != NULL);
    CHECK_EQ(lt_settings_set_int(running, "download_rate_limit", 50000), LT_OK);
    CHECK_EQ(lt_session_apply_settings(ses, running), LT_OK);
    lt_settings_free(running);
    CHECK_EQ(lt_session_get_settings(ses, NULL), LT_ERROR_NULL_ARG);
    /* With the start-time settings as they run, the rest applies live. */
    CHECK_EQ(lt_settings_set_str(fresh, "listen_interfaces", "127.0.0.1:0"), LT_OK);
    CHECK_EQ(lt_settings_set_int(fresh, "upload_rate_limit", 100000), LT_OK);
    CHECK_EQ(lt_session_apply_settings(ses, fresh), LT_OK);
    lt_settings_free(fresh);
    /* A session with the DHT on (and no bootstrap node: nothing is contacted). */
    CHECK_EQ(lt_settings_set_bool(s, "enable_dht", true), LT_OK);
    lt_session_t *dht = NULL;
    CHECK_EQ(lt_session_new(s, &dht), LT_OK);
    CHECK_EQ(lt_session_post_dht_stats(dht), LT_OK);
    lt_session_free(dht);

    lt_settings_free(s);
    lt_settings_free(NULL);
    lt_session_free(ses);
    return 0;
}
