/* Configuration: one declarative key table (src/config.c) drives parsing,
 * validation, --help-config and the documented etc/ringmux.ini. */
#ifndef RINGMUX_CONFIG_H
#define RINGMUX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct rm_user {
    char *name;     /* MySQL user name, used by clients and towards the backend */
    char *password; /* plaintext password */
};

/* An address parsed from "host:port": an IPv4 dotted quad, an IPv6 literal
 * in brackets "[::1]:6033", "localhost", or (backend addresses only) a DNS
 * name, resolved later by the monitor. */
struct rm_addr {
    char host[256]; /* listen addresses: numeric ("localhost" mapped to 127.0.0.1); backends: as written */
    uint16_t port;
};

#define RM_MAX_BACKENDS 16

/* A file's bytes as read by cfg_load. */
struct rm_pem {
    uint8_t *data;
    size_t len;
};

/* One [backend] / [backend.NAME] section. */
struct rm_backend_cfg {
    char name[32];           /* NAME of [backend.NAME]; "default" for [backend] */
    struct rm_addr addr;     /* address = host:port (host may be a DNS name) */
    int max_connections;     /* max_connections = 0..100000, 0 = only [pool] max_backend_connections */
    int weight;              /* weight = 1..1000: share of reader-endpoint sessions */
    int tls;                 /* tls = off|on|verify_ca|verify_identity (BACKEND_TLS_*) */
    char *tls_ca;            /* PEM CA(s) the server's certificate must chain to (verify_*) */
    char *tls_cert;          /* PEM client certificate presented to the server, optional */
    char *tls_key;           /* its private key */
    char *server_public_key; /* PEM RSA public key of the server: caching_sha2 full auth without TLS */
    struct rm_pem tls_ca_pem, tls_cert_pem, tls_key_pem, server_public_key_pem; /* the files above, read by cfg_load */
};

/* [backend] tls: encryption only, then the chain, then the chain and the
 * host name in address. */
enum { BACKEND_TLS_OFF, BACKEND_TLS_ON, BACKEND_TLS_VERIFY_CA, BACKEND_TLS_VERIFY_IDENTITY };

#define RM_MAX_TOKEN_KEYS 16

/* A [token_keys] entry of the secrets file: an HMAC-SHA256 key. */
struct rm_token_key {
    char id[32];     /* its name, carried in tokens */
    uint8_t key[32]; /* 64 hex characters in the file */
};

/* [monitor] writer_conflict: what to do when two backends are writable. */
enum { WRITER_CONFLICT_REFUSE, WRITER_CONFLICT_PREFER };

/* [pool] abandoned_statement: what happens to a statement whose client
 * disconnects before the answer. */
enum { ABANDONED_FINISH, ABANDONED_KILL };

struct rm_config {
    char *path; /* file it was loaded from */

    /* [ringmux] */
    struct rm_addr listen;          /* listen = 127.0.0.1:6033 (read-write endpoint) */
    int workers;                    /* workers = auto | 1..256; 0 means auto (online cores) */
    int log_level;                  /* log_level = error|warn|info|debug -> 0..3 (reloadable) */
    int log_format;                 /* log_format = text|json (enum log_format, reloadable) */
    char *log_file;                 /* log_file = - (stderr) | path, reopened on reload */
    int64_t slow_query_ms;          /* slow_query_threshold = duration, 0 = off (reloadable) */
    int max_client_connections;     /* max_client_connections = 1..1000000 (reloadable) */
    int64_t idle_client_timeout_ms; /* idle_client_timeout = duration, 0 = never (reloadable) */
    int64_t max_allowed_packet;     /* max_allowed_packet = size (1k..1G), default 64M */
    int max_prepared_statements;    /* max_prepared_statements = 1..1048576 per session, default 16382 (reloadable) */
    int64_t handshake_timeout_ms;   /* handshake_timeout = duration: login (TLS included) must end by then */
    int max_unauthenticated;        /* max_unauthenticated_connections = 0..1000000, 0 = no limit */
    int max_failed_logins;          /* max_failed_logins = per address per failed_login_window, 0 = off */
    int64_t failed_login_window_ms; /* failed_login_window = duration */
    int max_connections_per_user;   /* max_connections_per_user = 0..1000000, 0 = no limit */
    struct rm_addr admin;           /* admin_listen = host:port, port 0 = disabled */

    struct rm_addr reader_listen; /* reader_listen = host:port, port 0 = disabled (read-only endpoint) */

    /* [backend] or [backend.NAME] sections, in file order (at least one) */
    struct rm_backend_cfg backends[RM_MAX_BACKENDS];
    int n_backends;

    /* [monitor] (reloadable) */
    int64_t monitor_interval_ms;   /* interval = duration, 100ms..1h, default 1s */
    char *monitor_user;            /* user = a [users] entry; unset = the first one */
    int64_t max_replica_lag_ms;    /* max_replica_lag = duration, 0 = no limit, default 5s */
    int reader_fallback_to_writer; /* reader_fallback_to_writer = off|on, default on */
    char *writer_conflict;         /* writer_conflict = refuse | prefer:NAME, default refuse */
    int writer_conflict_mode;      /* WRITER_CONFLICT_*, from writer_conflict */
    int writer_prefer;             /* backend index named by prefer:NAME, -1 otherwise */

    /* [pool] (all reloadable) */
    int max_backend_connections;          /* 1..100000, default 32 */
    int min_idle_backend_connections;     /* 0..max_backend_connections, default 0 */
    int64_t connection_borrow_timeout_ms; /* duration, default 5s */
    int64_t backend_idle_timeout_ms;      /* duration, default 60s; 0 = never */
    int64_t backend_max_lifetime_ms;      /* duration, default 1h; 0 = never */
    int64_t backend_connect_timeout_ms;   /* duration, default 5s */
    char *init_query;                     /* SQL run on every new backend connection, NULL if unset */
    char *admin_users;                    /* users that may KILL any session (comma-separated), NULL if unset */
    int abandoned_statement;              /* ABANDONED_FINISH or ABANDONED_KILL */

    /* [admin] */
    struct rm_addr console_listen; /* console_listen = host:port, port 0 = off (restart to change) */
    char *admin_user;              /* user = name for the console (reloadable) */
    char *admin_password;          /* password = ... (reloadable; may come from the secrets file) */

    /* [tls] (all reloadable: new handshakes use the new files) */
    char *tls_cert;           /* PEM certificate (chain) shown to clients; with tls_key enables TLS */
    char *tls_key;            /* PEM private key of tls_cert */
    char *tls_ca;             /* PEM CA(s): clients must present a certificate signed by one */
    int require_tls;          /* 1: plaintext logins refused */
    int tls_min_version;      /* 0 = TLS 1.2, 1 = TLS 1.3 */
    char *server_public_key;  /* PEM RSA public key sent to caching_sha2 clients that ask (full auth without TLS) */
    char *server_private_key; /* its private key */
    char *secrets_file;       /* secrets_file = path: [users] and [token_keys], mode 0600 or stricter (reloadable) */
    /* The files above, read by cfg_load (workers never open files). */
    struct rm_pem tls_cert_pem, tls_key_pem, tls_ca_pem, rsa_public_pem, rsa_private_pem;

    /* [users]: one line per user, "name = password" (reloadable); merged
     * with the secrets file's [users]; RINGMUX_PASSWORD_<USER> in the
     * environment overrides a user's password. */
    struct rm_user *users;
    size_t n_users;

    /* [token_keys] of the secrets file (reloadable) */
    struct rm_token_key token_keys[RM_MAX_TOKEN_KEYS];
    int n_token_keys;
};

/* Load and validate a config file.  On success returns 0 and *out owns a new
 * config (free with cfg_free).  On failure returns -1, *out is NULL and err
 * holds every problem found, one per line, each as
 * "FILE:LINE: message naming the key and its expected form". */
int cfg_load(const char *path, struct rm_config **out, char *err, size_t errlen);
void cfg_free(struct rm_config *c);

/* The [users] entry the monitor logs in as ([monitor] user, else the first). */
const struct rm_user *cfg_monitor_user(const struct rm_config *c);
/* Index of the backend named name, or -1. */
int cfg_backend_index(const struct rm_config *c, const char *name);

/* Look a user up by exact name (len bytes, not NUL-terminated). */
const struct rm_user *cfg_find_user(const struct rm_config *c, const char *name, size_t len);

/* Compare two loaded configs for a reload: returns how many keys that need a
 * restart (not reloadable) differ, and names them in buf ("[ringmux] listen,
 * [ringmux] workers"; buf may be NULL).  [users] and reloadable keys are
 * never counted. */
size_t cfg_restart_changes(const struct rm_config *old, const struct rm_config *new_cfg, char *buf, size_t len);

/* Print every key with its type, default, bounds, reloadability and help. */
void cfg_print_help(FILE *f);
/* Print a documented example config built from the key table (etc/ringmux.ini). */
void cfg_write_example(FILE *f);
/* Call fn for every setting with its current value as text (passwords and
 * keys are never passed; [admin] password shows as "(set)"). */
void cfg_each_setting(const struct rm_config *c,
                      void (*fn)(void *arg, const char *section, const char *key, const char *value, bool reloadable),
                      void *arg);
/* Print the ringmux.ini(5) manual page (troff) built from the key table. */
void cfg_write_man(FILE *f, const char *version);

/* Parse helpers, exposed for tests: 0 on success, -1 on a bad value. */
int cfg_parse_duration_ms(const char *s, int64_t *out); /* "500ms", "5s", "2m", "1h", "0" */
int cfg_parse_size(const char *s, int64_t *out);        /* "512", "64k", "16M", "1G" */
int cfg_parse_addr(const char *s, struct rm_addr *out);
/* As cfg_parse_addr, but the host may also be a DNS name (kept as written;
 * "localhost" too, so that all its addresses are tried). */
int cfg_parse_hostport(const char *s, struct rm_addr *out);

#endif
