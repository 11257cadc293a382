/* The IP and port filters from C: rules that overlap and are removed
 * again, access, the merged export, blocklists in both formats (bad lines
 * reported with their exact numbers), a session's filter set and read
 * back, and a peer the filter blocks answered by a peer_blocked alert with
 * libtorrent's reason number. */
#define _GNU_SOURCE
#include <string.h>
#include "helpers.h"

static const char TORRENT[] =
    "d4:infod6:lengthi5e4:name5:x.bin12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";

static uint32_t access_of(const lt_ip_filter_t *f, const char *ip) {
    uint32_t flags = 99;
    CHECK_EQ(lt_ip_filter_access(f, ip, &flags), LT_OK);
    return flags;
}

/* The bad lines the import callback saw. */
struct bad_lines {
    size_t n;
    size_t line[16];
};

static void on_bad_line(void *user, size_t line, const char *message) {
    struct bad_lines *b = user;
    CHECK(message != NULL && strlen(message) > 0);
    if (b->n < 16) b->line[b->n] = line;
    b->n++;
}

static void rules_and_export(void) {
    lt_ip_filter_t *f = lt_ip_filter_new();
    CHECK(f != NULL);
    CHECK_EQ(access_of(f, "1.2.3.4"), 0);
    CHECK_EQ(lt_ip_filter_add_rule(f, "10.0.0.0", "10.255.255.255", LT_IP_FILTER_BLOCKED), LT_OK);
    CHECK_EQ(lt_ip_filter_add_rule(f, "10.1.0.0", "10.1.255.255", 0), LT_OK);
    CHECK_EQ(lt_ip_filter_add_rule(f, "2001:db8::", "2001:db8::ffff", LT_IP_FILTER_BLOCKED), LT_OK);
    CHECK_EQ(access_of(f, "10.0.0.1"), LT_IP_FILTER_BLOCKED);
    CHECK_EQ(access_of(f, "10.1.2.3"), 0);
    CHECK_EQ(access_of(f, "::ffff:10.0.0.1"), LT_IP_FILTER_BLOCKED);
    CHECK_EQ(access_of(f, "2001:db8::7"), LT_IP_FILTER_BLOCKED);
    CHECK_EQ(access_of(f, "2001:db8::1:0"), 0);

    CHECK_EQ(lt_ip_filter_add_rule(f, "1.2.3.4", "::1", 1), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_ip_filter_add_rule(f, "1.2.3.4", "1.2.3.3", 1), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_ip_filter_add_rule(f, "1.2.3", "1.2.3.3", 1), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_ip_filter_add_rule(f, NULL, "1.2.3.3", 1), LT_ERROR_NULL_ARG);
    uint32_t flags;
    CHECK_EQ(lt_ip_filter_access(f, "nonsense", &flags), LT_ERROR_INVALID_ARG);

    /* IPv4: allowed, blocked, allowed, blocked, allowed; IPv6: three. */
    size_t count = 0;
    CHECK_EQ(lt_ip_filter_export(f, NULL, sizeof(lt_ip_range_t), 0, &count), LT_OK);
    CHECK_EQ(count, 8);
    lt_ip_range_t r[8];
    CHECK_EQ(lt_ip_filter_export(f, r, sizeof r[0], 8, &count), LT_OK);
    CHECK_EQ(r[0].struct_size, sizeof r[0]);
    CHECK(strcmp(r[0].first, "0.0.0.0") == 0 && strcmp(r[0].last, "9.255.255.255") == 0);
    CHECK_EQ(r[0].flags, 0);
    CHECK(strcmp(r[1].first, "10.0.0.0") == 0 && strcmp(r[1].last, "10.0.255.255") == 0);
    CHECK_EQ(r[1].flags, LT_IP_FILTER_BLOCKED);
    CHECK(strcmp(r[2].first, "10.1.0.0") == 0 && r[2].flags == 0);
    CHECK(strcmp(r[4].last, "255.255.255.255") == 0);
    CHECK(strcmp(r[6].first, "2001:db8::") == 0 && strcmp(r[6].last, "2001:db8::ffff") == 0);
    CHECK_EQ(r[6].flags, LT_IP_FILTER_BLOCKED);
    /* A short array gets the first ranges and the full count. */
    CHECK_EQ(lt_ip_filter_export(f, r, sizeof r[0], 2, &count), LT_OK);
    CHECK_EQ(count, 8);

    /* Removing the allowing rule brings the blocked range back whole. */
    CHECK_EQ(lt_ip_filter_remove_rule(f, "10.1.0.0", "10.1.255.255"), LT_OK);
    CHECK_EQ(access_of(f, "10.1.2.3"), LT_IP_FILTER_BLOCKED);
    CHECK_EQ(lt_ip_filter_remove_rule(f, "10.1.0.0", "10.1.255.255"), LT_ERROR_NOT_FOUND);
    CHECK_EQ(lt_ip_filter_export(f, NULL, sizeof(lt_ip_range_t), 0, &count), LT_OK);
    CHECK_EQ(count, 6);
    lt_ip_filter_free(f);
    lt_ip_filter_free(NULL);
}

static void blocklists(const char *dir) {
    static const char p2p[] =
        "# a comment\n"
        "Org, Inc: the first:1.2.3.0-1.2.3.255\n"
        "\n"
        "no range here\n"
        "bad:1.2.3.4-1.2.300.5\n"
        "six:2001:db8::-2001:db8::ff\r\n"
        "reversed:9.9.9.9-9.9.9.1\n";
    lt_ip_filter_t *f = lt_ip_filter_new();
    struct bad_lines bad = {0};
    size_t added = 0, rejected = 0;
    CHECK_EQ(lt_ip_filter_import(f, (const uint8_t *)p2p, strlen(p2p), LT_BLOCKLIST_AUTO, on_bad_line, &bad,
                                 &added, &rejected),
             LT_OK);
    CHECK_EQ(added, 2);
    CHECK_EQ(rejected, 3);
    CHECK_EQ(bad.n, 3);
    CHECK_EQ(bad.line[0], 4);
    CHECK_EQ(bad.line[1], 5);
    CHECK_EQ(bad.line[2], 7);
    CHECK_EQ(access_of(f, "1.2.3.77"), LT_IP_FILTER_BLOCKED);
    CHECK_EQ(access_of(f, "2001:db8::10"), LT_IP_FILTER_BLOCKED);
    CHECK_EQ(access_of(f, "9.9.9.5"), 0);
    /* The callback may be NULL. */
    CHECK_EQ(lt_ip_filter_import(f, (const uint8_t *)p2p, strlen(p2p), LT_BLOCKLIST_P2P, NULL, NULL, &added,
                                 &rejected),
             LT_OK);
    CHECK_EQ(rejected, 3);
    CHECK_EQ(lt_ip_filter_import(f, (const uint8_t *)p2p, strlen(p2p), 7, NULL, NULL, &added, &rejected),
             LT_ERROR_INVALID_ARG);
    lt_ip_filter_free(f);

    static const char dat[] =
        "001.002.003.000 - 001.002.003.255 , 000 , leading zeros\n"
        "005.000.000.000 - 005.000.000.255 , 200 , a level that allows\n"
        "// comment\n"
        "6.0.0.0 - 6.0.0.255\n"
        "7.0.0.0 - 7.0.0.255 , 127 , blocks\n";
    char path[512];
    snprintf(path, sizeof path, "%s/ipfilter.dat", dir);
    FILE *out = fopen(path, "w");
    CHECK(out != NULL);
    CHECK(fwrite(dat, 1, strlen(dat), out) == strlen(dat));
    fclose(out);
    f = lt_ip_filter_new();
    memset(&bad, 0, sizeof bad);
    CHECK_EQ(lt_ip_filter_import_file(f, path, LT_BLOCKLIST_AUTO, on_bad_line, &bad, &added, &rejected), LT_OK);
    CHECK_EQ(added, 2);
    CHECK_EQ(rejected, 1);
    CHECK_EQ(bad.line[0], 4);
    CHECK_EQ(access_of(f, "1.2.3.4"), LT_IP_FILTER_BLOCKED);
    CHECK_EQ(access_of(f, "5.0.0.1"), 0);
    CHECK_EQ(access_of(f, "7.0.0.1"), LT_IP_FILTER_BLOCKED);
    snprintf(path, sizeof path, "%s/missing.dat", dir);
    CHECK_EQ(lt_ip_filter_import_file(f, path, LT_BLOCKLIST_AUTO, NULL, NULL, &added, &rejected), LT_ERROR_IO);
    lt_ip_filter_free(f);
}

static void ports(void) {
    lt_port_filter_t *f = lt_port_filter_new();
    CHECK_EQ(lt_port_filter_add_rule(f, 0, 1023, LT_IP_FILTER_BLOCKED), LT_OK);
    CHECK_EQ(lt_port_filter_add_rule(f, 80, 80, 0), LT_OK);
    CHECK_EQ(lt_port_filter_add_rule(f, 9, 8, 0), LT_ERROR_INVALID_ARG);
    uint32_t flags = 0;
    CHECK_EQ(lt_port_filter_access(f, 1023, &flags), LT_OK);
    CHECK_EQ(flags, LT_IP_FILTER_BLOCKED);
    CHECK_EQ(lt_port_filter_access(f, 80, &flags), LT_OK);
    CHECK_EQ(flags, 0);
    CHECK_EQ(lt_port_filter_access(f, 1024, &flags), LT_OK);
    CHECK_EQ(flags, 0);
    lt_port_filter_free(f);
}

static void session(const char *dir) {
    lt_session_t *ses = loopback_session(LT_ALERT_CATEGORY_ALL);
    lt_ip_filter_t *f = lt_ip_filter_new();
    CHECK_EQ(lt_ip_filter_add_rule(f, "127.0.0.2", "127.0.0.2", LT_IP_FILTER_BLOCKED), LT_OK);
    CHECK_EQ(lt_session_set_ip_filter(ses, f), LT_OK);
    lt_ip_filter_free(f); /* the session keeps a copy */
    lt_ip_filter_t *back = NULL;
    CHECK_EQ(lt_session_get_ip_filter(ses, &back), LT_OK);
    CHECK_EQ(access_of(back, "127.0.0.2"), LT_IP_FILTER_BLOCKED);
    CHECK_EQ(access_of(back, "127.0.0.1"), 0);
    lt_ip_filter_free(back);

    lt_port_filter_t *pf = lt_port_filter_new();
    CHECK_EQ(lt_port_filter_add_rule(pf, 7, 7, LT_IP_FILTER_BLOCKED), LT_OK);
    CHECK_EQ(lt_session_set_port_filter(ses, pf), LT_OK);
    lt_port_filter_free(pf);

    lt_params_t *p = lt_params_new();
    CHECK_EQ(lt_params_set_torrent_data(p, (const uint8_t *)TORRENT, strlen(TORRENT)), LT_OK);
    CHECK_EQ(lt_params_set_save_path(p, dir), LT_OK);
    CHECK_EQ(lt_params_add_peer(p, "127.0.0.2:6881"), LT_OK);
    CHECK_EQ(lt_params_add_peer(p, "127.0.0.1:7"), LT_OK);
    lt_torrent_id_t id = 0;
    CHECK_EQ(lt_add_torrent(ses, p, &id), LT_OK);
    lt_params_free(p);

    int seen_ip = 0, seen_port = 0;
    for (int i = 0; i < 1200 && !(seen_ip && seen_port); i++) {
        lt_alert_t *a = lt_wait_for_alert(ses, 100);
        if (!a) continue;
        if (lt_alert_type(a) == LT_ALERT_PEER_BLOCKED) {
            char peer[64];
            int32_t reason = -1;
            CHECK_EQ(lt_alert_peer(a, peer, sizeof peer), LT_OK);
            CHECK_EQ(lt_alert_peer_blocked_reason(a, &reason), LT_OK);
            CHECK_EQ(lt_alert_torrent(a), id);
            CHECK_EQ(lt_alert_category(a), LT_ALERT_CATEGORY_IP_BLOCK);
            if (strcmp(peer, "127.0.0.2:6881") == 0) {
                CHECK_EQ(reason, 0);
                seen_ip = 1;
            } else {
                CHECK(strcmp(peer, "127.0.0.1:7") == 0);
                CHECK_EQ(reason, 1);
                seen_port = 1;
            }
        } else {
            int32_t reason;
            CHECK_EQ(lt_alert_peer_blocked_reason(a, &reason), LT_ERROR_WRONG_ALERT_TYPE);
        }
        lt_alert_free(a);
    }
    CHECK(seen_ip && seen_port);
    CHECK_EQ(lt_session_set_ip_filter(ses, NULL), LT_OK);
    CHECK_EQ(lt_session_get_ip_filter(ses, &back), LT_OK);
    CHECK_EQ(access_of(back, "127.0.0.2"), 0);
    lt_ip_filter_free(back);
    CHECK_EQ(lt_session_set_ip_filter(NULL, NULL), LT_ERROR_NULL_ARG);
    lt_session_free(ses);
}

int main(void) {
    char *dir = make_temp_dir("ip-filter");
    rules_and_export();
    blocklists(dir);
    ports();
    session(dir);
    free(dir);
    printf("PASS\n");
    return 0;
}
