/* Socket I/O on the worker's ring (include/ringmux/conn.h). */
#include "ringmux/conn.h"

#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringmux/log.h"
#include "ringmux/worker.h"

int conn_register(struct rm_worker *w, struct rm_conn *c, const struct conn_ops *ops, int fd)
{
    uint32_t slot;
    if (w->nfree > 0) {
        slot = w->free_slots[--w->nfree];
    } else {
        if (w->nslots == w->capslots) {
            uint32_t cap = w->capslots ? w->capslots * 2 : 1024;
            struct rm_conn **nc = realloc(w->conns, cap * sizeof(*nc));
            if (!nc)
                return -1;
            w->conns = nc;
            uint32_t *nf = realloc(w->free_slots, cap * sizeof(*nf));
            if (!nf)
                return -1;
            w->free_slots = nf;
            w->capslots = cap;
        }
        slot = w->nslots++;
        w->conns[slot] = NULL;
    }
    c->w = w;
    c->slot = slot;
    c->gen = (c->gen + 1) & 0xffffff;
    c->ops = ops;
    c->fd = fd;
    link_init(&c->grave);
    w->conns[slot] = c;
    return 0;
}

void conn_arm_recv(struct rm_conn *c)
{
    if (c->recv_armed || c->recv_paused || c->dead || c->eof)
        return;
    struct io_uring_sqe *sqe = worker_sqe(c->w);
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, conn_tag(OP_RECV, c->slot, c->gen));
    c->recv_armed = true;
    c->inflight++;
}

void conn_pause_recv(struct rm_conn *c)
{
    if (c->recv_paused)
        return;
    c->recv_paused = true;
    if (!c->recv_armed || c->dead)
        return;
    struct io_uring_sqe *sqe = worker_sqe(c->w);
    io_uring_prep_cancel64(sqe, conn_tag(OP_RECV, c->slot, c->gen), 0);
    io_uring_sqe_set_data64(sqe, conn_tag(OP_CANCEL, c->slot, c->gen));
    c->inflight++;
}

void conn_resume_recv(struct rm_conn *c)
{
    if (!c->recv_paused)
        return;
    c->recv_paused = false;
    conn_arm_recv(c);
}

void conn_flush(struct rm_conn *c)
{
    if (c->send_inflight || c->dead || c->eof)
        return;
    if (buf_avail(&c->out) == 0)
        return;
    /* Swap: the queued bytes become the in-flight buffer, the (empty) old
     * in-flight buffer becomes the queue. */
    struct rm_buf t = c->sending;
    c->sending = c->out;
    c->out = t;
    buf_reset(&c->out);
    c->sent = 0;
    struct io_uring_sqe *sqe = worker_sqe(c->w);
    io_uring_prep_send(sqe, c->fd, buf_head(&c->sending), buf_avail(&c->sending), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, conn_tag(OP_SEND, c->slot, c->gen));
    c->send_inflight = true;
    c->inflight++;
}

void conn_kill(struct rm_conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    if (c->fd >= 0) /* wakes any recv/send in flight; they complete with errors */
        shutdown(c->fd, SHUT_RDWR);
    link_push_back(&c->w->graveyard, &c->grave);
}

/* A send completed: res bytes (or -errno).  Returns true when everything
 * queued so far has reached the kernel (the owner may want to know). */
bool conn_on_send(struct rm_conn *c, int res)
{
    c->send_inflight = false;
    c->inflight--;
    if (res < 0) {
        if (!c->dead)
            log_debug("conn slot=%u send failed: %s", c->slot, strerror(-res));
        c->eof = true;
        buf_reset(&c->sending);
        c->sent = 0;
        return false;
    }
    c->sent += (size_t)res;
    if (c->sent < buf_avail(&c->sending) && !c->dead) {
        struct io_uring_sqe *sqe = worker_sqe(c->w);
        io_uring_prep_send(sqe, c->fd, buf_head(&c->sending) + c->sent, buf_avail(&c->sending) - c->sent, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, conn_tag(OP_SEND, c->slot, c->gen));
        c->send_inflight = true;
        c->inflight++;
        return false;
    }
    /* Idle clients hold no buffer memory: thousands of them wait between
     * statements.  Backend conns keep theirs, they are few and busy. */
    if (c->ops->keep_buffers)
        buf_reset(&c->sending);
    else
        buf_free(&c->sending);
    c->sent = 0;
    conn_flush(c);
    return !c->send_inflight;
}

void conn_connect(struct rm_conn *c, const struct sockaddr *sa, socklen_t len, int64_t timeout_ms)
{
    /* The timeout is read when the SQEs are submitted, in this thread: one
     * per thread is enough. */
    static __thread struct __kernel_timespec ts;
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (timeout_ms % 1000) * 1000000;
    struct io_uring_sqe *sqe = worker_sqe(c->w);
    io_uring_prep_connect(sqe, c->fd, sa, len);
    io_uring_sqe_set_data64(sqe, conn_tag(OP_CONNECT, c->slot, c->gen));
    sqe->flags |= IOSQE_IO_LINK;
    sqe = worker_sqe(c->w);
    io_uring_prep_link_timeout(sqe, &ts, 0);
    io_uring_sqe_set_data64(sqe, conn_tag(OP_TIMEOUT, c->slot, c->gen));
    c->inflight += 2;
}
