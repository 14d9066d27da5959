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
 *    (one send in flight at a time, partial sends resumed);
 *  - with TLS (tls.h) this layer is the byte filter: received bytes are
 *    decrypted into conn->in before on_data sees them, and conn->out is
 *    encrypted when a send starts; owners read and write plaintext. */
#ifndef RINGMUX_CONN_H
#define RINGMUX_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ringmux/buf.h"
#include "ringmux/list.h"

struct rm_worker;

struct rm_conn;
struct rm_tls;

/* What a conn's owner does with its events: set once, when the conn is
 * registered (the worker dispatches completions through it and knows
 * nothing of sessions, backend connections or the admin endpoint). */
struct conn_ops {
    const char *name; /* for logs */
    /* Bytes arrived: consume what can be acted on now (*used); the rest is
     * kept in c->in and offered again with the next bytes. */
    void (*on_data)(struct rm_conn *c, const uint8_t *data, size_t len, size_t *used);
    /* The peer closed the connection, or the socket failed (err: errno). */
    void (*on_eof)(struct rm_conn *c, int err);
    /* A send completed; drained: nothing is left queued. */
    void (*on_flushed)(struct rm_conn *c, bool drained);
    /* A connect (conn_connect) completed: res 0 or -errno. */
    void (*on_connect)(struct rm_conn *c, int res);
    /* TLS on this conn finished its handshake (ok) or failed (!ok; the
     * conn then gets on_eof with EPROTO).  Optional. */
    void (*on_tls)(struct rm_conn *c, bool ok);
    /* Free the owner object: nothing references it any more. */
    void (*free)(struct rm_conn *c);
    /* Keep the send buffer's storage between sends (busy conns); without,
     * an idle conn holds no buffer memory (thousands of idle clients). */
    bool keep_buffers;
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
    const struct conn_ops *ops;
    int fd;                /* socket, -1 once closed */
    uint16_t inflight;     /* SQEs referencing this conn not yet completed */
    bool recv_armed;       /* a multishot recv is outstanding */
    bool recv_paused;      /* backpressure or state: don't re-arm recv */
    bool send_inflight;    /* conn->sending is with the kernel */
    bool dead;             /* closed: no new I/O, freed when inflight hits 0 */
    bool eof;              /* peer closed or socket error seen */
    bool shut;             /* shutdown(2) done: every operation in flight ends */
    uint64_t killed_ms;    /* when conn_kill was called */
    struct rm_buf in;      /* received bytes not yet consumed */
    struct rm_buf out;     /* queued output not yet handed to the kernel */
    struct rm_buf sending; /* output owned by the send in flight */
    size_t sent;           /* bytes of `sending` already acknowledged */
    struct rm_link grave;  /* in the worker's graveyard once dead */
    struct rm_tls *tls;    /* TLS state once started (tls.h), else NULL */
};

/* Bytes queued towards this conn's peer and not yet acknowledged. */
static inline size_t conn_pending(const struct rm_conn *c)
{
    return buf_avail(&c->out) + (c->sending.len - c->sent);
}

/* Register a new socket in w's conn table (sets slot/gen) with its owner's
 * operations.  -1 when full. */
int conn_register(struct rm_worker *w, struct rm_conn *c, const struct conn_ops *ops, int fd);
/* Arm the multishot recv unless already armed, paused or dead. */
void conn_arm_recv(struct rm_conn *c);
/* Stop receiving (backpressure): cancels the armed recv. */
void conn_pause_recv(struct rm_conn *c);
/* Undo conn_pause_recv and re-arm. */
void conn_resume_recv(struct rm_conn *c);
/* Connect c's socket to sa (which must stay valid until the connect
 * completes), linked to a timeout of timeout_ms (then -ECANCELED): the
 * owner's on_connect gets the result. */
void conn_connect(struct rm_conn *c, const struct sockaddr *sa, socklen_t len, int64_t timeout_ms);
/* Start sending conn->out if nothing is in flight. */
void conn_flush(struct rm_conn *c);
/* Stop all I/O on the socket now (bytes queued and not yet submitted are
 * dropped); the owner object is freed once no completion can reference it. */
void conn_kill(struct rm_conn *c);
/* The same, after what is queued has been sent (a COM_QUIT): the socket is
 * shut down when that send completes, or after a second if the peer does
 * not take it.  A shutdown(2) at once would beat the queued send, which is
 * only submitted at the end of the loop turn. */
void conn_close_flushed(struct rm_conn *c);

/* Start TLS on c with context x (tls.h): the server side after a client's
 * SSL request, the client side (host: the server's name) after sending
 * ours, which this also starts the handshake for.  What the owner queues
 * from now on is held until the handshake is done, then encrypted; the
 * owner's on_tls says how it ended.  -1 on allocation failure. */
struct rm_tls_ctx;
int conn_start_tls(struct rm_conn *c, struct rm_tls_ctx *x, const char *host);

/* Completions, routed here by the engine (worker.c) or a test's fake. */
/* len bytes arrived: offered to the owner's on_data after any bytes it left
 * in c->in; what it does not use is kept. */
void conn_on_recv(struct rm_conn *c, const uint8_t *data, size_t len);
/* The peer closed (err 0) or the socket failed (errno): the owner's on_eof,
 * once. */
void conn_on_eof(struct rm_conn *c, int err);
/* A send completed (res = bytes or -errno): resumes a partial send, starts
 * the next queued batch, then tells the owner (on_flushed, or on_eof on
 * failure). */
void conn_on_sent(struct rm_conn *c, int res);
/* A connect completed (res 0 or -errno): the owner's on_connect. */
void conn_on_connected(struct rm_conn *c, int res);
/* Free the dead conns no completion can reference any more (inflight 0):
 * close the socket, release buffers and slot, call the owner's free. */
void conn_sweep(struct rm_worker *w);

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
