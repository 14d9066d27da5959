/* The engine's I/O primitives on the worker's io_uring (include/ringmux/ring.h). */
#include "ringmux/ring.h"

#include <liburing.h>

#include "ringmux/conn.h"
#include "ringmux/worker.h"

struct io_uring_sqe *worker_sqe(struct rm_worker *w)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
    while (!sqe) { /* SQ full: push what we have to the kernel and retry */
        io_uring_submit(&w->ring);
        sqe = io_uring_get_sqe(&w->ring);
    }
    return sqe;
}

void ring_recv(struct rm_conn *c)
{
    struct io_uring_sqe *sqe = worker_sqe(c->w);
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, conn_tag(OP_RECV, c->slot, c->gen));
}

void ring_cancel_recv(struct rm_conn *c)
{
    struct io_uring_sqe *sqe = worker_sqe(c->w);
    io_uring_prep_cancel64(sqe, conn_tag(OP_RECV, c->slot, c->gen), 0);
    io_uring_sqe_set_data64(sqe, conn_tag(OP_CANCEL, c->slot, c->gen));
}

void ring_send(struct rm_conn *c, const void *p, size_t len)
{
    struct io_uring_sqe *sqe = worker_sqe(c->w);
    io_uring_prep_send(sqe, c->fd, p, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, conn_tag(OP_SEND, c->slot, c->gen));
}

void ring_connect(struct rm_conn *c, const struct sockaddr *sa, socklen_t len, int64_t timeout_ms)
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
}
