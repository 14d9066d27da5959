/* Prometheus rendering of the per-worker counters (include/ringmux/metrics.h). */
#include "ringmux/metrics.h"

#include <stdio.h>

#include "ringmux/config.h"
#include "ringmux/monitor.h"

#include <stdio.h>
#include <string.h>

/* One row per exported series: name, help, type and where to find it. */
struct met_row {
    const char *name;
    const char *help;
    const char *type;
    size_t off;
};

#define ROW(n, h, t, f)                                                                                                \
    {                                                                                                                  \
        n, h, t, offsetof(struct rm_metrics, f)                                                                        \
    }
static const struct met_row rows[] = {
    ROW("ringmux_client_connections", "Open client sessions.", "gauge", clients_current),
    ROW("ringmux_clients_accepted_total", "Client connections accepted.", "counter", clients_accepted),
    ROW("ringmux_clients_rejected_total", "Client connections refused (limits, bad handshake).", "counter",
        clients_rejected),
    ROW("ringmux_auth_failures_total", "Client logins refused.", "counter", auth_failures),
    ROW("ringmux_queries_total", "Client commands forwarded to a backend.", "counter", queries),
    ROW("ringmux_local_commands_total", "Client commands answered by the proxy.", "counter", commands_local),
    ROW("ringmux_backend_connections", "Open backend connections.", "gauge", backend_current),
    ROW("ringmux_backend_connections_idle", "Idle backend connections.", "gauge", backend_idle),
    ROW("ringmux_backend_connections_opened_total", "Backend connections opened.", "counter", backend_opened),
    ROW("ringmux_backend_connect_failures_total", "Backend connects or logins that failed.", "counter", backend_failed),
    ROW("ringmux_backend_connections_closed_total", "Backend connections closed.", "counter", backend_closed),
    ROW("ringmux_backend_resets_total", "Backend connections reset before reuse.", "counter", backend_resets),
    ROW("ringmux_state_syncs_total", "Session state deltas replayed onto a backend connection.", "counter",
        state_syncs),
    ROW("ringmux_borrow_waits_total", "Backend borrows that had to queue.", "counter", borrow_waits),
    ROW("ringmux_borrow_timeouts_total", "Backend borrows that hit connection_borrow_timeout.", "counter",
        borrow_timeouts),
    ROW("ringmux_client_bytes_received_total", "Bytes received from clients.", "counter", bytes_from_clients),
    ROW("ringmux_client_bytes_sent_total", "Bytes queued to clients.", "counter", bytes_to_clients),
    ROW("ringmux_protocol_errors_total", "Malformed client input.", "counter", protocol_errors),
    ROW("ringmux_pinned_sessions", "Sessions pinned to a backend connection right now.", "gauge", pinned_current),
    ROW("ringmux_stmt_prepares_total", "COM_STMT_PREPARE sent to backends.", "counter", stmt_prepares),
    ROW("ringmux_stmt_evictions_total", "Statements closed by the per-connection statement cache.", "counter",
        stmt_evictions),
    ROW("ringmux_backend_connections_active", "Backend connections serving a client session right now.", "gauge",
        backend_active),
    ROW("ringmux_statement_retries_total",
        "Client commands retried on another backend connection (theirs died before they were sent).", "counter",
        statement_retries),
    ROW("ringmux_prepares_refused_total", "COM_STMT_PREPARE refused past max_prepared_statements (ERR 1461).",
        "counter", prepares_refused),
    ROW("ringmux_tls_handshakes_total", "Client TLS handshakes completed.", "counter", tls_handshakes),
    ROW("ringmux_tls_resumed_total", "Client TLS handshakes that resumed a session (ticket).", "counter", tls_resumed),
    ROW("ringmux_tls_failures_total", "Client TLS handshakes or records that failed.", "counter", tls_failures),
    ROW("ringmux_backend_full_auth_total", "Backend logins that needed caching_sha2_password full authentication.",
        "counter", backend_full_auth),
    ROW("ringmux_client_full_auth_total", "Client logins that went through caching_sha2_password full authentication.",
        "counter", client_full_auth),
    ROW("ringmux_token_logins_total", "Client logins with a valid token.", "counter", token_logins),
    ROW("ringmux_token_refused_total", "Tokens refused: expired, tampered, unknown key or made for another user.",
        "counter", token_refused),
    ROW("ringmux_handshake_timeouts_total", "Clients closed for not logging in within handshake_timeout.", "counter",
        handshake_timeouts),
    ROW("ringmux_logins_throttled_total",
        "Logins refused unchecked: too many failed logins from the address (max_failed_logins).", "counter",
        logins_throttled),
    ROW("ringmux_unauthenticated_refused_total",
        "Connections refused: too many still logging in (max_unauthenticated_connections).", "counter", unauth_refused),
    ROW("ringmux_user_limit_refused_total", "Logins refused by max_connections_per_user.", "counter",
        user_limit_refused),
    ROW("ringmux_slow_queries_total", "Statements slower than slow_query_threshold (each logged with its digest).",
        "counter", slow_queries),
    ROW("ringmux_tls_required_refused_total", "Plaintext logins refused by [tls] require_tls.", "counter",
        tls_required_refused),
    ROW("ringmux_statements_running", "Client statements on a backend right now.", "gauge", statements_running),
    ROW("ringmux_transactions_open", "Client sessions inside a transaction right now.", "gauge", transactions_open),
    ROW("ringmux_statements_held_no_backend_total",
        "Statements that waited because no writer (or reader) backend was available.", "counter", held_no_backend),
    ROW("ringmux_statements_held_paused_total", "Statements that waited because the proxy was paused.", "counter",
        held_paused),
    ROW("ringmux_session_backend_moves_total", "Sessions moved to another backend (failover, reader balancing).",
        "counter", backend_moves),
    ROW("ringmux_diagnostics_yields_total",
        "Backend connections held for SHOW WARNINGS given up to waiting sessions (warnings stashed).", "counter",
        diag_yields),
};

static void put(struct rm_buf *out, const char *s)
{
    buf_append(out, s, strlen(s));
}

const uint64_t met_bucket_us[MET_BUCKETS] = {100,   250,    500,    1000,   2500,    5000,    10000,   25000,
                                             50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};

void met_observe(struct met_hist *h, uint64_t us)
{
    int i = 0;
    while (i < MET_BUCKETS && us > met_bucket_us[i])
        i++;
    atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

/* A histogram family summed over the workers, cumulative buckets. */
static void render_hist(struct rm_metrics *const *per_worker, int n, size_t off, const char *name, const char *help,
                        struct rm_buf *out)
{
    char line[256];
    snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    put(out, line);
    unsigned long long cum = 0, sum_us = 0;
    for (int k = 0; k <= MET_BUCKETS; k++) {
        for (int i = 0; i < n; i++) {
            const struct met_hist *h = (const void *)((const char *)per_worker[i] + off);
            cum += atomic_load_explicit(&h->b[k], memory_order_relaxed);
            if (k == 0)
                sum_us += atomic_load_explicit(&h->sum_us, memory_order_relaxed);
        }
        if (k < MET_BUCKETS)
            snprintf(line, sizeof(line), "%s_bucket{le=\"%g\"} %llu\n", name, (double)met_bucket_us[k] / 1e6, cum);
        else
            snprintf(line, sizeof(line), "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
        put(out, line);
    }
    snprintf(line, sizeof(line), "%s_sum %.6f\n%s_count %llu\n", name, (double)sum_us / 1e6, name, cum);
    put(out, line);
}

void met_render(struct rm_metrics *const *per_worker, int n, struct rm_buf *out)
{
    char line[256];
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        long long sum = 0;
        for (int i = 0; i < n; i++) {
            const atomic_int_fast64_t *v = (const void *)((const char *)per_worker[i] + rows[r].off);
            sum += (long long)atomic_load_explicit(v, memory_order_relaxed);
        }
        snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", rows[r].name, rows[r].help, rows[r].name,
                 rows[r].type, rows[r].name, sum);
        put(out, line);
    }
    put(out, "# HELP ringmux_pins_total Sessions pinned, by reason.\n# TYPE ringmux_pins_total counter\n");
    for (int p = 1; p < PIN__COUNT; p++) {
        unsigned long long sum = 0;
        for (int i = 0; i < n; i++)
            sum += atomic_load_explicit(&per_worker[i]->pins[p], memory_order_relaxed);
        snprintf(line, sizeof(line), "ringmux_pins_total{reason=\"%s\"} %llu\n", cls_pin_str((enum cls_pin)p), sum);
        put(out, line);
    }
    render_hist(per_worker, n, offsetof(struct rm_metrics, query_total), "ringmux_query_duration_seconds",
                "Client commands run on a backend: from the command's arrival to the end of its response (the "
                "client's view; RDS Proxy's QueryResponseLatency).",
                out);
    render_hist(per_worker, n, offsetof(struct rm_metrics, query_db), "ringmux_query_database_duration_seconds",
                "The same commands from the moment they were sent to the backend (RDS Proxy's "
                "QueryDatabaseResponseLatency).",
                out);
    render_hist(per_worker, n, offsetof(struct rm_metrics, borrow_wait), "ringmux_borrow_wait_seconds",
                "From a command's arrival until a backend connection was there to run it.", out);
    /* Client connections that never became sessions, by reason. */
    static const struct {
        const char *reason;
        size_t off;
    } fails[] = {
        {"too_many_connections", offsetof(struct rm_metrics, clients_rejected)},
        {"auth", offsetof(struct rm_metrics, auth_failures)},
        {"tls", offsetof(struct rm_metrics, tls_failures)},
        {"tls_required", offsetof(struct rm_metrics, tls_required_refused)},
        {"handshake_timeout", offsetof(struct rm_metrics, handshake_timeouts)},
        {"throttled", offsetof(struct rm_metrics, logins_throttled)},
        {"unauthenticated_limit", offsetof(struct rm_metrics, unauth_refused)},
        {"user_limit", offsetof(struct rm_metrics, user_limit_refused)},
    };
    put(out, "# HELP ringmux_client_setup_failures_total Client connections that did not become sessions, by reason.\n"
             "# TYPE ringmux_client_setup_failures_total counter\n");
    for (size_t f = 0; f < sizeof(fails) / sizeof(fails[0]); f++) {
        unsigned long long sum = 0;
        for (int i = 0; i < n; i++)
            sum += atomic_load_explicit((const atomic_uint_fast64_t *)((const char *)per_worker[i] + fails[f].off),
                                        memory_order_relaxed);
        snprintf(line, sizeof(line), "ringmux_client_setup_failures_total{reason=\"%s\"} %llu\n", fails[f].reason, sum);
        put(out, line);
    }
}

void met_render_topology(const struct rm_topology *t, const struct rm_config *cfg, uint64_t writer_changes, bool paused,
                         struct rm_buf *out)
{
    char line[512];
    static const char *const fam[][3] = {
        {"ringmux_backend_up", "The monitor's last check reached the backend.", "gauge"},
        {"ringmux_backend_role", "Role of each backend (1 for its current role).", "gauge"},
        {"ringmux_backend_read_only", "@@read_only or @@innodb_read_only of the backend.", "gauge"},
        {"ringmux_backend_replica_lag_seconds", "Replica lag; -1 when not replicating.", "gauge"},
    };
    for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", fam[f][0], fam[f][1], fam[f][0], fam[f][2]);
        put(out, line);
        for (int i = 0; t && i < t->n && i < cfg->n_backends; i++) {
            const char *name = cfg->backends[i].name;
            const struct rm_topo_backend *b = &t->be[i];
            switch (f) {
            case 0: snprintf(line, sizeof(line), "%s{backend=\"%s\"} %d\n", fam[f][0], name, b->up); break;
            case 1:
                snprintf(line, sizeof(line), "%s{backend=\"%s\",role=\"%s\"} 1\n", fam[f][0], name,
                         t->writer == i    ? "writer"
                         : t->reader_ok[i] ? "reader"
                                           : "none");
                break;
            case 2: snprintf(line, sizeof(line), "%s{backend=\"%s\"} %d\n", fam[f][0], name, b->read_only); break;
            default:
                snprintf(line, sizeof(line), "%s{backend=\"%s\"} %.3f\n", fam[f][0], name,
                         b->lag_ms < 0 ? -1.0 : (double)b->lag_ms / 1000.0);
                break;
            }
            put(out, line);
        }
    }
    snprintf(line, sizeof(line),
             "# HELP ringmux_writer_changes_total Times the monitor moved the writer role.\n"
             "# TYPE ringmux_writer_changes_total counter\nringmux_writer_changes_total %llu\n"
             "# HELP ringmux_writer_available 1 while a writer backend is known.\n"
             "# TYPE ringmux_writer_available gauge\nringmux_writer_available %d\n"
             "# HELP ringmux_paused 1 while paused (POST /pause).\n# TYPE ringmux_paused gauge\nringmux_paused %d\n",
             (unsigned long long)writer_changes, t && t->writer >= 0, paused);
    put(out, line);
}

void met_render_backends(struct rm_metrics *const *per_worker, int n, const struct rm_config *cfg, struct rm_buf *out)
{
    char line[256];
    put(out, "# HELP ringmux_backend_statements_total Client commands forwarded to each backend.\n"
             "# TYPE ringmux_backend_statements_total counter\n");
    for (int b = 0; b < cfg->n_backends; b++) {
        unsigned long long sum = 0;
        for (int i = 0; i < n; i++)
            sum += atomic_load_explicit(&per_worker[i]->backend_statements[b], memory_order_relaxed);
        snprintf(line, sizeof(line), "ringmux_backend_statements_total{backend=\"%s\"} %llu\n", cfg->backends[b].name,
                 sum);
        put(out, line);
    }
}

_Static_assert(sizeof(((struct rm_metrics *)0)->backend_statements) / sizeof(atomic_uint_fast64_t) == RM_MAX_BACKENDS,
               "backend_statements must have one counter per possible backend");
