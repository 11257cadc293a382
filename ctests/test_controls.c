/* Torrent controls through the C API: files and priorities, the queue,
 * limits, bad arguments, read_piece errors, and resume data saved from one
 * torrent and used to add it again (with the torrent taken from the data). */
#define _GNU_SOURCE
#include <string.h>
#include "helpers.h"

static const char TORRENT[] =
    "d4:infod6:lengthi5e4:name5:x.bin12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";

/* Waits for an alert of `type`; the caller frees it. */
static lt_alert_t *wait_alert(lt_session_t *ses, uint32_t type) {
    for (int i = 0; i < 100; i++) {
        lt_alert_t *a = lt_wait_for_alert(ses, 100);
        if (a && lt_alert_type(a) == type) return a;
        lt_alert_free(a);
    }
    fprintf(stderr, "no alert of type %u\n", type);
    exit(1);
}

static lt_torrent_id_t add(lt_session_t *ses, lt_params_t *p) {
    lt_torrent_id_t id = 0;
    CHECK_EQ(lt_add_torrent(ses, p, &id), LT_OK);
    return id;
}

int main(void) {
    char *dir = make_temp_dir("controls");
    /* Only errors are in the mask: the answers to requests come anyway. */
    lt_session_t *ses = loopback_session(LT_ALERT_CATEGORY_ERROR);
    lt_params_t *p = lt_params_new();
    CHECK_EQ(lt_params_set_torrent_data(p, (const uint8_t *)TORRENT, strlen(TORRENT)), LT_OK);
    CHECK_EQ(lt_params_set_save_path(p, dir), LT_OK);
    CHECK_EQ(lt_params_set_flags(p, LT_ADD_PAUSED | LT_ADD_AUTO_MANAGED), LT_OK);
    uint8_t prios[1] = {9};
    CHECK_EQ(lt_params_set_file_priorities(p, prios, 1), LT_ERROR_INVALID_ARG);
    prios[0] = 2;
    CHECK_EQ(lt_params_set_file_priorities(p, prios, 1), LT_OK);
    lt_torrent_id_t id = add(ses, p);
    lt_params_free(p);

    lt_file_info_t files[2];
    size_t n = 0;
    CHECK_EQ(lt_torrent_files(ses, id, files, sizeof files[0], 2, &n), LT_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(files[0].struct_size, sizeof files[0]);
    CHECK(strcmp(files[0].path, "x.bin") == 0);
    CHECK_EQ(files[0].size, 5);
    CHECK_EQ(files[0].priority, 2);
    CHECK_EQ(lt_torrent_set_file_priority(ses, id, 1, 4), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_torrent_set_file_priority(ses, id, 0, 8), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_torrent_set_file_priority(ses, id, 0, 7), LT_OK);
    CHECK_EQ(lt_torrent_set_piece_priority(ses, id, 1, 4), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_torrent_queue_move(ses, id, 9), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_torrent_queue_move(ses, id, LT_QUEUE_TOP), LT_OK);
    CHECK_EQ(lt_torrent_set_download_limit(ses, id, -1), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_torrent_set_download_limit(ses, id, 1000), LT_OK);
    CHECK_EQ(lt_torrent_set_max_connections(ses, id, 9), LT_OK);
    CHECK_EQ(lt_torrent_rename_file(ses, id, 0, "../escape"), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_torrent_rename_file(ses, id, 3, "y.bin"), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_torrent_queue_move(ses, 12345, LT_QUEUE_UP), LT_ERROR_INVALID_HANDLE);

    lt_torrent_status_t st;
    CHECK_EQ(lt_torrent_status(ses, id, &st, sizeof st), LT_OK);
    CHECK_EQ(st.queue_position, 0);
    CHECK_EQ(st.paused, 1);
    CHECK_EQ(st.download_limit, 1000);
    CHECK_EQ(st.max_connections, 9);
    CHECK(st.added_time > 1600000000);

    /* A piece not downloaded: the read_piece alert carries the error. */
    CHECK_EQ(lt_torrent_read_piece(ses, id, 5), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_torrent_read_piece(ses, id, 0), LT_OK);
    lt_alert_t *a = wait_alert(ses, LT_ALERT_READ_PIECE);
    int32_t code = 0;
    CHECK_EQ(lt_alert_error(a, &code), LT_OK);
    CHECK(code != LT_OK);
    lt_alert_free(a);

    /* Resume data round trip: the data alone adds the torrent back. */
    CHECK_EQ(lt_torrent_save_resume_data(ses, id), LT_OK);
    a = wait_alert(ses, LT_ALERT_SAVE_RESUME_DATA);
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK_EQ(lt_alert_buffer(a, &data, &len), LT_OK);
    CHECK(len > 100);
    uint8_t *resume = malloc(len);
    memcpy(resume, data, len);
    lt_alert_free(a);
    uint8_t ih[20];
    CHECK_EQ(lt_torrent_info_hash(ses, id, ih), LT_OK);
    CHECK_EQ(lt_remove_torrent(ses, id, 0), LT_OK);

    p = lt_params_new();
    CHECK_EQ(lt_params_set_resume_data(p, resume, len / 2), LT_ERROR_INVALID_RESUME_DATA);
    CHECK_EQ(lt_params_set_resume_data(p, resume, len), LT_OK);
    CHECK_EQ(lt_params_set_save_path(p, dir), LT_OK);
    lt_torrent_id_t id2 = add(ses, p);
    lt_params_free(p);
    uint8_t ih2[20];
    CHECK_EQ(lt_torrent_info_hash(ses, id2, ih2), LT_OK);
    CHECK(memcmp(ih, ih2, 20) == 0);
    CHECK_EQ(lt_torrent_status(ses, id2, &st, sizeof st), LT_OK);
    CHECK_EQ(st.paused, 1);
    CHECK_EQ(st.download_limit, 1000);
    CHECK_EQ(lt_torrent_files(ses, id2, files, sizeof files[0], 2, &n), LT_OK);
    CHECK_EQ(files[0].priority, 7);

    /* Resume data of another torrent is refused. */
    static const char OTHER[] =
        "d4:infod6:lengthi6e4:name5:z.bin12:piece lengthi16384e6:pieces20:bbbbbbbbbbbbbbbbbbbbee";
    p = lt_params_new();
    CHECK_EQ(lt_params_set_torrent_data(p, (const uint8_t *)OTHER, strlen(OTHER)), LT_OK);
    CHECK_EQ(lt_params_set_resume_data(p, resume, len), LT_OK);
    CHECK_EQ(lt_params_set_save_path(p, dir), LT_OK);
    lt_torrent_id_t id3 = 7;
    CHECK_EQ(lt_add_torrent(ses, p, &id3), LT_ERROR_INVALID_RESUME_DATA);
    CHECK_EQ(id3, 0);
    lt_params_free(p);
    free(resume);

    /* Session state: saved, loaded into a pack, bad state refused. */
    uint8_t *state = NULL;
    size_t state_len = 0;
    CHECK_EQ(lt_session_save_state(ses, &state, &state_len), LT_OK);
    CHECK(state_len > 10 && memmem(state, state_len, "listen_interfaces", 17) != NULL);
    lt_settings_t *loaded = lt_settings_new();
    CHECK_EQ(lt_settings_load_state(loaded, state, state_len), LT_OK);
    CHECK_EQ(lt_settings_load_state(loaded, state, state_len - 1), LT_ERROR_INVALID_ARG);
    lt_settings_free(loaded);
    lt_free(state);

    CHECK_EQ(lt_session_pause(ses), LT_OK);
    CHECK_EQ(lt_session_resume(ses), LT_OK);
    CHECK_EQ(lt_torrent_force_recheck(ses, id2), LT_OK);
    CHECK_EQ(lt_torrent_scrape_tracker(ses, id2), LT_OK);

    lt_session_free(ses);
    free(dir);
    return 0;
}
