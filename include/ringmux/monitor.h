/* The monitor: one prober thread per backend resolves its name and checks
 * it every [monitor] interval with libmariadb (reachable, read_only,
 * replica lag), so a backend that hangs delays nobody else's verdict; the
 * monitor thread turns their results into the roles (one writer, readers)
 * and publishes them as an immutable topology snapshot.
 *
 * Workers read the current snapshot with one atomic load per loop turn and
 * announce the generation they use (topo_seen); the monitor frees a retired
 * snapshot once every worker has moved past it.  A worker never keeps a
 * pointer into a snapshot other than its current one (w->topo): addresses
 * are copied into the connections that use them. */
#ifndef RINGMUX_MONITOR_H
#define RINGMUX_MONITOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ringmux/config.h"
#include "ringmux/handshake.h"

#define RM_MAX_ADDRS 8

struct rm_shared;

/* One backend as the monitor last saw it. */
struct rm_topo_backend {
    bool up;        /* the monitor's last check reached it */
    bool checked;   /* it has been checked at least once */
    bool read_only; /* @@read_only or @@innodb_read_only */
    bool replica;   /* SHOW REPLICA STATUS has a row */
    int64_t lag_ms; /* replica lag; -1 = not replicating / unknown, 0 for a primary */
    int n_addrs;    /* resolved candidates, the last one that answered first */
    struct sockaddr_storage addrs[RM_MAX_ADDRS];
    socklen_t addr_lens[RM_MAX_ADDRS];
    char error[192];              /* why it is down or unresolvable, "" if fine */
    struct hs_server_info server; /* its greeting (version, capabilities, collation) */
    bool server_read;             /* server was read from it */
};

/* What every worker routes by. */
struct rm_topology {
    uint64_t gen;                    /* increases with every snapshot */
    int n;                           /* backends (the config's, in order) */
    int writer;                      /* index of the writer, -1 = none right now */
    bool conflict;                   /* more than one backend writable (writer_conflict applied) */
    bool reader_ok[RM_MAX_BACKENDS]; /* usable by the reader endpoint (healthy, lag within bounds) */
    struct rm_topo_backend be[RM_MAX_BACKENDS];
    struct hs_server_info server; /* what new clients are told (version, capabilities), from the writer */
    bool server_known;            /* a backend answered: server is its, not defaults */
    struct rm_topology *older;    /* the monitor's list of retired snapshots */
};

/* A snapshot from the config alone, before any check: numeric addresses
 * are filled in, names are not; with one backend it is the writer (a lone
 * backend is what the user points at, whatever its read_only says).
 * malloc'd; NULL when out of memory. */
struct rm_topology *topo_from_config(const struct rm_config *cfg);
/* A numeric host (IPv4 or IPv6 literal) and port as a sockaddr; false for
 * a name. */
bool topo_numeric_addr(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);
/* Do a and b have the same candidate addresses (in any order)? */
bool topo_same_addrs(const struct rm_topo_backend *a, const struct rm_topo_backend *b);
/* Decide the roles in t from its backends' health and cfg. */
void topo_decide(struct rm_topology *t, const struct rm_config *cfg);
/* Readiness (GET /readyz): true when there is a writer and the monitor's
 * last check logged in to it.  why gets one line either way ("ready:
 * writer db1" / "not ready: writer db1 is unreachable: ..."). */
bool topo_ready(const struct rm_topology *t, const struct rm_config *cfg, char *why, size_t len);

/* Start-up: resolve and check every backend once, in the calling thread,
 * and publish the first snapshot in sh->topo, with the greeting clients
 * get (version, capabilities, collation) from the writer, or the first
 * backend that answered, or safe defaults with a warning until one does. */
void monitor_first_round(struct rm_shared *sh);
/* Start the monitor thread (after monitor_first_round).  0 or -1. */
int monitor_start(struct rm_shared *sh);
/* Ask for a check and name resolution now (a worker's connect failed).
 * Thread-safe and non-blocking. */
void monitor_poke(struct rm_shared *sh);
/* Stop the thread and free every snapshot (workers are stopped). */
void monitor_stop(struct rm_shared *sh);

#endif
