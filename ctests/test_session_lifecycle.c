/* A session starts, listens on loopback, reports listen_succeeded, answers
 * errors for NULL arguments, and shuts down. */
#include <string.h>
#include "helpers.h"

int main(void) {
    lt_session_t *ses = loopback_session(LT_ALERT_CATEGORY_ALL);
    uint16_t port = 0;
    CHECK_EQ(lt_session_listen_port(ses, &port), LT_OK);
    CHECK(port > 0);

    lt_alert_t *a = lt_wait_for_alert(ses, 5000);
    CHECK(a != NULL);
    CHECK_EQ(lt_alert_type(a), LT_ALERT_LISTEN_SUCCEEDED);
    CHECK(strcmp(lt_alert_type_name(lt_alert_type(a)), "listen_succeeded") == 0);
    char addr[64];
    CHECK_EQ(lt_alert_peer(a, addr, sizeof addr), LT_OK);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", port);
    CHECK(strcmp(addr, want) == 0);
    uint32_t piece;
    CHECK_EQ(lt_alert_piece(a, &piece), LT_ERROR_WRONG_ALERT_TYPE);
    lt_alert_free(a);

    /* NULL arguments give codes, never crashes. */
    CHECK_EQ(lt_session_new(NULL, NULL), LT_ERROR_NULL_ARG);
    CHECK_EQ(lt_session_listen_port(NULL, &port), LT_ERROR_NULL_ARG);
    CHECK_EQ(lt_session_listen_port(ses, NULL), LT_ERROR_NULL_ARG);
    CHECK(lt_pop_alert(NULL) == NULL);
    CHECK_EQ(lt_alert_type(NULL), 0);
    CHECK(strcmp(lt_alert_message(NULL), "") == 0);
    lt_torrent_status_t st;
    CHECK_EQ(lt_torrent_status(ses, 42, &st, sizeof st), LT_ERROR_INVALID_HANDLE);
    CHECK_EQ(lt_torrent_pause(ses, 0), LT_ERROR_INVALID_HANDLE);
    CHECK_EQ(lt_remove_torrent(ses, 7, 0), LT_ERROR_INVALID_HANDLE);
    size_t count = 99;
    CHECK_EQ(lt_session_torrents(ses, NULL, 0, &count), LT_OK);
    CHECK_EQ(count, 0);

    /* Stats are readable at once; the struct size is reported. */
    lt_stats_t stats;
    memset(&stats, 0xff, sizeof stats);
    CHECK_EQ(lt_session_stats(ses, &stats, sizeof stats), LT_OK);
    CHECK_EQ(stats.struct_size, sizeof(lt_stats_t));
    CHECK_EQ(stats.num_torrents, 0);
    CHECK_EQ(stats.total_download, 0);
    CHECK_EQ(lt_session_stats(ses, &stats, 4), LT_ERROR_BUFFER_TOO_SMALL);

    /* post_session_stats delivers the same catalogue. */
    CHECK_EQ(lt_post_session_stats(ses), LT_OK);
    lt_alert_t *s = NULL;
    for (int i = 0; i < 50 && !s; i++) {
        lt_alert_t *x = lt_wait_for_alert(ses, 100);
        if (x && lt_alert_type(x) == LT_ALERT_SESSION_STATS) s = x;
        else lt_alert_free(x);
    }
    CHECK(s != NULL);
    size_t n = 0;
    CHECK_EQ(lt_alert_counters(s, NULL, 0, &n), LT_OK);
    CHECK_EQ(n, lt_stats_metric_count());
    lt_stats_t from_alert;
    CHECK_EQ(lt_alert_stats(s, &from_alert, sizeof from_alert), LT_OK);
    CHECK_EQ(from_alert.num_torrents, 0);
    lt_alert_free(s);

    size_t idx;
    CHECK_EQ(lt_stats_find_metric("peer.num_peers_connected", &idx), LT_OK);
    const char *name = NULL;
    lt_metric_kind kind;
    CHECK_EQ(lt_stats_metric(idx, &name, &kind), LT_OK);
    CHECK(strcmp(name, "peer.num_peers_connected") == 0);
    CHECK_EQ(kind, LT_METRIC_GAUGE);
    CHECK_EQ(lt_stats_find_metric("no.such.metric", &idx), LT_ERROR_INVALID_ARG);

    /* Exports are NUL-terminated strings freed with lt_free. */
    char *text = NULL;
    size_t len = 0;
    CHECK_EQ(lt_session_stats_export(ses, LT_STATS_JSON, &text, &len), LT_OK);
    CHECK(text != NULL && text[0] == '{' && strlen(text) == len);
    CHECK(strstr(text, "\"net.recv_bytes\"") != NULL);
    lt_free(text);
    CHECK_EQ(lt_session_stats_export(ses, LT_STATS_PROMETHEUS, &text, &len), LT_OK);
    CHECK(strstr(text, "# TYPE lt_net_recv_bytes_total counter") != NULL);
    lt_free(text);
    CHECK_EQ(lt_session_stats_export(ses, LT_STATS_CSV, &text, &len), LT_OK);
    /* The columns are the torrent id, then lt_torrent_status_t's fields in order. */
    CHECK(strncmp(text, "id,state,paused,error_code,progress,", 36) == 0);
    CHECK(strstr(text, ",info_hash,name,error_message,save_path,") != NULL);
    lt_free(text);
    CHECK_EQ(lt_session_stats_export(ses, 99, &text, &len), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_session_stats_port(ses, &port), LT_ERROR_IO);

    lt_session_free(ses);
    lt_session_free(NULL);
    return 0;
}
