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

#endif
