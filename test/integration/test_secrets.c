/* Secrets out of the config ([tls] secrets_file, RINGMUX_PASSWORD_<USER>):
 *   - a user defined only in the secrets file logs in (client side and the
 *     proxy's backend login);
 *   - rotation: the server's password changes, the secrets file follows,
 *     SIGHUP; new logins use the new password (the old one is refused), a
 *     session logged in before goes on working, and so do new backend
 *     connections for it;
 *   - a secrets file readable by others: ringmux refuses to start and says
 *     why (mode, chmod 600);
 *   - the password from the environment;
 *   - no password ever appears in the log. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEC_USER "rmsec"

static char secrets_path[128];
static MYSQL *D; /* direct, to change the server's password */

static void write_secrets(const char *pw, mode_t mode)
{
    FILE *f = fopen(secrets_path, "w");
    if (!f) {
        IT_FAIL("cannot write %s", secrets_path);
        return;
    }
    fprintf(f, "[users]\n%s = %s\n", SEC_USER, pw);
    fclose(f);
    chmod(secrets_path, mode);
}

static void set_server_password(MYSQL *d, const char *pw)
{
    it_queryf(d, "ALTER USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", SEC_USER, pw);
}

static bool log_contains(const struct it_proxy *P, const char *needle)
{
    FILE *f = fopen(P->log, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static void test_secrets_and_rotation(void)
{
    MYSQL *d = D;
    set_server_password(d, "old-pw-1");
    write_secrets("old-pw-1", 0600);
    char ini[256];
    snprintf(ini, sizeof ini, "[tls]\nsecrets_file = %s\n", secrets_path);
    struct it_proxy P;
    if (it_proxy_start_ex(&P, ini, NULL) != 0) {
        IT_FAIL("secrets: proxy did not start");
        return;
    }
    MYSQL *a = it_connect_ex(P.host, P.port, SEC_USER, "old-pw-1", IT_DB, 0);
    if (a)
        IT_EQ_INT(it_scalar_int(a, "SELECT 40 + 2"), 42);
    /* Rotation: server first, then the secrets file, then SIGHUP. */
    set_server_password(d, "new-pw-2");
    write_secrets("new-pw-2", 0600);
    it_proxy_signal(&P, SIGHUP);
    it_usleep(500000);
    MYSQL *b = it_connect_ex(P.host, P.port, SEC_USER, "new-pw-2", IT_DB, 0);
    if (b) {
        IT_EQ_INT(it_scalar_int(b, "SELECT 1"), 1);
        /* Several at once: new backend connections log in with the new one. */
        it_query(b, "BEGIN");
        IT_EQ_INT(it_scalar_int(b, "SELECT 2"), 2);
    }
    struct it_error e;
    it_connect_error(P.host, P.port, SEC_USER, "old-pw-1", IT_DB, &e); /* 0 = the login failed, e says how */
    IT_EQ_INT(e.code, 1045);
    if (a) { /* logged in before the rotation: goes on, on a new backend connection if need be */
        IT_EQ_INT(it_scalar_int(a, "SELECT 3"), 3);
        it_query(a, "BEGIN"); /* b holds one conn: a's transaction needs a fresh login */
        IT_EQ_INT(it_scalar_int(a, "SELECT 4"), 4);
        it_query(a, "COMMIT");
    }
    if (b) {
        it_query(b, "COMMIT");
        mysql_close(b);
    }
    if (a)
        mysql_close(a);
    IT_CHECK(!log_contains(&P, "old-pw-1") && !log_contains(&P, "new-pw-2"), "a password appears in %s", P.log);
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

/* Rotation with no new client login after it: the pool takes the new
 * password from the reloaded config for its next backend login. */
static void test_rotation_quiet(void)
{
    MYSQL *d = D;
    set_server_password(d, "quiet-1");
    write_secrets("quiet-1", 0600);
    char ini[256];
    snprintf(ini, sizeof ini, "workers = 1\n[tls]\nsecrets_file = %s\n", secrets_path);
    struct it_proxy P;
    if (it_proxy_start_ex(&P, ini, "max_backend_connections = 4\nbackend_idle_timeout = 1s\n") != 0) {
        IT_FAIL("quiet rotation: proxy did not start");
        return;
    }
    MYSQL *a = it_connect_ex(P.host, P.port, SEC_USER, "quiet-1", IT_DB, 0);
    if (a)
        IT_EQ_INT(it_scalar_int(a, "SELECT 1"), 1);
    set_server_password(d, "quiet-2");
    write_secrets("quiet-2", 0600);
    it_proxy_signal(&P, SIGHUP);
    it_usleep(2500000); /* the idle backend connection retires: the next statement needs a new login */
    if (a) {
        IT_EQ_INT(it_scalar_int(a, "SELECT 2"), 2);
        mysql_close(a);
    }
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

/* ringmux --check with a secrets file readable by others. */
static void test_mode_refused(void)
{
    write_secrets("whatever", 0644);
    char cfg[160], cmd[512], out[2048] = "";
    snprintf(cfg, sizeof cfg, "%s.ini", secrets_path);
    FILE *f = fopen(cfg, "w");
    if (!f) {
        IT_FAIL("cannot write %s", cfg);
        return;
    }
    fprintf(f, "[backend]\naddress = 127.0.0.1:3306\n[tls]\nsecrets_file = %s\n[users]\napp = pw\n", secrets_path);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s --check -c %s 2>&1", RINGMUX_BIN, cfg);
    FILE *pp = popen(cmd, "r");
    size_t n = pp ? fread(out, 1, sizeof out - 1, pp) : 0;
    out[n] = '\0';
    int st = pp ? pclose(pp) : -1;
    fprintf(stderr, "mode 0644: %s", out);
    IT_CHECK(st != 0, "ringmux --check accepted a secrets file with mode 0644");
    IT_CHECK(strstr(out, "mode 0644") && strstr(out, "chmod 600") && strstr(out, secrets_path),
             "the refusal does not say why: %s", out);
    IT_CHECK(!strstr(out, "whatever"), "the refusal shows a password: %s", out);
    unlink(cfg);
}

/* The password from the environment, for containers. */
static void test_env_password(void)
{
    MYSQL *d = D;
    set_server_password(d, "env-pw-3");
    setenv("RINGMUX_PASSWORD_RMSEC", "env-pw-3", 1);
    struct it_proxy P;
    int rc = it_proxy_start_ex(&P, "[users]\n" SEC_USER " =\n", NULL);
    unsetenv("RINGMUX_PASSWORD_RMSEC");
    if (rc != 0) {
        IT_FAIL("env password: proxy did not start");
        return;
    }
    MYSQL *c = it_connect_ex(P.host, P.port, SEC_USER, "env-pw-3", IT_DB, 0);
    if (c) {
        IT_EQ_INT(it_scalar_int(c, "SELECT 7"), 7);
        mysql_close(c);
    }
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

int main(int argc, char **argv)
{
    it_watchdog(120);
    if (it_direct_mode()) {
        it_skip("test_secrets: the proxy's configuration");
        return 0;
    }
    snprintf(secrets_path, sizeof secrets_path, "/tmp/ringmux-secrets.%d", (int)getpid());
    MYSQL *d = it_connect_direct(NULL);
    if (!d)
        return it_done();
    it_queryf(d, "CREATE USER IF NOT EXISTS '%s'@'127.0.0.1' IDENTIFIED BY 'x'", SEC_USER);
    it_queryf(d, "GRANT ALL ON %s.* TO '%s'@'127.0.0.1'", IT_DB, SEC_USER);
    D = d;
    static const struct it_case cases[] = {
        {"secrets and rotation", test_secrets_and_rotation},
        {"quiet rotation", test_rotation_quiet},
        {"mode refused", test_mode_refused},
        {"env password", test_env_password},
    };
    it_run_cases(argc, argv, cases, sizeof cases / sizeof cases[0], NULL);
    it_queryf(d, "DROP USER IF EXISTS '%s'@'127.0.0.1'", SEC_USER);
    mysql_close(d);
    unlink(secrets_path);
    return it_done();
}
