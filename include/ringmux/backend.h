/* The backend server: what the proxy learned about it at start-up (version,
 * capabilities, default collation) and its recent health as seen by the
 * workers' connection attempts. */
#ifndef RINGMUX_BACKEND_H
#define RINGMUX_BACKEND_H

#include "ringmux/config.h"
#include "ringmux/handshake.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ringmux/list.h"

struct rm_worker;
struct rm_topology;

/* One backend server as a worker sees it: where it is (from the config),
 * the pools of connections to it, and its recent health (connect backoff,
 * last error).  A worker has one per configured backend; the config names
 * one today. */
struct rm_backend {
    struct rm_worker *w;
    int idx;                     /* which configured backend */
    struct rm_link pools;        /* struct rm_pool list */
    uint32_t epoch;              /* bumped when its role or addresses change: older conns retire */
    int addr_cursor;             /* which resolved address to connect to next */
    int n_active;                /* this worker's conns of it serving a statement (reader balancing) */
    int n_opening;               /* this worker's conns of it connecting / logging in */
    uint32_t jitter;             /* backoff jitter state */
    uint64_t connect_after_ms;   /* backoff: no connect before this */
    uint32_t connect_backoff_ms; /* current backoff step */
    char error[192];             /* last connect/login failure, "" if none */
    struct rm_tls_ctx *tls;      /* [backend] tls context, built at the first login after a (re)load */
    bool tls_built;              /* tls reflects the worker's config */
};

void backend_init(struct rm_backend *be, struct rm_worker *w, int idx);
/* Its address in the worker's current config. */
const struct rm_addr *backend_addr(const struct rm_backend *be);

/* The TLS context for logins to be (NULL when its tls = off, or when it
 * cannot be built: why says so). */
struct rm_tls_ctx *backend_tls(struct rm_backend *be, char *why, size_t len);
/* A new config: every backend's TLS context is rebuilt when next needed. */
void backends_tls_reset(struct rm_worker *w);

/* Set up w's backends from its config (one per [backend] section). */
void backends_init(struct rm_worker *w);
/* The address to connect to now (from the topology), copied into *ss; -1
 * when the name is not resolved (yet), with the reason in why. */
int backend_pick_addr(struct rm_backend *be, struct sockaddr_storage *ss, socklen_t *len, char *why, size_t whylen);
/* A connect to the address last picked failed: try the next one next time
 * and ask the monitor to resolve again. */
void backend_connect_failed(struct rm_backend *be);
/* A new topology snapshot: backends whose role or addresses changed get a
 * new epoch and lose their idle conns; waiters are served again. */
void backends_topology_changed(struct rm_worker *w, const struct rm_topology *old);
/* The backend a session's next statement goes to (writer, or a reader for
 * the reader endpoint), NULL when there is none right now. */
struct rm_backend *backend_for(struct rm_worker *w, bool reader, const struct rm_backend *current);
/* Its name in the config. */
const char *backend_name(const struct rm_backend *be);

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
