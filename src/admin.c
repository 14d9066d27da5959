/* Admin HTTP endpoint (include/ringmux/admin.h).  One request per
 * connection; requests over 8 KiB or malformed get 400 and are closed. */
#include "ringmux/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringmux/log.h"
#include "ringmux/metrics.h"
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
        respond(a, "200 OK", "text/plain; version=0.0.4", &body);
    } else if (len > 14 && memcmp(data, "GET /healthz ", 13) == 0) {
        buf_append(&body, "ok\n", 3);
        respond(a, "200 OK", "text/plain", &body);
    } else {
        buf_append(&body, "not found: try /metrics or /healthz\n", 36);
        respond(a, "404 Not Found", "text/plain", &body);
    }
    buf_free(&body);
}

void adm_free(struct rm_admin_conn *a)
{
    free(a);
}
