/* Reading a torrent without adding it: a hybrid torrent made by
 * lt_create_torrent written to a file and read back, its pad files, flags
 * and both info-hashes; out-of-range indexes, small structs and bad input. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "helpers.h"

int main(void) {
    char *dir = make_temp_dir("tinfo");
    char root[512], path[600];
    snprintf(root, sizeof root, "%s/pack", dir);
    CHECK_EQ(mkdir(root, 0700), 0);
    snprintf(path, sizeof path, "%s/a.bin", root);
    write_test_file(path, 40000, 1);
    snprintf(path, sizeof path, "%s/run.sh", root);
    write_test_file(path, 20000, 2);
    CHECK_EQ(chmod(path, 0700), 0);

    lt_create_torrent_t *ct = NULL;
    CHECK_EQ(lt_create_torrent_new(root, &ct), LT_OK);
    CHECK_EQ(lt_create_torrent_set_format(ct, LT_CREATE_HYBRID), LT_OK);
    CHECK_EQ(lt_create_torrent_set_piece_size(ct, 16384), LT_OK);
    uint8_t *bytes = NULL;
    size_t len = 0;
    CHECK_EQ(lt_create_torrent_generate(ct, NULL, NULL, &bytes, &len), LT_OK);
    lt_create_torrent_free(ct);
    char tpath[600];
    snprintf(tpath, sizeof tpath, "%s/pack.torrent", dir);
    FILE *out = fopen(tpath, "wb");
    CHECK(out != NULL);
    CHECK_EQ(fwrite(bytes, 1, len, out), len);
    fclose(out);
    lt_free(bytes);

    lt_torrent_info_t *info = NULL;
    CHECK_EQ(lt_torrent_info_from_file(tpath, &info), LT_OK);
    CHECK(strcmp(lt_torrent_info_name(info), "pack") == 0);
    /* a.bin (40000), pad to 49152, run.sh (20000), then a pad to 81920
     * that a reader may drop (nothing follows it). */
    CHECK(lt_torrent_info_num_files(info) >= 3);
    CHECK(lt_torrent_info_total_size(info) >= 69152);
    CHECK_EQ(lt_torrent_info_num_pieces(info), 5);
    lt_torrent_file_t f;
    CHECK_EQ(lt_torrent_info_file(info, 1, &f, sizeof f), LT_OK);
    CHECK_EQ(f.struct_size, sizeof f);
    CHECK_EQ(f.flags, LT_FILE_PAD);
    CHECK_EQ(f.size, 49152 - 40000);
    CHECK_EQ(lt_torrent_info_file(info, 2, &f, sizeof f), LT_OK);
    CHECK(strcmp(f.path, "pack/run.sh") == 0);
    CHECK_EQ(f.offset, 49152);
    CHECK_EQ(f.flags, LT_FILE_EXECUTABLE);
    /* An older caller's smaller struct gets only what fits. */
    unsigned char small[16];
    memset(small, 0xee, sizeof small);
    CHECK_EQ(lt_torrent_info_file(info, 0, (lt_torrent_file_t *)(void *)small, sizeof small), LT_OK);
    uint32_t written;
    memcpy(&written, small, sizeof written);
    CHECK_EQ(written, 16);
    CHECK_EQ(lt_torrent_info_file(info, 0, &f, 4), LT_ERROR_BUFFER_TOO_SMALL);
    CHECK_EQ(lt_torrent_info_file(info, 99, &f, sizeof f), LT_ERROR_INVALID_ARG);

    uint8_t h1[20], h2[32], zero[32] = {0};
    CHECK_EQ(lt_torrent_info_hash_v1(info, h1), LT_OK);
    CHECK_EQ(lt_torrent_info_hash_v2(info, h2), LT_OK);
    CHECK(memcmp(h2, zero, 32) != 0);
    CHECK_EQ(lt_torrent_info_num_trackers(info), 0);
    const char *url;
    uint32_t tier;
    CHECK_EQ(lt_torrent_info_tracker(info, 0, &url, &tier), LT_ERROR_INVALID_ARG);
    CHECK(lt_torrent_info_web_seed(info, 0) == NULL);
    CHECK(lt_torrent_info_comment(info) == NULL);
    CHECK(lt_torrent_info_creator(info) == NULL);
    CHECK_EQ(lt_torrent_info_creation_date(info), 0);
    CHECK(!lt_torrent_info_private(info));

    /* The info section read back alone is the same torrent. */
    const uint8_t *sec;
    size_t sec_len;
    CHECK_EQ(lt_torrent_info_info_section(info, &sec, &sec_len), LT_OK);
    lt_torrent_info_free(info);

    lt_torrent_info_t *bad = (lt_torrent_info_t *)1;
    CHECK_EQ(lt_torrent_info_from_buffer((const uint8_t *)"garbage", 7, &bad), LT_ERROR_INVALID_TORRENT);
    CHECK(bad == NULL);
    snprintf(path, sizeof path, "%s/none.torrent", dir);
    CHECK_EQ(lt_torrent_info_from_file(path, &bad), LT_ERROR_IO);
    CHECK_EQ(lt_torrent_info_from_file(NULL, &bad), LT_ERROR_NULL_ARG);
    CHECK_EQ(lt_torrent_info_num_files(NULL), 0);
    CHECK(lt_torrent_info_name(NULL) == NULL);
    lt_torrent_info_free(NULL);
    free(dir);
    printf("ok\n");
    return 0;
}
