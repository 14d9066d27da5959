/* Integration-test harness; see harness.h for the contract. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RINGMUX_BIN
#error "RINGMUX_BIN (path of the ringmux binary) must be defined"
#endif
#ifndef RINGMUX_SOURCE_DIR
#error "RINGMUX_SOURCE_DIR must be defined"
#endif

#define PROXY_START_TIMEOUT_S 10  /* until the client port accepts */
#define PROXY_STOP_TIMEOUT_S  15  /* after SIGTERM, before SIGKILL */
#define MAX_PRINTED_FAILURES  100 /* then failures are only counted */
#define SQL_SHOWN             240 /* bytes of SQL quoted in a failure */

static atomic_long g_passed, g_failed;
static pthread_mutex_t g_out_lock = PTHREAD_MUTEX_INITIALIZER;

/* Proxies currently running, so the watchdog can kill them. */
#define MAX_PROXIES 16
static struct it_proxy *g_proxies[MAX_PROXIES];
static pthread_mutex_t g_proxies_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_once_t g_lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "harness: mysql_library_init failed\n");
        exit(1);
    }
}

/* ---- small string buffer ---------------------------------------------- */

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_reserve(struct sbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        fprintf(stderr, "harness: out of memory\n");
        abort();
    }
    b->p = np;
    b->cap = cap;
}

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    sb_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static char *sb_take(struct sbuf *b)
{
    if (!b->p)
        sb_reserve(b, 0), b->p[0] = '\0';
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

/* "SELECT ..." shortened for messages. */
static void sql_excerpt(const char *sql, char *out, size_t outlen)
{
    if (!sql) {
        snprintf(out, outlen, "(none)");
        return;
    }
    size_t n = strlen(sql);
    if (n <= SQL_SHOWN)
        snprintf(out, outlen, "%s", sql);
    else
        snprintf(out, outlen, "%.*s... (%zu bytes)", SQL_SHOWN, sql, n);
}

/* ---- checks ------------------------------------------------------------ */

void it_pass(void)
{
    atomic_fetch_add(&g_passed, 1);
}

__attribute__((format(printf, 3, 0))) static void vfail(const char *file, int line, const char *fmt, va_list ap)
{
    long n = atomic_fetch_add(&g_failed, 1) + 1;
    if (n > MAX_PRINTED_FAILURES) {
        if (n == MAX_PRINTED_FAILURES + 1)
            fprintf(stderr, "(more failures are counted but not printed)\n");
        return;
    }
    pthread_mutex_lock(&g_out_lock);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&g_out_lock);
}

void it_fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(file, line, fmt, ap);
    va_end(ap);
}

long it_failures(void)
{
    return atomic_load(&g_failed);
}

void it_skip(const char *what)
{
    static char seen[64][128];
    static int n_seen;
    pthread_mutex_lock(&g_out_lock);
    for (int i = 0; i < n_seen; i++) {
        if (strncmp(seen[i], what, sizeof seen[i] - 1) == 0) {
            pthread_mutex_unlock(&g_out_lock);
            return;
        }
    }
    if (n_seen < 64)
        snprintf(seen[n_seen++], sizeof seen[0], "%s", what);
    fprintf(stderr, "SKIP (direct mode): %s\n", what);
    pthread_mutex_unlock(&g_out_lock);
}

int it_done(void)
{
    long passed = atomic_load(&g_passed), failed = atomic_load(&g_failed);
    printf("%s: %ld passed, %ld failed%s\n", program_invocation_short_name, passed, failed,
           it_direct_mode() ? " (direct mode)" : "");
    fflush(stdout);
    mysql_library_end();
    if (passed == 0 && failed == 0)
        fprintf(stderr, "no checks ran\n");
    return (failed == 0 && passed > 0) ? 0 : 1;
}

/* ---- randomness and time ------------------------------------------------ */

static unsigned int g_seed;
static pthread_once_t g_seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
    const char *e = getenv("RINGMUX_IT_SEED");
    if (e && *e) {
        g_seed = (unsigned int)strtoul(e, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        g_seed = (unsigned int)(ts.tv_nsec ^ (ts.tv_sec << 10) ^ getpid());
    }
    if (g_seed == 0)
        g_seed = 1;
    fprintf(stderr, "%s: seed %u (RINGMUX_IT_SEED=%u replays it)\n", program_invocation_short_name, g_seed, g_seed);
}

unsigned int it_seed(void)
{
    pthread_once(&g_seed_once, seed_init);
    return g_seed;
}

unsigned int it_rand(unsigned int *state)
{
    /* xorshift32: plenty for picking operations, and per-thread. */
    unsigned int x = *state ? *state : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

void it_usleep(long us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

double it_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- environment ------------------------------------------------------- */

bool it_direct_mode(void)
{
    const char *e = getenv("RINGMUX_IT_DIRECT");
    return e && strcmp(e, "1") == 0;
}

const char *it_backend_host(void)
{
    const char *h = getenv("RINGMUX_TEST_MYSQL_HOST");
    return (h && *h) ? h : "127.0.0.1";
}

int it_backend_port(void)
{
    const char *e = getenv("RINGMUX_TEST_MYSQL_PORT");
    char *end = NULL;
    long port = e ? strtol(e, &end, 10) : 0;
    if (!e || !*e || *end || port <= 0 || port > 65535) {
        fprintf(stderr,
                "%s: RINGMUX_TEST_MYSQL_PORT is %s%s%s: integration tests need a MariaDB.\n"
                "  Run them with scripts/test.sh, or start a sandbox and source its env:\n"
                "    scripts/sandbox-mariadb.sh start /tmp/rmsb && . /tmp/rmsb/env\n",
                program_invocation_short_name, e ? "'" : "not set", e ? e : "", e ? "'" : "");
        exit(1);
    }
    return (int)port;
}

static int run_and_wait(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0)
            dup2(nul, STDOUT_FILENO); /* the script prints the port; keep stderr */
        execv(argv[0], argv);
        fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return (WIFEXITED(st) && WEXITSTATUS(st) == 0) ? 0 : -1;
}

/* scripts/sandbox-mariadb.sh cmd $RINGMUX_TEST_SANDBOX; 0 or -1. */
static int sandbox_cmd(const char *cmd)
{
    const char *dir = getenv("RINGMUX_TEST_SANDBOX");
    if (!dir || !*dir) {
        fprintf(stderr, "harness: RINGMUX_TEST_SANDBOX not set, cannot %s the backend\n", cmd);
        return -1;
    }
    char script[PATH_MAX];
    snprintf(script, sizeof script, "%s/scripts/sandbox-mariadb.sh", RINGMUX_SOURCE_DIR);
    char *argv[] = {script, (char *)cmd, (char *)dir, NULL};
    if (run_and_wait(argv) != 0) {
        fprintf(stderr, "harness: %s %s %s failed\n", script, cmd, dir);
        return -1;
    }
    return 0;
}

int it_backend_restart(void)
{
    return sandbox_cmd("restart");
}

int it_backend_stop(void)
{
    return sandbox_cmd("stop");
}

int it_backend_start(void)
{
    /* The proxy and RINGMUX_TEST_MYSQL_PORT name the recorded port: the
     * script must not pick another one. */
    setenv("SANDBOX_KEEP_PORT", "1", 1);
    int rc = sandbox_cmd("start");
    unsetenv("SANDBOX_KEEP_PORT");
    return rc;
}

/* ---- watchdog ------------------------------------------------------------ */

static void *watchdog_main(void *arg)
{
    unsigned seconds = (unsigned)(uintptr_t)arg;
    it_usleep((long)seconds * 1000000L);
    fprintf(stderr, "\nFAIL %s: watchdog: still running after %u s, giving up\n", program_invocation_short_name,
            seconds);
    pthread_mutex_lock(&g_proxies_lock);
    for (int i = 0; i < MAX_PROXIES; i++) {
        struct it_proxy *p = g_proxies[i];
        if (p && p->pid > 0) {
            fprintf(stderr, "watchdog: proxy pid %d log (%s):\n", (int)p->pid, p->log);
            it_proxy_print_log(p, 8192);
            kill(p->pid, SIGKILL);
        }
    }
    pthread_mutex_unlock(&g_proxies_lock);
    fflush(NULL);
    _exit(1);
    return NULL;
}

void it_watchdog(unsigned seconds)
{
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, watchdog_main, (void *)(uintptr_t)seconds) != 0)
        fprintf(stderr, "harness: cannot start the watchdog thread\n");
    pthread_attr_destroy(&a);
}

/* ---- the proxy process --------------------------------------------------- */

static void register_proxy(struct it_proxy *p, bool add)
{
    pthread_mutex_lock(&g_proxies_lock);
    for (int i = 0; i < MAX_PROXIES; i++) {
        if (add && !g_proxies[i]) {
            g_proxies[i] = p;
            break;
        }
        if (!add && g_proxies[i] == p) {
            g_proxies[i] = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&g_proxies_lock);
}

/* Reserve n free loopback ports (all held open together so they differ). */
static int free_ports(int *ports, int n)
{
    int fds[4];
    int rc = 0;
    for (int i = 0; i < n; i++)
        fds[i] = -1;
    for (int i = 0; i < n && rc == 0; i++) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
        socklen_t sl = sizeof sa;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0 ||
            getsockname(fds[i], (struct sockaddr *)&sa, &sl) != 0) {
            rc = -1;
            break;
        }
        ports[i] = ntohs(sa.sin_port);
    }
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

/* Connect a TCP socket to 127.0.0.1:port; fd or -1.  timeout_ms bounds
 * connect and every later read/write on the socket. */
static int tcp_connect(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void it_proxy_print_log(const struct it_proxy *p, size_t max_bytes)
{
    if (!p->log[0])
        return;
    FILE *f = fopen(p->log, "r");
    if (!f) {
        fprintf(stderr, "(cannot open %s: %s)\n", p->log, strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (size_t)st.st_size > max_bytes) {
        fseek(f, (long)(st.st_size - (off_t)max_bytes), SEEK_SET);
        fprintf(stderr, "(... last %zu of %lld bytes of %s)\n", max_bytes, (long long)st.st_size, p->log);
    }
    fprintf(stderr, "----- %s -----\n", p->log);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fprintf(stderr, "----- end of %s -----\n", p->log);
    fclose(f);
}

int it_free_port(void)
{
    int port;
    return free_ports(&port, 1) == 0 ? port : -1;
}

static int write_ini(struct it_proxy *p, const char *ringmux_ini, const char *backends_ini, const char *pool_ini)
{
    FILE *f = fopen(p->ini, "w");
    if (!f) {
        fprintf(stderr, "harness: cannot write %s: %s\n", p->ini, strerror(errno));
        return -1;
    }
    fprintf(f,
            "[ringmux]\n"
            "listen = 127.0.0.1:%d\n"
            "admin_listen = 127.0.0.1:%d\n",
            p->port, p->admin_port);
    if (!ringmux_ini || !strstr(ringmux_ini, "log_level"))
        fputs("log_level = info\n", f);
    if (!ringmux_ini || !strstr(ringmux_ini, "workers"))
        fputs("workers = 2\n", f);
    if (ringmux_ini) {
        fputs(ringmux_ini, f);
        if (*ringmux_ini && ringmux_ini[strlen(ringmux_ini) - 1] != '\n')
            fputc('\n', f);
    }
    if (backends_ini) {
        fputs(backends_ini, f);
        if (*backends_ini && backends_ini[strlen(backends_ini) - 1] != '\n')
            fputc('\n', f);
        fputs("[pool]\n", f);
    } else {
        fprintf(f, "[backend]\naddress = %s:%d\n[pool]\n", it_backend_host(), it_backend_port());
    }
    if (!pool_ini)
        pool_ini = IT_POOL_DEFAULT;
    if (!strstr(pool_ini, "max_backend_connections"))
        fputs(IT_POOL_DEFAULT, f);
    fputs(pool_ini, f);
    if (*pool_ini && pool_ini[strlen(pool_ini) - 1] != '\n')
        fputc('\n', f);
    fprintf(f, "[users]\n%s = %s\n%s = %s\n", IT_USER, IT_PASSWORD, IT_USER2, IT_PASSWORD2);
    if (fclose(f) != 0) {
        fprintf(stderr, "harness: writing %s: %s\n", p->ini, strerror(errno));
        return -1;
    }
    return 0;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[PATH_MAX];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Start-up failed: show the config and the log, keep the dir. */
static void start_failed(struct it_proxy *p)
{
    register_proxy(p, false);
    p->pid = 0;
    FILE *f = fopen(p->ini, "r");
    if (f) {
        char line[512];
        fprintf(stderr, "----- %s -----\n", p->ini);
        while (fgets(line, sizeof line, f))
            fputs(line, stderr);
        fclose(f);
    }
    it_proxy_print_log(p, 16384);
    fprintf(stderr, "harness: kept %s for inspection\n", p->dir);
}

int it_proxy_start_ex(struct it_proxy *p, const char *ringmux_ini, const char *pool_ini)
{
    return it_proxy_start_full(p, ringmux_ini, NULL, pool_ini);
}

int it_proxy_start_full(struct it_proxy *p, const char *ringmux_ini, const char *backends_ini, const char *pool_ini)
{
    pthread_once(&g_lib_once, lib_init);
    memset(p, 0, sizeof *p);
    if (it_direct_mode()) {
        snprintf(p->host, sizeof p->host, "%s", it_backend_host());
        p->port = it_backend_port();
        fprintf(stderr, "%s: direct mode, no proxy; MariaDB at %s:%d\n", program_invocation_short_name, p->host,
                p->port);
        return 0;
    }
    (void)it_backend_port(); /* fail early and clearly if the env is missing */
    snprintf(p->host, sizeof p->host, "127.0.0.1");

    if (access(RINGMUX_BIN, X_OK) != 0) {
        fprintf(stderr, "harness: proxy binary %s: %s (build the ringmux target)\n", RINGMUX_BIN, strerror(errno));
        return -1;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(p->dir, sizeof p->dir, "%s/ringmux-it.XXXXXX", (tmp && *tmp) ? tmp : "/tmp");
    if (!mkdtemp(p->dir)) {
        fprintf(stderr, "harness: mkdtemp %s: %s\n", p->dir, strerror(errno));
        p->dir[0] = '\0';
        return -1;
    }
    snprintf(p->ini, sizeof p->ini, "%s/ringmux.ini", p->dir);
    snprintf(p->log, sizeof p->log, "%s/ringmux.log", p->dir);

    int ports[2];
    if (free_ports(ports, 2) != 0) {
        fprintf(stderr, "harness: cannot find free ports: %s\n", strerror(errno));
        return -1;
    }
    p->port = ports[0];
    p->admin_port = ports[1];
    if (write_ini(p, ringmux_ini, backends_ini, pool_ini) != 0)
        return -1;

    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Never outlive the test, even if it crashes. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        if (fd < 0)
            _exit(127);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, STDIN_FILENO);
        /* The proxy must not inherit the test's sockets. */
        close_range(3, ~0U, 0);
        execl(RINGMUX_BIN, RINGMUX_BIN, "-c", p->ini, (char *)NULL);
        dprintf(STDERR_FILENO, "harness: exec %s: %s\n", RINGMUX_BIN, strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    register_proxy(p, true);

    double deadline = it_now() + PROXY_START_TIMEOUT_S;
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            if (WIFEXITED(st))
                fprintf(stderr, "harness: ringmux exited with status %d during start-up\n", WEXITSTATUS(st));
            else
                fprintf(stderr, "harness: ringmux killed by signal %d during start-up\n", WTERMSIG(st));
            start_failed(p);
            return -1;
        }
        int fd = tcp_connect(p->port, 500);
        if (fd >= 0) {
            close(fd);
            break;
        }
        if (it_now() > deadline) {
            fprintf(stderr, "harness: ringmux did not accept on 127.0.0.1:%d within %d s\n", p->port,
                    PROXY_START_TIMEOUT_S);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            start_failed(p);
            return -1;
        }
        it_usleep(20000);
    }
    fprintf(stderr, "%s: ringmux pid %d on 127.0.0.1:%d (admin %d), dir %s\n", program_invocation_short_name, (int)pid,
            p->port, p->admin_port, p->dir);
    return 0;
}

int it_proxy_start(struct it_proxy *p, const char *pool_ini)
{
    return it_proxy_start_ex(p, NULL, pool_ini);
}

bool it_proxy_alive(struct it_proxy *p)
{
    if (it_direct_mode())
        return true;
    if (p->pid <= 0)
        return false;
    if (p->reaped)
        return false;
    int st;
    if (waitpid(p->pid, &st, WNOHANG) != p->pid)
        return true;
    p->reaped = true;
    p->wait_status = st;
    if (WIFSIGNALED(st))
        fprintf(stderr, "harness: ringmux %d was killed by signal %d (%s)\n", (int)p->pid, WTERMSIG(st),
                strsignal(WTERMSIG(st)));
    else
        fprintf(stderr, "harness: ringmux %d exited with status %d\n", (int)p->pid, WEXITSTATUS(st));
    return false;
}

int it_proxy_stop(struct it_proxy *p)
{
    if (it_direct_mode())
        return 0;
    if (p->pid <= 0) {
        fprintf(stderr, "harness: it_proxy_stop: proxy not running\n");
        return -1;
    }
    int rc = 0, st = 0;
    pid_t pid = p->pid, w;
    if (p->reaped) {
        fprintf(stderr, "harness: ringmux %d had already exited before it_proxy_stop\n", (int)pid);
        st = p->wait_status;
        w = pid;
        rc = -1;
    } else {
        if (!p->term_sent && kill(pid, SIGTERM) != 0)
            fprintf(stderr, "harness: kill(%d, SIGTERM): %s\n", (int)pid, strerror(errno));
        double deadline = it_now() + PROXY_STOP_TIMEOUT_S;
        while ((w = waitpid(pid, &st, WNOHANG)) == 0 && it_now() < deadline)
            it_usleep(10000);
    }
    if (w == 0) {
        fprintf(stderr, "harness: ringmux %d still running %d s after SIGTERM, sending SIGKILL\n", (int)pid,
                PROXY_STOP_TIMEOUT_S);
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        rc = -1;
    } else if (w < 0) {
        fprintf(stderr, "harness: waitpid(%d): %s\n", (int)pid, strerror(errno));
        rc = -1;
    } else if (WIFSIGNALED(st)) {
        fprintf(stderr, "harness: ringmux %d killed by signal %d (%s)\n", (int)pid, WTERMSIG(st),
                strsignal(WTERMSIG(st)));
        rc = -1;
    } else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
        fprintf(stderr, "harness: ringmux %d exited with status %d\n", (int)pid, WEXITSTATUS(st));
        rc = -1;
    }
    register_proxy(p, false);
    p->pid = 0;
    if (rc != 0) {
        it_proxy_print_log(p, 65536);
        fprintf(stderr, "harness: kept %s for inspection\n", p->dir);
    } else if (it_failures() > 0) {
        fprintf(stderr, "harness: the test had failures; proxy log:\n");
        it_proxy_print_log(p, 16384);
        fprintf(stderr, "harness: kept %s for inspection\n", p->dir);
    } else if (getenv("RINGMUX_IT_KEEP")) {
        fprintf(stderr, "harness: RINGMUX_IT_KEEP set, kept %s\n", p->dir);
    } else {
        remove_dir(p->dir);
    }
    return rc;
}

int it_proxy_signal(struct it_proxy *p, int sig)
{
    if (it_direct_mode() || p->pid <= 0 || p->reaped)
        return -1;
    if (kill(p->pid, sig) != 0) {
        fprintf(stderr, "harness: kill(%d, %d): %s\n", (int)p->pid, sig, strerror(errno));
        return -1;
    }
    if (sig == SIGTERM)
        p->term_sent = true;
    return 0;
}

long it_proxy_rss_kb(const struct it_proxy *p)
{
    if (it_direct_mode() || p->pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)p->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* ---- connections --------------------------------------------------------- */

static MYSQL *connect_raw(const char *host, int port, const char *user, const char *pw, const char *db,
                          unsigned long flags, MYSQL **failed)
{
    pthread_once(&g_lib_once, lib_init);
    MYSQL *m = mysql_init(NULL);
    if (!m) {
        fprintf(stderr, "harness: mysql_init failed\n");
        abort();
    }
    unsigned int proto = MYSQL_PROTOCOL_TCP;
    unsigned int local_infile = 1;
    unsigned int connect_timeout = 10, rw_timeout = 120;
    unsigned long max_packet = 1UL << 30;
    mysql_options(m, MYSQL_OPT_PROTOCOL, &proto);
    mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &local_infile);
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
    mysql_optionsv(m, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
    if (!mysql_real_connect(m, host, user, pw, db, (unsigned int)port, NULL, flags)) {
        *failed = m;
        return NULL;
    }
    *failed = NULL;
    return m;
}

MYSQL *it_connect_ex(const char *host, int port, const char *user, const char *pw, const char *db, unsigned long flags)
{
    MYSQL *failed;
    MYSQL *m = connect_raw(host, port, user, pw, db, flags, &failed);
    if (!m) {
        IT_FAIL("connect %s@%s:%d db=%s: %u (%s) %s", user, host, port, db ? db : "(none)", mysql_errno(failed),
                mysql_sqlstate(failed), mysql_error(failed));
        mysql_close(failed);
    }
    return m;
}

MYSQL *it_connect(int port, const char *user, const char *pw, const char *db)
{
    return it_connect_ex("127.0.0.1", port, user, pw, db, 0);
}

MYSQL *it_connect_proxy(struct it_proxy *p, const char *db)
{
    return it_connect_proxy_flags(p, db, 0);
}

MYSQL *it_connect_proxy_flags(struct it_proxy *p, const char *db, unsigned long flags)
{
    return it_connect_ex(p->host[0] ? p->host : "127.0.0.1", p->port, IT_USER, IT_PASSWORD, db, flags);
}

MYSQL *it_connect_direct(const char *db)
{
    return it_connect_direct_flags(db, 0);
}

MYSQL *it_connect_direct_flags(const char *db, unsigned long flags)
{
    return it_connect_ex(it_backend_host(), it_backend_port(), IT_USER, IT_PASSWORD, db, flags);
}

void it_error_get(MYSQL *m, struct it_error *e)
{
    e->code = mysql_errno(m);
    snprintf(e->sqlstate, sizeof e->sqlstate, "%s", mysql_sqlstate(m));
    snprintf(e->message, sizeof e->message, "%s", mysql_error(m));
}

int it_raw_connect(struct it_proxy *p, int timeout_ms)
{
    return tcp_connect(p->port, timeout_ms);
}

int it_connect_error(const char *host, int port, const char *user, const char *pw, const char *db, struct it_error *e)
{
    MYSQL *failed;
    MYSQL *m = connect_raw(host, port, user, pw, db, 0, &failed);
    memset(e, 0, sizeof *e);
    if (m) {
        mysql_close(m);
        return -1;
    }
    it_error_get(failed, e);
    mysql_close(failed);
    return 0;
}

/* ---- metrics ------------------------------------------------------------- */

int it_admin_call(struct it_proxy *p, const char *method, const char *path, char **body_out)
{
    *body_out = NULL;
    if (it_direct_mode() || p->admin_port <= 0)
        return -1;
    int fd = -1;
    /* The admin listener may come up a moment after the client port. */
    for (int i = 0; i < 100 && fd < 0; i++) {
        fd = tcp_connect(p->admin_port, 5000);
        if (fd < 0)
            it_usleep(20000);
    }
    if (fd < 0) {
        fprintf(stderr, "harness: cannot connect to admin port %d: %s\n", p->admin_port, strerror(errno));
        return -1;
    }
    char req[256];
    int len = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    size_t off = 0;
    while (off < (size_t)len) {
        ssize_t n = send(fd, req + off, (size_t)len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            fprintf(stderr, "harness: sending %s %s: %s\n", method, path, strerror(errno));
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    struct sbuf b = {0};
    char buf[8192];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "harness: reading %s: %s\n", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        sb_add(&b, buf, (size_t)n);
    }
    close(fd);
    char *resp = sb_take(&b);
    char *body = strstr(resp, "\r\n\r\n");
    if (strncmp(resp, "HTTP/1.", 7) != 0 || !body || resp[8] != ' ') {
        fprintf(stderr, "harness: bad %s response: %.200s\n", path, resp);
        free(resp);
        return -1;
    }
    int status = atoi(resp + 9);
    body += 4;
    memmove(resp, body, strlen(body) + 1);
    *body_out = resp;
    return status;
}

char *it_admin_request(struct it_proxy *p, const char *method, const char *path)
{
    char *body;
    int status = it_admin_call(p, method, path, &body);
    if (status != 200) {
        if (status > 0)
            fprintf(stderr, "harness: %s %s answered %d: %.200s\n", method, path, status, body ? body : "");
        free(body);
        return NULL;
    }
    return body;
}

char *it_metrics_text(struct it_proxy *p)
{
    return it_admin_request(p, "GET", "/metrics");
}

/* Split a Prometheus text line into its series (name{labels}) and value.
 * Returns false for comments, blank or malformed lines. */
static bool parse_metric_line(char *line, char **series, size_t *series_len, double *value)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == '\0' || *line == '#')
        return false;
    char *s = line;
    while (*s && *s != '{' && *s != ' ' && *s != '\t')
        s++;
    if (*s == '{') {
        bool quoted = false;
        for (s++; *s; s++) {
            if (quoted && *s == '\\' && s[1]) {
                s++;
            } else if (*s == '"') {
                quoted = !quoted;
            } else if (!quoted && *s == '}') {
                s++;
                break;
            }
        }
    }
    *series = line;
    *series_len = (size_t)(s - line);
    char *end;
    *value = strtod(s, &end);
    return end != s;
}

static double metric_lookup(struct it_proxy *p, const char *key, bool sum_by_name)
{
    char *text = it_metrics_text(p);
    if (!text)
        return -1;
    double result = -1;
    size_t keylen = strlen(key);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *series;
        size_t slen;
        double v;
        size_t cr = strlen(line);
        if (cr && line[cr - 1] == '\r')
            line[cr - 1] = '\0';
        if (!parse_metric_line(line, &series, &slen, &v))
            continue;
        if (sum_by_name) {
            size_t nlen = strcspn(series, "{ \t");
            if (nlen > slen)
                nlen = slen;
            if (nlen == keylen && memcmp(series, key, keylen) == 0)
                result = (result < 0 ? 0 : result) + v;
        } else if (slen == keylen && memcmp(series, key, keylen) == 0) {
            result = v;
            break;
        }
    }
    free(text);
    return result;
}

double it_metric(struct it_proxy *p, const char *series)
{
    return metric_lookup(p, series, false);
}

double it_metric_sum(struct it_proxy *p, const char *name)
{
    return metric_lookup(p, name, true);
}

double it_metric_wait(struct it_proxy *p, const char *series, double want, double timeout_s)
{
    double deadline = it_now() + timeout_s, v;
    for (;;) {
        v = it_metric(p, series);
        if (v == want || (v < 0 && it_direct_mode()) || it_now() >= deadline)
            return v;
        it_usleep(50000);
    }
}

/* ---- queries ------------------------------------------------------------- */

/* Read and free every pending result; 0, or -1 with the error left in m. */
static int drain_results(MYSQL *m)
{
    for (;;) {
        MYSQL_RES *r = mysql_store_result(m);
        if (r)
            mysql_free_result(r);
        else if (mysql_field_count(m) != 0)
            return -1;
        int rc = mysql_next_result(m);
        if (rc == -1)
            return 0;
        if (rc > 0)
            return -1;
    }
}

int it_query_at(const char *file, int line, MYSQL *m, const char *sql)
{
    char ex[SQL_SHOWN + 64];
    if (!m) {
        sql_excerpt(sql, ex, sizeof ex);
        it_fail_at(file, line, "query on a NULL connection: %s", ex);
        return -1;
    }
    if (mysql_real_query(m, sql, strlen(sql)) != 0 || drain_results(m) != 0) {
        sql_excerpt(sql, ex, sizeof ex);
        it_fail_at(file, line, "query failed: %s\n    error %u (%s): %s", ex, mysql_errno(m), mysql_sqlstate(m),
                   mysql_error(m));
        return -1;
    }
    it_pass();
    return 0;
}

int it_queryf_at(const char *file, int line, MYSQL *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = NULL;
    int n = vasprintf(&sql, fmt, ap);
    va_end(ap);
    if (n < 0) {
        it_fail_at(file, line, "vasprintf failed");
        return -1;
    }
    int rc = it_query_at(file, line, m, sql);
    free(sql);
    return rc;
}

int it_scalar_at(const char *file, int line, MYSQL *m, const char *sql, char *buf, size_t len)
{
    char ex[SQL_SHOWN + 64];
    if (len)
        buf[0] = '\0';
    if (!m) {
        sql_excerpt(sql, ex, sizeof ex);
        it_fail_at(file, line, "query on a NULL connection: %s", ex);
        return -1;
    }
    if (mysql_real_query(m, sql, strlen(sql)) != 0) {
        sql_excerpt(sql, ex, sizeof ex);
        it_fail_at(file, line, "query failed: %s\n    error %u (%s): %s", ex, mysql_errno(m), mysql_sqlstate(m),
                   mysql_error(m));
        return -1;
    }
    MYSQL_RES *r = mysql_store_result(m);
    if (!r) {
        sql_excerpt(sql, ex, sizeof ex);
        it_fail_at(file, line, "no result set from: %s\n    error %u (%s): %s", ex, mysql_errno(m), mysql_sqlstate(m),
                   mysql_error(m));
        drain_results(m);
        return -1;
    }
    int rc = 0;
    MYSQL_ROW row = mysql_fetch_row(r);
    if (row && row[0]) {
        unsigned long *lens = mysql_fetch_lengths(r);
        size_t n = lens[0] < len ? lens[0] : (len ? len - 1 : 0);
        if (len) {
            memcpy(buf, row[0], n);
            buf[n] = '\0';
        }
        rc = 1;
    }
    mysql_free_result(r);
    if (mysql_more_results(m) && drain_results(m) != 0) {
        sql_excerpt(sql, ex, sizeof ex);
        it_fail_at(file, line, "later result of %s failed: %u %s", ex, mysql_errno(m), mysql_error(m));
        return -1;
    }
    it_pass();
    return rc;
}

long long it_scalar_int_at(const char *file, int line, MYSQL *m, const char *sql)
{
    char buf[64];
    int rc = it_scalar_at(file, line, m, sql, buf, sizeof buf);
    if (rc < 0)
        return LLONG_MIN;
    char ex[SQL_SHOWN + 64];
    if (rc == 0) {
        sql_excerpt(sql, ex, sizeof ex);
        it_fail_at(file, line, "expected a number, got NULL/no row from: %s", ex);
        return LLONG_MIN;
    }
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || end == buf || *end) {
        sql_excerpt(sql, ex, sizeof ex);
        it_fail_at(file, line, "expected an integer, got '%s' from: %s", buf, ex);
        return LLONG_MIN;
    }
    return v;
}

int it_expect_error_at(const char *file, int line, MYSQL *m, const char *sql, unsigned int code)
{
    char ex[SQL_SHOWN + 64];
    sql_excerpt(sql, ex, sizeof ex);
    if (!m) {
        it_fail_at(file, line, "query on a NULL connection: %s", ex);
        return -1;
    }
    int rc = mysql_real_query(m, sql, strlen(sql));
    if (rc == 0)
        rc = drain_results(m);
    if (rc == 0) {
        it_fail_at(file, line, "expected error %u, but it succeeded: %s", code, ex);
        return -1;
    }
    if (mysql_errno(m) != code) {
        it_fail_at(file, line, "expected error %u, got %u (%s) %s: %s", code, mysql_errno(m), mysql_sqlstate(m),
                   mysql_error(m), ex);
        return -1;
    }
    it_pass();
    return 0;
}

/* ---- capture ------------------------------------------------------------- */

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void cap_value(struct sbuf *b, const char *v, unsigned long len)
{
    if (!v) {
        sb_add(b, "NULL", 4);
        return;
    }
    if (len > 200) {
        sb_printf(b, "<%lu bytes fnv=%016llx>", len, (unsigned long long)fnv1a(v, len));
        return;
    }
    sb_add(b, "'", 1);
    for (unsigned long i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
            sb_add(b, (const char *)&c, 1);
        else
            sb_printf(b, "\\x%02x", c);
    }
    sb_add(b, "'", 1);
}

static void cap_status(struct sbuf *b, MYSQL *m)
{
    unsigned int st = 0;
    mariadb_get_infov(m, MARIADB_CONNECTION_SERVER_STATUS, &st);
    sb_printf(b, " warnings=%u status=%s%s%s\n", mysql_warning_count(m), (st & SERVER_STATUS_IN_TRANS) ? "T" : "-",
              (st & SERVER_STATUS_AUTOCOMMIT) ? "A" : "-", (st & SERVER_MORE_RESULTS_EXIST) ? "M" : "-");
}

static void cap_error(struct sbuf *b, MYSQL *m)
{
    sb_printf(b, "ERR %u %s %s\n", mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
}

/* Describe the current result of m and everything after it. */
static void cap_results(struct sbuf *b, MYSQL *m)
{
    for (int idx = 0;; idx++) {
        MYSQL_RES *r = mysql_store_result(m);
        if (r) {
            unsigned int nf = mysql_num_fields(r);
            MYSQL_FIELD *f = mysql_fetch_fields(r);
            sb_printf(b, "[%d] RESULT %u columns, %llu rows\n", idx, nf, (unsigned long long)mysql_num_rows(r));
            for (unsigned int i = 0; i < nf; i++)
                sb_printf(b,
                          "  F name=%s org_name=%s table=%s org_table=%s db=%s catalog=%s "
                          "type=%d length=%lu flags=0x%x decimals=%u charset=%u\n",
                          f[i].name, f[i].org_name, f[i].table, f[i].org_table, f[i].db, f[i].catalog, (int)f[i].type,
                          f[i].length, f[i].flags, f[i].decimals, f[i].charsetnr);
            MYSQL_ROW row;
            while ((row = mysql_fetch_row(r)) != NULL) {
                unsigned long *lens = mysql_fetch_lengths(r);
                sb_add(b, "  R", 3);
                for (unsigned int i = 0; i < nf; i++) {
                    sb_add(b, " ", 1);
                    cap_value(b, row[i], lens[i]);
                }
                sb_add(b, "\n", 1);
            }
            mysql_free_result(r);
            sb_printf(b, "  EOF");
            cap_status(b, m);
        } else if (mysql_field_count(m) == 0) {
            const char *info = mysql_info(m);
            sb_printf(b, "[%d] OK affected=%lld insert_id=%llu info='%s'", idx, (long long)mysql_affected_rows(m),
                      (unsigned long long)mysql_insert_id(m), info ? info : "");
            cap_status(b, m);
        } else {
            sb_printf(b, "[%d] ", idx);
            cap_error(b, m);
            return;
        }
        int rc = mysql_next_result(m);
        if (rc == -1)
            return;
        if (rc > 0) {
            sb_printf(b, "[%d] ", idx + 1);
            cap_error(b, m);
            return;
        }
    }
}

char *it_capture_results(MYSQL *m)
{
    struct sbuf b = {0};
    cap_results(&b, m);
    return sb_take(&b);
}

char *it_capture(MYSQL *m, const char *sql)
{
    struct sbuf b = {0};
    if (!m) {
        sb_printf(&b, "NO CONNECTION\n");
        return sb_take(&b);
    }
    if (mysql_real_query(m, sql, strlen(sql)) != 0) {
        sb_printf(&b, "[0] ");
        cap_error(&b, m);
    } else {
        cap_results(&b, m);
    }
    return sb_take(&b);
}

bool it_same_at(const char *file, int line, const char *what, const char *direct, const char *proxy)
{
    if (getenv("RINGMUX_IT_VERBOSE") && direct) {
        pthread_mutex_lock(&g_out_lock);
        fprintf(stderr, "=== %s\n%s", what, direct);
        pthread_mutex_unlock(&g_out_lock);
    }
    if (direct && proxy && strcmp(direct, proxy) == 0) {
        it_pass();
        return true;
    }
    if (!direct || !proxy) {
        it_fail_at(file, line, "%s: missing capture", what);
        return false;
    }
    /* First differing line, for a readable message. */
    const char *a = direct, *b = proxy;
    int lineno = 1;
    while (*a && *a == *b) {
        if (*a == '\n')
            lineno++;
        a++, b++;
    }
    while (a > direct && a[-1] != '\n')
        a--, b--;
    int la = (int)strcspn(a, "\n"), lb = (int)strcspn(b, "\n");
    it_fail_at(file, line,
               "%s: proxy differs from direct at line %d\n"
               "    direct: %.*s\n    proxy:  %.*s\n"
               "  --- direct ---\n%.4000s  --- proxy ---\n%.4000s  ---",
               what, lineno, la, a, lb, b, direct, proxy);
    return false;
}

bool it_run_cases(int argc, char **argv, const struct it_case *cases, size_t n, void (*after)(const char *name))
{
    const char *only = argc > 1 ? argv[1] : NULL;
    size_t ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (only && !strcasestr(cases[i].name, only))
            continue;
        double t0 = it_now();
        long f0 = it_failures();
        cases[i].run();
        if (after)
            after(cases[i].name);
        ran++;
        fprintf(stderr, "case %-32s %6.2f s, %ld failures\n", cases[i].name, it_now() - t0, it_failures() - f0);
    }
    if (only && ran == 0)
        IT_FAIL("no case matches '%s'", only);
    return ran == n;
}

MYSQL_STMT *it_prepare(MYSQL *m, const char *sql)
{
    MYSQL_STMT *st = mysql_stmt_init(m);
    if (!st || mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
        IT_FAIL("prepare '%s': %s", sql, st ? mysql_stmt_error(st) : mysql_error(m));
        if (st)
            mysql_stmt_close(st);
        return NULL;
    }
    return st;
}

unsigned it_try_query(MYSQL *m, const char *sql)
{
    if (mysql_query(m, sql) != 0)
        return mysql_errno(m);
    MYSQL_RES *r = mysql_store_result(m);
    if (r)
        mysql_free_result(r);
    return mysql_field_count(m) && !r ? mysql_errno(m) : 0;
}

/* ---- raw socket I/O (the socket may be non-blocking: libmariadb's) -------- */

/* Read exactly n bytes within timeout_ms: n, 0 on EOF, -1 on an error
 * (reset), -2 on timeout. */
ssize_t it_raw_read(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
    double deadline = it_now() + timeout_ms / 1000.0;
    size_t got = 0;
    while (got < n) {
        int left = (int)((deadline - it_now()) * 1000);
        if (left <= 0)
            return -2;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return -1;
        if (pr == 0)
            return -2;
        ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
        if (r == 0)
            return 0;
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    return (ssize_t)n;
}

/* Write all of buf within timeout_ms: 0, or -1 (error / timeout). */
int it_raw_write(int fd, const void *buf, size_t n, int timeout_ms)
{
    const uint8_t *p = buf;
    double deadline = it_now() + timeout_ms / 1000.0;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p += w, n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        int left = (int)((deadline - it_now()) * 1000);
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        poll(&pfd, 1, left);
    }
    return 0;
}

/* One packet (no continuation joining): 1, 0 on EOF, -1 error, -2 timeout. */
int it_read_packet(int fd, struct it_pkt *k, int timeout_ms)
{
    uint8_t h[4];
    k->p = NULL;
    ssize_t r = it_raw_read(fd, h, 4, timeout_ms);
    if (r != 4)
        return (int)r;
    k->len = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16;
    k->seq = h[3];
    k->p = malloc(k->len + 1);
    if (k->len && (r = it_raw_read(fd, k->p, k->len, timeout_ms)) != (ssize_t)k->len) {
        free(k->p);
        k->p = NULL;
        return (int)r;
    }
    k->p[k->len] = 0;
    return 1;
}

int it_send_packet(int fd, uint8_t seq, const void *payload, size_t len)
{
    uint8_t *b = malloc(len + 4);
    b[0] = (uint8_t)len, b[1] = (uint8_t)(len >> 8), b[2] = (uint8_t)(len >> 16), b[3] = seq;
    memcpy(b + 4, payload, len);
    int rc = it_raw_write(fd, b, len + 4, 5000);
    free(b);
    return rc;
}

bool it_parse_err(const struct it_pkt *k, struct it_err *e)
{
    memset(e, 0, sizeof *e);
    if (k->len < 3 || k->p[0] != 0xff)
        return false;
    e->code = (unsigned)k->p[1] | (unsigned)k->p[2] << 8;
    e->seq = k->seq;
    size_t off = 3;
    if (k->len >= 9 && k->p[3] == '#') {
        memcpy(e->state, k->p + 4, 5);
        off = 9;
    }
    snprintf(e->msg, sizeof e->msg, "%.*s", (int)(k->len - off), (const char *)k->p + off);
    return true;
}

int it_shell(const char *cmd, char *out, size_t len)
{
    FILE *pp = popen(cmd, "r");
    if (!pp)
        return -1;
    size_t n = fread(out, 1, len - 1, pp);
    out[n] = '\0';
    int st = pclose(pp);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int it_make_certs(const char *dir)
{
    char cmd[512], out[2048];
    snprintf(cmd, sizeof cmd, "%s/scripts/make-test-certs.sh %s 2>&1", RINGMUX_SOURCE_DIR, dir);
    if (it_shell(cmd, out, sizeof out) != 0) {
        IT_FAIL("cannot make test certificates: %s", out);
        return -1;
    }
    return 0;
}
