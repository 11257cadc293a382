/* Malformed torrents and magnets are refused with a code and a message
 * that says what is wrong; nothing is added to the session. */
#include <string.h>
#include <sys/stat.h>
#include "helpers.h"

static void expect(lt_error got, lt_error want, const char *part) {
    char msg[512];
    lt_last_error(msg, sizeof msg);
    if (got != want || !strstr(msg, part)) {
        fprintf(stderr, "got %d '%s', want %d containing '%s'\n", got, msg, want, part);
        exit(1);
    }
}

static lt_error set_data(lt_params_t *p, const char *s) {
    return lt_params_set_torrent_data(p, (const uint8_t *)s, strlen(s));
}

int main(void) {
    lt_params_t *p = lt_params_new();
    expect(set_data(p, "garbage"), LT_ERROR_INVALID_TORRENT, "torrent data");
    expect(set_data(p, "d4:infod6:lengthi5e4:name1:x12:piece lengthi0e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"),
           LT_ERROR_INVALID_TORRENT, "piece length");
    expect(set_data(p, "d4:infod6:lengthi-5e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"),
           LT_ERROR_INVALID_TORRENT, "length");
    expect(set_data(p, "d4:infod6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces19:aaaaaaaaaaaaaaaaaaaee"),
           LT_ERROR_INVALID_TORRENT, "pieces");
    expect(set_data(p, "10:libtorrent"), LT_ERROR_INVALID_TORRENT, "torrent data");
    expect(lt_params_set_torrent_file(p, "/nonexistent/x.torrent"), LT_ERROR_IO, "/nonexistent/x.torrent");
    /* Files that never end or are not files: refused at once, nothing read. */
    expect(lt_params_set_torrent_file(p, "/dev/zero"), LT_ERROR_INVALID_ARG, "not a regular file");
    expect(lt_params_set_torrent_file(p, "/tmp"), LT_ERROR_INVALID_ARG, "not a regular file");
    char *dir = make_temp_dir("badfile");
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/fifo.torrent", dir);
    CHECK_EQ(mkfifo(fifo, 0600), 0);
    expect(lt_params_set_torrent_file(p, fifo), LT_ERROR_INVALID_ARG, "not a regular file");
    /* Over libtorrent's 10 MB limit, whatever it holds. */
    char big[512];
    snprintf(big, sizeof big, "%s/big.torrent", dir);
    FILE *f = fopen(big, "wb");
    CHECK(f != NULL);
    CHECK_EQ(fseek(f, 10000001L - 1, SEEK_SET), 0);
    CHECK_EQ(fputc('e', f), 'e');
    CHECK_EQ(fclose(f), 0);
    expect(lt_params_set_torrent_file(p, big), LT_ERROR_INVALID_ARG, "larger than the limit");
    free(dir);

    expect(lt_params_set_magnet(p, "magnet:?dn=nohash"), LT_ERROR_INVALID_MAGNET, "magnet");
    expect(lt_params_set_magnet(p, "magnet:?xt=urn:btih:abababab"), LT_ERROR_INVALID_MAGNET, "magnet");
    expect(lt_params_set_magnet(p, "http://example.com"), LT_ERROR_INVALID_MAGNET, "magnet");
    CHECK_EQ(lt_params_set_magnet(p, "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x"), LT_OK);
    CHECK_EQ(lt_params_set_magnet(p, "magnet:?xt=urn:btih:CI2FGEMEMYEJJB33VPHURYPJZVKDNWVB"), LT_OK);

    expect(lt_params_add_peer(p, "1.2.3.4"), LT_ERROR_INVALID_ARG, "1.2.3.4");
    expect(lt_params_add_tracker(p, "ftp://x/announce", 0), LT_ERROR_INVALID_ARG, "ftp://x/announce");
    expect(lt_params_set_flags(p, 1ull << 40), LT_ERROR_INVALID_ARG, "flags");

    lt_session_t *ses = loopback_session(LT_ALERT_CATEGORY_ERROR);
    lt_torrent_id_t id = 99;
    /* No save path yet. */
    expect(lt_add_torrent(ses, p, &id), LT_ERROR_INVALID_ARG, "save path");
    CHECK_EQ(id, 0);
    CHECK_EQ(lt_params_set_save_path(p, "/tmp"), LT_OK);
    /* A magnet without peers waits for its metadata; there is none to save yet. */
    CHECK_EQ(lt_add_torrent(ses, p, &id), LT_OK);
    lt_torrent_status_t st;
    CHECK_EQ(lt_torrent_status(ses, id, &st, sizeof st), LT_OK);
    CHECK_EQ(st.state, LT_STATE_DOWNLOADING_METADATA);
    CHECK_EQ(st.total_size, 0);
    uint8_t *meta = NULL;
    size_t meta_len = 0;
    expect(lt_torrent_metadata(ses, id, &meta, &meta_len), LT_ERROR_NO_METADATA, "metadata");
    CHECK(meta == NULL);
    lt_torrent_id_t again = 0;
    expect(lt_add_torrent(ses, p, &again), LT_ERROR_DUPLICATE_TORRENT, "already");
    size_t count = 0;
    CHECK_EQ(lt_session_torrents(ses, NULL, 0, &count), LT_OK);
    CHECK_EQ(count, 1);

    lt_params_free(p);
    lt_session_free(ses);
    return 0;
}
