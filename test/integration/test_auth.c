/* Logins beyond a password: token logins and caching_sha2_password full
 * authentication, both towards clients and towards a MySQL 8 backend.
 *
 *   - tokens (`ringmux token`): a valid one logs in over TLS with
 *     mysql_clear_password (the stock client and libmariadb); over
 *     plaintext it is refused; expired, tampered, made for another user,
 *     or signed with a key not in [token_keys]: refused (and counted);
 *   - key rotation by SIGHUP: with k1 and k2 listed both sign valid
 *     tokens; once k1 is dropped its tokens are refused while sessions
 *     logged in with them carry on;
 *   - clients with caching_sha2_password: the fast path, then full
 *     authentication when the proof is not the password (a token): inside
 *     TLS in the clear, without TLS RSA-encrypted with [tls]
 *     server_public_key; without that key, refused with a message;
 *   - the backend side, against a scripted MySQL 8 front
 *     (fake_mysql8.py) whose cache is empty, as after a restart: the
 *     proxy's logins need full authentication and pass with [backend] tls
 *     or server_public_key, fail clearly with neither; a cache flush
 *     (SIGUSR1) in the middle: the next backend connection does it again. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char certs[160];
static char secrets[200];

static const char *cert(const char *name)
{
    static char path[8][240];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", certs, name);
    return p;
}

static void write_secrets(const char *keys_lines)
{
    FILE *f = fopen(secrets, "w");
    if (!f) {
        IT_FAIL("cannot write %s", secrets);
        return;
    }
    fprintf(f, "[token_keys]\n%s", keys_lines);
    fclose(f);
    chmod(secrets, 0600);
}

#define K1 "k1 = 1111111111111111111111111111111111111111111111111111111111111111\n"
#define K2 "k2 = 2222222222222222222222222222222222222222222222222222222222222222\n"
#define K3 "k3 = 3333333333333333333333333333333333333333333333333333333333333333\n"

/* `ringmux token` against ini: the token (last line), "" on failure. */
static void make_token(const char *ini, const char *user, const char *ttl, const char *key, char *tok, size_t len)
{
    char cmd[800], out[2048];
    snprintf(cmd, sizeof cmd, "%s token -c %s --user %s --ttl %s %s%s 2>&1", RINGMUX_BIN, ini, user, ttl,
             key ? "--key " : "", key ? key : "");
    tok[0] = '\0';
    if (it_shell(cmd, out, sizeof out) != 0) {
        IT_FAIL("ringmux token failed: %s", out);
        return;
    }
    char *last = out, *nl;
    while ((nl = strchr(last, '\n')) && nl[1])
        last = nl + 1;
    snprintf(tok, len, "%.*s", (int)strcspn(last, "\n"), last);
    IT_CHECK(strncmp(tok, "rmt1.", 5) == 0, "not a token: %s", out);
}

enum { PLAIN, TLS };
enum { CLEAR, SHA2, NATIVE };

/* Log in as user with pw; NULL and e filled when refused. */
static MYSQL *login(struct it_proxy *P, const char *user, const char *pw, int tls, int plugin, bool rsa_key,
                    struct it_error *e)
{
    MYSQL *m = mysql_init(NULL);
    unsigned int timeout = 10, tcp = MYSQL_PROTOCOL_TCP;
    my_bool yes = 1, no = 0;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_PROTOCOL, &tcp);
    mysql_options(m, MYSQL_OPT_SSL_ENFORCE, tls == TLS ? &yes : &no);
    if (plugin == CLEAR) { /* the password (token) as it is, in the first packet */
        mysql_options(m, MYSQL_ENABLE_CLEARTEXT_PLUGIN, &yes);
        mysql_options(m, MYSQL_DEFAULT_AUTH, "mysql_clear_password");
    } else if (plugin == SHA2) {
        mysql_options(m, MYSQL_DEFAULT_AUTH, "caching_sha2_password");
        if (rsa_key)
            mysql_options(m, MYSQL_SERVER_PUBLIC_KEY, cert("rsa-public.pem"));
    }
    if (!mysql_real_connect(m, P->host, user, pw, IT_DB, (unsigned)P->port, NULL, 0)) {
        if (e)
            it_error_get(m, e);
        mysql_close(m);
        return NULL;
    }
    return m;
}

static void must_login(struct it_proxy *P, const char *user, const char *pw, int tls, int plugin, bool rsa_key,
                       const char *what)
{
    struct it_error e = {0};
    MYSQL *m = login(P, user, pw, tls, plugin, rsa_key, &e);
    if (!m) {
        IT_FAIL("%s: refused: %u %s", what, e.code, e.message);
        return;
    }
    IT_EQ_INT(it_scalar_int(m, "SELECT 6 * 7"), 42);
    mysql_close(m);
}

static void must_fail(struct it_proxy *P, const char *user, const char *pw, int tls, int plugin, bool rsa_key,
                      const char *needle, const char *what)
{
    struct it_error e = {0};
    MYSQL *m = login(P, user, pw, tls, plugin, rsa_key, &e);
    if (m) {
        IT_FAIL("%s: logged in, expected a refusal", what);
        mysql_close(m);
        return;
    }
    fprintf(stderr, "%s: refused as expected: %u %s\n", what, e.code, e.message);
    if (needle)
        IT_CHECK(strstr(e.message, needle) != NULL, "%s: \"%s\" does not say \"%s\"", what, e.message, needle);
}

static int start_proxy(struct it_proxy *P, bool rsa)
{
    char ini[1200];
    snprintf(ini, sizeof ini, "[tls]\ntls_cert = %s\ntls_key = %s\nsecrets_file = %s\n", cert("server.pem"),
             cert("server.key"), secrets);
    if (rsa)
        snprintf(ini + strlen(ini), sizeof ini - strlen(ini), "server_public_key = %s\nserver_private_key = %s\n",
                 cert("rsa-public.pem"), cert("rsa-private.pem"));
    return it_proxy_start_ex(P, ini, NULL);
}

static void test_tokens(void)
{
    write_secrets(K1);
    struct it_proxy P;
    if (start_proxy(&P, false) != 0) {
        IT_FAIL("tokens: proxy did not start");
        return;
    }
    char tok[256], other[256], bad[256];
    make_token(P.ini, IT_USER, "15m", NULL, tok, sizeof tok);
    must_login(&P, IT_USER, tok, TLS, CLEAR, false, "token, TLS, mysql_clear_password");
    must_login(&P, IT_USER, tok, TLS, NATIVE, false, "token, TLS, switched to mysql_clear_password");
    must_login(&P, IT_USER, IT_PASSWORD, TLS, NATIVE, false, "password still works");
    must_fail(&P, IT_USER, tok, PLAIN, NATIVE, false, NULL, "token over plaintext");
    must_fail(&P, IT_USER, tok, PLAIN, CLEAR, false, "only accepted over TLS", "cleartext over plaintext");
    /* The stock client. */
    char cmd[1200], out[4096];
    snprintf(cmd, sizeof cmd,
             "mariadb -h127.0.0.1 -P%d -u%s -p'%s' --ssl --enable-cleartext-plugin -N -e \"SELECT 'cli-token'\" "
             "%s 2>&1",
             P.port, IT_USER, tok, IT_DB);
    IT_CHECK(it_shell(cmd, out, sizeof out) == 0 && strstr(out, "cli-token"), "mariadb CLI with a token: %s", out);
    /* Tampered: one character of the signature changed. */
    snprintf(bad, sizeof bad, "%s", tok);
    bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
    must_fail(&P, IT_USER, bad, TLS, CLEAR, false, NULL, "tampered token");
    /* Made for another user. */
    make_token(P.ini, IT_USER2, "15m", NULL, other, sizeof other);
    must_fail(&P, IT_USER, other, TLS, CLEAR, false, NULL, "token of another user");
    must_login(&P, IT_USER2, other, TLS, CLEAR, false, "that user's own token");
    /* Expired. */
    make_token(P.ini, IT_USER, "1s", NULL, bad, sizeof bad);
    it_usleep(2100000);
    must_fail(&P, IT_USER, bad, TLS, CLEAR, false, NULL, "expired token");
    /* Signed with a key the proxy does not list. */
    char ini3[300];
    snprintf(ini3, sizeof ini3, "%s.k3.ini", secrets);
    char sec3[300];
    snprintf(sec3, sizeof sec3, "%s.k3", secrets);
    FILE *f = fopen(sec3, "w");
    if (f) {
        fputs("[token_keys]\n" K3, f);
        fclose(f);
        chmod(sec3, 0600);
    }
    f = fopen(ini3, "w");
    if (f) {
        fprintf(f, "[backend]\naddress = 127.0.0.1:1\n[tls]\nsecrets_file = %s\n[users]\n%s = x\n", sec3, IT_USER);
        fclose(f);
    }
    make_token(ini3, IT_USER, "15m", NULL, bad, sizeof bad);
    must_fail(&P, IT_USER, bad, TLS, CLEAR, false, NULL, "token signed with an unknown key");
    unlink(ini3);
    unlink(sec3);
    IT_EQ_INT((long)it_metric(&P, "ringmux_token_logins_total"), 4);
    IT_EQ_INT((long)it_metric(&P, "ringmux_token_refused_total"), 4);
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

static void test_rotation(void)
{
    write_secrets(K1);
    struct it_proxy P;
    if (start_proxy(&P, false) != 0) {
        IT_FAIL("rotation: proxy did not start");
        return;
    }
    char t1[256], t2[256];
    make_token(P.ini, IT_USER, "15m", NULL, t1, sizeof t1);
    MYSQL *kept = login(&P, IT_USER, t1, TLS, CLEAR, false, NULL);
    IT_CHECK(kept != NULL, "k1 token before the rotation");
    /* Add k2 (listed last: `ringmux token` signs with it from now on). */
    write_secrets(K1 K2);
    it_proxy_signal(&P, SIGHUP);
    it_usleep(500000);
    make_token(P.ini, IT_USER, "15m", NULL, t2, sizeof t2);
    IT_CHECK(strncmp(t2, "rmt1.k2.", 8) == 0, "the new key does not sign: %s", t2);
    must_login(&P, IT_USER, t1, TLS, CLEAR, false, "k1 token during the rotation");
    must_login(&P, IT_USER, t2, TLS, CLEAR, false, "k2 token during the rotation");
    /* Drop k1. */
    write_secrets(K2);
    it_proxy_signal(&P, SIGHUP);
    it_usleep(500000);
    must_fail(&P, IT_USER, t1, TLS, CLEAR, false, NULL, "k1 token after k1 was dropped");
    must_login(&P, IT_USER, t2, TLS, CLEAR, false, "k2 token after the rotation");
    if (kept) { /* logged in with a k1 token: carries on */
        IT_EQ_INT(it_scalar_int(kept, "SELECT 11"), 11);
        mysql_close(kept);
    }
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

static void test_sha2_clients(void)
{
    write_secrets(K1);
    struct it_proxy P;
    if (start_proxy(&P, true) != 0) {
        IT_FAIL("sha2: proxy did not start");
        return;
    }
    char tok[256];
    make_token(P.ini, IT_USER, "15m", NULL, tok, sizeof tok);
    must_login(&P, IT_USER, IT_PASSWORD, PLAIN, SHA2, false, "caching_sha2 fast path, plaintext");
    must_login(&P, IT_USER, IT_PASSWORD, TLS, SHA2, false, "caching_sha2 fast path, TLS");
    IT_EQ_INT((long)it_metric(&P, "ringmux_client_full_auth_total"), 0);
    must_login(&P, IT_USER, tok, TLS, SHA2, false, "caching_sha2 full auth inside TLS (token)");
    must_login(&P, IT_USER, tok, PLAIN, SHA2, false, "caching_sha2 full auth with RSA, key fetched (token)");
    must_login(&P, IT_USER, tok, PLAIN, SHA2, true, "caching_sha2 full auth with RSA, key pinned (token)");
    must_fail(&P, IT_USER, "wrong", PLAIN, SHA2, false, NULL, "caching_sha2 wrong password");
    IT_CHECK(it_metric(&P, "ringmux_client_full_auth_total") >= 4, "full authentications not counted");
    IT_EQ_INT(it_proxy_stop(&P), 0);
    /* No RSA key and no TLS: full authentication cannot happen. */
    if (start_proxy(&P, false) != 0) {
        IT_FAIL("sha2 without RSA: proxy did not start");
        return;
    }
    /* libmariadb reports its own 2061 when the key it asked for does not come. */
    must_fail(&P, IT_USER, tok, PLAIN, SHA2, false, "RSA public key", "full auth without TLS or RSA key");
    must_login(&P, IT_USER, IT_PASSWORD, PLAIN, SHA2, false, "fast path without RSA key");
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

/* ---- a MySQL 8 backend ---------------------------------------------------- */

static pid_t fake_pid;
static int fake_port;

static bool fake_start(void)
{
    char port_file[240];
    snprintf(port_file, sizeof port_file, "%s/fake8.port", certs);
    unlink(port_file);
    char backend[64];
    snprintf(backend, sizeof backend, "%s:%d", it_backend_host(), it_backend_port());
    fake_pid = fork();
    if (fake_pid == 0) {
        execlp("python3", "python3", RINGMUX_SOURCE_DIR "/test/integration/fake_mysql8.py", "--backend", backend,
               "--cert", cert("server.pem"), "--key", cert("server.key"), "--rsa-public", cert("rsa-public.pem"),
               "--rsa-private", cert("rsa-private.pem"), "--port-file", port_file, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            int ok = fscanf(f, "%d", &fake_port) == 1;
            fclose(f);
            if (ok)
                return true;
        }
        it_usleep(100000);
    }
    IT_FAIL("the fake MySQL 8 server did not start");
    return false;
}

static void fake_stop(void)
{
    if (fake_pid > 0) {
        kill(fake_pid, SIGTERM);
        waitpid(fake_pid, NULL, 0);
        fake_pid = 0;
    }
}

/* Full authentications the fake has seen. */
static int fake_full(void)
{
    char path[260];
    snprintf(path, sizeof path, "%s/fake8.port.stats", certs);
    FILE *f = fopen(path, "r");
    int full = -1, fast = -1;
    if (f) {
        if (fscanf(f, "full %d fast %d", &full, &fast) != 2)
            full = -1;
        fclose(f);
    }
    return full;
}

static int start_mysql8_proxy(struct it_proxy *P, const char *lines)
{
    char be[800];
    /* The monitor logs in as another user, so rmtest's first login is the proxy's. */
    snprintf(be, sizeof be, "[backend]\naddress = 127.0.0.1:%d\n%s[monitor]\nuser = %s\n", fake_port, lines, IT_USER2);
    return it_proxy_start_full(P, NULL, be, "connection_borrow_timeout = 3s\n");
}

static void test_mysql8_backend(void)
{
    if (!fake_start())
        return;
    struct it_proxy P;
    char lines[400];
    static const char *const how[] = {"tls = on", "server_public_key"};
    for (int i = 0; i < 2; i++) {
        kill(fake_pid, SIGUSR1); /* an empty cache, as after a server restart */
        it_usleep(100000);
        if (i == 0)
            snprintf(lines, sizeof lines, "tls = on\n");
        else
            snprintf(lines, sizeof lines, "server_public_key = %s\n", cert("rsa-public.pem"));
        if (start_mysql8_proxy(&P, lines) != 0) {
            IT_FAIL("mysql8 %s: proxy did not start", how[i]);
            continue;
        }
        int before = fake_full();
        MYSQL *a = it_connect_proxy(&P, IT_DB);
        if (a) {
            char v[64];
            it_scalar(a, "SELECT @@version", v, sizeof v);
            IT_EQ_INT(it_scalar_int(a, "SELECT 1 + 2"), 3);
            it_query(a, "BEGIN"); /* holds its backend connection */
        }
        IT_CHECK(it_metric(&P, "ringmux_backend_full_auth_total") >= 1, "%s: no full authentication by the proxy",
                 how[i]);
        IT_CHECK(fake_full() > before, "%s: the fake saw no full authentication", how[i]);
        /* The server "restarts" its cache: the next backend login does it again. */
        kill(fake_pid, SIGUSR1);
        it_usleep(100000);
        double n = it_metric(&P, "ringmux_backend_full_auth_total");
        MYSQL *b = it_connect_proxy(&P, IT_DB);
        if (b) {
            it_query(b, "BEGIN"); /* a second backend connection */
            IT_EQ_INT(it_scalar_int(b, "SELECT 5"), 5);
            it_query(b, "COMMIT");
            mysql_close(b);
        }
        IT_CHECK(it_metric(&P, "ringmux_backend_full_auth_total") > n, "%s: the second login was not full", how[i]);
        if (a) {
            it_query(a, "COMMIT");
            mysql_close(a);
        }
        IT_EQ_INT(it_proxy_stop(&P), 0);
    }
    /* Neither TLS nor the server's key: a clear refusal. */
    kill(fake_pid, SIGUSR1);
    it_usleep(100000);
    if (start_mysql8_proxy(&P, "") == 0) {
        struct it_error e = {0};
        IT_EQ_INT(it_connect_error(P.host, P.port, IT_USER, IT_PASSWORD, IT_DB, &e), 0);
        fprintf(stderr, "mysql8 without TLS or key: %u %s\n", e.code, e.message);
        IT_CHECK(strstr(e.message, "server_public_key") != NULL, "no hint in: %s", e.message);
        IT_EQ_INT(it_proxy_stop(&P), 0);
    }
    fake_stop();
}

int main(int argc, char **argv)
{
    it_watchdog(300);
    if (it_direct_mode()) {
        it_skip("test_auth: the proxy's logins");
        return 0;
    }
    snprintf(certs, sizeof certs, "/tmp/ringmux-auth.%d", (int)getpid());
    snprintf(secrets, sizeof secrets, "%s/secrets.ini", certs);
    char cmd[512];
    if (it_make_certs(certs) < 0)
        return it_done();
    static const struct it_case cases[] = {
        {"tokens", test_tokens},
        {"rotation", test_rotation},
        {"sha2 clients", test_sha2_clients},
        {"mysql8 backend", test_mysql8_backend},
    };
    it_run_cases(argc, argv, cases, sizeof cases / sizeof cases[0], NULL);
    fake_stop();
    snprintf(cmd, sizeof cmd, "rm -rf %s", certs);
    IT_CHECK(system(cmd) == 0, "cleanup");
    return it_done();
}
