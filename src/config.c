/* Configuration loading (see include/ringmux/config.h).
 *
 * One static table, cfg_keys[], describes every key: section, name, type,
 * default, bounds, reloadability, the struct rm_config field and a help
 * line.  Parsing, default-filling, validation, cfg_print_help() and
 * cfg_write_example() all walk it; adding a key means adding a row.
 *
 * inih does the name/value split, trimming and inline ";" comments.  Its
 * handler gets no line number in the Debian build and it reports only the
 * first syntax error, so cfg_read_line() sits in front of it: it counts
 * lines, tracks the section itself, reports malformed, over-long and NUL
 * lines, and hands inih only key lines (everything else becomes blank).
 *
 * The reader is split by concern: this file (the table, sections, the
 * reader, the checks, the public API), config_values.c (value syntax),
 * config_secrets.c ([users], [token_keys], the secrets file, the
 * environment) and config_help.c (--help-config, --example-config); they
 * share src/config_int.h. */
#include "ringmux/config.h"

#include "config_int.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct cfg_section_def cfg_sections[SEC_COUNT] = {
    [SEC_RINGMUX] = {"ringmux", "Process-wide settings: listening sockets, threads, logging and limits."},
    [SEC_BACKEND] = {"backend", "The MySQL or MariaDB server client sessions are multiplexed onto.  For\n"
                                "several (a primary and replicas, an Aurora cluster), write one section\n"
                                "per server instead, [backend.NAME] (NAME: letters, digits, _ and -), each\n"
                                "with these keys; the monitor finds which one is the writer.  A DNS name is\n"
                                "resolved by the monitor and again every [monitor] interval."},
    [SEC_POOL] = {"pool", "The pool of backend connections shared by all client sessions."},
    [SEC_MONITOR] = {"monitor", "The monitor thread: checks every backend (reachable, read_only, replica\n"
                                "lag), resolves backend names, and decides which backend is the writer\n"
                                "(read/write endpoint) and which are readers (reader_listen)."},
    [SEC_ADMIN] = {"admin", "The admin console: the MySQL protocol on console_listen, its own login\n"
                            "(user / password; the password may instead be in the secrets file's\n"
                            "[admin] section), answering SHOW POOLS, SHOW CLIENTS, SHOW BACKENDS,\n"
                            "SHOW STATS, SHOW PINS, SHOW CONFIG, SHOW VERSION, PAUSE, RESUME, RELOAD,\n"
                            "KILL <client id> and SHUTDOWN [WAIT] (mariadb -h HOST -P PORT -u admin -p)."},
    [SEC_TLS] = {"tls", "TLS towards clients (TLS 1.2 and 1.3, session tickets), and secrets kept\n"
                        "out of this file.  With tls_cert and tls_key set, clients may ask for TLS\n"
                        "in the handshake (mariadb --ssl, ssl-mode=REQUIRED); require_tls = on\n"
                        "refuses the others.  The secrets file holds [users] (merged with the\n"
                        "[users] below) and [token_keys] (name = 64 hex characters: HMAC-SHA256\n"
                        "keys for token logins); it must not be readable by group or others\n"
                        "(chmod 600).  RINGMUX_PASSWORD_<USER> in the environment (user name\n"
                        "upper-cased, other characters as _) sets that user's password, for\n"
                        "containers."},
    [SEC_USERS] = {"users", "Accounts clients log in with; the proxy logs in to the backend as the\n"
                            "same user with the same password.  One line per user: name = password.\n"
                            "Names are case-sensitive; a password may be empty.  Leading and trailing\n"
                            "spaces are stripped, and \" ;\" starts a comment, so a password cannot\n"
                            "begin or end with a space or contain \" ;\".  At least one user is required."},
};

/* What each type accepts, as shown in errors and help; the key's bounds
 * follow (names for an enum). */
static const char *const cfg_type_form[] = {
    [CFG_STR] = "text",
    [CFG_INT] = "an integer in ",
    [CFG_ENUM] = "one of ",
    [CFG_DURATION] = "a duration like 5s, 500ms, 2m or 1h, in ",
    [CFG_SIZE] = "a size like 512, 64k, 16M or 1G, in ",
    [CFG_ADDR] = "host:port (IPv4, localhost or [IPv6]) with port ",
    [CFG_HOSTPORT] = "host:port (a DNS name, IPv4 or [IPv6]) with port ",
};

static const char *const cfg_w_auto[] = {"auto", NULL};
static const char *const cfg_w_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const cfg_w_log_formats[] = {"text", "json", NULL};
static const char *const cfg_w_abandoned[] = {"finish", "kill", NULL};
static const char *const cfg_w_onoff[] = {"off", "on", NULL};
static const char *const cfg_w_tls_versions[] = {"1.2", "1.3", NULL};
static const char *const cfg_w_backend_tls[] = {"off", "on", "verify_ca", "verify_identity", NULL};

/* KEY(section, name, type, field, default, min, max, flags, help); rows may
 * add .words or .example after it. */
#define KEY(sec_, name_, type_, field_, def_, min_, max_, flags_, help_)                                               \
    .sec = (sec_), .name = (name_), .type = (type_), .off = offsetof(struct rm_config, field_), .def = (def_),         \
    .min = (min_), .max = (max_), .flags = (flags_), .help = (help_)
/* BKEY(name, type, field, default, min, max, flags, help): a per-backend key. */
#define BKEY(name_, type_, field_, def_, min_, max_, flags_, help_)                                                    \
    .sec = SEC_BACKEND, .name = (name_), .type = (type_), .off = offsetof(struct rm_backend_cfg, field_),              \
    .def = (def_), .min = (min_), .max = (max_), .flags = (flags_) | CFG_BACKEND, .help = (help_)

const struct cfg_key cfg_keys[] = {
    {KEY(SEC_RINGMUX, "listen", CFG_ADDR, listen, "127.0.0.1:6033", 1, 65535, 0,
         "Address clients connect to with the MySQL protocol.")},
    {KEY(SEC_RINGMUX, "workers", CFG_INT, workers, "auto", 1, 256, 0,
         "Worker threads, each with its own io_uring; auto = one per online CPU (1 is cheaper on a shared host)."),
     .words = cfg_w_auto},
    {KEY(SEC_RINGMUX, "log_level", CFG_ENUM, log_level, "info", 0, 0, CFG_RELOAD,
         "Least severe messages written to the log."),
     .words = cfg_w_levels},
    {KEY(SEC_RINGMUX, "log_format", CFG_ENUM, log_format, "text", 0, 0, CFG_RELOAD,
         "Log lines as text (logfmt: time=... level=... session=... msg=\"...\") or json (one object per line)."),
     .words = cfg_w_log_formats},
    {KEY(SEC_RINGMUX, "log_file", CFG_STR, log_file, "-", 0, 0, CFG_RELOAD,
         "Where the log goes: - = stderr, or a file (appended to; reopened on reload, for log rotation).")},
    {KEY(SEC_RINGMUX, "slow_query_threshold", CFG_DURATION, slow_query_ms, "0", 0, DUR_MAX, CFG_RELOAD,
         "Log every statement that takes longer, with its digest (literals replaced by ?, never values); "
         "0 = off.")},
    {KEY(SEC_RINGMUX, "max_client_connections", CFG_INT, max_client_connections, "10000", 1, 1000000, CFG_RELOAD,
         "Client connections accepted at once; more are refused.")},
    {KEY(SEC_RINGMUX, "idle_client_timeout", CFG_DURATION, idle_client_timeout_ms, "0", 0, DUR_MAX, CFG_RELOAD,
         "Close a client connection idle for this long; 0 = never.")},
    {KEY(SEC_RINGMUX, "max_allowed_packet", CFG_SIZE, max_allowed_packet, "64M", 1 << 10, 1 << 30, 0,
         "Largest packet accepted from clients or the backend (as MySQL's own).")},
    {KEY(SEC_RINGMUX, "max_prepared_statements", CFG_INT, max_prepared_statements, "16382", 1, 1048576, CFG_RELOAD,
         "Prepared statements one client session may hold; past it COM_STMT_PREPARE gets ERR 1461, as from the "
         "server's max_prepared_stmt_count.")},
    {KEY(SEC_RINGMUX, "handshake_timeout", CFG_DURATION, handshake_timeout_ms, "10s", 1000, 300000, CFG_RELOAD,
         "A client must have logged in (TLS handshake included) this long after connecting, else it is closed.")},
    {KEY(SEC_RINGMUX, "max_unauthenticated_connections", CFG_INT, max_unauthenticated, "1000", 0, 1000000, CFG_RELOAD,
         "Client connections still logging in at once; more get ERR 1040 at once; 0 = no limit.")},
    {KEY(SEC_RINGMUX, "max_failed_logins", CFG_INT, max_failed_logins, "20", 0, 1000000, CFG_RELOAD,
         "Failed logins allowed from one client address within failed_login_window; past it that address's "
         "logins get ERR 1129 without their password being checked, until the window ends; 0 = no limit.")},
    {KEY(SEC_RINGMUX, "failed_login_window", CFG_DURATION, failed_login_window_ms, "1m", 1000, MS_1H, CFG_RELOAD,
         "The window max_failed_logins counts in, from an address's first failure; a successful login from the "
         "address starts the count again.")},
    {KEY(SEC_RINGMUX, "max_connections_per_user", CFG_INT, max_connections_per_user, "0", 0, 1000000, CFG_RELOAD,
         "Sessions one user may have open at once, across workers (ERR 1203 past it, as the server's "
         "max_user_connections); 0 = no limit.")},
    {KEY(SEC_RINGMUX, "admin_users", CFG_STR, admin_users, NULL, 0, 0, CFG_RELOAD,
         "Users (from [users], comma-separated) that may KILL any client session; others only their own."),
     .example = "ops"},
    {KEY(SEC_RINGMUX, "admin_listen", CFG_ADDR, admin, "127.0.0.1:0", 0, 65535, 0,
         "HTTP endpoint for /metrics (Prometheus) and /healthz; port 0 = disabled.")},

    {KEY(SEC_RINGMUX, "reader_listen", CFG_ADDR, reader_listen, "127.0.0.1:0", 0, 65535, 0,
         "Read-only endpoint: its sessions' statements go to the reader backends (replicas); port 0 = disabled.")},

    {BKEY("address", CFG_HOSTPORT, addr, NULL, 1, 65535, CFG_REQUIRED,
          "Address of the server; a host name is resolved by the monitor (all A/AAAA answers are tried)."),
     .example = "127.0.0.1:3306"},
    {BKEY("max_connections", CFG_INT, max_connections, "0", 0, 100000, CFG_RELOAD,
          "Most connections to this server at once; 0 = no limit beyond [pool] max_backend_connections.")},
    {BKEY("weight", CFG_INT, weight, "1", 1, 1000, CFG_RELOAD,
          "Relative share of reader-endpoint statements this server takes when it is a reader.")},
    {BKEY("tls", CFG_ENUM, tls, "off", 0, 0, CFG_RELOAD,
          "TLS to this server: off; on = encrypted, certificate not checked; verify_ca = its certificate must "
          "chain to tls_ca; verify_identity = and name the host in address.  The server must offer TLS."),
     .words = cfg_w_backend_tls},
    {BKEY("tls_ca", CFG_STR, tls_ca, NULL, 0, 0, CFG_RELOAD,
          "PEM CA certificate(s) for tls = verify_ca / verify_identity (e.g. the RDS CA bundle)."),
     .example = "/etc/ssl/certs/rds-ca.pem"},
    {BKEY("tls_cert", CFG_STR, tls_cert, NULL, 0, 0, CFG_RELOAD,
          "PEM client certificate shown to this server (REQUIRE X509 accounts); with tls_key."),
     .example = "/etc/ringmux/client.pem"},
    {BKEY("tls_key", CFG_STR, tls_key, NULL, 0, 0, CFG_RELOAD, "PEM private key of tls_cert."),
     .example = "/etc/ringmux/client.key"},
    {BKEY("server_public_key", CFG_STR, server_public_key, NULL, 0, 0, CFG_RELOAD,
          "PEM RSA public key of a MySQL 8 server (caching_sha2_password_public_key_path there): lets ringmux "
          "log in with full authentication without TLS.  Not needed with tls on."),
     .example = "/etc/ringmux/mysql-public.pem"},

    {KEY(SEC_POOL, "max_backend_connections", CFG_INT, max_backend_connections, "32", 1, 100000, CFG_RELOAD,
         "Most connections open to the backend at once.")},
    {KEY(SEC_POOL, "min_idle_backend_connections", CFG_INT, min_idle_backend_connections, "0", 0, 100000, CFG_RELOAD,
         "Idle connections kept ready; at most max_backend_connections.")},
    {KEY(SEC_POOL, "connection_borrow_timeout", CFG_DURATION, connection_borrow_timeout_ms, "5s", 0, DUR_MAX,
         CFG_RELOAD, "How long a query waits for a free backend connection, then fails.")},
    {KEY(SEC_POOL, "backend_idle_timeout", CFG_DURATION, backend_idle_timeout_ms, "60s", 0, DUR_MAX, CFG_RELOAD,
         "Close a backend connection idle for this long; 0 = never.")},
    {KEY(SEC_POOL, "backend_max_lifetime", CFG_DURATION, backend_max_lifetime_ms, "1h", 0, DUR_MAX, CFG_RELOAD,
         "Retire a backend connection this long after it opened; 0 = never.")},
    {KEY(SEC_POOL, "backend_connect_timeout", CFG_DURATION, backend_connect_timeout_ms, "5s", 1, DUR_MAX, CFG_RELOAD,
         "Give up connecting and logging in to the backend after this long.")},
    {KEY(SEC_POOL, "abandoned_statement", CFG_ENUM, abandoned_statement, "finish", 0, 0, CFG_RELOAD,
         "A statement whose client disconnects while it runs: finish = let it run to the end, as the server "
         "does (an autocommit write commits); kill = stop it with KILL QUERY."),
     .words = cfg_w_abandoned},
    {KEY(SEC_POOL, "init_query", CFG_STR, init_query, NULL, 0, 0, CFG_RELOAD,
         "SQL run once on each new backend connection; unset or empty = none."),
     .example = "SET time_zone = '+00:00'"},

    {KEY(SEC_ADMIN, "console_listen", CFG_ADDR, console_listen, "127.0.0.1:0", 0, 65535, 0,
         "Address of the MySQL-protocol admin console; port 0 = off.")},
    {KEY(SEC_ADMIN, "user", CFG_STR, admin_user, "admin", 0, 0, CFG_RELOAD, "User name that logs in to the console.")},
    {KEY(SEC_ADMIN, "password", CFG_STR, admin_password, NULL, 0, 0, CFG_RELOAD,
         "Its password (required with console_listen); better kept in the secrets file's [admin] section."),
     .example = "change-me"},

    {KEY(SEC_TLS, "tls_cert", CFG_STR, tls_cert, NULL, 0, 0, CFG_RELOAD,
         "PEM certificate (chain) shown to clients; with tls_key, clients may use TLS.  Re-read on reload."),
     .example = "/etc/ringmux/server.pem"},
    {KEY(SEC_TLS, "tls_key", CFG_STR, tls_key, NULL, 0, 0, CFG_RELOAD, "PEM private key of tls_cert."),
     .example = "/etc/ringmux/server.key"},
    {KEY(SEC_TLS, "tls_ca", CFG_STR, tls_ca, NULL, 0, 0, CFG_RELOAD,
         "PEM CA certificate(s): when set, clients must present a certificate signed by one (mutual TLS)."),
     .example = "/etc/ringmux/clients-ca.pem"},
    {KEY(SEC_TLS, "require_tls", CFG_ENUM, require_tls, "off", 0, 0, CFG_RELOAD,
         "on = logins without TLS are refused with an error naming this key."),
     .words = cfg_w_onoff},
    {KEY(SEC_TLS, "min_version", CFG_ENUM, tls_min_version, "1.2", 0, 0, CFG_RELOAD,
         "Oldest TLS version clients may use: 1.2 or 1.3."),
     .words = cfg_w_tls_versions},
    {KEY(SEC_TLS, "server_public_key", CFG_STR, server_public_key, NULL, 0, 0, CFG_RELOAD,
         "PEM RSA public key sent to caching_sha2_password clients that need full authentication without TLS "
         "(as MySQL's caching_sha2_password_public_key_path); with server_private_key."),
     .example = "/etc/ringmux/rsa-public.pem"},
    {KEY(SEC_TLS, "server_private_key", CFG_STR, server_private_key, NULL, 0, 0, CFG_RELOAD,
         "Its PEM RSA private key."),
     .example = "/etc/ringmux/rsa-private.pem"},
    {KEY(SEC_TLS, "secrets_file", CFG_STR, secrets_file, NULL, 0, 0, CFG_RELOAD,
         "File with [users] and [token_keys], mode 0600 or stricter (0640 if owned by root); re-read on reload."),
     .example = "/etc/ringmux/secrets.ini"},

    {KEY(SEC_MONITOR, "interval", CFG_DURATION, monitor_interval_ms, "1s", 100, MS_1H, CFG_RELOAD,
         "How often every backend is checked and its name resolved again.")},
    {KEY(SEC_MONITOR, "user", CFG_STR, monitor_user, NULL, 0, 0, CFG_RELOAD,
         "The [users] entry the monitor logs in as; unset = the first.  Replica lag needs REPLICATION CLIENT "
         "(SLAVE MONITOR on MariaDB 10.5+)."),
     .example = "app"},
    {KEY(SEC_MONITOR, "max_replica_lag", CFG_DURATION, max_replica_lag_ms, "5s", 0, DUR_MAX, CFG_RELOAD,
         "A reader further behind than this, or not replicating, gets no reader-endpoint statements; 0 = no "
         "limit.")},
    {KEY(SEC_MONITOR, "reader_fallback_to_writer", CFG_ENUM, reader_fallback_to_writer, "on", 0, 0, CFG_RELOAD,
         "With no usable reader, reader-endpoint statements go to the writer (on) or wait (off)."),
     .words = cfg_w_onoff},
    {KEY(SEC_MONITOR, "writer_conflict", CFG_STR, writer_conflict, "refuse", 0, 0, CFG_RELOAD,
         "Two backends writable at once: refuse = no writer until only one is (logged as an error); "
         "prefer:NAME = backend NAME stays the writer.")},
};

#define CFG_NKEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))
_Static_assert(CFG_NKEYS <= CFG_MAX_KEYS, "raise CFG_MAX_KEYS");
const size_t cfg_nkeys = CFG_NKEYS;

/* A parsed value before it is stored in its field. */
union cfg_val {
    int64_t i;           /* CFG_INT, CFG_ENUM, CFG_DURATION, CFG_SIZE */
    struct rm_addr addr; /* CFG_ADDR */
    const char *s;       /* CFG_STR, borrowed from the parser */
};

/* ---- error reporting ---------------------------------------------------- */

/* Record one error line "FILE:LINE: msg" ("FILE: msg" when line is 0).  A
 * line that does not fit whole is dropped and counted instead. */
__attribute__((format(printf, 3, 4))) void cfg_err(struct cfg_parse *p, int line, const char *fmt, ...)
{
    char msg[768];
    int n =
        line > 0 ? snprintf(msg, sizeof(msg), "%s:%d: ", p->path, line) : snprintf(msg, sizeof(msg), "%s: ", p->path);
    if (n < 0 || (size_t)n >= sizeof(msg))
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);

    p->nerr++;
    size_t len = strlen(msg), sep = p->errused ? 1 : 0;
    if (!p->err || p->errused + sep + len >= p->errlen) {
        p->ndropped++;
        return;
    }
    if (sep)
        p->err[p->errused++] = '\n';
    memcpy(p->err + p->errused, msg, len + 1);
    p->errused += len;
}

/* Copy s into buf (size len > 4) as something safe to print: control and
 * non-ASCII bytes become '?', long text is cut with "...". */
const char *cfg_show(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s[i] && i < len - 1; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    buf[i] = '\0';
    if (s[i])
        memcpy(buf + len - 4, "...", 4);
    return buf;
}

/* Append printf output at buf + *n (buf has len bytes), clamping *n so a
 * full buffer stays NUL-terminated and later appends do nothing. */
__attribute__((format(printf, 4, 5))) static void cfg_cat(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
    if (*n >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *n, len - *n, fmt, ap);
    va_end(ap);
    *n = w < 0 ? len : *n + (size_t)w;
}

/* ---- the key table at work ---------------------------------------------- */

/* Describe what k accepts, e.g. "auto or an integer in 1..256". */
const char *cfg_expect(const struct cfg_key *k, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    if (k->type == CFG_INT && k->words)
        cfg_cat(buf, len, &n, "%s or ", k->words[0]);
    cfg_cat(buf, len, &n, "%s", cfg_type_form[k->type]);
    if (k->type == CFG_ENUM) {
        for (int i = 0; k->words[i]; i++)
            cfg_cat(buf, len, &n, "%s%s", i ? ", " : "", k->words[i]);
    } else if (k->type != CFG_STR) {
        char lo[32], hi[32];
        cfg_fmt_num(k->type, k->min, lo, sizeof(lo));
        cfg_fmt_num(k->type, k->max, hi, sizeof(hi));
        cfg_cat(buf, len, &n, "%s..%s", lo, hi);
    }
    return buf;
}

/* Report a problem with k's value: "[sec] key: what; expected FORM". */
static void cfg_bad_in(struct cfg_parse *p, int line, const char *label, const struct cfg_key *k, const char *what)
{
    char form[160];
    cfg_err(p, line, "[%s] %s: %s; expected %s", label, k->name, what, cfg_expect(k, form, sizeof(form)));
}

static void cfg_bad(struct cfg_parse *p, int line, const struct cfg_key *k, const char *what)
{
    cfg_bad_in(p, line, cfg_sections[k->sec].name, k, what);
}

/* Parse text as k's type into v: 0 ok, -1 bad syntax, -2 out of bounds. */
static int cfg_parse_value(const struct cfg_key *k, const char *text, union cfg_val *v)
{
    int w = cfg_word(k->words, text);
    if (w >= 0) {
        v->i = w; /* named values are exempt from bounds */
        return 0;
    }
    int rc;
    switch (k->type) {
    case CFG_STR: v->s = text; return 0;
    case CFG_INT: rc = cfg_parse_int(text, &v->i); break;
    case CFG_DURATION: rc = cfg_parse_duration_ms(text, &v->i); break;
    case CFG_SIZE: rc = cfg_parse_size(text, &v->i); break;
    case CFG_ADDR: rc = cfg_parse_addr(text, &v->addr); break;
    case CFG_HOSTPORT: rc = cfg_parse_hostport(text, &v->addr); break;
    default: /* CFG_ENUM: only its words are accepted */ return -1;
    }
    if (rc < 0)
        return -1;
    int64_t bounded = k->type == CFG_ADDR || k->type == CFG_HOSTPORT ? v->addr.port : v->i;
    return bounded < k->min || bounded > k->max ? -2 : 0;
}

/* Store v in k's field of base (the config, or a struct rm_backend_cfg for
 * CFG_BACKEND keys; a string is copied; empty text means unset).  Returns
 * -1 only when out of memory. */
static int cfg_store(void *base, const struct cfg_key *k, const union cfg_val *v)
{
    void *field = (char *)base + k->off;
    switch (k->type) {
    case CFG_STR: {
        char *s = NULL;
        if (v->s && *v->s && !(s = strdup(v->s)))
            return -1;
        free(*(char **)field);
        *(char **)field = s;
        break;
    }
    case CFG_INT:
    case CFG_ENUM: *(int *)field = (int)v->i; break;
    case CFG_DURATION:
    case CFG_SIZE: *(int64_t *)field = v->i; break;
    case CFG_ADDR:
    case CFG_HOSTPORT: *(struct rm_addr *)field = v->addr; break;
    }
    return 0;
}

/* True when k's field holds the same value in a and b. */
static bool cfg_same(const struct rm_config *a, const struct rm_config *b, const struct cfg_key *k)
{
    const void *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;
    switch (k->type) {
    case CFG_STR: {
        const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;
        return sa == sb || (sa && sb && strcmp(sa, sb) == 0);
    }
    case CFG_INT:
    case CFG_ENUM: return *(const int *)fa == *(const int *)fb;
    case CFG_DURATION:
    case CFG_SIZE: return *(const int64_t *)fa == *(const int64_t *)fb;
    case CFG_ADDR:
    case CFG_HOSTPORT: {
        const struct rm_addr *x = fa, *y = fb;
        return x->port == y->port && strcmp(x->host, y->host) == 0;
    }
    }
    return false;
}

static const struct cfg_key *cfg_key_find(int sec, const char *name)
{
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if ((int)cfg_keys[i].sec == sec && strcasecmp(cfg_keys[i].name, name) == 0)
            return &cfg_keys[i];
    return NULL;
}

static int cfg_section_find(const char *name)
{
    for (int s = 0; s < SEC_COUNT; s++)
        if (strcasecmp(cfg_sections[s].name, name) == 0)
            return s;
    return SEC_BAD;
}

/* ---- reading the file --------------------------------------------------- */

/* "[backend]" or "[backend.NAME]": enter that backend's section, creating
 * it on first sight. */
static void cfg_backend_section(struct cfg_parse *p, const char *s)
{
    struct rm_config *c = p->c;
    char shown[80];
    bool plain = s[7] == '\0';
    const char *name = plain ? "default" : s + 8;
    size_t n = strlen(name);
    p->sec = SEC_BAD;
    if (!plain && (n == 0 || n >= sizeof(c->backends[0].name) ||
                   strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n)) {
        cfg_err(p, p->lineno,
                "[%s]: bad backend name; expected [backend.NAME] with NAME of 1..31 letters, digits, _ or -",
                cfg_show(s, shown, sizeof(shown)));
        return;
    }
    if (plain ? (c->n_backends > 0 && !p->be_plain) : p->be_plain) {
        cfg_err(p, p->lineno,
                "[%s]: [backend] and [backend.NAME] sections mixed; expected either one [backend] or "
                "one [backend.NAME] per server",
                cfg_show(s, shown, sizeof(shown)));
        return;
    }
    int i = cfg_backend_index(c, name);
    if (i < 0) {
        if (c->n_backends == RM_MAX_BACKENDS) {
            cfg_err(p, p->lineno, "[%s]: too many backends; expected at most %d", cfg_show(s, shown, sizeof(shown)),
                    RM_MAX_BACKENDS);
            return;
        }
        i = c->n_backends++;
        struct rm_backend_cfg *b = &c->backends[i];
        snprintf(b->name, sizeof(b->name), "%s", name);
        for (size_t k = 0; k < CFG_NKEYS; k++) {
            union cfg_val v;
            if ((cfg_keys[k].flags & CFG_BACKEND) && cfg_keys[k].def &&
                (cfg_parse_value(&cfg_keys[k], cfg_keys[k].def, &v) != 0 || cfg_store(b, &cfg_keys[k], &v) != 0))
                cfg_err(p, 0, "[backend] %s: internal error: bad default", cfg_keys[k].name);
        }
        p->be_line[i] = p->lineno;
    }
    p->be_plain = plain;
    p->be = i;
    p->sec = SEC_BACKEND;
}

/* The section label for messages about key k: "backend.NAME" inside a
 * named backend section. */
static const char *cfg_label(const struct cfg_parse *p, const struct cfg_key *k, int be, char *buf, size_t len)
{
    if (!(k->flags & CFG_BACKEND) || be < 0 || p->be_plain)
        return cfg_sections[k->sec].name;
    snprintf(buf, len, "backend.%s", p->c->backends[be].name);
    return buf;
}

/* Handle a "[name]" line (s is trimmed): switch to that section or report
 * why not. */
static void cfg_section_line(struct cfg_parse *p, char *s)
{
    char shown[80];
    char *end = strchr(s, ']');
    char *rest = end ? end + 1 : NULL;
    while (rest && (*rest == ' ' || *rest == '\t'))
        rest++;
    if (!end || (*rest && *rest != ';' && *rest != '#')) {
        p->sec = SEC_BAD;
        cfg_err(p, p->lineno, "malformed section header \"%s\"; expected [name]", cfg_show(s, shown, sizeof(shown)));
        return;
    }
    *end = '\0';
    s++;
    while (*s == ' ' || *s == '\t')
        s++;
    for (char *t = end; t > s && (t[-1] == ' ' || t[-1] == '\t');)
        *--t = '\0';
    if (strcasecmp(s, "token_keys") == 0) {
        p->sec = p->secrets ? SEC_TOKEN_KEYS : SEC_BAD;
        if (!p->secrets)
            cfg_err(p, p->lineno, "[token_keys]: keys belong in the secrets file ([tls] secrets_file), not here");
        return;
    }
    if (p->secrets) {
        p->sec = strcasecmp(s, "users") == 0 ? SEC_USERS : strcasecmp(s, "admin") == 0 ? SEC_ADMIN : SEC_BAD;
        if (p->sec == SEC_BAD)
            cfg_err(p, p->lineno, "[%s]: not allowed in the secrets file; expected [users], [admin] or [token_keys]",
                    cfg_show(s, shown, sizeof(shown)));
        return;
    }
    if (strncasecmp(s, "backend.", 8) == 0 || strcasecmp(s, "backend") == 0) {
        cfg_backend_section(p, s);
        return;
    }
    p->sec = cfg_section_find(s);
    if (p->sec == SEC_BAD)
        cfg_err(p, p->lineno,
                "[%s]: unknown section; expected one of [ringmux], [backend] or [backend.NAME], [pool], [monitor], "
                "[admin], [tls], [users]",
                cfg_show(s, shown, sizeof(shown)));
}

/* True when inih will find a '=' or ':' in s: it stops looking at a ';'
 * that follows whitespace (an inline comment).  A key never holds
 * whitespace, so "listen 127.0.0.1:6033" (no '=', a ':' inside the value)
 * is a key line without its '=', not key "listen 127.0.0.1". */
static bool cfg_has_separator(const char *s)
{
    bool key_space = false; /* whitespace after the key's first word */
    for (bool was_space = false; *s; s++) {
        if (*s == '=')
            return true;
        if (*s == ':')
            return !key_space;
        if (was_space && *s == ';')
            return false;
        bool sp = *s == ' ' || *s == '\t' || *s == '\r' || *s == '\v' || *s == '\f';
        if (was_space && !sp)
            key_space = true;
        was_space = sp;
    }
    return false;
}

/* inih reader: returns the next line with surrounding whitespace removed
 * (so inih never sees a continuation line) and lines other than key lines
 * blanked; counts lines in p->lineno and reports what inih would reject. */
char *cfg_read_line(char *buf, int num, void *stream)
{
    struct cfg_parse *p = stream;
    ssize_t n = getline(&p->line, &p->cap, p->f);
    if (n < 0)
        return NULL;
    p->lineno++;
    buf[0] = '\0';

    char *s = p->line, shown[80];
    if ((size_t)n != strlen(s)) {
        cfg_err(p, p->lineno, "line contains a NUL byte; expected plain text");
        return buf;
    }
    if (p->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3; /* UTF-8 byte order mark */
    s += strspn(s, " \t\r\n\v\f");
    char *e = s + strlen(s);
    while (e > s && strchr(" \t\r\n\v\f", e[-1]))
        *--e = '\0';
    if (*s == '\0' || *s == '#' || *s == ';')
        return buf;
    if (*s == '[') {
        cfg_section_line(p, s);
        return buf;
    }
    if (e - s >= num) {
        cfg_err(p, p->lineno, "line is %zu characters long; expected at most %d", (size_t)(e - s), num - 1);
        return buf;
    }
    if (!cfg_has_separator(s)) {
        const char *sec = p->sec == SEC_TOKEN_KEYS ? "token_keys" : p->sec >= 0 ? cfg_sections[p->sec].name : NULL;
        cfg_err(p, p->lineno, "%s%s%scannot parse \"%s\"; expected %s", sec ? "[" : "", sec ? sec : "",
                sec ? "]: " : "", cfg_show(s, shown, sizeof(shown)),
                p->sec == SEC_USERS ? "name = password" : "key = value");
        return buf;
    }
    memcpy(buf, s, (size_t)(e - s) + 1);
    return buf;
}

/* inih handler for each "name = value" line.  Errors are recorded in p, so
 * it always returns 1 (inih's own error count is not used). */
int cfg_on_key(void *user, const char *section, const char *name, const char *value)
{
    struct cfg_parse *p = user;
    char shown[80], keys[512];
    (void)section; /* p->sec is authoritative: inih never sees headers */

    if (p->sec == SEC_BAD)
        return 1; /* already reported at the header */
    if (p->sec == SEC_NONE) {
        cfg_err(p, p->lineno, "%s: key outside any section; expected a [section] line before it",
                cfg_show(name, shown, sizeof(shown)));
        return 1;
    }
    if (p->sec == SEC_USERS) {
        cfg_user_line(p, name, value);
        return 1;
    }
    if (p->sec == SEC_TOKEN_KEYS) {
        cfg_token_key_line(p, name, value);
        return 1;
    }
    if (p->secrets && p->sec == SEC_ADMIN && strcasecmp(name, "password") != 0) {
        cfg_err(p, p->lineno, "[admin] %s: not allowed in the secrets file; expected password",
                cfg_show(name, shown, sizeof(shown)));
        return 1;
    }
    const struct cfg_key *k = cfg_key_find(p->sec, name);
    if (!k) {
        size_t n = 0;
        keys[0] = '\0';
        for (size_t i = 0; i < CFG_NKEYS; i++)
            if ((int)cfg_keys[i].sec == p->sec)
                cfg_cat(keys, sizeof(keys), &n, "%s%s", n ? ", " : "", cfg_keys[i].name);
        char label[48];
        cfg_err(p, p->lineno, "[%s] %s: unknown key; expected one of %s",
                p->sec == SEC_BACKEND ? cfg_label(p, cfg_key_find(SEC_BACKEND, "address"), p->be, label, sizeof(label))
                                      : cfg_sections[p->sec].name,
                cfg_show(name, shown, sizeof(shown)), keys);
        return 1;
    }
    bool per_be = k->flags & CFG_BACKEND;
    int *set_at = per_be ? &p->be_set_at[p->be][k - cfg_keys] : &p->set_at[k - cfg_keys];
    char what[160], label[48];
    const char *lb = cfg_label(p, k, per_be ? p->be : -1, label, sizeof(label));
    if (*set_at) {
        snprintf(what, sizeof(what), "duplicate key (first set at line %d)", *set_at);
        cfg_bad_in(p, p->lineno, lb, k, what);
        return 1;
    }
    *set_at = p->lineno;

    union cfg_val v;
    int rc = cfg_parse_value(k, value, &v);
    if (rc < 0) {
        snprintf(what, sizeof(what), "%s \"%s\"", rc == -2 ? "out of range:" : "bad value",
                 cfg_show(value, shown, sizeof(shown)));
        cfg_bad_in(p, p->lineno, lb, k, what);
    } else if (cfg_store(per_be ? (void *)&p->c->backends[p->be] : (void *)p->c, k, &v) < 0) {
        cfg_bad_in(p, p->lineno, lb, k, "out of memory");
    }
    return 1;
}

/* Checks that involve more than one key or the file as a whole. */
static void cfg_check_file(struct cfg_parse *p)
{
    struct rm_config *c = p->c;
    char form[160];
    const struct cfg_key *lo = cfg_key_find(SEC_POOL, "min_idle_backend_connections");
    if (c->min_idle_backend_connections > c->max_backend_connections)
        cfg_err(p, p->set_at[lo - cfg_keys],
                "[pool] %s: %d exceeds max_backend_connections (%d); expected at most "
                "max_backend_connections",
                lo->name, c->min_idle_backend_connections, c->max_backend_connections);

    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (!(k->flags & CFG_REQUIRED))
            continue;
        if (!(k->flags & CFG_BACKEND)) {
            if (!p->set_at[i])
                cfg_err(p, 0, "[%s] %s is required; expected %s", cfg_sections[k->sec].name, k->name,
                        cfg_expect(k, form, sizeof(form)));
            continue;
        }
        if (c->n_backends == 0)
            cfg_err(p, 0, "[backend] %s is required; expected %s", k->name, cfg_expect(k, form, sizeof(form)));
        for (int b = 0; b < c->n_backends; b++) {
            char label[48];
            if (!p->be_set_at[b][i])
                cfg_err(p, p->be_line[b], "[%s] %s is required; expected %s", cfg_label(p, k, b, label, sizeof(label)),
                        k->name, cfg_expect(k, form, sizeof(form)));
        }
    }
    if (c->n_users == 0)
        cfg_err(p, 0, "[users]: no users defined; expected at least one line name = password");
    if (c->console_listen.port != 0 && (!c->admin_password || !*c->admin_password))
        cfg_err(p, 0,
                "[admin] password is required with console_listen; expected password = ... in [admin] (here "
                "or in the secrets file)");
    const struct cfg_key *mu = cfg_key_find(SEC_MONITOR, "user");
    if (c->monitor_user && c->n_users && !cfg_find_user(c, c->monitor_user, strlen(c->monitor_user)))
        cfg_err(p, p->set_at[mu - cfg_keys], "[monitor] user: \"%s\" is not in [users]; expected a [users] name",
                cfg_show(c->monitor_user, form, sizeof(form)));
    const struct cfg_key *wc = cfg_key_find(SEC_MONITOR, "writer_conflict");
    c->writer_prefer = -1;
    c->writer_conflict_mode = WRITER_CONFLICT_REFUSE;
    if (c->writer_conflict && strncasecmp(c->writer_conflict, "prefer:", 7) == 0) {
        c->writer_conflict_mode = WRITER_CONFLICT_PREFER;
        c->writer_prefer = cfg_backend_index(c, c->writer_conflict + 7);
        if (c->writer_prefer < 0)
            cfg_err(p, p->set_at[wc - cfg_keys],
                    "[monitor] writer_conflict: \"%s\" names no backend; expected refuse or prefer:NAME with a "
                    "[backend.NAME] section",
                    cfg_show(c->writer_conflict, form, sizeof(form)));
    } else if (c->writer_conflict && strcasecmp(c->writer_conflict, "refuse") != 0) {
        cfg_err(p, p->set_at[wc - cfg_keys],
                "[monitor] writer_conflict: bad value \"%s\"; expected refuse or prefer:NAME",
                cfg_show(c->writer_conflict, form, sizeof(form)));
    }
}

/* ---- public API --------------------------------------------------------- */

int cfg_load(const char *path, struct rm_config **out, char *err, size_t errlen)
{
    struct cfg_parse p = {.path = path, .sec = SEC_NONE, .be = -1, .err = err, .errlen = errlen};
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';

    p.c = calloc(1, sizeof(*p.c));
    if (!p.c || !(p.c->path = strdup(path))) {
        cfg_err(&p, 0, "out of memory");
        free(p.c);
        return -1;
    }
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        union cfg_val v;
        if (cfg_keys[i].def && !(cfg_keys[i].flags & CFG_BACKEND) &&
            (cfg_parse_value(&cfg_keys[i], cfg_keys[i].def, &v) != 0 || cfg_store(p.c, &cfg_keys[i], &v) != 0))
            cfg_bad(&p, 0, &cfg_keys[i], "internal error: bad default");
    }

    p.f = fopen(path, "r");
    if (!p.f) {
        cfg_err(&p, 0, "cannot open: %s", strerror(errno));
    } else {
        int rc = ini_parse_stream(cfg_read_line, &p, cfg_on_key, &p);
        if (ferror(p.f)) {
            cfg_err(&p, 0, "cannot read: %s", strerror(errno));
        } else {
            if (rc > 0 && p.nerr == 0) /* inih rejected a line the reader let through */
                cfg_err(&p, rc, "syntax error; expected key = value");
            if (p.c->secrets_file)
                cfg_load_secrets(&p);
            cfg_load_tls(&p);
            cfg_env_passwords(p.c);
            cfg_check_file(&p);
        }
        fclose(p.f);
    }
    free(p.line);
    free(p.user_lines);
    free(p.user_src);

    if (p.ndropped && p.err && p.errused + 32 < p.errlen)
        cfg_cat(p.err, p.errlen, &p.errused, "\n(%u more errors)", p.ndropped);
    if (p.nerr) {
        cfg_free(p.c);
        return -1;
    }
    *out = p.c;
    return 0;
}

void cfg_free(struct rm_config *c)
{
    if (!c)
        return;
    if (c->admin_password)
        explicit_bzero(c->admin_password, strlen(c->admin_password));
    for (size_t i = 0; i < CFG_NKEYS; i++)
        if (cfg_keys[i].type == CFG_STR && !(cfg_keys[i].flags & CFG_BACKEND))
            free(*(char **)((char *)c + cfg_keys[i].off));
    for (int b = 0; b < c->n_backends; b++) {
        for (size_t i = 0; i < CFG_NKEYS; i++)
            if (cfg_keys[i].type == CFG_STR && (cfg_keys[i].flags & CFG_BACKEND))
                free(*(char **)((char *)&c->backends[b] + cfg_keys[i].off));
        cfg_free_pem(&c->backends[b].tls_ca_pem);
        cfg_free_pem(&c->backends[b].tls_cert_pem);
        cfg_free_pem(&c->backends[b].tls_key_pem);
        cfg_free_pem(&c->backends[b].server_public_key_pem);
    }
    for (size_t i = 0; i < c->n_users; i++) {
        free(c->users[i].name);
        if (c->users[i].password)
            explicit_bzero(c->users[i].password, strlen(c->users[i].password));
        free(c->users[i].password);
    }
    free(c->users);
    explicit_bzero(c->token_keys, sizeof(c->token_keys));
    cfg_free_pem(&c->tls_cert_pem);
    cfg_free_pem(&c->tls_key_pem);
    cfg_free_pem(&c->tls_ca_pem);
    cfg_free_pem(&c->rsa_public_pem);
    cfg_free_pem(&c->rsa_private_pem);
    free(c->path);
    free(c);
}

int cfg_backend_index(const struct rm_config *c, const char *name)
{
    for (int i = 0; i < c->n_backends; i++)
        if (strcmp(c->backends[i].name, name) == 0)
            return i;
    return -1;
}

const struct rm_user *cfg_monitor_user(const struct rm_config *c)
{
    const struct rm_user *u = c->monitor_user ? cfg_find_user(c, c->monitor_user, strlen(c->monitor_user)) : NULL;
    return u ? u : c->n_users ? &c->users[0] : NULL;
}

const struct rm_user *cfg_find_user(const struct rm_config *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->n_users; i++) {
        const struct rm_user *u = &c->users[i];
        if (strlen(u->name) == len && memcmp(u->name, name, len) == 0)
            return u;
    }
    return NULL;
}

size_t cfg_restart_changes(const struct rm_config *old, const struct rm_config *new_cfg, char *buf, size_t len)
{
    size_t count = 0, n = 0;
    if (buf && len)
        buf[0] = '\0';
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if ((k->flags & (CFG_RELOAD | CFG_BACKEND)) || cfg_same(old, new_cfg, k))
            continue;
        if (buf)
            cfg_cat(buf, len, &n, "%s[%s] %s", count ? ", " : "", cfg_sections[k->sec].name, k->name);
        count++;
    }
    /* The set of backends and their addresses: workers index them. */
    bool same = old->n_backends == new_cfg->n_backends;
    for (int b = 0; same && b < old->n_backends; b++)
        same = strcmp(old->backends[b].name, new_cfg->backends[b].name) == 0 &&
               strcmp(old->backends[b].addr.host, new_cfg->backends[b].addr.host) == 0 &&
               old->backends[b].addr.port == new_cfg->backends[b].addr.port;
    if (!same) {
        if (buf)
            cfg_cat(buf, len, &n, "%s[backend] sections or addresses", count ? ", " : "");
        count++;
    }
    return count;
}
