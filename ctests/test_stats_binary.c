/* lt_session_stats_export with LT_STATS_BINARY: the header's fields as
 * docs/stats.md ("Binary snapshot") documents them, the schema hash worked
 * out here from lt_stats_metric's names, and values that agree with
 * lt_session_stats. Integers are read byte by byte, little-endian, as a
 * reader on any machine must. */
#include <string.h>
#include <time.h>
#include "helpers.h"

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* 64-bit FNV-1a over every name and its NUL, in catalogue order. */
static uint64_t schema_hash(size_t count) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < count; i++) {
        const char *name = NULL;
        CHECK_EQ(lt_stats_metric(i, &name, NULL), LT_OK);
        size_t n = strlen(name) + 1; /* the NUL too */
        for (size_t j = 0; j < n; j++) {
            h ^= (unsigned char)name[j];
            h *= 0x100000001b3ULL;
        }
    }
    return h;
}

static int64_t value(const unsigned char *buf, const char *metric) {
    size_t idx;
    CHECK_EQ(lt_stats_find_metric(metric, &idx), LT_OK);
    return (int64_t)le(buf + 32 + 8 * idx, 8);
}

int main(void) {
    lt_session_t *ses = loopback_session(LT_ALERT_CATEGORY_ERROR);
    char *out = NULL;
    size_t len = 0;
    time_t before = time(NULL);
    CHECK_EQ(lt_session_stats_export(ses, LT_STATS_BINARY, &out, &len), LT_OK);
    time_t after = time(NULL);
    lt_stats_t stats;
    CHECK_EQ(lt_session_stats(ses, &stats, sizeof stats), LT_OK);
    const unsigned char *buf = (const unsigned char *)out;
    size_t count = lt_stats_metric_count();

    /* Header. */
    CHECK(len >= 32);
    CHECK(memcmp(buf, "\x89LTS", 4) == 0);
    CHECK_EQ(le(buf + 4, 2), 1);             /* format version */
    CHECK_EQ(le(buf + 6, 2), 32);            /* header length */
    CHECK_EQ(le(buf + 8, 4), len);           /* total length */
    CHECK_EQ(le(buf + 12, 4), count);        /* metric count */
    CHECK_EQ(len, 32 + 8 * count);
    int64_t ts = (int64_t)le(buf + 16, 8);   /* microseconds since the epoch */
    CHECK(ts >= (int64_t)before * 1000000 && ts < ((int64_t)after + 1) * 1000000);
    CHECK(le(buf + 24, 8) == schema_hash(count));
    CHECK_EQ(buf[len], 0);                   /* a NUL after the bytes, as for text */

    /* Values, in lt_stats_metric order. */
    CHECK_EQ(value(buf, "ses.num_torrents"), 0);
    CHECK_EQ(value(buf, "net.recv_bytes"), stats.total_download);
    CHECK_EQ(value(buf, "system.cpu_cores"), stats.cpu_cores);
    CHECK(stats.cpu_cores >= 1);
    int64_t uptime = value(buf, "ses.uptime_ms");
    CHECK(uptime >= 0 && uptime <= stats.uptime_ms);
    lt_free(out);

    CHECK_EQ(lt_session_stats_export(ses, LT_STATS_BINARY, NULL, &len), LT_ERROR_NULL_ARG);
    lt_session_free(ses);
    return 0;
}
