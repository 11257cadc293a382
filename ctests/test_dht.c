/* The DHT from C, on 127.0.0.1 only: session B bootstraps from session A's
 * node; both add a magnet link for the same info-hash, A announces it, and
 * B's forced lookup (lt_torrent_force_dht_announce) finds A. A hears B's
 * announce (lt_alert_info_hash names the torrent); B's dht_stats alert
 * lists a bucket holding A's node and B's node id. No public node is ever
 * contacted: the bootstrap list is set explicitly. */
#include <string.h>
#include <unistd.h>
#include "helpers.h"

static const char *HASH = "5a1e7c0ffee0ddba11ad0be5ca1ab1e000c0ffee";

static lt_session_t *dht_session(const char *bootstrap) {
    lt_settings_t *s = lt_settings_new();
    CHECK_EQ(lt_settings_set_str(s, "listen_interfaces", "127.0.0.1:0"), LT_OK);
    CHECK_EQ(lt_settings_set_int(s, "alert_mask", LT_ALERT_CATEGORY_ALL), LT_OK);
    CHECK_EQ(lt_settings_set_bool(s, "enable_dht", true), LT_OK);
    CHECK_EQ(lt_settings_set_str(s, "dht_bootstrap_nodes", bootstrap), LT_OK);
    /* Every node here shares one address: the loopback checks go off. */
    CHECK_EQ(lt_settings_set_bool(s, "dht_restrict_routing_ips", false), LT_OK);
    CHECK_EQ(lt_settings_set_bool(s, "dht_restrict_search_ips", false), LT_OK);
    lt_session_t *ses = NULL;
    CHECK_EQ(lt_session_new(s, &ses), LT_OK);
    lt_settings_free(s);
    return ses;
}

static lt_torrent_id_t add_magnet(lt_session_t *ses, const char *dir) {
    char uri[128];
    snprintf(uri, sizeof uri, "magnet:?xt=urn:btih:%s", HASH);
    lt_params_t *p = lt_params_new();
    CHECK_EQ(lt_params_set_magnet(p, uri), LT_OK);
    CHECK_EQ(lt_params_set_save_path(p, dir), LT_OK);
    lt_torrent_id_t id = 0;
    CHECK_EQ(lt_add_torrent(ses, p, &id), LT_OK);
    lt_params_free(p);
    return id;
}

/* Waits up to `seconds` for an alert of `type`; the caller frees it. */
static lt_alert_t *wait_type(lt_session_t *ses, uint32_t type, int seconds) {
    for (int i = 0; i < seconds * 10; i++) {
        lt_alert_t *a = lt_wait_for_alert(ses, 100);
        if (a == NULL) continue;
        if (lt_alert_type(a) == type) return a;
        lt_alert_free(a);
    }
    return NULL;
}

int main(void) {
    char *dir = make_temp_dir("dht");

    /* Without a DHT node there is nothing to announce to. */
    lt_session_t *plain = loopback_session(LT_ALERT_CATEGORY_ERROR);
    lt_torrent_id_t pid = add_magnet(plain, dir);
    CHECK_EQ(lt_torrent_force_dht_announce(plain, pid), LT_ERROR_NOT_SUPPORTED);
    CHECK_EQ(lt_torrent_force_dht_announce(plain, 9999), LT_ERROR_INVALID_HANDLE);
    lt_session_free(plain);

    lt_session_t *a = dht_session("");
    uint16_t a_port = 0;
    CHECK_EQ(lt_session_listen_port(a, &a_port), LT_OK);
    char boot[64];
    snprintf(boot, sizeof boot, "127.0.0.1:%u", a_port);
    lt_session_t *b = dht_session(boot);
    lt_alert_t *al = wait_type(b, LT_ALERT_DHT_BOOTSTRAP, 120);
    CHECK(al != NULL);
    lt_alert_free(al);

    lt_torrent_id_t a_id = add_magnet(a, dir);
    lt_torrent_id_t b_id = add_magnet(b, dir);
    /* A lookup may run before A's announce is stored: ask again until a
     * reply names a peer. */
    uint32_t peers = 0;
    for (int round = 0; round < 60 && peers == 0; round++) {
        CHECK_EQ(lt_torrent_force_dht_announce(a, a_id), LT_OK);
        CHECK_EQ(lt_torrent_force_dht_announce(b, b_id), LT_OK);
        al = wait_type(b, LT_ALERT_DHT_REPLY, 10);
        if (al == NULL) continue;
        CHECK_EQ(lt_alert_torrent(al), b_id);
        CHECK_EQ(lt_alert_num_peers(al, &peers), LT_OK);
        lt_alert_free(al);
        if (peers == 0) sleep(1);
    }
    CHECK(peers >= 1);

    /* A stored B's announce and says for which torrent. */
    al = wait_type(a, LT_ALERT_DHT_ANNOUNCE, 60);
    CHECK(al != NULL);
    uint8_t ih[20];
    CHECK_EQ(lt_alert_info_hash(al, ih), LT_OK);
    char hex[41];
    for (int i = 0; i < 20; i++) snprintf(hex + 2 * i, 3, "%02x", ih[i]);
    CHECK(strcmp(hex, HASH) == 0);
    lt_dht_bucket_t none[1];
    size_t n = 9;
    CHECK_EQ(lt_alert_dht_buckets(al, none, sizeof none[0], 1, &n), LT_ERROR_WRONG_ALERT_TYPE);
    lt_alert_free(al);

    /* B's routing table holds A's node; the alert carries B's node id. */
    CHECK_EQ(lt_session_post_dht_stats(b), LT_OK);
    al = wait_type(b, LT_ALERT_DHT_STATS, 30);
    CHECK(al != NULL);
    lt_dht_bucket_t buckets[32];
    size_t nb = 0;
    CHECK_EQ(lt_alert_dht_buckets(al, buckets, sizeof buckets[0], 32, &nb), LT_OK);
    CHECK(nb >= 1 && nb <= 32);
    uint32_t nodes = 0;
    for (size_t i = 0; i < nb; i++) {
        CHECK_EQ(buckets[i].struct_size, sizeof buckets[i]);
        nodes += buckets[i].num_nodes;
    }
    CHECK(nodes >= 1);
    size_t nl = 99;
    CHECK_EQ(lt_alert_dht_lookups(al, NULL, sizeof(lt_dht_lookup_t), 0, &nl), LT_OK);
    CHECK(nl < 99);
    uint8_t id[20];
    CHECK_EQ(lt_alert_info_hash(al, id), LT_OK);
    int nonzero = 0;
    for (int i = 0; i < 20; i++) nonzero |= id[i];
    CHECK(nonzero);
    lt_alert_free(al);

    lt_session_free(b);
    lt_session_free(a);
    free(dir);
    return 0;
}
