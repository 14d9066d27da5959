/* A worker: one thread, one io_uring, its own listener socket
 * (SO_REUSEPORT), the client sessions it accepted and its shard of the
 * backend pool.  Nothing here is touched by another thread except the
 * fields of struct rm_shared, which are atomics or immutable snapshots. */
#ifndef RINGMUX_WORKER_H
#define RINGMUX_WORKER_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ringmux/backend.h"
#include "ringmux/config.h"
#include "ringmux/conn.h"
#include "ringmux/handshake.h"
#include "ringmux/limits.h"
#include "ringmux/list.h"
#include "ringmux/metrics.h"
#include "ringmux/monitor.h"

#define RM_MAX_WORKERS 256

struct rm_session;
struct rm_bconn;
struct rm_pool;

/* A message from one worker to another (control path only: KILL).  Posted
 * on the target's lock-free inbox, which it drains when woken. */
enum rm_msg_type {
    MSG_KILL,        /* stop session `target` (or only its statement) */
    MSG_KILL_DONE,   /* answer to MSG_KILL for session `from_sess`: err (0 = done) */
    MSG_REPORT,      /* admin console: describe this worker's pools / clients / pins (`target` = what) */
    MSG_REPORT_DONE, /* the answer, rows in `blob` */
};
struct rm_msg {
    struct rm_msg *next;
    enum rm_msg_type type;
    uint32_t target;    /* session id to kill */
    bool query_only;    /* KILL QUERY: its statement, not the session */
    bool admin;         /* the killer may kill any user's sessions */
    uint16_t err;       /* MSG_KILL_DONE: 0, 1094 (unknown id) or 1095 (not owner) */
    int from_worker;    /* where the killer session lives */
    uint32_t from_sess; /* the killer session's id */
    char user[81];      /* the killer's user */
    char *blob;         /* MSG_REPORT_DONE: rows, tab-separated fields, one per line (malloc'd) */
    size_t blob_len;
};

/* Process-wide state shared by all workers. */
struct rm_shared {
    _Atomic(struct rm_config *) cfg;                 /* current config; old ones live until exit */
    atomic_int backend_total;                        /* open + opening backend conns, all workers */
    atomic_int backend_conns[RM_MAX_BACKENDS];       /* the same per backend ([backend.NAME] max_connections) */
    atomic_int clients_total;                        /* open client sessions, all workers */
    atomic_int waiting[RM_MAX_WORKERS];              /* sessions queued for a backend, per worker */
    _Atomic uint64_t oldest_wait_ms[RM_MAX_WORKERS]; /* wait start of each worker's FIFO head, 0 if empty */
    atomic_bool stopping;                            /* graceful shutdown requested */
    int n_workers;
    struct rm_worker *workers;                  /* array of n_workers */
    struct rm_metrics **metrics;                /* per-worker metric sets, for the admin endpoint */
    _Atomic(struct rm_topology *) topo;         /* current topology snapshot (monitor.h) */
    _Atomic uint64_t topo_seen[RM_MAX_WORKERS]; /* generation each worker uses */
    struct rm_monitor *mon;                     /* the monitor thread */
    atomic_bool paused;                         /* POST /pause: new statements wait, running ones finish */
    _Atomic uint64_t writer_changes;            /* times the monitor moved the writer role */
    struct rm_limits limits;                    /* failed logins per address, unauthenticated, per user */
};

struct rm_worker {
    int idx; /* 0..n_workers-1 */
    pthread_t thread;
    struct rm_shared *sh;
    struct io_uring ring;
    int listen_fd;     /* client listener (rw endpoint) */
    int reader_fd;     /* reader endpoint listener, -1 when reader_listen is off */
    int admin_fd;      /* admin HTTP listener, worker 0 only, -1 otherwise */
    int console_fd;    /* admin console (MySQL protocol) listener, worker 0 only, -1 otherwise */
    int wake_fd;       /* eventfd: main thread pokes (reload, stop) */
    uint64_t wake_val; /* eventfd read target */

    /* Provided-buffer ring for every recv of this worker. */
    struct io_uring_buf_ring *br;
    uint8_t *bufs;
    unsigned nbufs, bufsz;

    /* Conn table: slot -> conn, with a free-slot stack. */
    struct rm_conn **conns;
    uint32_t nslots, capslots;
    uint32_t *free_slots;
    uint32_t nfree;

    struct rm_link sessions;  /* all client sessions of this worker */
    struct rm_link waiters;   /* sessions waiting for a backend conn, FIFO */
    struct rm_link graveyard; /* dead objects waiting for inflight == 0 */

    struct rm_config *cfg;  /* config snapshot used this loop turn */
    uint64_t now_ms;        /* monotonic clock, updated every loop turn */
    uint64_t now_us;        /* the same reading in microseconds (latency histograms) */
    uint64_t last_maint_ms; /* last pool maintenance pass */
    struct rm_metrics met;
    uint64_t emfile_logged_ms; /* rate limit for the out-of-descriptors warning */
    bool accept_paused[4];     /* accept stopped after EMFILE, re-armed by the tick (per listener) */
    bool kick_waiters;         /* a slot or conn freed: serve the FIFO this loop turn */
    bool stopped;              /* loop should exit once drained */
    uint32_t next_bconn_id;
    uint32_t next_sess_seq;
    /* The one conn this worker opens beyond the cap to send KILL QUERY when
     * no idle conn can (pool_kill_query), and the targets (slot, id) that
     * wait for it. */
    struct rm_bconn *killer;
    uint32_t kill_q[16][2];
    int kill_qn;                                 /* session ids: seq * n_workers + idx (the id names its worker) */
    _Atomic(struct rm_msg *) inbox;              /* messages from other workers, newest first */
    int n_bconns;                                /* backend conns of this worker (any state) */
    uint64_t stop_deadline_ms;                   /* graceful stop gives up waiting after this */
    const struct rm_topology *topo;              /* snapshot used this loop turn (monitor.h) */
    struct rm_backend backends[RM_MAX_BACKENDS]; /* one per configured backend: pools and health */
    int n_backends;
    char pin_sample[PIN__COUNT][160]; /* digest of the last statement that pinned, per reason (SHOW PINS) */
    struct rm_tls_ctx *tls_server;    /* TLS for clients, built from cfg at the first accept after a (re)load */
    bool tls_built;                   /* tls_server reflects cfg (NULL: TLS off or its setup failed) */
};

int worker_init(struct rm_worker *w, struct rm_shared *sh, int idx);
void *worker_main(void *arg);
void worker_destroy(struct rm_worker *w);
/* Ask a worker to re-read shared state (config reload, stop). Thread-safe. */
void worker_wake(struct rm_worker *w);

/* Post m (malloc'd; the receiver frees it) to worker `to` and wake it.
 * Thread-safe, lock-free. */
void worker_post(struct rm_shared *sh, int to, struct rm_msg *m);

/* An SQE from w's ring, submitting first if the SQ is full. */
struct io_uring_sqe *worker_sqe(struct rm_worker *w);

#endif
