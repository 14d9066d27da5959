/* What a new user meets first, on a real proxy:
 *   - a second ringmux started on a port a running one already listens on
 *     (client port or admin port) refuses to start with a message naming
 *     the setting, instead of sharing the port through SO_REUSEPORT;
 *   - `ringmux --check` without -c says -c is needed;
 *   - a wrong password is an authentication failure, not a protocol error
 *     (ringmux_auth_failures_total grows, ringmux_protocol_errors_total
 *     does not);
 *   - a user the server knows but [users] does not gets the server's
 *     "Access denied", and the log says why at info level without echoing
 *     the password sent. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run argv with stdout+stderr to a pipe; the exit status, output in out. */
static int run(char *const argv[], char *out, size_t outlen)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t n = 0;
    ssize_t k;
    while ((k = read(pfd[0], out + n, outlen - 1 - n)) > 0 && n + 1 < outlen)
        n += (size_t)k;
    out[n] = '\0';
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Copy the running proxy's ini to path, with port lines replaced. */
static bool write_variant(const struct it_proxy *p, const char *path, int listen_port, int admin_port)
{
    FILE *in = fopen(p->ini, "r"), *out = fopen(path, "w");
    if (!in || !out) {
        if (in)
            fclose(in);
        if (out)
            fclose(out);
        return false;
    }
    char line[512];
    while (fgets(line, sizeof line, in)) {
        if (strncmp(line, "listen =", 8) == 0)
            fprintf(out, "listen = 127.0.0.1:%d\n", listen_port);
        else if (strncmp(line, "admin_listen =", 14) == 0)
            fprintf(out, "admin_listen = 127.0.0.1:%d\n", admin_port);
        else
            fputs(line, out);
    }
    fclose(in);
    return fclose(out) == 0;
}

static int free_port(void)
{
    /* Port of a socket bound to 0 and closed: free right after. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &l) < 0)
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static void test_port_taken(struct it_proxy *p)
{
    char path[400], out[8192];
    snprintf(path, sizeof path, "%s/second.ini", p->dir);
    char *argv[] = {(char *)RINGMUX_BIN, (char *)"-c", path, NULL};
    static const struct {
        bool same_listen, same_admin;
        const char *names;
    } cases[] = {
        {true, true, "listen = 127.0.0.1:"},
        {true, false, "listen = 127.0.0.1:"},
        {false, true, "admin_listen = 127.0.0.1:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int lp = cases[i].same_listen ? p->port : free_port();
        int ap = cases[i].same_admin ? p->admin_port : free_port();
        if (!IT_CHECK(lp > 0 && ap > 0 && write_variant(p, path, lp, ap), "cannot write %s", path))
            return;
        double t0 = it_now();
        int rc = run(argv, out, sizeof out);
        IT_CHECK(rc == 1, "second ringmux (listen %d, admin %d) exited %d; expected 1. Output:\n%s", lp, ap, rc, out);
        IT_CHECK(it_now() - t0 < 5, "second ringmux took %.1f s to give up", it_now() - t0);
        IT_CHECK(strstr(out, cases[i].names) && strstr(out, "already in use"),
                 "second ringmux's message does not name '%s...' and 'already in use':\n%s", cases[i].names, out);
    }
    /* The first one is unharmed. */
    MYSQL *m = it_connect_proxy(p, IT_DB);
    if (m)
        IT_EQ_INT(it_scalar_int(m, "SELECT 7"), 7);
    mysql_close(m);
}

static void test_check_needs_config(void)
{
    char out[4096];
    char *argv[] = {(char *)RINGMUX_BIN, (char *)"--check", NULL};
    int rc = run(argv, out, sizeof out);
    IT_EQ_INT(rc, 2);
    IT_CHECK(strstr(out, "-c FILE is needed") != NULL, "--check without -c says:\n%s", out);
}

static void test_auth_counters(struct it_proxy *p)
{
    double auth0 = it_metric(p, "ringmux_auth_failures_total");
    double proto0 = it_metric(p, "ringmux_protocol_errors_total");
    struct it_error e;
    IT_CHECK(it_connect_error(p->host, p->port, IT_USER, "wrong-password", IT_DB, &e) == 0,
             "a wrong password was accepted");
    IT_EQ_INT(e.code, 1045);
    /* A user MariaDB has (the sandbox's root) but [users] does not list. */
    IT_CHECK(it_connect_error(p->host, p->port, "root", "Secret-Pw-Never-Logged", NULL, &e) == 0,
             "an unlisted user was accepted");
    IT_EQ_INT(e.code, 1045);
    IT_CHECK(strstr(e.message, "Access denied for user 'root'") != NULL, "message: %s", e.message);
    IT_EQ_INT(it_metric_wait(p, "ringmux_auth_failures_total", auth0 + 2, 2), auth0 + 2);
    IT_EQ_INT(it_metric(p, "ringmux_protocol_errors_total"), proto0);

    FILE *f = fopen(p->log, "r");
    if (!IT_CHECK(f != NULL, "cannot read %s", p->log))
        return;
    char line[1024];
    bool said = false, leaked = false;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "'root' is not listed in [users]"))
            said = true;
        if (strstr(line, "Secret-Pw-Never-Logged"))
            leaked = true;
    }
    fclose(f);
    IT_CHECK(said, "the log does not say that 'root' is not listed in [users]");
    IT_CHECK(!leaked, "the log echoes the password");
}

int main(void)
{
    it_watchdog(120);
    if (it_direct_mode()) {
        it_skip("test_first_contact: proxy start-up and accounting");
        test_check_needs_config();
        return it_done();
    }
    struct it_proxy P;
    if (it_proxy_start(&P, NULL) != 0) {
        IT_FAIL("proxy did not start");
        return it_done();
    }
    test_port_taken(&P);
    test_check_needs_config();
    test_auth_counters(&P);
    IT_CHECK(it_proxy_stop(&P) == 0, "proxy did not stop cleanly");
    return it_done();
}
