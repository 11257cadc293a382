/* Web seeds through the C API: lt_torrent_add_url_seed and
 * lt_torrent_remove_url_seed with their errors, and the url_seed alert of a
 * web seed that refuses connections (its URL, error code and category). */
#define _GNU_SOURCE
#include <string.h>
#include "helpers.h"

static const char TORRENT[] =
    "d4:infod6:lengthi5e4:name5:x.bin12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";

int main(void) {
    char *dir = make_temp_dir("web-seed");
    lt_session_t *ses = loopback_session(LT_ALERT_CATEGORY_ERROR);
    lt_params_t *p = lt_params_new();
    CHECK_EQ(lt_params_set_torrent_data(p, (const uint8_t *)TORRENT, strlen(TORRENT)), LT_OK);
    CHECK_EQ(lt_params_set_save_path(p, dir), LT_OK);
    lt_torrent_id_t id = 0;
    CHECK_EQ(lt_add_torrent(ses, p, &id), LT_OK);
    lt_params_free(p);

    CHECK_EQ(lt_torrent_add_url_seed(NULL, id, "http://127.0.0.1:1/"), LT_ERROR_NULL_ARG);
    CHECK_EQ(lt_torrent_add_url_seed(ses, id, NULL), LT_ERROR_NULL_ARG);
    CHECK_EQ(lt_torrent_add_url_seed(ses, id, "ftp://127.0.0.1/x.bin"), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_torrent_add_url_seed(ses, id + 100, "http://127.0.0.1:1/"), LT_ERROR_INVALID_HANDLE);
    CHECK_EQ(lt_torrent_remove_url_seed(ses, id, "http://127.0.0.1:1/"), LT_ERROR_INVALID_ARG);

    /* Nothing listens on this port: the seed's request fails at once. */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", free_port());
    CHECK_EQ(lt_torrent_add_url_seed(ses, id, url), LT_OK);
    lt_alert_t *a = NULL;
    for (int i = 0; i < 600 && !a; i++) {
        lt_alert_t *next = lt_wait_for_alert(ses, 100);
        if (next && lt_alert_type(next) == LT_ALERT_URL_SEED) {
            a = next;
        } else {
            lt_alert_free(next);
        }
    }
    CHECK(a != NULL);
    CHECK_EQ(lt_alert_torrent(a), id);
    CHECK_EQ(lt_alert_category(a), LT_ALERT_CATEGORY_PEER | LT_ALERT_CATEGORY_ERROR);
    const char *seed = NULL;
    CHECK_EQ(lt_alert_url_seed_url(a, &seed), LT_OK);
    CHECK(strcmp(seed, url) == 0);
    int32_t code = LT_OK;
    CHECK_EQ(lt_alert_error(a, &code), LT_OK);
    CHECK_EQ(code, LT_ERROR_IO);
    CHECK(strstr(lt_alert_message(a), url) != NULL);
    CHECK_EQ(lt_alert_url_seed_url(a, NULL), LT_ERROR_NULL_ARG);
    lt_alert_free(a);

    CHECK_EQ(lt_torrent_remove_url_seed(ses, id, url), LT_OK);
    CHECK_EQ(lt_torrent_remove_url_seed(ses, id, url), LT_ERROR_INVALID_ARG);

    lt_session_free(ses);
    free(dir);
    return 0;
}
