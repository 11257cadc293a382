/* Small helpers shared by the C tests: checks, temp dirs, child processes. */
#ifndef LT_CTEST_HELPERS_H
#define LT_CTEST_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include "lt.h"

#define CHECK(cond) do { if (!(cond)) { \
    char msg_[512]; lt_last_error(msg_, sizeof msg_); \
    fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, msg_); \
    exit(1); } } while (0)

#define CHECK_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); if (a_ != b_) { \
    char msg_[512]; lt_last_error(msg_, sizeof msg_); \
    fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld (last error: %s)\n", \
            __FILE__, __LINE__, #a, a_, #b, b_, msg_); exit(1); } } while (0)

/* A fresh directory under /tmp; the caller owns the string. */
char *make_temp_dir(const char *tag);
/* Writes `len` bytes of a pattern that `seed` varies to `path`. */
void write_test_file(const char *path, size_t len, unsigned seed);
/* A TCP port on 127.0.0.1 that is free now. */
int free_port(void);
/* Runs a shell command, fails the test if it exits non-zero. */
void run_or_die(const char *cmd);
/* Starts `cmd` with stdout piped; waits for a line containing `ready` (or
 * fails after `timeout_s`). Returns the child's pid. */
pid_t spawn_until_line(const char *cmd, const char *ready, int timeout_s, FILE **out);
/* Kills and reaps a child. */
void kill_child(pid_t pid);
/* 1 when the two files have the same bytes. */
int files_equal(const char *a, const char *b);
/* Path of tests/peers/lt_peer.py under $LT_ROOT. */
const char *peer_script(void);
/* A quiet session on 127.0.0.1 with a free port. */
lt_session_t *loopback_session(uint32_t alert_mask);

#endif
