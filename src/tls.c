/* TLS on a conn, wolfSSL over memory buffers (include/ringmux/tls.h). */
#include "ringmux/tls.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include "ringmux/config.h"
#include "ringmux/conn.h"
#include "ringmux/log.h"

struct rm_tls_ctx {
    WOLFSSL_CTX *ctx;
    bool server;
    bool check_host; /* client: the certificate must name the host dialled */
};

struct rm_tls {
    WOLFSSL *ssl;
    struct rm_buf cin;  /* ciphertext received and not yet read by wolfSSL */
    struct rm_buf cout; /* ciphertext wolfSSL wrote, waiting for conn.c to send it */
    bool server;
    bool ready;     /* handshake done */
    bool ticket_ok; /* the client's session ticket opened: a resumption (TLS 1.2 does not say otherwise) */
    int err;        /* wolfSSL error code of the failure */
};

/* ---- process-wide: library and ticket key ------------------------------- */

#define TICKET_NAME_LEN 16
static uint8_t ticket_name[TICKET_NAME_LEN];
static uint8_t ticket_key[CHACHA20_POLY1305_AEAD_KEYSIZE];
static bool init_ok;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void tls_init(void)
{
    /* Written once, before any worker runs, and only read afterwards. */
    if (wolfSSL_Init() != WOLFSSL_SUCCESS)
        return;
    if (getrandom(ticket_name, sizeof(ticket_name), 0) != (ssize_t)sizeof(ticket_name) ||
        getrandom(ticket_key, sizeof(ticket_key), 0) != (ssize_t)sizeof(ticket_key))
        return;
    init_ok = true;
}

/* Seal (enc) or open a session ticket: ChaCha20-Poly1305 under the process
 * key; the key name says which key, iv is random, the tag goes in mac. */
static int ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                     unsigned char iv[WOLFSSL_TICKET_IV_SZ], unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc,
                     unsigned char *state, int len, int *out_len, void *arg)
{
    (void)arg;
    uint8_t aad[WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ + 4];
    if (len < 0)
        return WOLFSSL_TICKET_RET_REJECT;
    if (enc) {
        memcpy(key_name, ticket_name, TICKET_NAME_LEN);
        if (getrandom(iv, WOLFSSL_TICKET_IV_SZ, 0) != WOLFSSL_TICKET_IV_SZ)
            return WOLFSSL_TICKET_RET_FATAL;
    } else if (memcmp(key_name, ticket_name, TICKET_NAME_LEN) != 0) {
        return WOLFSSL_TICKET_RET_REJECT; /* an older process's ticket: full handshake */
    }
    memcpy(aad, key_name, WOLFSSL_TICKET_NAME_SZ);
    memcpy(aad + WOLFSSL_TICKET_NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
    uint32_t l = (uint32_t)len;
    memcpy(aad + WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ, &l, 4);
    int rc;
    if (enc) {
        rc = wc_ChaCha20Poly1305_Encrypt(ticket_key, iv, aad, sizeof(aad), state, (word32)len, state, mac);
        memset(mac + CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE, 0,
               WOLFSSL_TICKET_MAC_SZ - CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE);
    } else {
        rc = wc_ChaCha20Poly1305_Decrypt(ticket_key, iv, aad, sizeof(aad), state, (word32)len, mac, state);
    }
    if (rc != 0)
        return enc ? WOLFSSL_TICKET_RET_FATAL : WOLFSSL_TICKET_RET_REJECT;
    struct rm_tls *t = wolfSSL_get_app_data(ssl);
    if (!enc && t)
        t->ticket_ok = true;
    *out_len = len;
    return WOLFSSL_TICKET_RET_OK;
}

/* ---- IO callbacks: the two buffers ------------------------------------- */

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
    (void)ssl;
    struct rm_tls *t = arg;
    size_t n = buf_avail(&t->cin);
    if (n == 0)
        return WOLFSSL_CBIO_ERR_WANT_READ;
    if (n > (size_t)sz)
        n = (size_t)sz;
    memcpy(buf, buf_head(&t->cin), n);
    buf_consume(&t->cin, n);
    return (int)n;
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
    (void)ssl;
    struct rm_tls *t = arg;
    if (buf_append(&t->cout, buf, (size_t)sz) < 0)
        return WOLFSSL_CBIO_ERR_GENERAL;
    return sz;
}

/* ---- contexts ----------------------------------------------------------- */

static const char *wolf_reason(int rc, char *buf, size_t len)
{
    char tmp[WOLFSSL_MAX_ERROR_SZ];
    wolfSSL_ERR_error_string_n((unsigned long)(rc < 0 ? -rc : rc), tmp, sizeof(tmp));
    snprintf(buf, len, "%s", tmp);
    return buf;
}

/* A context with ringmux's IO callbacks, or NULL with err filled. */
static struct rm_tls_ctx *ctx_new(bool server, char *err, size_t errlen)
{
    pthread_once(&init_once, tls_init);
    if (!init_ok) {
        snprintf(err, errlen, "TLS: cannot initialise wolfSSL or its random key");
        return NULL;
    }
    struct rm_tls_ctx *x = calloc(1, sizeof(*x));
    if (!x || !(x->ctx = wolfSSL_CTX_new(server ? wolfSSLv23_server_method() : wolfSSLv23_client_method()))) {
        snprintf(err, errlen, "TLS: out of memory");
        free(x);
        return NULL;
    }
    x->server = server;
    wolfSSL_CTX_SetIORecv(x->ctx, io_recv);
    wolfSSL_CTX_SetIOSend(x->ctx, io_send);
    return x;
}

/* Load a certificate chain and its key: 0, or -1 with err naming them. */
static int use_pair(WOLFSSL_CTX *ctx, const char *sec, const char *cert_path, const struct rm_pem *cert,
                    const char *key_path, const struct rm_pem *key, char *err, size_t errlen)
{
    char why[WOLFSSL_MAX_ERROR_SZ];
    int rc = wolfSSL_CTX_use_certificate_chain_buffer(ctx, cert->data, (long)cert->len);
    if (rc != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "[%s] tls_cert %s: not a usable PEM certificate (%s)", sec, cert_path,
                 wolf_reason(rc, why, sizeof(why)));
        return -1;
    }
    rc = wolfSSL_CTX_use_PrivateKey_buffer(ctx, key->data, (long)key->len, WOLFSSL_FILETYPE_PEM);
    if (rc != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "[%s] tls_key %s: not a usable PEM private key (%s)", sec, key_path,
                 wolf_reason(rc, why, sizeof(why)));
        return -1;
    }
    if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "[%s] tls_key %s: does not match the certificate in tls_cert %s", sec, key_path,
                 cert_path);
        return -1;
    }
    return 0;
}

static int use_ca(WOLFSSL_CTX *ctx, const char *sec, const char *path, const struct rm_pem *ca, char *err,
                  size_t errlen)
{
    char why[WOLFSSL_MAX_ERROR_SZ];
    int rc = wolfSSL_CTX_load_verify_buffer(ctx, ca->data, (long)ca->len, WOLFSSL_FILETYPE_PEM);
    if (rc != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "[%s] tls_ca %s: no usable PEM CA certificate (%s)", sec, path,
                 wolf_reason(rc, why, sizeof(why)));
        return -1;
    }
    return 0;
}

struct rm_tls_ctx *tls_server_ctx_new(const struct rm_config *c, char *err, size_t errlen)
{
    struct rm_tls_ctx *x = ctx_new(true, err, errlen);
    if (!x)
        return NULL;
    WOLFSSL_CTX *ctx = x->ctx;
    if (wolfSSL_CTX_SetMinVersion(ctx, c->tls_min_version ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
        snprintf(err, errlen, "[tls] min_version: not supported by this wolfSSL");
        goto fail;
    }
    if (use_pair(ctx, "tls", c->tls_cert, &c->tls_cert_pem, c->tls_key, &c->tls_key_pem, err, errlen) < 0)
        goto fail;
    if (c->tls_ca) {
        if (use_ca(ctx, "tls", c->tls_ca, &c->tls_ca_pem, err, errlen) < 0)
            goto fail;
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    } else {
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
    }
    /* Resumption by tickets only: wolfSSL's session cache is one table
     * shared by every thread behind a lock. */
    wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    wolfSSL_CTX_set_TicketEncCb(ctx, ticket_cb);
    wolfSSL_CTX_set_TicketHint(ctx, 3600);
    return x;
fail:
    tls_ctx_free(x);
    return NULL;
}

struct rm_tls_ctx *tls_client_ctx_new(const struct rm_backend_cfg *b, const char *sec, char *err, size_t errlen)
{
    struct rm_tls_ctx *x = ctx_new(false, err, errlen);
    if (!x)
        return NULL;
    WOLFSSL_CTX *ctx = x->ctx;
    wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2);
    wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    if (b->tls_cert && use_pair(ctx, sec, b->tls_cert, &b->tls_cert_pem, b->tls_key, &b->tls_key_pem, err, errlen) < 0)
        goto fail;
    if (b->tls >= BACKEND_TLS_VERIFY_CA) {
        if (use_ca(ctx, sec, b->tls_ca, &b->tls_ca_pem, err, errlen) < 0)
            goto fail;
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
        x->check_host = b->tls == BACKEND_TLS_VERIFY_IDENTITY;
    } else {
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
    }
    return x;
fail:
    tls_ctx_free(x);
    return NULL;
}

void tls_ctx_free(struct rm_tls_ctx *x)
{
    if (!x)
        return;
    wolfSSL_CTX_free(x->ctx); /* connections made from it keep their reference */
    free(x);
}

void tls_thread_done(void)
{
    wc_ecc_fp_free(); /* FP_ECC: a per-thread table of precomputed points */
}

bool tls_ctx_is_server(const struct rm_tls_ctx *x)
{
    return x->server;
}

/* ---- per connection ----------------------------------------------------- */

int tls_conn_start(struct rm_conn *c, struct rm_tls_ctx *x, const char *host)
{
    struct rm_tls *t = calloc(1, sizeof(*t));
    if (!t || !(t->ssl = wolfSSL_new(x->ctx))) {
        free(t);
        return -1;
    }
    wolfSSL_SetIOReadCtx(t->ssl, t);
    wolfSSL_SetIOWriteCtx(t->ssl, t);
    wolfSSL_set_app_data(t->ssl, t); /* for the ticket callback */
    t->server = x->server;
    if (!x->server && host && *host) {
        struct in6_addr a;
        bool numeric = inet_pton(AF_INET, host, &a) == 1 || inet_pton(AF_INET6, host, &a) == 1;
        if (!numeric) /* SNI carries names only */
            wolfSSL_UseSNI(t->ssl, WOLFSSL_SNI_HOST_NAME, host, (unsigned short)strlen(host));
        if (x->check_host && wolfSSL_check_domain_name(t->ssl, host) != WOLFSSL_SUCCESS) {
            wolfSSL_free(t->ssl);
            free(t);
            return -1;
        }
    }
    /* What was queued before TLS started goes out in the clear. */
    if (buf_avail(&c->out) && buf_append(&t->cout, buf_head(&c->out), buf_avail(&c->out)) < 0) {
        wolfSSL_free(t->ssl);
        free(t);
        return -1;
    }
    buf_reset(&c->out);
    c->tls = t;
    return 0;
}

void tls_conn_free(struct rm_conn *c)
{
    struct rm_tls *t = c->tls;
    if (!t)
        return;
    wolfSSL_free(t->ssl);
    buf_free(&t->cin);
    buf_free(&t->cout);
    free(t);
    c->tls = NULL;
}

static int feed(struct rm_conn *c, struct rm_tls *t, bool *handshake_done);

/* Bytes wolfSSL_read asks for at a time: one TLS record's plaintext. */
#define READ_CHUNK 16384

int tls_conn_feed(struct rm_conn *c, const uint8_t *data, size_t len, bool *handshake_done)
{
    struct rm_tls *t = c->tls;
    *handshake_done = false;
    if (buf_append(&t->cin, data, len) < 0) {
        t->err = MEMORY_E;
        return -1;
    }
    int rc = feed(c, t, handshake_done);
    if (buf_avail(&t->cin) == 0 && !c->ops->keep_buffers)
        buf_free(&t->cin); /* idle clients hold no buffer memory */
    return rc;
}

/* Run the handshake, then read every record wolfSSL can decrypt. */
static int feed(struct rm_conn *c, struct rm_tls *t, bool *handshake_done)
{
    if (!t->ready) {
        int r = t->server ? wolfSSL_accept(t->ssl) : wolfSSL_connect(t->ssl);
        if (r != WOLFSSL_SUCCESS) {
            int e = wolfSSL_get_error(t->ssl, r);
            if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
                return 0;
            t->err = e;
            return -1;
        }
        t->ready = true;
        *handshake_done = true;
    }
    for (;;) {
        uint8_t *dst = buf_reserve(&c->in, READ_CHUNK);
        if (!dst) {
            t->err = MEMORY_E;
            return -1;
        }
        int n = wolfSSL_read(t->ssl, dst, READ_CHUNK);
        if (n > 0) {
            c->in.len += (size_t)n;
            continue;
        }
        int e = wolfSSL_get_error(t->ssl, n);
        if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
            return 0;
        if (e == WOLFSSL_ERROR_ZERO_RETURN)
            return -2;
        t->err = e;
        return -1;
    }
}

int tls_conn_seal(struct rm_conn *c)
{
    struct rm_tls *t = c->tls;
    size_t n = buf_avail(&c->out);
    if (!t->ready || n == 0)
        return 0;
    while (n > 0) { /* wolfSSL_write takes an int: feed it in slices */
        int part = n > (1u << 30) ? (1 << 30) : (int)n;
        int r = wolfSSL_write(t->ssl, buf_head(&c->out), part);
        if (r <= 0) {
            t->err = wolfSSL_get_error(t->ssl, r);
            return -1;
        }
        buf_consume(&c->out, (size_t)r);
        n -= (size_t)r;
    }
    if (!c->ops->keep_buffers)
        buf_free(&c->out); /* idle clients hold no buffer memory */
    return 0;
}

void tls_conn_close_notify(struct rm_conn *c)
{
    struct rm_tls *t = c->tls;
    if (!t || !t->ready)
        return;
    if (tls_conn_seal(c) == 0)
        wolfSSL_shutdown(t->ssl); /* writes the alert; the peer's reply is not awaited */
}

struct rm_buf *tls_conn_wire(struct rm_conn *c)
{
    return &c->tls->cout;
}

bool tls_conn_ready(const struct rm_conn *c)
{
    return c->tls && c->tls->ready;
}

bool tls_conn_resumed(const struct rm_conn *c)
{
    return c->tls && c->tls->ready && (c->tls->ticket_ok || wolfSSL_session_reused(c->tls->ssl));
}

const char *tls_conn_error(const struct rm_conn *c, char *buf, size_t len)
{
    return wolf_reason(c->tls ? c->tls->err : 0, buf, len);
}

const char *tls_conn_describe(const struct rm_conn *c, char *buf, size_t len)
{
    if (!c->tls || !c->tls->ready) {
        snprintf(buf, len, "no TLS");
        return buf;
    }
    WOLFSSL *ssl = c->tls->ssl;
    snprintf(buf, len, "%s %s%s", wolfSSL_get_version(ssl), wolfSSL_get_cipher_name(ssl),
             tls_conn_resumed(c) ? " resumed" : "");
    return buf;
}
