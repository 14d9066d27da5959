/* Integration-test harness: a real ringmux process in front of a real MariaDB.
 *
 * The backend comes from the environment that scripts/sandbox-mariadb.sh
 * writes (RINGMUX_TEST_MYSQL_HOST / RINGMUX_TEST_MYSQL_PORT, user rmtest /
 * rmtest-pw, database rmtest).  Each test starts its own proxy with
 * it_proxy_start(), talks to it with libmariadb, compares what it sees with a
 * direct connection, and must check it_proxy_stop()'s result: under ASan a
 * leak or a crash on shutdown shows up only there.
 *
 * Direct mode (RINGMUX_IT_DIRECT=1): no proxy is started and "proxy"
 * connections go straight to MariaDB, so a test can be validated against the
 * real server alone.  Assertions about the proxy itself (metrics, RSS) must be
 * guarded with it_direct_mode().
 *
 * Every check macro records a pass or a failure (file:line, the SQL involved,
 * mysql_error()) and is safe to use from many threads; it_done() prints the
 * totals and returns the process exit code. */
#ifndef RINGMUX_IT_HARNESS_H
#define RINGMUX_IT_HARNESS_H

/* Tests include this header first; they use GNU extensions (asprintf,
 * open_memstream, program_invocation_short_name). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>
#include <sys/types.h>

/* The [pool] body written when the caller passes NULL (or a body without
 * max_backend_connections, which then gets this line first). */
#define IT_POOL_DEFAULT "max_backend_connections = 4\n"

#define IT_USER      "rmtest"
#define IT_PASSWORD  "rmtest-pw"
#define IT_USER2     "rmtest2"
#define IT_PASSWORD2 "rmtest2-pw"
#define IT_DB        "rmtest"

/* Status bits the proxy must pass through unchanged (IN_TRANS, AUTOCOMMIT,
 * MORE_RESULTS_EXISTS). */
#define IT_STATUS_MASK (SERVER_STATUS_IN_TRANS | SERVER_STATUS_AUTOCOMMIT | SERVER_MORE_RESULTS_EXIST)

struct it_proxy {
    pid_t pid;      /* ringmux process; 0 in direct mode / when stopped */
    int port;       /* client port (MariaDB's port in direct mode) */
    int admin_port; /* HTTP /metrics port; 0 in direct mode */
    char host[64];  /* address clients connect to */
    char dir[256];  /* temp dir with ringmux.ini and ringmux.log ("" in direct mode) */
    char log[300];  /* dir/ringmux.log */
    char ini[300];  /* dir/ringmux.ini */
    bool reaped;    /* it_proxy_alive() saw it exit; wait_status holds how */
    int wait_status;
    bool term_sent; /* it_proxy_signal() already sent SIGTERM: it_proxy_stop only waits */
};

/* ---- environment ------------------------------------------------------ */

/* True when RINGMUX_IT_DIRECT=1: tests run against MariaDB only. */
bool it_direct_mode(void);
/* Backend address: RINGMUX_TEST_MYSQL_HOST (default 127.0.0.1) and
 * RINGMUX_TEST_MYSQL_PORT (required: exits with a message saying how to get
 * a sandbox MariaDB if it is not set). */
const char *it_backend_host(void);
int it_backend_port(void);
/* Restart the sandbox MariaDB (same port and data) with
 * scripts/sandbox-mariadb.sh restart $RINGMUX_TEST_SANDBOX.  Returns 0 on
 * success, -1 (with a message) if it failed or no sandbox is known. */
int it_backend_restart(void);
/* Stop the sandbox MariaDB (scripts/sandbox-mariadb.sh stop), and start it
 * again on the same port and data (start with SANDBOX_KEEP_PORT=1), so
 * RINGMUX_TEST_MYSQL_PORT stays valid.  0 on success, -1 with a message. */
int it_backend_stop(void);
int it_backend_start(void);
/* Abort the test (print, kill any proxy started, exit 1) if it runs longer
 * than the given number of seconds. */
void it_watchdog(unsigned seconds);

/* ---- the proxy process ------------------------------------------------- */

/* Write dir/ringmux.ini (listen/admin on free loopback ports, 2 workers, the
 * env backend, [pool] = pool_ini or IT_POOL_DEFAULT, the two test users),
 * start RINGMUX_BIN -c dir/ringmux.ini with output to dir/ringmux.log and
 * wait up to 10 s for its port to accept.  pool_ini may also contain whole
 * other sections after the [pool] lines.  Returns 0, or -1 after printing the
 * log.  In direct mode only fills p with the MariaDB address. */
int it_proxy_start(struct it_proxy *p, const char *pool_ini);
/* Same, with extra lines for the [ringmux] section (NULL for none). */
int it_proxy_start_ex(struct it_proxy *p, const char *ringmux_ini, const char *pool_ini);
/* The same with backends_ini written instead of the one [backend] section
 * (e.g. "[backend.a]\naddress = ...\n[backend.b]\n...\n[monitor]\n..."). */
int it_proxy_start_full(struct it_proxy *p, const char *ringmux_ini, const char *backends_ini, const char *pool_ini);
/* SIGTERM, wait up to 15 s (then SIGKILL).  Returns 0 if the proxy exited
 * with status 0, non-zero otherwise (signal, non-zero status - e.g. an ASan
 * report - or hang).  Prints the log if that failed or the test has recorded
 * failures (the temp dir is then kept); removes the temp dir otherwise
 * (RINGMUX_IT_KEEP=1 keeps it always).
 * A no-op returning 0 in direct mode. */
int it_proxy_stop(struct it_proxy *p);
/* True while the proxy process runs (always true in direct mode); prints
 * how it ended otherwise. */
bool it_proxy_alive(struct it_proxy *p);
/* Send sig to the proxy and return at once (0, or -1 if there is no
 * proxy).  After SIGTERM, it_proxy_stop() only waits for the exit, so a
 * test can watch what clients see during a graceful shutdown.  A no-op
 * returning -1 in direct mode. */
int it_proxy_signal(struct it_proxy *p, int sig);
/* VmRSS of the proxy in KiB, -1 if unknown (direct mode). */
long it_proxy_rss_kb(const struct it_proxy *p);
/* Print the proxy log (last max_bytes bytes) to stderr. */
void it_proxy_print_log(const struct it_proxy *p, size_t max_bytes);

/* ---- connections -------------------------------------------------------- */

/* Connect over TCP with LOCAL INFILE enabled, 10 s connect timeout, 120 s
 * read/write timeouts, 1 GiB max_allowed_packet.  flags are
 * mysql_real_connect() client flags (e.g. CLIENT_MULTI_STATEMENTS).  Returns
 * NULL after recording a failure (with mysql_error()) if it did not work. */
MYSQL *it_connect_ex(const char *host, int port, const char *user, const char *pw, const char *db, unsigned long flags);
MYSQL *it_connect(int port, const char *user, const char *pw, const char *db);
MYSQL *it_connect_proxy(struct it_proxy *p, const char *db);
MYSQL *it_connect_proxy_flags(struct it_proxy *p, const char *db, unsigned long flags);
MYSQL *it_connect_direct(const char *db);
MYSQL *it_connect_direct_flags(const char *db, unsigned long flags);

/* A plain TCP socket connected to the proxy's client port (no protocol
 * spoken), with SO_RCVTIMEO / SO_SNDTIMEO of timeout_ms; fd or -1. */
int it_raw_connect(struct it_proxy *p, int timeout_ms);

/* An expected-to-fail connect: returns 0 and fills the error if it failed,
 * -1 if it unexpectedly connected (the connection is closed). */
struct it_error {
    unsigned int code;
    char sqlstate[6];
    char message[512];
};
int it_connect_error(const char *host, int port, const char *user, const char *pw, const char *db, struct it_error *e);
/* Copy m's current error into e. */
void it_error_get(MYSQL *m, struct it_error *e);

/* ---- scenarios ------------------------------------------------------------ */

struct it_case {
    const char *name;
    void (*run)(void);
};
/* Run the cases in order, timing each ("case NAME  1.23 s, 0 failures");
 * with an argument, only those whose name contains argv[1]
 * (case-insensitive), so one scenario runs alone:
 * `build/test/test_pinning "late SHOW WARNINGS"`.  after(name), if given,
 * runs after each case.  Returns true when every case ran (checks about
 * the whole run only mean something then); a filter that matches nothing
 * is a failure. */
bool it_run_cases(int argc, char **argv, const struct it_case *cases, size_t n, void (*after)(const char *name));

/* ---- raw protocol I/O (the socket may be libmariadb's, non-blocking) ---- */

/* Read exactly n bytes within timeout_ms: n, 0 on EOF, -1 on an error
 * (reset), -2 on timeout. */
ssize_t it_raw_read(int fd, uint8_t *buf, size_t n, int timeout_ms);
/* Write all of buf within timeout_ms: 0, or -1 (error / timeout). */
int it_raw_write(int fd, const void *buf, size_t n, int timeout_ms);

struct it_pkt {
    uint8_t seq;
    size_t len;
    uint8_t *p; /* payload (malloc'd, NUL-terminated), caller frees */
};
/* One packet (no continuation joining): 1, 0 on EOF, -1 error, -2 timeout. */
int it_read_packet(int fd, struct it_pkt *k, int timeout_ms);
/* Send one packet (payload < 16 MiB) with sequence id seq: 0 or -1. */
int it_send_packet(int fd, uint8_t seq, const void *payload, size_t len);

struct it_err {
    unsigned code;
    char state[6];
    char msg[512];
    uint8_t seq;
};
/* True (e filled) when k is an ERR packet. */
bool it_parse_err(const struct it_pkt *k, struct it_err *e);

/* ---- metrics ------------------------------------------------------------ */

/* Value of the Prometheus series (name plus optional {labels}, matched
 * exactly) from GET /metrics on the admin port; -1 if absent, unreachable,
 * or in direct mode. */
double it_metric(struct it_proxy *p, const char *series);
/* Sum of every series of metric `name` (any labels); -1 if none / direct. */
double it_metric_sum(struct it_proxy *p, const char *name);
/* Poll it_metric(series) every 50 ms until it equals want or timeout_s
 * passes; returns the last value read (-1 in direct mode). */
double it_metric_wait(struct it_proxy *p, const char *series, double want, double timeout_s);
/* Run cmd with popen: its exit status (-1 if it did not exit), its output
 * (up to len - 1 bytes, NUL-terminated) in out. */
int it_shell(const char *cmd, char *out, size_t len);
/* Throwaway CA, certificates and RSA keys in dir (scripts/make-test-certs.sh);
 * 0, or -1 after recording a failure. */
int it_make_certs(const char *dir);
/* A free TCP port on 127.0.0.1 (for reader_listen), -1 if none. */
int it_free_port(void);
/* An admin HTTP request ("POST", "/pause"): the body of a 200 answer
 * (malloc'd, caller frees), NULL on failure or in direct mode. */
char *it_admin_request(struct it_proxy *p, const char *method, const char *path);
/* The same request: its HTTP status (-1 if none), the body in *body
 * (malloc'd, NULL if none). */
int it_admin_call(struct it_proxy *p, const char *method, const char *path, char **body);
/* The whole /metrics body (malloc'd, caller frees), NULL on failure. */
char *it_metrics_text(struct it_proxy *p);

/* ---- queries ------------------------------------------------------------ */

/* Run sql (and discard any result sets); record a failure on error. */
int it_query_at(const char *file, int line, MYSQL *m, const char *sql);
int it_queryf_at(const char *file, int line, MYSQL *m, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* First column of the first row: returns 1 with the value copied into buf,
 * 0 for SQL NULL or no row, -1 on error (recorded as a failure). */
int it_scalar_at(const char *file, int line, MYSQL *m, const char *sql, char *buf, size_t len);
/* First column as an integer; records a failure and returns LLONG_MIN on an
 * error, NULL or non-number. */
long long it_scalar_int_at(const char *file, int line, MYSQL *m, const char *sql);
/* Prepare sql on m; NULL (failure recorded) on error. */
MYSQL_STMT *it_prepare(MYSQL *m, const char *sql);
/* Expect sql to fail with error code `code`; records a failure otherwise. */
int it_expect_error_at(const char *file, int line, MYSQL *m, const char *sql, unsigned int code);

#define it_query(m, sql)              it_query_at(__FILE__, __LINE__, (m), (sql))
#define it_queryf(m, ...)             it_queryf_at(__FILE__, __LINE__, (m), __VA_ARGS__)
#define it_scalar(m, sql, buf, len)   it_scalar_at(__FILE__, __LINE__, (m), (sql), (buf), (len))
#define it_scalar_int(m, sql)         it_scalar_int_at(__FILE__, __LINE__, (m), (sql))
#define it_expect_error(m, sql, code) it_expect_error_at(__FILE__, __LINE__, (m), (sql), (code))

/* Everything a client can observe about running sql (may be several
 * statements): for each result its error (code, SQL state, message) or its
 * field metadata and rows, or its OK (affected rows, insert id, warnings,
 * info); with the IT_STATUS_MASK status bits after each.  Malloc'd text,
 * caller frees.  Two captures of the same statements compare equal iff the
 * client saw the same thing. */
/* Run sql and discard any result; 0 or the error code (nothing recorded:
 * for statements expected to fail). */
unsigned it_try_query(MYSQL *m, const char *sql);
char *it_capture(MYSQL *m, const char *sql);
/* Like it_capture for a result already selected by the caller's query:
 * appends the description of the current and all following results. */
char *it_capture_results(MYSQL *m);

/* Compare two captures; on a mismatch record a failure showing sql, both
 * texts and the first differing line.  RINGMUX_IT_VERBOSE=1 prints every
 * direct capture. */
bool it_same_at(const char *file, int line, const char *what, const char *direct, const char *proxy);
#define it_same(what, direct, proxy) it_same_at(__FILE__, __LINE__, (what), (direct), (proxy))

/* ---- checks ------------------------------------------------------------- */

void it_pass(void);
void it_fail_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Failures so far (for early exits). */
long it_failures(void);
/* Print "name: N passed, N failed", shut libmariadb down; returns 0 if
 * nothing failed and something passed, 1 otherwise. */
int it_done(void);
/* Note a skipped check (direct mode), printed once per distinct message. */
void it_skip(const char *what);

#define IT_FAIL(...) it_fail_at(__FILE__, __LINE__, __VA_ARGS__)

/* Generic check; the message (printf-style) describes what was expected. */
#define IT_CHECK(cond, ...) ((cond) ? (it_pass(), true) : (it_fail_at(__FILE__, __LINE__, __VA_ARGS__), false))

#define IT_EQ_INT(a, b)                                                                                                \
    ({                                                                                                                 \
        long long it_a_ = (long long)(a), it_b_ = (long long)(b);                                                      \
        IT_CHECK(it_a_ == it_b_, "%s == %s: got %lld, expected %lld", #a, #b, it_a_, it_b_);                           \
    })

#define IT_EQ_STR(a, b)                                                                                                \
    ({                                                                                                                 \
        const char *it_a_ = (a), *it_b_ = (b);                                                                         \
        IT_CHECK(it_a_ &&it_b_ &&strcmp(it_a_, it_b_) == 0, "%s == %s: got '%s', expected '%s'", #a, #b,               \
                 it_a_ ? it_a_ : "(null)", it_b_ ? it_b_ : "(null)");                                                  \
    })

/* Check a MYSQL call returned 0 (success), with mysql_error() otherwise. */
#define IT_MYSQL_OK(m, call)                                                                                           \
    ({                                                                                                                 \
        int it_rc_ = (int)(call);                                                                                      \
        IT_CHECK(it_rc_ == 0, "%s failed (rc %d): %u (%s) %s", #call, it_rc_, mysql_errno(m), mysql_sqlstate(m),       \
                 mysql_error(m));                                                                                      \
    })

/* Random numbers for test threads: seeded per test run from the clock (or
 * RINGMUX_IT_SEED), printed by the first call so failures can be replayed. */
unsigned int it_seed(void);
unsigned int it_rand(unsigned int *state);

/* Sleep for the given number of microseconds. */
void it_usleep(long us);
/* Monotonic clock in seconds. */
double it_now(void);

#endif
