/* Every figure an alert's message shows can be read as a value: the peers
 * in a tracker reply, scrape counts, failures in a row, the announce event,
 * a renamed file's index and new name, the new storage path, the count and
 * types of dropped alerts, and a connection's direction. Each accessor
 * answers LT_ERROR_WRONG_ALERT_TYPE on another type. A tracker made here
 * (HTTP on 127.0.0.1) answers announces with two peers and scrapes with
 * 3 seeds, 4 downloaders and 5 completed downloads. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "helpers.h"

static const char TORRENT[] =
    "d4:infod6:lengthi5e4:name5:x.bin12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";
static const char OTHER_TORRENT[] =
    "d4:infod6:lengthi5e4:name5:z.bin12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";

static int tracker_fd;
static uint8_t info_hash[20];

/* Answers one HTTP request per connection until the listening socket closes. */
static void *tracker_thread(void *arg) {
    (void)arg;
    for (;;) {
        int c = accept(tracker_fd, NULL, NULL);
        if (c < 0) return NULL;
        char req[4096];
        size_t got = 0;
        while (got < sizeof req - 1) {
            ssize_t n = read(c, req + got, sizeof req - 1 - got);
            if (n <= 0) break;
            got += (size_t)n;
            req[got] = 0;
            if (strstr(req, "\r\n\r\n")) break;
        }
        req[got] = 0;
        char body[256];
        size_t len;
        if (strncmp(req, "GET /scrape?", 12) == 0) {
            len = (size_t)snprintf(body, sizeof body, "d5:filesd20:");
            memcpy(body + len, info_hash, 20);
            len += 20;
            len += (size_t)snprintf(body + len, sizeof body - len,
                                    "d8:completei3e10:downloadedi5e10:incompletei4eeee");
        } else {
            /* Two compact peers, 127.0.0.1:1 and 127.0.0.1:2 (nobody listens). */
            static const char peers[] = "d8:intervali1800e5:peers12:\x7f\0\0\x01\0\x01\x7f\0\0\x01\0\x02" "e";
            len = sizeof peers - 1;
            memcpy(body, peers, len);
        }
        char head[128];
        int hn = snprintf(head, sizeof head,
                          "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", len);
        CHECK(write(c, head, (size_t)hn) == hn);
        CHECK(write(c, body, len) == (ssize_t)len);
        close(c);
    }
}

static int start_tracker(void) {
    tracker_fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(tracker_fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(tracker_fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(tracker_fd, 16) == 0);
    socklen_t alen = sizeof a;
    CHECK(getsockname(tracker_fd, (struct sockaddr *)&a, &alen) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, tracker_thread, NULL) == 0);
    CHECK(pthread_detach(t) == 0);
    return ntohs(a.sin_port);
}

/* Waits for an alert of `type`; the caller frees it. */
static lt_alert_t *wait_alert(lt_session_t *ses, uint32_t type) {
    for (int i = 0; i < 600; i++) {
        lt_alert_t *a = lt_wait_for_alert(ses, 100);
        if (a && lt_alert_type(a) == type) return a;
        lt_alert_free(a);
    }
    fprintf(stderr, "no alert of type %u (%s)\n", type, lt_alert_type_name(type));
    exit(1);
}

/* Every accessor of this test answers WRONG_ALERT_TYPE on `a`, except
 * those that belong to its type. */
static void check_wrong_types(const lt_alert_t *a) {
    uint32_t t = lt_alert_type(a), u32;
    uint64_t u64[2];
    bool b;
    const char *str;
    if (t != LT_ALERT_SCRAPE_REPLY)
        CHECK_EQ(lt_alert_scrape(a, &u32, &u32, &u32), LT_ERROR_WRONG_ALERT_TYPE);
    if (t != LT_ALERT_TRACKER_REPLY) CHECK_EQ(lt_alert_num_peers(a, &u32), LT_ERROR_WRONG_ALERT_TYPE);
    if (t != LT_ALERT_TRACKER_ERROR) CHECK_EQ(lt_alert_times_in_row(a, &u32), LT_ERROR_WRONG_ALERT_TYPE);
    if (t != LT_ALERT_TRACKER_ANNOUNCE)
        CHECK_EQ(lt_alert_announce_event(a, &str), LT_ERROR_WRONG_ALERT_TYPE);
    if (t != LT_ALERT_FILE_RENAMED && t != LT_ALERT_FILE_RENAME_FAILED)
        CHECK_EQ(lt_alert_file_index(a, &u32), LT_ERROR_WRONG_ALERT_TYPE);
    if (t != LT_ALERT_FILE_RENAMED) CHECK_EQ(lt_alert_new_name(a, &str), LT_ERROR_WRONG_ALERT_TYPE);
    if (t != LT_ALERT_STORAGE_MOVED && t != LT_ALERT_STORAGE_MOVED_FAILED)
        CHECK_EQ(lt_alert_storage_path(a, &str), LT_ERROR_WRONG_ALERT_TYPE);
    if (t != LT_ALERT_ALERTS_DROPPED) CHECK_EQ(lt_alert_dropped(a, u64, u64), LT_ERROR_WRONG_ALERT_TYPE);
    if (t != LT_ALERT_PEER_CONNECT) CHECK_EQ(lt_alert_incoming(a, &b), LT_ERROR_WRONG_ALERT_TYPE);
}

static lt_torrent_id_t add(lt_session_t *ses, const char *torrent, const char *dir, uint64_t flags,
                           const char *tracker) {
    lt_params_t *p = lt_params_new();
    CHECK_EQ(lt_params_set_torrent_data(p, (const uint8_t *)torrent, strlen(torrent)), LT_OK);
    CHECK_EQ(lt_params_set_save_path(p, dir), LT_OK);
    CHECK_EQ(lt_params_set_flags(p, flags), LT_OK);
    if (tracker) CHECK_EQ(lt_params_add_tracker(p, tracker, 0), LT_OK);
    lt_torrent_id_t id = 0;
    CHECK_EQ(lt_add_torrent(ses, p, &id), LT_OK);
    lt_params_free(p);
    return id;
}

int main(void) {
    char *dir = make_temp_dir("accessors");
    char *moved = make_temp_dir("accessors-moved");
    int port = start_tracker();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/announce", port);

    lt_session_t *ses = loopback_session(LT_ALERT_CATEGORY_ALL);
    lt_torrent_id_t id = add(ses, TORRENT, dir, 0, url);
    CHECK_EQ(lt_torrent_info_hash(ses, id, info_hash), LT_OK);

    lt_alert_t *a = wait_alert(ses, LT_ALERT_ADD_TORRENT);
    check_wrong_types(a);
    CHECK_EQ(lt_alert_num_peers(NULL, NULL), LT_ERROR_NULL_ARG);
    lt_alert_free(a);

    a = wait_alert(ses, LT_ALERT_TRACKER_ANNOUNCE);
    const char *event = NULL;
    CHECK_EQ(lt_alert_announce_event(a, &event), LT_OK);
    CHECK(strcmp(event, "started") == 0);
    check_wrong_types(a);
    lt_alert_free(a);

    a = wait_alert(ses, LT_ALERT_TRACKER_REPLY);
    uint32_t num_peers = 0;
    CHECK_EQ(lt_alert_num_peers(a, &num_peers), LT_OK);
    CHECK_EQ(num_peers, 2);
    CHECK(strstr(lt_alert_message(a), "2 peers") != NULL);
    CHECK_EQ(lt_alert_num_peers(a, NULL), LT_ERROR_NULL_ARG);
    check_wrong_types(a);
    lt_alert_free(a);

    /* The tracker list shows the tracker that answered. */
    lt_tracker_info_t trackers[2];
    size_t count = 0;
    CHECK_EQ(lt_torrent_trackers(ses, id, trackers, sizeof trackers[0], 2, &count), LT_OK);
    CHECK_EQ(count, 1);
    CHECK_EQ(trackers[0].struct_size, sizeof trackers[0]);
    CHECK(strcmp(trackers[0].url, url) == 0);
    CHECK_EQ(trackers[0].tier, 0);
    CHECK_EQ(trackers[0].working, 1);
    CHECK_EQ(trackers[0].fails, 0);
    CHECK_EQ(trackers[0].interval_s, 1800);
    CHECK(trackers[0].since_reply_s >= 0);
    CHECK_EQ(trackers[0].last_error[0], 0);

    CHECK_EQ(lt_torrent_scrape_tracker(ses, id), LT_OK);
    a = wait_alert(ses, LT_ALERT_SCRAPE_REPLY);
    uint32_t complete = 0, incomplete = 0, downloaded = 0;
    CHECK_EQ(lt_alert_scrape(a, &complete, &incomplete, &downloaded), LT_OK);
    CHECK_EQ(complete, 3);
    CHECK_EQ(incomplete, 4);
    CHECK_EQ(downloaded, 5);
    CHECK_EQ(lt_alert_scrape(a, NULL, NULL, &downloaded), LT_OK);
    check_wrong_types(a);
    lt_alert_free(a);

    CHECK_EQ(lt_torrent_rename_file(ses, id, 0, "sub/y.bin"), LT_OK);
    a = wait_alert(ses, LT_ALERT_FILE_RENAMED);
    uint32_t file = 9;
    const char *name = NULL;
    CHECK_EQ(lt_alert_file_index(a, &file), LT_OK);
    CHECK_EQ(file, 0);
    CHECK_EQ(lt_alert_new_name(a, &name), LT_OK);
    CHECK(strcmp(name, "sub/y.bin") == 0);
    check_wrong_types(a);
    lt_alert_free(a);

    CHECK_EQ(lt_torrent_move_storage(ses, id, moved), LT_OK);
    a = NULL;
    for (int i = 0; i < 600 && !a; i++) {
        lt_alert_t *b = lt_wait_for_alert(ses, 100);
        if (b && (lt_alert_type(b) == LT_ALERT_STORAGE_MOVED || lt_alert_type(b) == LT_ALERT_STORAGE_MOVED_FAILED))
            a = b;
        else
            lt_alert_free(b);
    }
    CHECK(a != NULL);
    const char *path = NULL;
    CHECK_EQ(lt_alert_storage_path(a, &path), LT_OK);
    CHECK(strcmp(path, moved) == 0);
    check_wrong_types(a);
    lt_alert_free(a);

    /* A tracker nobody listens on fails, and says how often in a row. */
    char dead[64];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d/announce", free_port());
    char *dir2 = make_temp_dir("accessors-dead");
    add(ses, OTHER_TORRENT, dir2, 0, dead);
    a = wait_alert(ses, LT_ALERT_TRACKER_ERROR);
    uint32_t times = 0;
    CHECK_EQ(lt_alert_times_in_row(a, &times), LT_OK);
    CHECK_EQ(times, 1);
    check_wrong_types(a);
    lt_alert_free(a);

    /* A second session seeds the torrent; the first dials it: the dialler
     * sees an outgoing connection, the seeder an incoming one. */
    lt_session_t *seeder = loopback_session(LT_ALERT_CATEGORY_ALL);
    char *dir3 = make_temp_dir("accessors-seed");
    lt_torrent_id_t seed_id = add(seeder, TORRENT, dir3, LT_ADD_SEED_MODE, NULL);
    uint16_t seed_port = 0;
    CHECK_EQ(lt_session_listen_port(seeder, &seed_port), LT_OK);
    char peer[32];
    snprintf(peer, sizeof peer, "127.0.0.1:%u", (unsigned)seed_port);
    CHECK_EQ(lt_torrent_connect_peer(ses, id, peer), LT_OK);
    a = wait_alert(ses, LT_ALERT_PEER_CONNECT);
    bool incoming = true;
    CHECK_EQ(lt_alert_incoming(a, &incoming), LT_OK);
    CHECK(!incoming);
    check_wrong_types(a);
    lt_alert_free(a);
    a = wait_alert(seeder, LT_ALERT_PEER_CONNECT);
    CHECK_EQ(lt_alert_incoming(a, &incoming), LT_OK);
    CHECK(incoming);
    lt_alert_free(a);
    CHECK_EQ(lt_remove_torrent(seeder, seed_id, 0), LT_OK);
    lt_session_free(seeder);
    lt_session_free(ses);

    /* A full queue: the dropped count and the dropped types. */
    lt_settings_t *s = lt_settings_new();
    CHECK_EQ(lt_settings_set_str(s, "listen_interfaces", "127.0.0.1:0"), LT_OK);
    CHECK_EQ(lt_settings_set_int(s, "alert_mask", 0), LT_OK);
    CHECK_EQ(lt_settings_set_int(s, "alert_queue_size", 2), LT_OK);
    lt_session_t *small = NULL;
    CHECK_EQ(lt_session_new(s, &small), LT_OK);
    lt_settings_free(s);
    for (int i = 0; i < 5; i++) CHECK_EQ(lt_post_session_stats(small), LT_OK);
    a = lt_pop_alert(small);
    CHECK(a != NULL);
    CHECK_EQ(lt_alert_type(a), LT_ALERT_ALERTS_DROPPED);
    uint64_t dropped = 0, types[2] = {0, 0};
    CHECK_EQ(lt_alert_dropped(a, &dropped, types), LT_OK);
    CHECK_EQ(dropped, 3);
    CHECK(strstr(lt_alert_message(a), "3 alerts dropped") != NULL);
    CHECK_EQ(types[0], 0);
    CHECK_EQ(types[1], (uint64_t)1 << (LT_ALERT_SESSION_STATS - 64));
    CHECK_EQ(lt_alert_dropped(a, NULL, NULL), LT_OK);
    check_wrong_types(a);
    lt_alert_free(a);
    lt_session_free(small);

    close(tracker_fd);
    char cmd[3072];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s' '%s'", dir, moved, dir2, dir3);
    run_or_die(cmd);
    free(dir);
    free(moved);
    free(dir2);
    free(dir3);
    return 0;
}
