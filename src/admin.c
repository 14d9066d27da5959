/* Admin HTTP endpoint (include/ringmux/admin.h).  One request per
 * connection; requests over 8 KiB or malformed get 400 and are closed. */
#include "ringmux/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringmux/log.h"
#include "ringmux/metrics.h"
#include "ringmux/monitor.h"
#include "ringmux/worker.h"

#define ADM_MAX_REQUEST 8192

static void ops_data(struct rm_conn *c, const uint8_t *data, size_t len, size_t *used)
{
    adm_on_data((struct rm_admin_conn *)c, data, len, used);
}
static void ops_eof(struct rm_conn *c, int err)
{
    (void)err;
    conn_kill(c);
}
static void ops_flushed(struct rm_conn *c, bool drained)
{
    if (drained)
        conn_kill(c); /* one response per admin connection */
}
static void ops_free(struct rm_conn *c)
{
    adm_free((struct rm_admin_conn *)c);
}

static const struct conn_ops adm_ops = {
    .name = "admin",
    .on_data = ops_data,
    .on_eof = ops_eof,
    .on_flushed = ops_flushed,
    .free = ops_free,
};

void adm_accept(struct rm_worker *w, int fd)
{
    struct rm_admin_conn *a = calloc(1, sizeof(*a));
    if (!a || conn_register(w, &a->c, &adm_ops, fd) < 0) {
        free(a);
        close(fd);
        return;
    }
    conn_arm_recv(&a->c);
}

static void respond(struct rm_admin_conn *a, const char *status, const char *ctype, const struct rm_buf *body)
{
    char hdr[256];
    size_t blen = body ? buf_avail(body) : 0;
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                     ctype, blen);
    buf_append(&a->c.out, hdr, (size_t)n);
    if (blen)
        buf_append(&a->c.out, buf_head(body), blen);
    conn_flush(&a->c);
}

long long adm_pause(struct rm_shared *sh, int pause, const char *who)
{
    if (pause >= 0) {
        bool was = atomic_exchange(&sh->paused, pause == 1);
        if (was != (pause == 1))
            log_warn("%s: %s", who, pause ? "paused: new statements wait (resume to continue)" : "resumed");
        for (int i = 0; i < sh->n_workers; i++)
            worker_wake(&sh->workers[i]); /* resumed: serve the held statements */
    }
    long long running = 0; /* statements on a backend and transactions open */
    for (int i = 0; i < sh->n_workers; i++)
        running += (long long)atomic_load(&sh->metrics[i]->statements_running) +
                   (long long)atomic_load(&sh->metrics[i]->transactions_open);
    return running;
}

/* POST /pause (pause 1), POST /resume (0), GET /pause (-1: status only):
 * adm_pause, answered "paused running N" so a switchover script polls
 * GET /pause until "running 0", moves the writer, then POSTs /resume. */
static void pause_request(struct rm_admin_conn *a, int pause, struct rm_buf *body)
{
    struct rm_shared *sh = a->c.w->sh;
    long long running = adm_pause(sh, pause, "admin HTTP");
    char line[96];
    int n = snprintf(line, sizeof(line), "%s running %lld\n", atomic_load(&sh->paused) ? "paused" : "resumed", running);
    buf_append(body, line, (size_t)n);
}

void adm_on_data(struct rm_admin_conn *a, const uint8_t *data, size_t len, size_t *used)
{
    *used = 0;
    const char *end = memmem(data, len, "\r\n\r\n", 4);
    if (!end) {
        if (len > ADM_MAX_REQUEST) {
            respond(a, "400 Bad Request", "text/plain", NULL);
            *used = len;
        }
        return;
    }
    *used = len;
    conn_pause_recv(&a->c);
    struct rm_buf body = {0};
    if (len > 14 && memcmp(data, "GET /metrics", 12) == 0 && (data[12] == ' ' || data[12] == '?')) {
        struct rm_shared *sh = a->c.w->sh;
        met_render(sh->metrics, sh->n_workers, &body);
        met_render_backends(sh->metrics, sh->n_workers, a->c.w->cfg, &body);
        met_render_topology(a->c.w->topo, a->c.w->cfg, atomic_load(&sh->writer_changes), atomic_load(&sh->paused),
                            &body);
        respond(a, "200 OK", "text/plain; version=0.0.4", &body);
    } else if (len > 14 && memcmp(data, "GET /healthz ", 13) == 0) { /* the process is alive */
        buf_append(&body, "ok\n", 3);
        respond(a, "200 OK", "text/plain", &body);
    } else if (len > 13 && memcmp(data, "GET /readyz ", 12) == 0) { /* a writer is up and logged in to */
        char why[400];
        bool ready = topo_ready(a->c.w->topo, a->c.w->cfg, why, sizeof(why) - 1);
        strcat(why, "\n");
        buf_append(&body, why, strlen(why));
        respond(a, ready ? "200 OK" : "503 Service Unavailable", "text/plain", &body);
    } else if (len > 13 && (memcmp(data, "POST /pause ", 12) == 0 || memcmp(data, "GET /pause ", 11) == 0 ||
                            memcmp(data, "POST /resume ", 13) == 0)) {
        pause_request(a, data[0] == 'P' && data[6] == 'p' ? 1 : data[0] == 'P' ? 0 : -1, &body);
        respond(a, "200 OK", "text/plain", &body);
    } else {
        static const char nf[] =
            "not found: try GET /metrics, GET /healthz, GET /readyz, POST /pause, GET /pause, POST /resume\n";
        buf_append(&body, nf, sizeof(nf) - 1);
        respond(a, "404 Not Found", "text/plain", &body);
    }
    buf_free(&body);
}

void adm_free(struct rm_admin_conn *a)
{
    free(a);
}
