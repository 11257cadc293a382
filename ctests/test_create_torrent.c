#define _GNU_SOURCE /* memmem */
/* Creating a torrent from C: every option, progress and cancellation, the
 * filter, errors; the result read back with lt_torrent_info_* and added to
 * a session with lt_params_set_torrent_info. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "helpers.h"

struct progress { uint32_t calls, last_done, total, cancel_after; };

static bool on_progress(void *user, uint32_t done, uint32_t total) {
    struct progress *p = user;
    p->calls++;
    CHECK(done <= total);
    CHECK(done == p->last_done + 1);
    p->last_done = done;
    p->total = total;
    return p->cancel_after == 0 || done < p->cancel_after;
}

/* Leaves out every path ending in ".skip". */
static bool skip_filter(void *user, const char *path) {
    (*(int *)user)++;
    size_t n = strlen(path);
    return !(n >= 5 && strcmp(path + n - 5, ".skip") == 0);
}

int main(void) {
    char *dir = make_temp_dir("create");
    char root[512], path[600];
    snprintf(root, sizeof root, "%s/content", dir);
    CHECK_EQ(mkdir(root, 0700), 0);
    snprintf(path, sizeof path, "%s/a.bin", root);
    write_test_file(path, 200000, 1);
    snprintf(path, sizeof path, "%s/b.bin", root);
    write_test_file(path, 50001, 2);
    snprintf(path, sizeof path, "%s/c.skip", root);
    write_test_file(path, 1000, 3);

    lt_create_torrent_t *ct = NULL;
    CHECK_EQ(lt_create_torrent_new(root, &ct), LT_OK);
    CHECK_EQ(lt_create_torrent_set_piece_size(ct, 3 * 16384), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_create_torrent_set_format(ct, 7), LT_ERROR_INVALID_ARG);
    CHECK_EQ(lt_create_torrent_set_piece_size(ct, 32768), LT_OK);
    CHECK_EQ(lt_create_torrent_set_format(ct, LT_CREATE_V1), LT_OK);
    CHECK_EQ(lt_create_torrent_add_tracker(ct, "http://127.0.0.1:1/announce", 0), LT_OK);
    CHECK_EQ(lt_create_torrent_add_tracker(ct, "udp://127.0.0.1:2", 1), LT_OK);
    CHECK_EQ(lt_create_torrent_add_web_seed(ct, "http://127.0.0.1:3/files/"), LT_OK);
    CHECK_EQ(lt_create_torrent_add_dht_node(ct, "127.0.0.1", 6881), LT_OK);
    CHECK_EQ(lt_create_torrent_set_comment(ct, "made from C"), LT_OK);
    CHECK_EQ(lt_create_torrent_set_creator(ct, "ctest"), LT_OK);
    CHECK_EQ(lt_create_torrent_set_creation_date(ct, 1700000000), LT_OK);
    CHECK_EQ(lt_create_torrent_set_source(ct, "SRC"), LT_OK);
    CHECK_EQ(lt_create_torrent_set_private(ct, true), LT_OK);
    int filter_calls = 0;
    CHECK_EQ(lt_create_torrent_set_file_filter(ct, skip_filter, &filter_calls), LT_OK);

    /* Cancelled after two pieces: no bytes. */
    struct progress prog = {0, 0, 0, 2};
    uint8_t *bytes = (uint8_t *)1;
    size_t len = 99;
    CHECK_EQ(lt_create_torrent_generate(ct, on_progress, &prog, &bytes, &len), LT_ERROR_CANCELLED);
    CHECK(bytes == NULL && len == 0);
    CHECK_EQ(prog.calls, 2);

    struct progress full = {0, 0, 0, 0};
    CHECK_EQ(lt_create_torrent_generate(ct, on_progress, &full, &bytes, &len), LT_OK);
    CHECK_EQ(filter_calls, 6); /* three entries, asked on each of two runs */
    CHECK_EQ(full.total, (250001 + 32767) / 32768);
    CHECK_EQ(full.last_done, full.total);
    CHECK(len > 0);

    lt_torrent_info_t *info = NULL;
    CHECK_EQ(lt_torrent_info_from_buffer(bytes, len, &info), LT_OK);
    CHECK(strcmp(lt_torrent_info_name(info), "content") == 0);
    CHECK_EQ(lt_torrent_info_total_size(info), 250001);
    CHECK_EQ(lt_torrent_info_piece_length(info), 32768);
    CHECK_EQ(lt_torrent_info_num_pieces(info), full.total);
    CHECK_EQ(lt_torrent_info_num_files(info), 2);
    lt_torrent_file_t f;
    CHECK_EQ(lt_torrent_info_file(info, 1, &f, sizeof f), LT_OK);
    CHECK(strcmp(f.path, "content/b.bin") == 0);
    CHECK_EQ(f.size, 50001);
    CHECK_EQ(f.offset, 200000);
    CHECK_EQ(f.flags, 0);
    CHECK(f.symlink_target == NULL);
    CHECK_EQ(lt_torrent_info_num_trackers(info), 2);
    const char *url;
    uint32_t tier;
    CHECK_EQ(lt_torrent_info_tracker(info, 1, &url, &tier), LT_OK);
    CHECK(strcmp(url, "udp://127.0.0.1:2") == 0);
    CHECK_EQ(tier, 1);
    CHECK_EQ(lt_torrent_info_num_web_seeds(info), 1);
    CHECK(strcmp(lt_torrent_info_web_seed(info, 0), "http://127.0.0.1:3/files/") == 0);
    CHECK(strcmp(lt_torrent_info_comment(info), "made from C") == 0);
    CHECK(strcmp(lt_torrent_info_creator(info), "ctest") == 0);
    CHECK_EQ(lt_torrent_info_creation_date(info), 1700000000);
    CHECK(lt_torrent_info_private(info));
    uint8_t h1[20], h2[32];
    CHECK_EQ(lt_torrent_info_hash_v1(info, h1), LT_OK);
    CHECK_EQ(lt_torrent_info_hash_v2(info, h2), LT_ERROR_NOT_FOUND);
    const uint8_t *sec;
    size_t sec_len;
    CHECK_EQ(lt_torrent_info_info_section(info, &sec, &sec_len), LT_OK);
    CHECK(sec_len > 0 && sec[0] == 'd');
    CHECK(memmem(sec, sec_len, "6:source3:SRC", 13) != NULL);
    lt_free(bytes);

    /* Added to a session from the info (copied: the info is freed first);
     * the data is there, so it checks and seeds. */
    lt_session_t *s = loopback_session(0);
    lt_params_t *p = lt_params_new();
    CHECK_EQ(lt_params_set_torrent_info(p, info), LT_OK);
    lt_torrent_info_free(info);
    CHECK_EQ(lt_params_set_save_path(p, dir), LT_OK);
    lt_torrent_id_t id;
    CHECK_EQ(lt_add_torrent(s, p, &id), LT_OK);
    lt_params_free(p);
    uint8_t ih[20];
    CHECK_EQ(lt_torrent_info_hash(s, id, ih), LT_OK);
    CHECK(memcmp(ih, h1, 20) == 0);
    lt_session_free(s);

    /* Errors: a missing path, nothing to share, a NULL argument. */
    lt_create_torrent_t *missing = NULL;
    snprintf(path, sizeof path, "%s/absent", dir);
    CHECK_EQ(lt_create_torrent_new(path, &missing), LT_OK);
    CHECK_EQ(lt_create_torrent_generate(missing, NULL, NULL, &bytes, &len), LT_ERROR_NOT_FOUND);
    lt_create_torrent_free(missing);
    CHECK_EQ(lt_create_torrent_set_file_filter(ct, NULL, NULL), LT_OK);
    CHECK_EQ(lt_create_torrent_new(NULL, &missing), LT_ERROR_NULL_ARG);
    CHECK(missing == NULL);
    lt_create_torrent_free(ct);
    free(dir);
    printf("ok\n");
    return 0;
}
