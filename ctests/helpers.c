#define _GNU_SOURCE
#include "helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *make_temp_dir(const char *tag) {
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/lt-ctest-%s-XXXXXX", tag);
    char *d = mkdtemp(tmpl);
    CHECK(d != NULL);
    return strdup(d);
}

int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t len = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

void run_or_die(const char *cmd) {
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
        exit(1);
    }
}

pid_t spawn_until_line(const char *cmd, const char *ready, int timeout_s, FILE **out) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    CHECK(f != NULL);
    time_t deadline = time(NULL) + timeout_s;
    char line[4096];
    for (;;) {
        struct pollfd p = {fds[0], POLLIN, 0};
        int left = (int)(deadline - time(NULL));
        if (left <= 0) {
            fprintf(stderr, "timed out waiting for '%s' from: %s\n", ready, cmd);
            kill_child(pid);
            exit(1);
        }
        if (poll(&p, 1, left * 1000) <= 0) continue;
        if (!fgets(line, sizeof line, f)) {
            fprintf(stderr, "child exited before '%s': %s\n", ready, cmd);
            exit(1);
        }
        if (strstr(line, ready)) break;
    }
    if (out) *out = f;
    else fclose(f);
    return pid;
}

void kill_child(pid_t pid) {
    if (pid <= 0) return;
    kill(-pid, SIGTERM);
    kill(pid, SIGTERM);
    for (int i = 0; i < 50; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return;
        usleep(100000);
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int files_equal(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    if (!fa || !fb) {
        if (fa) fclose(fa);
        if (fb) fclose(fb);
        return 0;
    }
    static char ba[1 << 16], bb[1 << 16];
    int same = 1;
    for (;;) {
        size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
        if (na != nb || memcmp(ba, bb, na) != 0) { same = 0; break; }
        if (na == 0) break;
    }
    fclose(fa);
    fclose(fb);
    return same;
}

const char *peer_script(void) {
    static char path[1024];
    const char *root = getenv("LT_ROOT");
    snprintf(path, sizeof path, "%s/tests/peers/lt_peer.py", root ? root : "..");
    return path;
}

lt_session_t *loopback_session(uint32_t alert_mask) {
    lt_settings_t *s = lt_settings_new();
    CHECK(s != NULL);
    CHECK_EQ(lt_settings_set_str(s, "listen_interfaces", "127.0.0.1:0"), LT_OK);
    CHECK_EQ(lt_settings_set_int(s, "alert_mask", alert_mask), LT_OK);
    lt_session_t *ses = NULL;
    CHECK_EQ(lt_session_new(s, &ses), LT_OK);
    lt_settings_free(s);
    return ses;
}

void write_test_file(const char *path, size_t len, unsigned seed) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    for (size_t i = 0; i < len; i++) fputc((int)((i * 31 + seed) % 251), f);
    CHECK(fclose(f) == 0);
}
