/* Connections: buffers, in-flight accounting and completion handling
 * (include/ringmux/conn.h).  The SQEs themselves are prepared in ring.c. */
#include "ringmux/conn.h"

#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringmux/log.h"
#include "ringmux/ring.h"
#include "ringmux/tls.h"
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
    ring_recv(c);
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
    ring_cancel_recv(c);
    c->inflight++;
}

void conn_resume_recv(struct rm_conn *c)
{
    if (!c->recv_paused)
        return;
    c->recv_paused = false;
    conn_arm_recv(c);
}

static void start_send(struct rm_conn *c);

void conn_flush(struct rm_conn *c)
{
    if (c->send_inflight || c->dead || c->eof)
        return;
    start_send(c);
}

static void start_send(struct rm_conn *c)
{
    struct rm_buf *q = &c->out;
    if (c->tls) { /* the wire carries the TLS records of what is queued */
        if (tls_conn_seal(c) < 0) {
            char why[96];
            log_error("%s slot=%u: TLS encryption failed: %s", c->ops->name, c->slot,
                      tls_conn_error(c, why, sizeof(why)));
            c->eof = true;
            return;
        }
        q = tls_conn_wire(c);
    }
    if (buf_avail(q) == 0)
        return;
    /* Swap: the queued bytes become the in-flight buffer, the (empty) old
     * in-flight buffer becomes the queue. */
    struct rm_buf t = c->sending;
    c->sending = *q;
    *q = t;
    buf_reset(q);
    c->sent = 0;
    ring_send(c, buf_head(&c->sending), buf_avail(&c->sending));
    c->send_inflight = true;
    c->inflight++;
}

/* Shut the socket down: wakes the recv (and any send) in flight, which
 * complete with errors and release the conn. */
static void shut(struct rm_conn *c)
{
    if (c->shut || c->fd < 0)
        return;
    c->shut = true;
    shutdown(c->fd, SHUT_RDWR);
}

/* conn_close_flushed: how long a peer that does not take the last bytes
 * keeps the conn (checked by conn_sweep). */
#define KILL_LINGER_MS 1000

static void bury(struct rm_conn *c)
{
    c->dead = true;
    c->killed_ms = c->w->now_ms;
    link_push_back(&c->w->graveyard, &c->grave);
}

void conn_kill(struct rm_conn *c)
{
    if (c->dead)
        return;
    bury(c);
    shut(c);
}

void conn_close_flushed(struct rm_conn *c)
{
    if (c->dead)
        return;
    bury(c);
    if (c->tls && !c->eof)
        tls_conn_close_notify(c);
    if (!c->send_inflight && !c->eof)
        start_send(c);
    if (!c->send_inflight)
        shut(c);
}

/* A send completed: res bytes (or -errno).  Returns true when everything
 * queued so far has reached the kernel (the owner may want to know). */
/* Send the rest of c->sending after a partial send of res bytes; true if
 * a send is in flight again. */
static bool send_rest(struct rm_conn *c, int res)
{
    c->sent += (size_t)res;
    if (c->sent >= buf_avail(&c->sending))
        return false;
    ring_send(c, buf_head(&c->sending) + c->sent, buf_avail(&c->sending) - c->sent);
    c->send_inflight = true;
    c->inflight++;
    return true;
}

static bool conn_on_send(struct rm_conn *c, int res)
{
    c->send_inflight = false;
    c->inflight--;
    if (c->dead) { /* killed: finish its last bytes, then shut it */
        if (res > 0 && !c->shut) {
            if (send_rest(c, res))
                return false;
            buf_reset(&c->sending);
            c->sent = 0;
            start_send(c);
            if (c->send_inflight)
                return false;
        }
        buf_reset(&c->sending);
        c->sent = 0;
        shut(c);
        return false;
    }
    if (res < 0) {
        log_debug("conn slot=%u send failed: %s", c->slot, strerror(-res));
        c->eof = true;
        buf_reset(&c->sending);
        c->sent = 0;
        return false;
    }
    if (send_rest(c, res))
        return false;
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
    ring_connect(c, sa, len, timeout_ms);
    c->inflight += 2;
}

static void notify_eof(struct rm_conn *c, int err);

/* Ciphertext arrived: decrypt into c->in (sending whatever the handshake
 * answers), then offer c->in to the owner. */
static void tls_recv(struct rm_conn *c, const uint8_t *data, size_t len)
{
    bool done;
    int rc = tls_conn_feed(c, data, len, &done);
    if (!c->send_inflight)
        start_send(c); /* handshake records, alerts */
    if (done && c->ops->on_tls)
        c->ops->on_tls(c, true);
    if (c->dead)
        return;
    if (rc == -1) {
        char why[96];
        log_info("%s slot=%u: TLS failed: %s", c->ops->name, c->slot, tls_conn_error(c, why, sizeof(why)));
        if (c->ops->on_tls)
            c->ops->on_tls(c, false);
        if (!c->dead && !c->eof)
            notify_eof(c, EPROTO);
        return;
    }
    if (c->dead || c->eof)
        return;
    if (buf_avail(&c->in)) {
        size_t used = 0;
        c->ops->on_data(c, buf_head(&c->in), buf_avail(&c->in), &used);
        if (!c->dead)
            buf_consume(&c->in, used);
    }
    if (!c->dead && buf_avail(&c->in) == 0 && !c->ops->keep_buffers)
        buf_free(&c->in);                /* decryption reserves a record's room: idle clients give it back */
    if (rc == -2 && !c->dead && !c->eof) /* close_notify: the peer is done */
        notify_eof(c, 0);
}

static void plain_recv(struct rm_conn *c, const uint8_t *data, size_t len);

int conn_start_tls(struct rm_conn *c, struct rm_tls_ctx *x, const char *host)
{
    if (tls_conn_start(c, x, host) < 0)
        return -1;
    if (!tls_ctx_is_server(x)) /* client side: our ClientHello goes first */
        tls_recv(c, NULL, 0);
    return 0;
}

/* Feed received bytes to the conn's owner (through TLS when it runs). */
void conn_on_recv(struct rm_conn *c, const uint8_t *data, size_t len)
{
    if (c->dead || c->eof)
        return;
    if (c->tls) {
        tls_recv(c, data, len);
        return;
    }
    plain_recv(c, data, len);
    if (c->tls && !c->dead && !c->eof && buf_avail(&c->in)) {
        /* The owner started TLS (an SSL request): the bytes after it are
         * the peer's first TLS records. */
        struct rm_buf early = c->in;
        memset(&c->in, 0, sizeof(c->in));
        tls_recv(c, buf_head(&early), buf_avail(&early));
        buf_free(&early);
    }
}

/* Plaintext: straight from the ring buffer when nothing is pending, else
 * after the bytes already buffered. */
static void plain_recv(struct rm_conn *c, const uint8_t *data, size_t len)
{
    size_t used = 0;
    if (buf_avail(&c->in) == 0) {
        c->ops->on_data(c, data, len, &used);
        if (!c->dead && used < len && buf_append(&c->in, data + used, len - used) < 0) {
            log_error("out of memory buffering input");
            c->eof = true;
        }
        return;
    }
    if (buf_append(&c->in, data, len) < 0) {
        log_error("out of memory buffering input");
        c->eof = true;
        return;
    }
    c->ops->on_data(c, buf_head(&c->in), buf_avail(&c->in), &used);
    if (!c->dead)
        buf_consume(&c->in, used);
}

static void notify_eof(struct rm_conn *c, int err)
{
    c->eof = true;
    c->ops->on_eof(c, err);
}

void conn_on_eof(struct rm_conn *c, int err)
{
    if (!c->dead && !c->eof)
        notify_eof(c, err);
}

void conn_on_sent(struct rm_conn *c, int res)
{
    bool drained = conn_on_send(c, res);
    if (c->dead)
        return;
    if (res < 0) {
        notify_eof(c, -res);
        return;
    }
    c->ops->on_flushed(c, drained);
}

void conn_on_connected(struct rm_conn *c, int res)
{
    c->inflight--;
    if (!c->dead)
        c->ops->on_connect(c, res);
}

void conn_sweep(struct rm_worker *w)
{
    struct rm_link *pos, *tmp;
    link_foreach_safe (pos, tmp, &w->graveyard) {
        struct rm_conn *c = link_entry(pos, struct rm_conn, grave);
        if (c->inflight > 0) {
            if (!c->shut && w->now_ms - c->killed_ms >= KILL_LINGER_MS)
                shut(c); /* its last send is stuck: give up on it */
            continue;
        }
        link_remove(&c->grave);
        w->conns[c->slot] = NULL;
        w->free_slots[w->nfree++] = c->slot;
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        buf_free(&c->in);
        buf_free(&c->out);
        buf_free(&c->sending);
        tls_conn_free(c);
        c->ops->free(c);
    }
}
