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

/* An address parsed from "host:port" (IPv4 dotted quad, "localhost" or an IPv6
 * literal in brackets "[::1]:6033"). */
struct rm_addr {
    char host[64]; /* numeric host, "localhost" mapped to 127.0.0.1 */
    uint16_t port;
};

/* [pool] abandoned_statement: what happens to a statement whose client
 * disconnects before the answer. */
enum { ABANDONED_FINISH, ABANDONED_KILL };

struct rm_config {
    char *path; /* file it was loaded from */

    /* [ringmux] */
    struct rm_addr listen;          /* listen = 127.0.0.1:6033 (read-write endpoint) */
    int workers;                    /* workers = auto | 1..256; 0 means auto (online cores) */
    int log_level;                  /* log_level = error|warn|info|debug -> 0..3 (reloadable) */
    int max_client_connections;     /* max_client_connections = 1..1000000 (reloadable) */
    int64_t idle_client_timeout_ms; /* idle_client_timeout = duration, 0 = never (reloadable) */
    int64_t max_allowed_packet;     /* max_allowed_packet = size (1k..1G), default 64M */
    struct rm_addr admin;           /* admin_listen = host:port, port 0 = disabled */

    /* [backend] */
    struct rm_addr backend; /* address = 127.0.0.1:3306 (required) */

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

    /* [users]: one line per user, "name = password" (reloadable) */
    struct rm_user *users;
    size_t n_users;
};

/* Load and validate a config file.  On success returns 0 and *out owns a new
 * config (free with cfg_free).  On failure returns -1, *out is NULL and err
 * holds every problem found, one per line, each as
 * "FILE:LINE: message naming the key and its expected form". */
int cfg_load(const char *path, struct rm_config **out, char *err, size_t errlen);
void cfg_free(struct rm_config *c);

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

/* Parse helpers, exposed for tests: 0 on success, -1 on a bad value. */
int cfg_parse_duration_ms(const char *s, int64_t *out); /* "500ms", "5s", "2m", "1h", "0" */
int cfg_parse_size(const char *s, int64_t *out);        /* "512", "64k", "16M", "1G" */
int cfg_parse_addr(const char *s, struct rm_addr *out);

#endif
