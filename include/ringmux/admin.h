/* Admin endpoint: a tiny HTTP server on worker 0's ring answering
 * GET /metrics (Prometheus text) and GET /healthz. */
#ifndef RINGMUX_ADMIN_H
#define RINGMUX_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "ringmux/conn.h"

struct rm_worker;

struct rm_admin_conn {
    struct rm_conn c; /* socket; must be first */
};

void adm_accept(struct rm_worker *w, int fd);
void adm_on_data(struct rm_admin_conn *a, const uint8_t *data, size_t len, size_t *used);
void adm_free(struct rm_admin_conn *a);

struct rm_shared;
/* Pause (1), resume (0) or only look (-1): paused, new statements wait (up
 * to connection_borrow_timeout) while statements and transactions already
 * on a backend finish.  Returns how many of those are still running.  The
 * HTTP endpoint and the admin console share it; who names the caller in
 * the log. */
long long adm_pause(struct rm_shared *sh, int pause, const char *who);

#endif
