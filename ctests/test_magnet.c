/* A C program adds a magnet link whose x.pe names a libtorrent-rasterbar
 * seeder on 127.0.0.1: before the metadata arrives lt_torrent_metadata
 * answers LT_ERROR_NO_METADATA; after LT_ALERT_METADATA_RECEIVED it gives
 * .torrent bytes, saved to a file whose info dictionary libtorrent finds
 * equal to the original's; the download completes with the right bytes. */
#define _POSIX_C_SOURCE 200809L /* popen */
#include <string.h>
#include "helpers.h"

static const char *FILES[] = {"cmag/a.bin", "cmag/sub/b.bin"};

/* The seeder is stopped at any exit, a failed CHECK's included: left
 * running, it would hold ctest's output pipe open until the timeout. */
static pid_t seeder = 0;

static void stop_seeder(void) {
    if (seeder > 0) kill_child(seeder);
    seeder = 0;
}

int main(void) {
    char *dir = make_temp_dir("magnet");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s make-data --dir %s/seed --seed 5 "
             "--layout cmag/a.bin:2000003,cmag/sub/b.bin:1000033 && "
             "/usr/bin/python3 %s make-torrent --path %s/seed/cmag --out %s/t.torrent --piece-size 16384",
             peer_script(), dir, peer_script(), dir, dir);
    run_or_die(cmd);

    int seeder_port = free_port();
    snprintf(cmd, sizeof cmd, "exec /usr/bin/python3 %s seed --torrent %s/t.torrent --save-path %s/seed --port %d",
             peer_script(), dir, dir, seeder_port);
    seeder = spawn_until_line(cmd, "\"ready\"", 120, NULL);
    CHECK_EQ(atexit(stop_seeder), 0);

    /* The SHA-1 info-hash, from libtorrent, for the magnet link (its
     * info_hash() is the truncated SHA-256 one for a hybrid torrent). */
    char hash[64] = {0};
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import libtorrent as lt; print(lt.torrent_info('%s/t.torrent').info_hashes().v1)\"",
             dir);
    FILE *hp = popen(cmd, "r");
    CHECK(hp != NULL);
    CHECK(fgets(hash, sizeof hash, hp) != NULL);
    CHECK_EQ(pclose(hp), 0);
    hash[strcspn(hash, "\n")] = '\0';
    CHECK_EQ(strlen(hash), 40);

    lt_session_t *ses = loopback_session(LT_ALERT_CATEGORY_ALL);
    lt_params_t *p = lt_params_new();
    /* x.pe as libtorrent writes it: a bare host:port. */
    char uri[256];
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s&dn=from%%20dn&x.pe=127.0.0.1:%d", hash, seeder_port);
    CHECK_EQ(lt_params_set_magnet(p, uri), LT_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s/leech", dir);
    CHECK_EQ(lt_params_set_save_path(p, path), LT_OK);
    /* Paused, so the state before any peer answers is read without a race. */
    CHECK_EQ(lt_params_set_flags(p, LT_ADD_PAUSED), LT_OK);
    lt_torrent_id_t id = 0;
    CHECK_EQ(lt_add_torrent(ses, p, &id), LT_OK);
    CHECK(id != 0);
    lt_params_free(p);

    lt_torrent_status_t st;
    CHECK_EQ(lt_torrent_status(ses, id, &st, sizeof st), LT_OK);
    CHECK_EQ(st.state, LT_STATE_DOWNLOADING_METADATA);
    CHECK(strcmp(st.name, "from dn") == 0);
    /* Nothing is written on an error. */
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_EQ(lt_torrent_metadata(ses, id, &data, &len), LT_ERROR_NO_METADATA);
    CHECK(data == NULL);
    CHECK_EQ(len, 0);
    CHECK_EQ(lt_torrent_resume(ses, id), LT_OK);

    int metadata = 0, finished = 0;
    for (int i = 0; i < 1800 && !finished; i++) {
        lt_alert_t *a = lt_wait_for_alert(ses, 100);
        if (!a) continue;
        uint32_t t = lt_alert_type(a);
        if (lt_alert_torrent(a) == id) {
            if (t == LT_ALERT_METADATA_FAILED) {
                char peer[64] = "";
                lt_alert_peer(a, peer, sizeof peer);
                fprintf(stderr, "metadata_failed from %s: %s\n", peer, lt_alert_message(a));
                exit(1);
            }
            if (t == LT_ALERT_METADATA_RECEIVED) {
                CHECK(!metadata);
                metadata = 1;
                CHECK_EQ(lt_torrent_metadata(ses, id, &data, &len), LT_OK);
                CHECK(data != NULL);
                CHECK(len > 0);
                snprintf(path, sizeof path, "%s/saved.torrent", dir);
                FILE *f = fopen(path, "wb");
                CHECK(f != NULL);
                CHECK_EQ(fwrite(data, 1, len, f), len);
                CHECK_EQ(fclose(f), 0);
                lt_free(data);
            }
            if (t == LT_ALERT_TORRENT_FINISHED) {
                CHECK(metadata);
                finished = 1;
            }
            if (t == LT_ALERT_TORRENT_ERROR || t == LT_ALERT_FILE_ERROR) {
                fprintf(stderr, "error alert: %s\n", lt_alert_message(a));
                exit(1);
            }
        }
        lt_alert_free(a);
    }
    CHECK(metadata);
    CHECK(finished);

    CHECK_EQ(lt_torrent_status(ses, id, &st, sizeof st), LT_OK);
    CHECK_EQ(st.state, LT_STATE_SEEDING);
    CHECK(strcmp(st.name, "cmag") == 0);
    for (size_t i = 0; i < sizeof FILES / sizeof *FILES; i++) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/seed/%s", dir, FILES[i]);
        snprintf(b, sizeof b, "%s/leech/%s", dir, FILES[i]);
        if (!files_equal(a, b)) {
            fprintf(stderr, "%s differs\n", FILES[i]);
            return 1;
        }
    }
    /* libtorrent reads the saved file and finds the original's info
     * dictionary, byte for byte. */
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import libtorrent as lt, sys; "
             "a = lt.torrent_info('%s/saved.torrent'); b = lt.torrent_info('%s/t.torrent'); "
             "sys.exit(0 if a.info_section() == b.info_section() and a.info_hashes().v1 == b.info_hashes().v1 else 1)\"",
             dir, dir);
    run_or_die(cmd);
    stop_seeder();

    lt_session_free(ses);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run_or_die(cmd);
    free(dir);
    return 0;
}
