/* A socket on a worker's ring: its buffers, its in-flight operations and its
 * send queue.  Both client sessions and backend connections embed one.
 *
 * Ownership rules:
 *  - every SQE that references a conn increments conn->inflight and its
 *    final CQE decrements it; the object is freed only when it is closed
 *    and inflight is zero (nothing is freed while an SQE may point at it);
 *  - received bytes arrive in the worker's provided-buffer ring; the owner's
 *    handler consumes what it can straight from the ring buffer and the
 *    rest is copied to conn->in;
 *  - output is appended to conn->out; conn_flush() hands it to the kernel
 *    (one send in flight at a time, partial sends resumed). */
#ifndef RINGMUX_CONN_H
#define RINGMUX_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringmux/buf.h"
#include "ringmux/list.h"

struct rm_worker;

enum conn_kind {
    CONN_CLIENT,  /* a client session (struct rm_session) */
    CONN_BACKEND, /* a backend connection (struct rm_bconn) */
    CONN_ADMIN,   /* an admin HTTP connection (struct rm_admin_conn) */
};

/* Operation codes packed into io_uring user_data. */
enum conn_op {
    OP_NONE = 0,
    OP_ACCEPT,  /* multishot accept on a listener (slot = listener index) */
    OP_RECV,    /* multishot recv on a conn */
    OP_SEND,    /* send of conn->sending */
    OP_CONNECT, /* backend connect */
    OP_CANCEL,  /* cancel request, result ignored */
    OP_TIMEOUT, /* link timeout of a connect, result ignored */
    OP_TICK,    /* the worker's periodic timer */
    OP_WAKE,    /* eventfd read: main thread asks the worker to look at shared state */
};

struct rm_conn {
    struct rm_worker *w; /* owning worker; a conn never changes worker */
    uint32_t slot;       /* index in the worker's conn table */
    uint32_t gen;        /* slot generation, checked on every completion */
    enum conn_kind kind;
    int fd;                /* socket, -1 once closed */
    uint16_t inflight;     /* SQEs referencing this conn not yet completed */
    bool recv_armed;       /* a multishot recv is outstanding */
    bool recv_paused;      /* backpressure or state: don't re-arm recv */
    bool send_inflight;    /* conn->sending is with the kernel */
    bool dead;             /* closed: no new I/O, freed when inflight hits 0 */
    bool eof;              /* peer closed or socket error seen */
    struct rm_buf in;      /* received bytes not yet consumed */
    struct rm_buf out;     /* queued output not yet handed to the kernel */
    struct rm_buf sending; /* output owned by the send in flight */
    size_t sent;           /* bytes of `sending` already acknowledged */
    struct rm_link grave;  /* in the worker's graveyard once dead */
};

/* Bytes queued towards this conn's peer and not yet acknowledged. */
static inline size_t conn_pending(const struct rm_conn *c)
{
    return buf_avail(&c->out) + (c->sending.len - c->sent);
}

/* Register a new socket in w's conn table (sets slot/gen).  -1 when full. */
int conn_register(struct rm_worker *w, struct rm_conn *c, enum conn_kind kind, int fd);
/* Arm the multishot recv unless already armed, paused or dead. */
void conn_arm_recv(struct rm_conn *c);
/* Stop receiving (backpressure): cancels the armed recv. */
void conn_pause_recv(struct rm_conn *c);
/* Undo conn_pause_recv and re-arm. */
void conn_resume_recv(struct rm_conn *c);
/* Start sending conn->out if nothing is in flight. */
void conn_flush(struct rm_conn *c);
/* Stop all I/O on the socket; the owner object is freed by the worker once
 * no completion can reference it. */
void conn_kill(struct rm_conn *c);
/* Completion of a send (res = bytes or -errno): resumes partial sends and
 * starts the next queued batch.  True when nothing is left queued. */
bool conn_on_send(struct rm_conn *c, int res);

/* Pack / unpack io_uring user_data: op (8 bits), generation (24), slot (32). */
static inline uint64_t conn_tag(enum conn_op op, uint32_t slot, uint32_t gen)
{
    return (uint64_t)op << 56 | (uint64_t)(gen & 0xffffff) << 32 | slot;
}
static inline enum conn_op tag_op(uint64_t t)
{
    return (enum conn_op)(t >> 56);
}
static inline uint32_t tag_gen(uint64_t t)
{
    return (uint32_t)(t >> 32) & 0xffffff;
}
static inline uint32_t tag_slot(uint64_t t)
{
    return (uint32_t)t;
}

#endif
