/* Output structs can grow without breaking programs built against another
 * version of lt.h. A program built against an older, smaller struct passes
 * its smaller sizeof: the library writes only that many bytes per element,
 * at that stride, and says so in struct_size. A program built against a
 * newer, larger struct passes its larger sizeof: the library fills what it
 * knows, leaves the rest alone, and struct_size says how much it filled. */
#include <string.h>
#include "helpers.h"

/* Three files, so that arrays have more than one element. */
static const char TORRENT[] =
    "d4:infod5:filesld6:lengthi3e4:pathl5:a.bineed6:lengthi4e4:pathl5:b.bineed6:lengthi5e4:pathl5:c.bineee"
    "4:name3:dir12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee";

/* lt_file_info_t as an older lt.h might have had it: the first fields only. */
typedef struct {
    uint32_t struct_size;
    char path[1024];
    int64_t size;
} old_file_info_t;

/* lt_file_info_t as a newer lt.h might have it: more fields appended. */
typedef struct {
    lt_file_info_t now;
    int64_t added_later[4];
} new_file_info_t;

#define CANARY 0x5a

static int all_bytes(const void *p, size_t n, unsigned char value) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != value) return 0;
    return 1;
}

int main(void) {
    char *dir = make_temp_dir("abi");
    lt_session_t *ses = loopback_session(LT_ALERT_CATEGORY_ERROR);
    lt_params_t *p = lt_params_new();
    CHECK_EQ(lt_params_set_torrent_data(p, (const uint8_t *)TORRENT, strlen(TORRENT)), LT_OK);
    CHECK_EQ(lt_params_set_save_path(p, dir), LT_OK);
    CHECK_EQ(lt_params_set_flags(p, LT_ADD_PAUSED), LT_OK);
    lt_torrent_id_t id = 0;
    CHECK_EQ(lt_add_torrent(ses, p, &id), LT_OK);
    lt_params_free(p);

    /* An older program: 2 slots of its smaller struct, then a guard. */
    struct {
        old_file_info_t files[2];
        unsigned char guard[64];
    } old;
    memset(&old, CANARY, sizeof old);
    size_t n = 0;
    CHECK_EQ(lt_torrent_files(ses, id, (lt_file_info_t *)(void *)old.files, sizeof(old_file_info_t), 2, &n),
             LT_OK);
    CHECK_EQ(n, 3);
    CHECK(all_bytes(old.guard, sizeof old.guard, CANARY)); /* nothing past the array */
    const char *names[] = {"dir/a.bin", "dir/b.bin", "dir/c.bin"};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(old.files[i].struct_size, sizeof(old_file_info_t));
        CHECK(strcmp(old.files[i].path, names[i]) == 0);
        CHECK_EQ(old.files[i].size, 3 + i);
    }

    /* A newer program: its extra fields stay as it left them. */
    new_file_info_t newer[3];
    memset(newer, CANARY, sizeof newer);
    CHECK_EQ(lt_torrent_files(ses, id, (lt_file_info_t *)(void *)newer, sizeof newer[0], 3, &n), LT_OK);
    CHECK_EQ(n, 3);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(newer[i].now.struct_size, sizeof(lt_file_info_t));
        CHECK(strcmp(newer[i].now.path, names[i]) == 0);
        CHECK_EQ(newer[i].now.size, 3 + i);
        CHECK_EQ(newer[i].now.offset, i == 0 ? 0 : i == 1 ? 3 : 7);
        CHECK(all_bytes(newer[i].added_later, sizeof newer[i].added_later, CANARY));
    }

    /* The same for a single struct, and the size floor. */
    struct {
        uint32_t struct_size;
        uint32_t state;
        uint32_t paused;
        unsigned char guard[32];
    } small;
    memset(&small, CANARY, sizeof small);
    CHECK_EQ(lt_torrent_status(ses, id, (lt_torrent_status_t *)(void *)&small, 12), LT_OK);
    CHECK_EQ(small.struct_size, 12);
    CHECK_EQ(small.paused, 1);
    CHECK(all_bytes(small.guard, sizeof small.guard, CANARY));
    CHECK_EQ(lt_torrent_files(ses, id, (lt_file_info_t *)(void *)old.files, 4, 2, &n), LT_ERROR_BUFFER_TOO_SMALL);
    CHECK_EQ(lt_torrent_status(ses, id, (lt_torrent_status_t *)(void *)&small, 4), LT_ERROR_BUFFER_TOO_SMALL);

    /* Every array-filling function takes the element size. */
    lt_tracker_info_t trackers[1];
    CHECK_EQ(lt_torrent_trackers(ses, id, trackers, sizeof trackers[0], 1, &n), LT_OK);
    CHECK_EQ(n, 0);
    lt_peer_info_t peers[1];
    CHECK_EQ(lt_torrent_peers(ses, id, peers, sizeof peers[0], 1, &n), LT_OK);
    CHECK_EQ(n, 0);
    lt_threshold_event_t events[1];
    CHECK_EQ(lt_session_threshold_events(ses, events, sizeof events[0], 1, &n), LT_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(lt_post_torrent_updates(ses), LT_OK);
    lt_alert_t *a = NULL;
    for (int i = 0; i < 100 && !a; i++) {
        lt_alert_t *b = lt_wait_for_alert(ses, 100);
        if (b && lt_alert_type(b) == LT_ALERT_STATE_UPDATE) a = b;
        else lt_alert_free(b);
    }
    CHECK(a != NULL);
    lt_torrent_status_t statuses[2];
    memset(statuses, CANARY, sizeof statuses);
    CHECK_EQ(lt_alert_statuses(a, statuses, sizeof statuses[0], 2, &n), LT_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(statuses[0].struct_size, sizeof statuses[0]);
    CHECK_EQ(statuses[0].paused, 1);
    CHECK(all_bytes(&statuses[1], sizeof statuses[1], CANARY));
    lt_alert_free(a);

    lt_session_free(ses);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    run_or_die(cmd);
    free(dir);
    return 0;
}
