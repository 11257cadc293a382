/* A live one-line dashboard while downloading a torrent, using only lt.h.
 *
 *   cargo build --release
 *   cc examples/c/dashboard.c -Iinclude -Ltarget/release -llt -o dashboard
 *   ln -sf liblt.so target/release/liblt.so.1
 *   LD_LIBRARY_PATH=target/release ./dashboard FILE.torrent SAVE_DIR [IP:PORT]
 */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "lt.h"

static void fail(const char *what, lt_error code) {
    char msg[512];
    lt_last_error(msg, sizeof msg);
    fprintf(stderr, "%s: %s (%s)\n", what, lt_error_str(code), msg);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s FILE.torrent SAVE_DIR [IP:PORT]\n", argv[0]);
        return 2;
    }
    lt_settings_t *set = lt_settings_new();
    lt_settings_set_str(set, "listen_interfaces", "0.0.0.0:0");
    lt_settings_set_int(set, "alert_mask", LT_ALERT_CATEGORY_ERROR | LT_ALERT_CATEGORY_STATUS |
                                           LT_ALERT_CATEGORY_PERFORMANCE_WARNING);
    lt_settings_set_int(set, "perf_download_rate_min", 100 * 1024);
    lt_session_t *ses = NULL;
    lt_error rc = lt_session_new(set, &ses);
    lt_settings_free(set);
    if (rc != LT_OK) { fail("session", rc); return 1; }

    lt_params_t *p = lt_params_new();
    if ((rc = lt_params_set_torrent_file(p, argv[1])) != LT_OK) { fail("torrent", rc); return 1; }
    lt_params_set_save_path(p, argv[2]);
    if (argc > 3) lt_params_add_peer(p, argv[3]);
    lt_torrent_id_t id = 0;
    rc = lt_add_torrent(ses, p, &id);
    lt_params_free(p);
    if (rc != LT_OK) { fail("add", rc); return 1; }

    int done = 0;
    while (!done) {
        lt_alert_t *a;
        while ((a = lt_pop_alert(ses)) != NULL) {
            uint32_t t = lt_alert_type(a);
            if (t == LT_ALERT_TORRENT_FINISHED) done = 1;
            if (t == LT_ALERT_PERFORMANCE || t == LT_ALERT_TORRENT_ERROR || t == LT_ALERT_FILE_ERROR)
                printf("\n  ! %s\n", lt_alert_message(a));
            lt_alert_free(a);
        }
        lt_torrent_status_t st;
        lt_stats_t s;
        if (lt_torrent_status(ses, id, &st, sizeof st) != LT_OK) break;
        lt_session_stats(ses, &s, sizeof s);
        printf("\r%-24.24s %5.1f%%  down %7.1f kB/s  up %7.1f kB/s  peers %2u (%u seeds)  rtt %4lld ms  eta %5llds  "
               "cpu %4.1f%%  rss %4lld MiB",
               st.name, st.progress * 100, s.payload_download_rate / 1e3, s.payload_upload_rate / 1e3,
               st.num_peers, st.num_seeds, (long long)(st.avg_peer_rtt_us / 1000), (long long)st.eta_s,
               s.process_cpu_permille / 10.0, (long long)(s.process_rss_bytes >> 20));
        fflush(stdout);
        if (!done) usleep(500 * 1000);
    }
    lt_stats_t end;
    lt_session_stats(ses, &end, sizeof end);
    printf("\ndone: %lld payload bytes in, %lld wasted, %lld hash failures\n",
           (long long)end.total_payload_download, (long long)end.total_wasted, (long long)end.num_hash_failures);
    lt_session_free(ses);
    return 0;
}
