/* The worker: one thread, one ring, one loop (include/ringmux/worker.h).
 *
 * Loop: submit and wait for at least one completion (bounded by the tick),
 * dispatch every ready CQE on the tag in its user_data, advance the CQ in
 * one batch, free what died.  Nothing here blocks except the wait itself. */
#include "ringmux/worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ringmux/admin.h"
#include "ringmux/backend.h"
#include "ringmux/kill.h"
#include "ringmux/log.h"
#include "ringmux/net.h"
#include "ringmux/pool.h"
#include "ringmux/ring.h"
#include "ringmux/tls.h"
#include "ringmux/session.h"

#define RING_ENTRIES 4096
#define BUF_COUNT    1024        /* provided buffers per worker (power of two) */
#define BUF_SIZE     (16 * 1024) /* bytes per provided buffer */
#define TICK_MS      50          /* timer resolution for timeouts and maintenance */

/* Listener ids in OP_ACCEPT tags. */
enum { LISTENER_CLIENT = 0, LISTENER_ADMIN = 1, LISTENER_READER = 2, LISTENER_CONSOLE = 3, N_LISTENERS = 4 };

/* Read the monotonic clock into w->now_ms and w->now_us. */
static void clock_now(struct rm_worker *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    w->now_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    w->now_ms = w->now_us / 1000;
}

/* Try the fastest ring setup first, then fall back with a clear log line. */
static int setup_ring(struct rm_worker *w)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    /* Created disabled: SINGLE_ISSUER binds the ring to the task that
     * enables it, which is the worker thread (worker_main). */
    p.flags =
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_R_DISABLED;
    int rc = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
    if (rc == -EINVAL) {
        if (w->idx == 0)
            log_info("io_uring: SINGLE_ISSUER/DEFER_TASKRUN unavailable, using a plain ring");
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_R_DISABLED;
        rc = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
    }
    if (rc < 0) {
        log_error("io_uring_queue_init: %s", strerror(-rc));
        return -1;
    }
    return 0;
}

static int setup_buffers(struct rm_worker *w)
{
    w->nbufs = BUF_COUNT;
    w->bufsz = BUF_SIZE;
    size_t ring_sz = w->nbufs * sizeof(struct io_uring_buf);
    void *mem = mmap(NULL, ring_sz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) {
        log_error("mmap buffer ring: %s", strerror(errno));
        return -1;
    }
    w->br = mem;
    /* Buffers are touched lazily by the kernel: idle workers cost no RSS. */
    w->bufs = mmap(NULL, (size_t)w->nbufs * w->bufsz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (w->bufs == MAP_FAILED) {
        log_error("mmap buffers: %s", strerror(errno));
        return -1;
    }
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)w->br, .ring_entries = w->nbufs, .bgid = 0};
    int rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
    if (rc < 0) {
        log_error("io_uring_register_buf_ring: %s (kernel 5.19+ required)", strerror(-rc));
        return -1;
    }
    io_uring_buf_ring_init(w->br);
    unsigned mask = (unsigned)io_uring_buf_ring_mask(w->nbufs);
    for (unsigned i = 0; i < w->nbufs; i++)
        io_uring_buf_ring_add(w->br, w->bufs + (size_t)i * w->bufsz, w->bufsz, (unsigned short)i, mask, (int)i);
    io_uring_buf_ring_advance(w->br, (int)w->nbufs);
    return 0;
}

static void return_buffer(struct rm_worker *w, unsigned bid)
{
    io_uring_buf_ring_add(w->br, w->bufs + (size_t)bid * w->bufsz, w->bufsz, (unsigned short)bid,
                          io_uring_buf_ring_mask(w->nbufs), 0);
    io_uring_buf_ring_advance(w->br, 1);
}

int worker_init(struct rm_worker *w, struct rm_shared *sh, int idx)
{
    memset(w, 0, sizeof(*w));
    w->idx = idx;
    w->sh = sh;
    w->listen_fd = w->admin_fd = w->wake_fd = w->reader_fd = w->console_fd = -1;
    link_init(&w->sessions);
    link_init(&w->waiters);
    link_init(&w->graveyard);
    w->cfg = atomic_load(&sh->cfg);
    w->topo = atomic_load(&sh->topo);
    atomic_store(&sh->topo_seen[idx], w->topo->gen);
    backends_init(w);
    clock_now(w);
    if (setup_ring(w) < 0 || setup_buffers(w) < 0)
        return -1;
    char err[256];
    w->listen_fd = net_listen(&w->cfg->listen, true, err, sizeof(err));
    if (w->listen_fd < 0) {
        log_error("listen = %s:%u: %s", w->cfg->listen.host, w->cfg->listen.port, err);
        return -1;
    }
    if (w->cfg->reader_listen.port != 0) {
        w->reader_fd = net_listen(&w->cfg->reader_listen, true, err, sizeof(err));
        if (w->reader_fd < 0) {
            log_error("reader_listen = %s:%u: %s", w->cfg->reader_listen.host, w->cfg->reader_listen.port, err);
            return -1;
        }
    }
    if (idx == 0 && w->cfg->admin.port != 0) {
        w->admin_fd = net_listen(&w->cfg->admin, false, err, sizeof(err));
        if (w->admin_fd < 0) {
            log_error("admin_listen = %s:%u: %s", w->cfg->admin.host, w->cfg->admin.port, err);
            return -1;
        }
    }
    if (idx == 0 && w->cfg->console_listen.port != 0) { /* the admin console lives on worker 0 */
        w->console_fd = net_listen(&w->cfg->console_listen, false, err, sizeof(err));
        if (w->console_fd < 0) {
            log_error("[admin] console_listen = %s:%u: %s", w->cfg->console_listen.host, w->cfg->console_listen.port,
                      err);
            return -1;
        }
    }
    w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->wake_fd < 0) {
        log_error("eventfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void worker_wake(struct rm_worker *w)
{
    uint64_t one = 1;
    ssize_t n = write(w->wake_fd, &one, sizeof(one));
    (void)n;
}

static void arm_accept(struct rm_worker *w, int fd, int which)
{
    struct io_uring_sqe *sqe = worker_sqe(w);
    io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, conn_tag(OP_ACCEPT, (uint32_t)which, 0));
}

static struct __kernel_timespec tick_ts = {.tv_sec = 0, .tv_nsec = TICK_MS * 1000000L};

static void arm_tick(struct rm_worker *w)
{
    struct io_uring_sqe *sqe = worker_sqe(w);
    io_uring_prep_timeout(sqe, &tick_ts, 0, 0);
    io_uring_sqe_set_data64(sqe, conn_tag(OP_TICK, 0, 0));
}

static void arm_wake(struct rm_worker *w)
{
    struct io_uring_sqe *sqe = worker_sqe(w);
    io_uring_prep_read(sqe, w->wake_fd, &w->wake_val, sizeof(w->wake_val), 0);
    io_uring_sqe_set_data64(sqe, conn_tag(OP_WAKE, 0, 0));
}

/* Stop accepting: close the listener so the kernel spreads new clients over
 * the other workers' listeners (and, at shutdown, refuses them). */
static void stop_accepting(struct rm_worker *w)
{
    int *fds[] = {&w->listen_fd, &w->reader_fd};
    for (int i = 0; i < 2; i++) {
        if (*fds[i] < 0)
            continue;
        shutdown(*fds[i], SHUT_RDWR);
        close(*fds[i]);
        *fds[i] = -1;
    }
}

static int listener_fd(const struct rm_worker *w, int which)
{
    return which == LISTENER_CLIENT    ? w->listen_fd
           : which == LISTENER_READER  ? w->reader_fd
           : which == LISTENER_CONSOLE ? w->console_fd
                                       : w->admin_fd;
}

static void on_accept(struct rm_worker *w, struct io_uring_cqe *cqe)
{
    int which = (int)tag_slot(cqe->user_data);
    int fd = cqe->res;
    int lfd = listener_fd(w, which);
    if (fd == -EMFILE || fd == -ENFILE) {
        /* Out of file descriptors: stop accepting until the next tick
         * rather than spinning on the error. */
        if (w->now_ms - w->emfile_logged_ms >= 5000) {
            w->emfile_logged_ms = w->now_ms;
            log_warn("accept: %s; pausing accepts for %d ms at a time (raise ulimit -n)", strerror(-fd), TICK_MS);
        }
        w->accept_paused[which] = true;
        if (cqe->flags & IORING_CQE_F_MORE) {
            struct io_uring_sqe *sqe = worker_sqe(w);
            io_uring_prep_cancel64(sqe, cqe->user_data, 0);
            io_uring_sqe_set_data64(sqe, conn_tag(OP_NONE, 0, 0));
        }
        return;
    }
    if (!(cqe->flags & IORING_CQE_F_MORE) && !w->accept_paused[which]) {
        /* multishot ended: re-arm if still listening */
        if (lfd >= 0 && !atomic_load(&w->sh->stopping))
            arm_accept(w, lfd, which);
    }
    if (fd < 0) {
        if (fd != -ECANCELED && fd != -EINVAL && fd != -EBADF)
            log_warn("accept: %s", strerror(-fd));
        return;
    }
    if (atomic_load(&w->sh->stopping)) {
        close(fd);
        return;
    }
    if (which == LISTENER_ADMIN)
        adm_accept(w, fd);
    else if (which == LISTENER_CONSOLE)
        sess_accept_console(w, fd);
    else
        sess_accept(w, fd, which == LISTENER_READER);
}

static void on_recv(struct rm_worker *w, struct rm_conn *c, struct io_uring_cqe *cqe)
{
    int res = cqe->res;
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        c->recv_armed = false;
        c->inflight--;
    }
    if (res > 0) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        conn_on_recv(c, w->bufs + (size_t)bid * w->bufsz, (size_t)res);
        return_buffer(w, bid);
    } else if (res == 0) {
        conn_on_eof(c, 0);
    } else if (res != -ENOBUFS && res != -ECANCELED) {
        conn_on_eof(c, -res);
    }
    /* -ENOBUFS: every buffer is in use; re-arming retries once some return. */
    conn_arm_recv(c);
}

static void on_tick(struct rm_worker *w)
{
    for (int which = 0; which < N_LISTENERS; which++) {
        int lfd = listener_fd(w, which);
        if (w->accept_paused[which] && lfd >= 0 && !atomic_load(&w->sh->stopping)) {
            w->accept_paused[which] = false;
            arm_accept(w, lfd, which);
        }
    }
    if (!atomic_load(&w->sh->stopping) || !link_empty(&w->sessions) || w->sh->backend_total > 0)
        arm_tick(w);
    pool_maintain(w);
    if (w->now_ms - w->last_maint_ms >= 1000) {
        w->last_maint_ms = w->now_ms;
        sess_check_timeouts(w);
    }
}

void worker_post(struct rm_shared *sh, int to, struct rm_msg *m)
{
    struct rm_worker *w = &sh->workers[to];
    struct rm_msg *head = atomic_load(&w->inbox);
    do
        m->next = head;
    while (!atomic_compare_exchange_weak(&w->inbox, &head, m));
    worker_wake(w);
}

/* Handle every message posted so far, oldest first. */
static void drain_inbox(struct rm_worker *w)
{
    struct rm_msg *m = atomic_exchange(&w->inbox, NULL), *fifo = NULL;
    while (m) { /* the stack is newest first: reverse it */
        struct rm_msg *next = m->next;
        m->next = fifo;
        fifo = m;
        m = next;
    }
    while (fifo) {
        m = fifo;
        fifo = m->next;
        worker_on_message(w, m); /* takes m */
    }
}

static void on_wake(struct rm_worker *w)
{
    struct rm_config *cfg = atomic_load(&w->sh->cfg);
    if (cfg != w->cfg) {
        w->cfg = cfg;
        pool_config_changed(w);      /* rotated passwords reach new backend logins */
        tls_ctx_free(w->tls_server); /* new certificates: rebuilt at the next accept */
        w->tls_server = NULL;
        w->tls_built = false;
        backends_tls_reset(w); /* and at the next backend login */
    }
    w->kick_waiters = true; /* a resume, a new topology: the queue may move */
    drain_inbox(w);
    if (atomic_load(&w->sh->stopping)) {
        stop_accepting(w);
        if (w->admin_fd >= 0) {
            close(w->admin_fd);
            w->admin_fd = -1;
        }
        if (w->console_fd >= 0) {
            close(w->console_fd);
            w->console_fd = -1;
        }
    } else {
        arm_wake(w);
    }
}

static void dispatch(struct rm_worker *w, struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    enum conn_op op = tag_op(ud);
    switch (op) {
    case OP_ACCEPT: on_accept(w, cqe); return;
    case OP_TICK: on_tick(w); return;
    case OP_WAKE: on_wake(w); return;
    case OP_NONE: return;
    default: break;
    }
    uint32_t slot = tag_slot(ud);
    struct rm_conn *c = slot < w->nslots ? w->conns[slot] : NULL;
    if (!c || c->gen != tag_gen(ud)) {
        log_error("completion for a stale object (op %d slot %u): dropped", (int)op, slot);
        return;
    }
    switch (op) {
    case OP_RECV: on_recv(w, c, cqe); break;
    case OP_SEND: conn_on_sent(c, cqe->res); break;
    case OP_CONNECT: conn_on_connected(c, cqe->res); break;
    case OP_CANCEL:
    case OP_TIMEOUT: c->inflight--; break;
    default: break;
    }
}

/* Pick up the monitor's newest snapshot (one atomic load per loop turn)
 * and tell it which one this worker now uses. */
static void refresh_topology(struct rm_worker *w)
{
    const struct rm_topology *t = atomic_load(&w->sh->topo);
    if (t == w->topo)
        return;
    const struct rm_topology *old = w->topo;
    w->topo = t;
    backends_topology_changed(w, old);
    atomic_store(&w->sh->topo_seen[w->idx], t->gen);
}

/* Everything finished: no sessions, no backend conns, nothing dying. */
static bool drained(struct rm_worker *w)
{
    return link_empty(&w->sessions) && link_empty(&w->graveyard) && !pool_any_conns(w);
}

/* Graceful stop: idle sessions are closed now, busy ones when their
 * statement ends, sessions in a transaction when it ends; idle backend
 * conns are closed by the pool's maintenance pass.  A hard deadline bounds
 * the wait. */
#define STOP_DEADLINE_MS 10000

static void stop_sessions(struct rm_worker *w)
{
    struct rm_link *pos, *tmp;
    link_foreach_safe (pos, tmp, &w->sessions) {
        struct rm_session *s = link_entry(pos, struct rm_session, link);
        bool quiet = (s->state == SESS_IDLE && !s->in_trans) || s->state == SESS_HANDSHAKE ||
                     s->state == SESS_AUTH_SWITCH || s->state == SESS_WAIT;
        if (quiet || w->now_ms > w->stop_deadline_ms)
            sess_close(s, "proxy shutting down");
    }
}

void *worker_main(void *arg)
{
    struct rm_worker *w = arg;
    /* liburing 2.3 declares io_uring_enable_rings() but does not export
     * it: register IORING_REGISTER_ENABLE_RINGS directly. */
    int rc = (int)syscall(__NR_io_uring_register, w->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    if (rc < 0) {
        log_error("worker %d: enabling the ring: %s", w->idx, strerror(errno));
        return NULL;
    }
    arm_accept(w, w->listen_fd, LISTENER_CLIENT);
    if (w->reader_fd >= 0)
        arm_accept(w, w->reader_fd, LISTENER_READER);
    if (w->admin_fd >= 0)
        arm_accept(w, w->admin_fd, LISTENER_ADMIN);
    if (w->console_fd >= 0)
        arm_accept(w, w->console_fd, LISTENER_CONSOLE);
    arm_tick(w);
    arm_wake(w);
    log_info("worker %d started", w->idx);
    for (;;) {
        struct __kernel_timespec ts = {.tv_sec = 1, .tv_nsec = 0};
        struct io_uring_cqe *cqe;
        rc = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY)
            log_error("io_uring_submit_and_wait: %s", strerror(-rc));
        clock_now(w);
        refresh_topology(w);
        unsigned head, n = 0;
        io_uring_for_each_cqe (&w->ring, head, cqe) {
            dispatch(w, cqe);
            n++;
        }
        io_uring_cq_advance(&w->ring, n);
        if (atomic_load(&w->sh->stopping)) {
            if (w->stop_deadline_ms == 0)
                w->stop_deadline_ms = w->now_ms + STOP_DEADLINE_MS;
            stop_sessions(w);
        }
        if (w->kick_waiters) {
            w->kick_waiters = false;
            pool_serve_waiters(w);
        }
        conn_sweep(w);
        if (atomic_load(&w->sh->stopping) && drained(w))
            break;
    }
    log_info("worker %d stopped", w->idx);
    tls_thread_done();
    return NULL;
}

void worker_destroy(struct rm_worker *w)
{
    /* Close what is left after a deadline-forced stop. */
    struct rm_link *pos, *tmp;
    link_foreach_safe (pos, tmp, &w->sessions)
        sess_close(link_entry(pos, struct rm_session, link), "proxy stopped");
    pool_free_all(w);
    conn_sweep(w);
    pool_destroy_all(w);
    stop_accepting(w);
    if (w->admin_fd >= 0)
        close(w->admin_fd);
    if (w->console_fd >= 0)
        close(w->console_fd);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    io_uring_queue_exit(&w->ring);
    if (w->br)
        munmap(w->br, w->nbufs * sizeof(struct io_uring_buf));
    if (w->bufs && w->bufs != MAP_FAILED)
        munmap(w->bufs, (size_t)w->nbufs * w->bufsz);
    for (uint32_t i = 0; i < w->nslots; i++)
        if (w->conns[i])
            log_warn("worker %d: object in slot %u still alive at exit", w->idx, i);
    free(w->conns);
    free(w->free_slots);
    tls_ctx_free(w->tls_server);
    backends_tls_reset(w);
    for (struct rm_msg *m = atomic_exchange(&w->inbox, NULL), *next; m; m = next) {
        next = m->next;
        free(m);
    }
}
