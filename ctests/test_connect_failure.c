/* A dial that fails before the BitTorrent handshake is reported: a
 * peer_disconnected alert whose operation is "connect", with the peer's
 * address and an error code. */
#define _GNU_SOURCE
#include <string.h>
#include "helpers.h"

static const char TORRENT[] =
    "d4:infod6:lengthi5e4:name5:x.bin12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";

int main(void) {
    CHECK(strcmp(lt_operation_name(LT_OPERATION_CONNECT), "connect") == 0);
    CHECK(strcmp(lt_operation_name(LT_OPERATION_HANDSHAKE), "handshake") == 0);
    CHECK(strcmp(lt_operation_name(LT_OPERATION_SOCK_READ), "sock_read") == 0);
    CHECK(strcmp(lt_operation_name(9999), "unknown") == 0);

    char *dir = make_temp_dir("connfail");
    lt_session_t *ses = loopback_session(LT_ALERT_CATEGORY_ERROR | LT_ALERT_CATEGORY_CONNECT);
    lt_params_t *p = lt_params_new();
    CHECK_EQ(lt_params_set_torrent_data(p, (const uint8_t *)TORRENT, strlen(TORRENT)), LT_OK);
    CHECK_EQ(lt_params_set_save_path(p, dir), LT_OK);
    lt_torrent_id_t id = 0;
    CHECK_EQ(lt_add_torrent(ses, p, &id), LT_OK);
    lt_params_free(p);

    /* Nothing listens on a port that was just free. */
    char peer[64];
    snprintf(peer, sizeof peer, "127.0.0.1:%d", free_port());
    CHECK_EQ(lt_torrent_connect_peer(ses, id, peer), LT_OK);

    lt_alert_t *found = NULL;
    for (int i = 0; i < 600 && !found; i++) {
        lt_alert_t *a = lt_wait_for_alert(ses, 100);
        if (!a) continue;
        uint32_t op = 0;
        if (lt_alert_type(a) == LT_ALERT_PEER_DISCONNECTED) {
            CHECK_EQ(lt_alert_operation(a, &op), LT_OK);
            if (op == LT_OPERATION_CONNECT) { found = a; break; }
        } else {
            CHECK_EQ(lt_alert_operation(a, &op), LT_ERROR_WRONG_ALERT_TYPE);
        }
        lt_alert_free(a);
    }
    CHECK(found != NULL);
    char addr[64];
    CHECK_EQ(lt_alert_peer(found, addr, sizeof addr), LT_OK);
    CHECK(strcmp(addr, peer) == 0);
    int32_t code = 0;
    CHECK_EQ(lt_alert_error(found, &code), LT_OK);
    CHECK_EQ(code, LT_ERROR_IO);
    CHECK(strstr(lt_alert_message(found), "(connect)") != NULL);
    CHECK_EQ(lt_alert_operation(found, NULL), LT_ERROR_NULL_ARG);
    lt_alert_free(found);

    lt_session_free(ses);
    free(dir);
    return 0;
}
