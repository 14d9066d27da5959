/* The backend server: what the proxy learned about it at start-up (version,
 * capabilities, default collation) and its recent health as seen by the
 * workers' connection attempts. */
#ifndef RINGMUX_BACKEND_H
#define RINGMUX_BACKEND_H

#include "ringmux/config.h"
#include "ringmux/handshake.h"

#include <stdbool.h>
#include <stdint.h>

#include "ringmux/list.h"

struct rm_worker;

/* One backend server as a worker sees it: where it is (from the config),
 * the pools of connections to it, and its recent health (connect backoff,
 * last error).  A worker has one per configured backend; the config names
 * one today. */
struct rm_backend {
    struct rm_worker *w;
    int idx;                     /* which configured backend */
    struct rm_link pools;        /* struct rm_pool list */
    uint64_t connect_after_ms;   /* backoff: no connect before this */
    uint32_t connect_backoff_ms; /* current backoff step */
    char error[192];             /* last connect/login failure, "" if none */
};

void backend_init(struct rm_backend *be, struct rm_worker *w, int idx);
/* Its address in the worker's current config. */
const struct rm_addr *backend_addr(const struct rm_backend *be);

/* Start-up probe (main thread, blocking, libmariadb): fill *si with the
 * server's version (suffixed "-ringmux"), capabilities and collation.  On
 * failure logs a warning and fills safe defaults; returns -1. */
int be_probe(const struct rm_config *cfg, struct hs_server_info *si);

/* A worker's connect or login failed: remember the reason (for the error
 * text waiting clients get) and back off before the next attempt. */
void backend_note_failure(struct rm_backend *be, const char *why);
/* A connect succeeded: clear the backoff. */
void backend_note_success(struct rm_backend *be);
/* May a new backend connect be started now (backoff elapsed)? */
bool backend_may_connect(const struct rm_backend *be);
/* Last failure text, "" if none. */
const char *backend_last_error(const struct rm_backend *be);

#endif
