/* The alert notify callback fires when the queue goes from empty to not
 * empty; a full queue drops alerts, counts them and says so first; the log
 * callback receives the engine's events. */
#include <stdatomic.h>
#include <string.h>
#include "helpers.h"

static atomic_int notified;
static atomic_int logged_listen;

static void on_notify(void *user) {
    CHECK(user == (void *)&notified);
    atomic_fetch_add(&notified, 1);
}

static void on_log(void *user, int32_t level, const char *target, const char *message) {
    (void)user;
    CHECK(level >= LT_LOG_ERROR && level <= LT_LOG_TRACE);
    CHECK(target != NULL);
    if (strstr(message, "listening for peers")) atomic_fetch_add(&logged_listen, 1);
}

int main(void) {
    CHECK_EQ(lt_set_log_callback(on_log, NULL, 0), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_set_log_callback(on_log, NULL, LT_LOG_INFO), LT_OK);

    lt_settings_t *s = lt_settings_new();
    CHECK_EQ(lt_settings_set_str(s, "listen_interfaces", "127.0.0.1:0"), LT_OK);
    CHECK_EQ(lt_settings_set_int(s, "alert_mask", LT_ALERT_CATEGORY_ALL), LT_OK);
    CHECK_EQ(lt_settings_set_int(s, "alert_queue_size", 3), LT_OK);
    lt_session_t *ses = NULL;
    CHECK_EQ(lt_session_new(s, &ses), LT_OK);
    lt_settings_free(s);
    CHECK(atomic_load(&logged_listen) >= 1);
    CHECK_EQ(lt_set_log_callback(NULL, NULL, LT_LOG_INFO), LT_OK);

    /* Drain listen_succeeded, then watch the notify callback. */
    lt_alert_t *a;
    while ((a = lt_pop_alert(ses)) != NULL) lt_alert_free(a);
    CHECK_EQ(lt_set_alert_notify(ses, on_notify, (void *)&notified), LT_OK);
    CHECK_EQ(lt_post_session_stats(ses), LT_OK);
    CHECK_EQ(atomic_load(&notified), 1);
    CHECK_EQ(lt_post_session_stats(ses), LT_OK);
    CHECK_EQ(atomic_load(&notified), 1); /* not empty before: no new call */

    /* Overflow: 3 fit, 7 are dropped and reported before the rest. */
    for (int i = 0; i < 8; i++) CHECK_EQ(lt_post_session_stats(ses), LT_OK);
    lt_alert_t *batch[16];
    size_t n = lt_pop_alerts(ses, batch, 16);
    CHECK_EQ(n, 4);
    CHECK_EQ(lt_alert_type(batch[0]), LT_ALERT_ALERTS_DROPPED);
    CHECK(strstr(lt_alert_message(batch[0]), "7 alerts dropped") != NULL);
    for (size_t i = 1; i < n; i++) CHECK_EQ(lt_alert_type(batch[i]), LT_ALERT_SESSION_STATS);
    for (size_t i = 0; i < n; i++) lt_alert_free(batch[i]);
    lt_stats_t st;
    CHECK_EQ(lt_session_stats(ses, &st, sizeof st), LT_OK);
    CHECK_EQ(st.alerts_dropped, 7);

    /* Waiting with nothing queued times out and answers NULL. */
    CHECK(lt_wait_for_alert(ses, 50) == NULL);
    CHECK_EQ(lt_set_alert_notify(ses, NULL, NULL), LT_OK);
    lt_session_free(ses);
    return 0;
}
