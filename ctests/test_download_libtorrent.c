/* A C program using only lt.h downloads a multi-file torrent from a
 * libtorrent-rasterbar seeder on 127.0.0.1, checks the bytes and the order
 * of the alerts, then seeds it back to a libtorrent downloader. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "helpers.h"

static const char *FILES[] = {"ctest/a.bin", "ctest/empty.txt", "ctest/sub/b.bin"};

/* Mid-download: the peer list agrees with the status and the counters. */
static void check_peer_list(lt_session_t *ses, lt_torrent_id_t id, int seeder_port) {
    lt_peer_info_t peers[8];
    size_t n = 0;
    CHECK_EQ(lt_torrent_peers(ses, id, peers, sizeof peers[0], 8, &n), LT_OK);
    lt_torrent_status_t st;
    CHECK_EQ(lt_torrent_status(ses, id, &st, sizeof st), LT_OK);
    lt_stats_t stats;
    CHECK_EQ(lt_session_stats(ses, &stats, sizeof stats), LT_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(st.num_peers, 1);
    CHECK_EQ(stats.num_peers, 1);
    CHECK_EQ(st.num_seeds, 1);
    CHECK_EQ(peers[0].struct_size, sizeof peers[0]);
    CHECK(strcmp(peers[0].ip, "127.0.0.1") == 0);
    CHECK_EQ(peers[0].port, seeder_port);
    CHECK(strstr(peers[0].client, "libtorrent") != NULL || strstr(peers[0].client, "Libtorrent") != NULL);
    CHECK(peers[0].total_download > 0);
    CHECK(peers[0].flags & LT_PEER_SEED);
    CHECK(peers[0].flags & LT_PEER_INTERESTING);
    CHECK_EQ(peers[0].progress, 1.0);
    /* Blocks of the first piece came from this peer: its RTT is known. */
    CHECK(peers[0].rtt_avg_us > 0);
    CHECK(peers[0].rtt_min_us <= peers[0].rtt_avg_us && peers[0].rtt_avg_us <= peers[0].rtt_max_us);
    CHECK(peers[0].rtt_last_us > 0);
    CHECK_EQ(peers[0].hash_failures, 0);
    CHECK(st.avg_peer_rtt_us > 0);
    CHECK(st.max_peer_rtt_us >= st.avg_peer_rtt_us);
    CHECK(st.distributed_copies >= 1.0);
    size_t count = 0;
    CHECK_EQ(lt_torrent_peers(ses, id, NULL, 0, 0, &count), LT_OK);
    CHECK_EQ(count, 1);
}

int main(void) {
    char *dir = make_temp_dir("dl");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s make-data --dir %s/seed --seed 7 "
             "--layout ctest/a.bin:3000001,ctest/empty.txt:0,ctest/sub/b.bin:1500007 && "
             "/usr/bin/python3 %s make-torrent --path %s/seed/ctest --out %s/t.torrent --piece-size 65536",
             peer_script(), dir, peer_script(), dir, dir);
    run_or_die(cmd);

    int lt_port = free_port();
    snprintf(cmd, sizeof cmd, "exec /usr/bin/python3 %s seed --torrent %s/t.torrent --save-path %s/seed --port %d",
             peer_script(), dir, dir, lt_port);
    pid_t seeder = spawn_until_line(cmd, "\"ready\"", 120, NULL);

    lt_session_t *ses = loopback_session(LT_ALERT_CATEGORY_ALL);
    lt_params_t *p = lt_params_new();
    char path[1024];
    snprintf(path, sizeof path, "%s/t.torrent", dir);
    CHECK_EQ(lt_params_set_torrent_file(p, path), LT_OK);
    snprintf(path, sizeof path, "%s/leech", dir);
    CHECK_EQ(lt_params_set_save_path(p, path), LT_OK);
    char peer[64];
    snprintf(peer, sizeof peer, "127.0.0.1:%d", lt_port);
    CHECK_EQ(lt_params_add_peer(p, peer), LT_OK);
    lt_torrent_id_t id = 0;
    CHECK_EQ(lt_add_torrent(ses, p, &id), LT_OK);
    CHECK(id != 0);
    lt_params_free(p);

    lt_torrent_status_t st;
    CHECK_EQ(lt_torrent_status(ses, id, &st, sizeof st), LT_OK);
    CHECK_EQ(st.struct_size, sizeof st);
    /* libtorrent aligns files with BEP 47 padding files, counted in the size. */
    CHECK(st.total_size >= 3000001 + 1500007);
    CHECK(strcmp(st.name, "ctest") == 0);
    uint32_t pieces_total = st.pieces_total;
    CHECK_EQ(pieces_total, (st.total_size + 65535) / 65536);

    int seen_add = 0, seen_connect = 0, pieces = 0, finished = 0;
    for (int i = 0; i < 1200 && !finished; i++) {
        lt_alert_t *a = lt_wait_for_alert(ses, 100);
        if (!a) continue;
        uint32_t t = lt_alert_type(a);
        if (lt_alert_torrent(a) == id) {
            if (t == LT_ALERT_ADD_TORRENT) seen_add = 1;
            if (t == LT_ALERT_PEER_CONNECT) { CHECK(seen_add); seen_connect = 1; }
            if (t == LT_ALERT_PIECE_FINISHED) {
                CHECK(seen_connect);
                CHECK(!finished);
                uint32_t piece;
                CHECK_EQ(lt_alert_piece(a, &piece), LT_OK);
                CHECK(piece < pieces_total);
                pieces++;
                if (pieces == 1) check_peer_list(ses, id, lt_port);
            }
            if (t == LT_ALERT_TORRENT_FINISHED) finished = 1;
            if (t == LT_ALERT_TORRENT_ERROR || t == LT_ALERT_FILE_ERROR) {
                fprintf(stderr, "error alert: %s\n", lt_alert_message(a));
                exit(1);
            }
        }
        lt_alert_free(a);
    }
    CHECK(finished);
    CHECK_EQ(pieces, pieces_total);

    CHECK_EQ(lt_torrent_status(ses, id, &st, sizeof st), LT_OK);
    CHECK_EQ(st.state, LT_STATE_SEEDING);
    CHECK(st.progress == 1.0);
    CHECK_EQ(st.pieces_done, pieces_total);
    CHECK(st.total_payload_download >= 3000001 + 1500007);
    lt_stats_t stats;
    CHECK_EQ(lt_session_stats(ses, &stats, sizeof stats), LT_OK);
    CHECK(stats.total_payload_download >= 3000001 + 1500007);
    CHECK(stats.total_payload_download <= 3000001 + 1500007 + stats.total_wasted + 65536);

    for (size_t i = 0; i < sizeof FILES / sizeof *FILES; i++) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/seed/%s", dir, FILES[i]);
        snprintf(b, sizeof b, "%s/leech/%s", dir, FILES[i]);
        if (!files_equal(a, b)) {
            fprintf(stderr, "%s differs\n", FILES[i]);
            return 1;
        }
    }
    kill_child(seeder);

    /* Seed it back: a libtorrent downloader fetches it from us. */
    uint16_t our_port = 0;
    CHECK_EQ(lt_session_listen_port(ses, &our_port), LT_OK);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s download --torrent %s/t.torrent --save-path %s/back --port %d "
             "--connect 127.0.0.1:%u --timeout 120 > %s/back.log",
             peer_script(), dir, dir, free_port(), our_port, dir);
    run_or_die(cmd);
    for (size_t i = 0; i < sizeof FILES / sizeof *FILES; i++) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/seed/%s", dir, FILES[i]);
        snprintf(b, sizeof b, "%s/back/%s", dir, FILES[i]);
        if (!files_equal(a, b)) {
            fprintf(stderr, "%s differs after seeding back\n", FILES[i]);
            return 1;
        }
    }
    CHECK_EQ(lt_session_stats(ses, &stats, sizeof stats), LT_OK);
    CHECK(stats.total_payload_upload >= 3000001 + 1500007);

    CHECK_EQ(lt_remove_torrent(ses, id, LT_REMOVE_DELETE_FILES), LT_OK);
    CHECK_EQ(lt_torrent_status(ses, id, &st, sizeof st), LT_ERROR_INVALID_HANDLE);
    lt_session_free(ses);
    snprintf(path, sizeof path, "%s/leech/ctest/a.bin", dir);
    CHECK(access(path, F_OK) != 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run_or_die(cmd);
    free(dir);
    return 0;
}
