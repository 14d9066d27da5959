/* A minimal MySQL client over wolfSSL for bench/churn --tls: TCP connect,
 * greeting, SSL request, TLS handshake, HandshakeResponse41 with
 * mysql_native_password (an auth switch to it is followed), COM_QUERY with
 * a text result set, COM_QUIT.  Blocking sockets (one thread per client),
 * packets below 16 MiB.  Errors carry libmariadb's client error codes so
 * they group with the libmariadb mode's. */
#ifndef RINGMUX_BENCH_TLS_CLIENT_H
#define RINGMUX_BENCH_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

/* Where to connect and as whom. */
struct tc_target {
    struct sockaddr_storage addr; /* resolved once */
    socklen_t addr_len;
    const char *host, *user, *password, *db;
};

/* One connection's protocol state; the buffers live as long as the thread
 * and are reused by every connection it makes. */
struct tconn {
    int fd;
    WOLFSSL *ssl; /* NULL until the TLS handshake starts */
    uint8_t seq;  /* next sequence id, read or written */
    unsigned char rbuf[16384];
    size_t rpos, rlen;  /* unread bytes are rbuf[rpos..rlen) */
    unsigned char *pkt; /* payload of the last packet read */
    size_t pkt_len, pkt_cap;
    unsigned char *wbuf; /* packet being built: 4 header bytes + payload */
    size_t wlen, wcap;
    bool woom;         /* an append to wbuf ran out of memory */
    unsigned err_code; /* set by tc_fail */
    bool server_err;   /* the failure is the server's ERR packet */
    char err[200];
};

/* Greeting (plain), SSL request, TLS handshake (offering sess if not NULL),
 * HandshakeResponse41, authentication: 0 once the server said OK, or -1
 * with c->err_code / c->err set. */
int tc_connect(struct tconn *c, const struct tc_target *o, WOLFSSL_CTX *ctx, WOLFSSL_SESSION *sess);
/* COM_QUERY q and read its result to the end: 0, or -1 (c->server_err
 * when the server answered ERR and the session is still in step). */
int tc_query(struct tconn *c, const char *q);
/* COM_QUIT if quit, then close. */
void tc_close(struct tconn *c, bool quit);
/* A client context for one thread: TLS 1.2+, no verification, no session
 * cache (sessions are kept by hand), X25519 first. */
WOLFSSL_CTX *tc_thread_ctx(void);

#endif
