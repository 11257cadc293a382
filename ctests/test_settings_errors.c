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
    CHECK_EQ(lt_settings_set_bool(s, "enable_dht", true), LT_OK);
    CHECK_EQ(lt_session_new(s, &ses), LT_ERROR_NOT_SUPPORTED);
    CHECK_EQ(lt_settings_set_bool(s, "enable_dht", false), LT_OK);
    CHECK_EQ(lt_session_new(s, &ses), LT_OK);

    /* apply_settings refuses bad packs and keeps the old settings. */
    CHECK_EQ(lt_settings_set_bool(s, "enable_dht", true), LT_OK);
    CHECK_EQ(lt_session_apply_settings(ses, s), LT_ERROR_NOT_SUPPORTED);
    CHECK_EQ(lt_session_apply_settings(ses, NULL), LT_ERROR_NULL_ARG);
    CHECK_EQ(lt_settings_set_bool(s, "enable_dht", false), LT_OK);
    CHECK_EQ(lt_settings_set_int(s, "alert_queue_size", 10), LT_OK);
    CHECK_EQ(lt_session_apply_settings(ses, s), LT_OK);

    lt_settings_free(s);
    lt_settings_free(NULL);
    lt_session_free(ses);
    return 0;
}
