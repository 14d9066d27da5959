/* Counters, one set per worker (written only by that worker, relaxed
 * atomics), summed when read by the admin endpoint. */
#ifndef RINGMUX_METRICS_H
#define RINGMUX_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ringmux/sql.h"
#include "ringmux/buf.h"

/* A latency histogram: counts per bucket (MET_BUCKETS bounds, then +Inf),
 * and the sum of the observations in microseconds. */
#define MET_BUCKETS 15
extern const uint64_t met_bucket_us[MET_BUCKETS];
struct met_hist {
    atomic_uint_fast64_t b[MET_BUCKETS + 1];
    atomic_uint_fast64_t sum_us;
};
/* Record one observation of us microseconds (only its worker calls it). */
void met_observe(struct met_hist *h, uint64_t us);

struct rm_metrics {
    atomic_uint_fast64_t clients_accepted; /* client connections accepted */
    atomic_uint_fast64_t clients_rejected; /* refused: max_client_connections or bad handshake */
    atomic_int_fast64_t clients_current;   /* open client sessions */
    atomic_uint_fast64_t auth_failures;    /* wrong user or password */
    atomic_uint_fast64_t queries;          /* client commands forwarded to a backend */
    atomic_uint_fast64_t commands_local;   /* client commands answered by the proxy */
    atomic_uint_fast64_t backend_opened;   /* backend connections opened (login started) */
    atomic_uint_fast64_t backend_failed;   /* backend connects / logins that failed */
    atomic_uint_fast64_t backend_closed;   /* backend connections closed */
    atomic_int_fast64_t backend_current;   /* open backend connections */
    atomic_int_fast64_t backend_idle;      /* idle backend connections */
    atomic_uint_fast64_t backend_resets;   /* backend connections reset before reuse */
    atomic_uint_fast64_t state_syncs;      /* state deltas replayed before a command */
    atomic_uint_fast64_t borrow_waits;     /* borrows that had to queue */
    atomic_uint_fast64_t borrow_timeouts;  /* borrows that hit connection_borrow_timeout */
    atomic_uint_fast64_t bytes_from_clients;
    atomic_uint_fast64_t bytes_to_clients;
    atomic_uint_fast64_t protocol_errors;        /* malformed client input */
    atomic_uint_fast64_t pins[PIN__COUNT];       /* pins by reason */
    atomic_int_fast64_t pinned_current;          /* sessions pinned right now */
    atomic_uint_fast64_t stmt_prepares;          /* backend COM_STMT_PREPARE sent */
    atomic_uint_fast64_t stmt_evictions;         /* statements closed by the per-connection cache */
    atomic_uint_fast64_t diag_yields;            /* diagnostics holds given up to waiting sessions */
    atomic_int_fast64_t backend_active;          /* backend connections serving a session right now */
    atomic_int_fast64_t statements_running;      /* sessions with a statement on a backend (sync, forward, infile) */
    atomic_int_fast64_t transactions_open;       /* sessions inside a transaction */
    atomic_uint_fast64_t held_no_backend;        /* statements that waited because no writer / reader was up */
    atomic_uint_fast64_t held_paused;            /* statements that waited because the proxy was paused */
    atomic_uint_fast64_t backend_moves;          /* sessions moved to another backend (failover, reader balance) */
    atomic_uint_fast64_t statement_retries;      /* commands retried on another conn: they had not reached the server */
    atomic_uint_fast64_t prepares_refused;       /* COM_STMT_PREPARE past max_prepared_statements (ERR 1461) */
    atomic_uint_fast64_t tls_handshakes;         /* client TLS handshakes completed */
    atomic_uint_fast64_t tls_resumed;            /* of which resumed a session (ticket) */
    atomic_uint_fast64_t tls_failures;           /* client TLS handshakes or records that failed */
    atomic_uint_fast64_t tls_required_refused;   /* plaintext logins refused by require_tls */
    atomic_uint_fast64_t backend_full_auth;      /* backend logins that needed caching_sha2 full authentication */
    atomic_uint_fast64_t client_full_auth;       /* client logins that went through caching_sha2 full authentication */
    atomic_uint_fast64_t token_logins;           /* logins with a valid token */
    atomic_uint_fast64_t token_refused;          /* tokens refused (expired, tampered, unknown key, other user) */
    atomic_uint_fast64_t handshake_timeouts;     /* clients closed by handshake_timeout */
    atomic_uint_fast64_t logins_throttled;       /* logins refused: too many failures from the address */
    atomic_uint_fast64_t unauth_refused;         /* connections refused: max_unauthenticated_connections */
    atomic_uint_fast64_t user_limit_refused;     /* logins refused: max_connections_per_user */
    atomic_uint_fast64_t slow_queries;           /* statements over slow_query_threshold (logged) */
    struct met_hist query_total;                 /* command received -> response complete (client's view) */
    struct met_hist query_db;                    /* command sent to the backend -> response complete */
    struct met_hist borrow_wait;                 /* command received -> a backend connection to run it on */
    atomic_uint_fast64_t backend_statements[16]; /* client commands forwarded, per backend (RM_MAX_BACKENDS) */
};

#define MET_INC(m, field)    atomic_fetch_add_explicit(&(m)->field, 1, memory_order_relaxed)
#define MET_DEC(m, field)    atomic_fetch_sub_explicit(&(m)->field, 1, memory_order_relaxed)
#define MET_ADD(m, field, n) atomic_fetch_add_explicit(&(m)->field, (n), memory_order_relaxed)

/* Render the sum of n per-worker metric sets as Prometheus text into out. */
void met_render(struct rm_metrics *const *per_worker, int n, struct rm_buf *out);

struct rm_topology;
struct rm_config;
/* The topology as metrics: per backend up, role, read_only, replica lag;
 * writer changes so far. */
void met_render_topology(const struct rm_topology *t, const struct rm_config *cfg, uint64_t writer_changes, bool paused,
                         struct rm_buf *out);
/* Commands forwarded per backend, summed over the workers. */
void met_render_backends(struct rm_metrics *const *per_worker, int n, const struct rm_config *cfg, struct rm_buf *out);

#endif
