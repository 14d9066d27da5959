/* Unit tests for src/config.c: value parsers, defaults, every error kind
 * with its FILE:LINE, the example file, and robustness on garbage. */
#include "ringmux/config.h"

#include <sys/stat.h>

#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RINGMUX_SOURCE_DIR
#error "RINGMUX_SOURCE_DIR must name the repository root"
#endif

/* A minimal valid file; cases append to or replace parts of it. */
#define BACKEND "[backend]\naddress = 127.0.0.1:3306\n"
#define USERS   "[users]\napp = secret\n"

/* Write len bytes to a new temporary file; its name goes to path (64 bytes). */
static void write_tmp(char *path, const char *data, size_t len)
{
    strcpy(path, "/tmp/ringmux-cfg-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
        perror("mkstemp/write");
        exit(2);
    }
    close(fd);
}

/* Load text as a config file; err receives messages, path the file name. */
static int load_text(const char *text, size_t len, struct rm_config **c, char *path, char *err, size_t errlen)
{
    write_tmp(path, text, len);
    int rc = cfg_load(path, c, err, errlen);
    unlink(path);
    return rc;
}

/* ---- value parsers ------------------------------------------------------ */

static void test_durations(void)
{
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"0", 0},     {"0s", 0},      {"0ms", 0},      {"500ms", 500},
        {"5s", 5000}, {"2m", 120000}, {"1h", 3600000}, {"8760h", 8760LL * 3600000},
    };
    static const char *const bad[] = {
        "",
        "5",
        "-5s",
        "5 s",
        " 5s",
        "5S",
        "s",
        "1.5s",
        "5sec",
        "5d",
        "+5s",
        "99999999999999999999ms",
        "9223372036854775807h",
        "0x10s",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t v = -1;
        CHECK(cfg_parse_duration_ms(ok[i].s, &v) == 0 && v == ok[i].ms, "\"%s\" -> %lld", ok[i].s, (long long)v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v;
        CHECK(cfg_parse_duration_ms(bad[i], &v) == -1, "\"%s\" accepted", bad[i]);
    }
}

static void test_sizes(void)
{
    static const struct {
        const char *s;
        int64_t n;
    } ok[] = {
        {"0", 0},        {"512", 512},      {"64k", 65536},
        {"64K", 65536},  {"16M", 16 << 20}, {"16m", 16 << 20},
        {"1G", 1 << 30}, {"1g", 1 << 30},   {"8589934591G", 0x7fffffffc0000000LL},
    };
    static const char *const bad[] = {
        "", "1T", "1kb", "-1", "k", "1.5M", " 1k", "18446744073709551616", "9223372036854775807G", "8589934592G", "1 k",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t v = -1;
        CHECK(cfg_parse_size(ok[i].s, &v) == 0 && v == ok[i].n, "\"%s\" -> %lld", ok[i].s, (long long)v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v;
        CHECK(cfg_parse_size(bad[i], &v) == -1, "\"%s\" accepted", bad[i]);
    }
}

static void test_addrs(void)
{
    static const struct {
        const char *s, *host;
        int port;
    } ok[] = {
        {"127.0.0.1:6033", "127.0.0.1", 6033}, {"localhost:3306", "127.0.0.1", 3306},
        {"LocalHost:1", "127.0.0.1", 1},       {"[::1]:6033", "::1", 6033},
        {"0.0.0.0:0", "0.0.0.0", 0},           {"[2001:db8::1]:65535", "2001:db8::1", 65535},
        {"10.1.2.3:00080", "10.1.2.3", 80},
    };
    static const char *const bad[] = {
        "",
        ":",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "256.0.0.1:1",
        "1.2.3:80",
        "::1:6033",
        "[::1]",
        "[::1:6033",
        "::1]:6033",
        "example.com:3306",
        ":3306",
        "1.2.3.4:123456",
        "1.2.3.4: 80",
        "[]:80",
        "[1.2.3.4]:80",
        "1.2.3.4:80 ",
        " 1.2.3.4:80",
        "[::1%lo]:80",
        "[::1]x:80",
        "[1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd:eeee:ffff]:1",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct rm_addr a = {"", 0};
        int rc = cfg_parse_addr(ok[i].s, &a);
        CHECK(rc == 0 && strcmp(a.host, ok[i].host) == 0 && a.port == ok[i].port, "\"%s\" -> %d %s %u", ok[i].s, rc,
              a.host, a.port);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rm_addr a;
        CHECK(cfg_parse_addr(bad[i], &a) == -1, "\"%s\" accepted", bad[i]);
    }
}

/* ---- loading ------------------------------------------------------------ */

static void test_defaults(void)
{
    struct rm_config *c = NULL;
    char path[64], err[4096];
    int rc = load_text(BACKEND USERS, strlen(BACKEND USERS), &c, path, err, sizeof(err));
    CHECK(rc == 0 && c, "minimal config rejected: %s", err);
    if (!c)
        return;
    CHECK(strcmp(c->path, path) == 0, "path %s", c->path);
    CHECK(strcmp(c->listen.host, "127.0.0.1") == 0 && c->listen.port == 6033, "listen");
    CHECK(c->workers == 0, "workers %d", c->workers);
    CHECK(c->log_level == 2, "log_level %d", c->log_level);
    CHECK(c->max_client_connections == 10000, "max_client_connections");
    CHECK(c->idle_client_timeout_ms == 0, "idle_client_timeout");
    CHECK(c->max_allowed_packet == 64 << 20, "max_allowed_packet");
    CHECK(strcmp(c->admin.host, "127.0.0.1") == 0 && c->admin.port == 0, "admin_listen");
    CHECK(strcmp(c->backends[0].addr.host, "127.0.0.1") == 0 && c->backends[0].addr.port == 3306, "backend");
    CHECK(c->max_backend_connections == 32, "max_backend_connections");
    CHECK(c->min_idle_backend_connections == 0, "min_idle_backend_connections");
    CHECK(c->connection_borrow_timeout_ms == 5000, "connection_borrow_timeout");
    CHECK(c->backend_idle_timeout_ms == 60000, "backend_idle_timeout");
    CHECK(c->backend_max_lifetime_ms == 3600000, "backend_max_lifetime");
    CHECK(c->backend_connect_timeout_ms == 5000, "backend_connect_timeout");
    CHECK(c->init_query == NULL, "init_query");
    CHECK(c->n_users == 1 && strcmp(c->users[0].name, "app") == 0 && strcmp(c->users[0].password, "secret") == 0,
          "users");
    cfg_free(c);
}

static void test_values_set(void)
{
    static const char text[] = "\xEF\xBB\xBF; comment\r\n"
                               "[ ringmux ]  # trailing comment\r\n"
                               "  workers = 4\r\n"
                               "LOG_LEVEL = DEBUG\n"
                               "listen = [::1]:7000 ; inline comment\n"
                               "idle_client_timeout = 90s\n"
                               "max_allowed_packet = 1k\n"
                               "admin_listen = localhost:6034\n"
                               "[Backend]\n"
                               "address: 10.0.0.5:3307\n"
                               "[pool]\n"
                               "max_backend_connections = 100\n"
                               "min_idle_backend_connections = 100\n"
                               "connection_borrow_timeout = 250ms\n"
                               "backend_idle_timeout = 0\n"
                               "backend_max_lifetime = 30m\n"
                               "backend_connect_timeout = 1ms\n"
                               "init_query = SET time_zone = '+00:00'; SET NAMES utf8mb4\n"
                               "[users]\n"
                               "app = secret\n"
                               "App = other\n"
                               "nopass =\n"
                               "tricky = p=ss:w0rd#x\n";
    struct rm_config *c = NULL;
    char path[64], err[4096];
    int rc = load_text(text, sizeof(text) - 1, &c, path, err, sizeof(err));
    CHECK(rc == 0 && c, "rejected: %s", err);
    if (!c)
        return;
    CHECK(c->workers == 4 && c->log_level == 3, "workers %d level %d", c->workers, c->log_level);
    CHECK(strcmp(c->listen.host, "::1") == 0 && c->listen.port == 7000, "listen %s", c->listen.host);
    CHECK(c->idle_client_timeout_ms == 90000 && c->max_allowed_packet == 1024, "timeouts/sizes");
    CHECK(strcmp(c->admin.host, "127.0.0.1") == 0 && c->admin.port == 6034, "admin");
    CHECK(strcmp(c->backends[0].addr.host, "10.0.0.5") == 0 && c->backends[0].addr.port == 3307, "backend");
    CHECK(c->max_backend_connections == 100 && c->min_idle_backend_connections == 100, "pool sizes");
    CHECK(c->connection_borrow_timeout_ms == 250 && c->backend_idle_timeout_ms == 0 &&
              c->backend_max_lifetime_ms == 1800000 && c->backend_connect_timeout_ms == 1,
          "pool durations");
    const char *q = "SET time_zone = '+00:00'; SET NAMES utf8mb4";
    CHECK(c->init_query && strcmp(c->init_query, q) == 0, "init_query %s", c->init_query ? c->init_query : "(null)");
    CHECK(c->n_users == 4, "n_users %zu", c->n_users);

    /* cfg_find_user: exact, case-sensitive, length-bounded */
    const struct rm_user *u = cfg_find_user(c, "app", 3);
    CHECK(u && strcmp(u->password, "secret") == 0, "find app");
    u = cfg_find_user(c, "App", 3);
    CHECK(u && strcmp(u->password, "other") == 0, "find App");
    u = cfg_find_user(c, "nopass", 6);
    CHECK(u && strcmp(u->password, "") == 0, "empty password");
    u = cfg_find_user(c, "tricky", 6);
    CHECK(u && strcmp(u->password, "p=ss:w0rd#x") == 0, "password with = : #");
    CHECK(cfg_find_user(c, "APP", 3) == NULL, "APP found");
    CHECK(cfg_find_user(c, "ap", 2) == NULL, "prefix found");
    CHECK(cfg_find_user(c, "appx", 3) != NULL, "length not honoured");
    CHECK(cfg_find_user(c, "app\0x", 5) == NULL, "embedded NUL matched");
    CHECK(cfg_find_user(c, "", 0) == NULL, "empty name matched");
    cfg_free(c);
}

/* One error case: the file text and what must follow "PATH" in err. */
struct err_case {
    const char *text;
    const char *want;
};

static const struct err_case err_cases[] = {
    {BACKEND USERS "[foo]\nx = 1\n",
     ":5: [foo]: unknown section; expected one of [ringmux], [backend] or [backend.NAME], [pool], [monitor], "
     "[admin], [tls], [users]"},
    {"[pool]\nmax_conns = 3\n" BACKEND USERS,
     ":2: [pool] max_conns: unknown key; expected one of max_backend_connections, "
     "min_idle_backend_connections"},
    {"[pool]\nconnection_borrow_timeout = 5 sec\n" BACKEND USERS,
     ":2: [pool] connection_borrow_timeout: bad value \"5 sec\"; expected a duration like 5s, "
     "500ms"},
    {"[pool]\nbackend_idle_timeout = -5s\n" BACKEND USERS,
     ":2: [pool] backend_idle_timeout: bad value \"-5s\"; expected a duration"},
    {"[pool]\nbackend_connect_timeout = 0\n" BACKEND USERS,
     ":2: [pool] backend_connect_timeout: out of range: \"0\"; expected a duration like 5s, 500ms, "
     "2m or 1h, in 1ms..8760h"},
    {"[ringmux]\nworkers = 300\n" BACKEND USERS,
     ":2: [ringmux] workers: out of range: \"300\"; expected auto or an integer in 1..256"},
    {"[ringmux]\nworkers = 0\n" BACKEND USERS, ":2: [ringmux] workers: out of range: \"0\""},
    {"[ringmux]\nworkers = many\n" BACKEND USERS, ":2: [ringmux] workers: bad value \"many\""},
    {"[ringmux]\nmax_client_connections = 99999999999999999999999\n" BACKEND USERS,
     ":2: [ringmux] max_client_connections: out of range"},
    {"[ringmux]\nlog_level = verbose\n" BACKEND USERS,
     ":2: [ringmux] log_level: bad value \"verbose\"; expected one of error, warn, info, debug"},
    {"[ringmux]\nmax_allowed_packet = 2G\n" BACKEND USERS,
     ":2: [ringmux] max_allowed_packet: out of range: \"2G\"; expected a size like 512, 64k, 16M "
     "or 1G, in 1k..1G"},
    {"[ringmux]\nmax_allowed_packet = 64MB\n" BACKEND USERS, ":2: [ringmux] max_allowed_packet: bad value \"64MB\""},
    {"[ringmux]\nlisten = 127.0.0.1:0\n" BACKEND USERS,
     ":2: [ringmux] listen: out of range: \"127.0.0.1:0\"; expected host:port (IPv4, localhost or "
     "[IPv6]) with port 1..65535"},
    {"[ringmux]\nlisten =\n" BACKEND USERS, ":2: [ringmux] listen: bad value \"\"; expected host:port"},
    {"[ringmux]\nadmin_listen = db.example.com:6034\n" BACKEND USERS,
     ":2: [ringmux] admin_listen: bad value \"db.example.com:6034\"; expected host:port"},
    {"[ringmux]\nworkers = 2\n\nworkers = 3\n" BACKEND USERS,
     ":4: [ringmux] workers: duplicate key (first set at line 2); expected auto or an integer"},
    {"[pool]\nmax_backend_connections = 2\n[pool]\nMax_Backend_Connections = 2\n" BACKEND USERS,
     ":4: [pool] max_backend_connections: duplicate key (first set at line 2)"},
    {"[ringmux]\n" USERS, ": [backend] address is required; expected host:port"},
    {"[backend]\n" USERS, ":1: [backend] address is required; expected host:port"},
    /* Several backends. */
    {"[backend.a]\naddress = 10.0.0.1:3306\n[backend.b]\n" USERS,
     ":3: [backend.b] address is required; expected host:port (a DNS name, IPv4 or [IPv6])"},
    {"[backend.a]\naddress = 10.0.0.1:3306\n[backend]\naddress = 10.0.0.2:3306\n" USERS,
     ":3: [backend]: [backend] and [backend.NAME] sections mixed"},
    {"[backend.a b]\naddress = 10.0.0.1:3306\n" USERS, ":1: [backend.a b]: bad backend name"},
    {"[backend.a]\naddress = 10.0.0.1:3306\naddress = 10.0.0.3:3306\n" USERS,
     ":3: [backend.a] address: duplicate key (first set at line 2)"},
    {"[backend.a]\naddress = db_1.example:3306\n" USERS, ":2: [backend.a] address: bad value \"db_1.example:3306\""},
    {"[backend.a]\naddress = 10.0.0.256:3306\n" USERS, ":2: [backend.a] address: bad value \"10.0.0.256:3306\""},
    {"[backend.a]\naddress = db.example:3306\nweight = 0\n" USERS,
     ":3: [backend.a] weight: out of range: \"0\"; expected an integer in 1..1000"},
    {"[backend.a]\naddress = db.example:3306\nport = 1\n" USERS,
     ":3: [backend.a] port: unknown key; expected one of address, max_connections, weight"},
    {BACKEND "[monitor]\nuser = nobody\n" USERS, ":4: [monitor] user: \"nobody\" is not in [users]"},
    {BACKEND "[monitor]\nwriter_conflict = prefer:zz\n" USERS,
     ":4: [monitor] writer_conflict: \"prefer:zz\" names no backend"},
    {BACKEND "[monitor]\nwriter_conflict = maybe\n" USERS,
     ":4: [monitor] writer_conflict: bad value \"maybe\"; expected refuse or prefer:NAME"},
    {BACKEND "[monitor]\ninterval = 10ms\n" USERS, ":4: [monitor] interval: out of range: \"10ms\""},
    {BACKEND "[users]\n", ": [users]: no users defined; expected at least one line name = password"},
    {BACKEND, ": [users]: no users defined"},
    {BACKEND USERS "bob = 1\napp = again\n",
     ":6: [users] app: duplicate user (first defined at line 4); expected each user once"},
    {BACKEND USERS "= nobody\n", ":5: [users]: empty user name; expected name = password"},
    {BACKEND USERS "bob\n", ":5: [users]: cannot parse \"bob\"; expected name = password"},
    {BACKEND "[pool]\nmax_backend_connections = 8\nmin_idle_backend_connections = 9\n" USERS,
     ":5: [pool] min_idle_backend_connections: 9 exceeds max_backend_connections (8); expected at "
     "most max_backend_connections"},
    {BACKEND "[pool]\nmax_backend_connections = x\n" USERS, ":4: [pool] max_backend_connections: bad value \"x\""},
    {"workers = 2\n" BACKEND USERS, ":1: workers: key outside any section; expected a [section] line before it"},
    {"[pool\nworkers = 2\n" BACKEND USERS, ":1: malformed section header \"[pool\"; expected [name]"},
    {"[pool] x\n" BACKEND USERS, ":1: malformed section header \"[pool] x\""},
    {"[ringmux]\nthis is not a key line\n" BACKEND USERS,
     ":2: [ringmux]: cannot parse \"this is not a key line\"; expected key = value"},
    {"[ringmux]\nlisten 127.0.0.1:6033\n" BACKEND USERS,
     ":2: [ringmux]: cannot parse \"listen 127.0.0.1:6033\"; expected key = value"},
    {"[ringmux]\nfoo ;= bar\n" BACKEND USERS, ":2: [ringmux]: cannot parse \"foo ;= bar\""},
    {BACKEND USERS "[ringmux]\n\x01\x02 = \xff\n", ":6: [ringmux] ??: unknown key"},
    {"[ringmux]\nlisten = 1.2.3.4:5 # not a comment\n" BACKEND USERS,
     ":2: [ringmux] listen: bad value \"1.2.3.4:5 # not a comment\""},
};

static void test_errors(void)
{
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        struct rm_config *c = (struct rm_config *)1;
        char path[64], err[4096], want[512];
        const struct err_case *e = &err_cases[i];
        int rc = load_text(e->text, strlen(e->text), &c, path, err, sizeof(err));
        snprintf(want, sizeof(want), "%s%s", path, e->want);
        CHECK(rc == -1 && c == NULL, "case %zu loaded", i);
        CHECK(strstr(err, want) != NULL, "case %zu: want \"%s\"\n     got \"%s\"", i, want, err);
    }
}

static void test_multiple_errors(void)
{
    static const char text[] = "[ringmux]\n"
                               "workers = lots\n"
                               "bogus = 1\n"
                               "[pool]\n"
                               "backend_max_lifetime = forever\n"
                               "[nope]\n"
                               "whatever = 1\n";
    struct rm_config *c;
    char path[64], err[4096], want[256];
    load_text(text, sizeof(text) - 1, &c, path, err, sizeof(err));
    static const char *const wants[] = {
        ":2: [ringmux] workers: bad value",
        ":3: [ringmux] bogus: unknown key",
        ":5: [pool] backend_max_lifetime: bad value",
        ":6: [nope]: unknown section",
        ": [backend] address is required",
        ": [users]: no users defined",
    };
    for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
        snprintf(want, sizeof(want), "%s%s", path, wants[i]);
        CHECK(strstr(err, want) != NULL, "want \"%s\" in \"%s\"", want, err);
    }
    int lines = 1;
    for (const char *s = err; *s; s++)
        lines += *s == '\n';
    CHECK(lines == 6, "%d error lines (the key in [nope] must not add one): %s", lines, err);
}

static void test_file_errors(void)
{
    struct rm_config *c = (struct rm_config *)1;
    char err[512];
    CHECK(cfg_load("/nonexistent/ringmux.ini", &c, err, sizeof(err)) == -1 && c == NULL, "loaded");
    CHECK(strcmp(err, "/nonexistent/ringmux.ini: cannot open: No such file or directory") == 0, "got \"%s\"", err);
    CHECK(cfg_load("/tmp", &c, err, sizeof(err)) == -1, "directory loaded");
    CHECK(strstr(err, "/tmp: cannot read: Is a directory") != NULL, "got \"%s\"", err);

    /* a line too long for inih's buffer, and a NUL byte */
    char path[64], text[1024];
    size_t n = (size_t)snprintf(text, sizeof(text), "%s[pool]\ninit_query = %0300d\n", BACKEND USERS, 0);
    load_text(text, n, &c, path, err, sizeof(err));
    char want[128];
    snprintf(want, sizeof(want), "%s:6: line is 313 characters long; expected at most 199", path);
    CHECK(strstr(err, want) != NULL, "got \"%s\"", err);
    static const char nul[] = BACKEND USERS "[pool]\ninit_query = a\0b\n";
    load_text(nul, sizeof(nul) - 1, &c, path, err, sizeof(err));
    snprintf(want, sizeof(want), "%s:6: line contains a NUL byte", path);
    CHECK(strstr(err, want) != NULL, "got \"%s\"", err);
}

/* Small error buffers are filled with whole lines only and never overrun. */
static void test_small_err_buffer(void)
{
    char text[4096], path[64];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "junk line %d\n", i);
    struct rm_config *c;
    char err[200];
    memset(err, 'x', sizeof(err));
    CHECK(load_text(text, n, &c, path, err, 150) == -1, "loaded");
    CHECK(strlen(err) < 150 && err[199] == 'x', "overrun: %zu", strlen(err));
    CHECK(strstr(err, "more errors)") != NULL, "no drop note: %s", err);
    CHECK(load_text(text, n, &c, path, err, 1) == -1 && err[0] == '\0', "errlen 1");
    CHECK(load_text(text, n, &c, path, NULL, 0) == -1 && c == NULL, "NULL err");
}

/* Random bytes, and random mixes of INI punctuation, must never crash. */
static void test_garbage(void)
{
    static const char alphabet[] = "[]=:;# \t\r\n\\\"'abcdefgilnoprstuwxyz_0123456789.-\xff";
    unsigned seed = 12345;
    int loaded = 0;
    for (int iter = 0; iter < 400; iter++) {
        size_t len = (size_t)(rand_r(&seed) % 3000);
        char *buf = malloc(len + 1), path[64], err[2048];
        for (size_t i = 0; i < len; i++)
            buf[i] = iter % 2 ? (char)rand_r(&seed) : alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
        struct rm_config *c = NULL;
        int rc = load_text(buf, len, &c, path, err, sizeof(err));
        loaded += rc == 0;
        CHECK((rc == 0) == (c != NULL) && strlen(err) < sizeof(err), "iteration %d", iter);
        cfg_free(c);
        free(buf);
    }
    CHECK(loaded == 0, "%d garbage files loaded", loaded);
}

/* ---- the example file, help and reload ---------------------------------- */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&buf, &cap);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    *len = cap;
    return buf;
}

static void test_example(void)
{
    const char *path = RINGMUX_SOURCE_DIR "/etc/ringmux.ini";
    size_t file_len = 0, gen_len = 0;
    char *file = read_all(path, &file_len), *gen = NULL;
    FILE *m = open_memstream(&gen, &gen_len);
    cfg_write_example(m);
    fclose(m);
    CHECK(file != NULL, "cannot read %s", path);
    CHECK(file && file_len == gen_len && memcmp(file, gen, gen_len) == 0,
          "%s differs from cfg_write_example() output; regenerate it", path);
    free(file);
    free(gen);

    struct rm_config *c = NULL;
    char err[4096];
    CHECK(cfg_load(path, &c, err, sizeof(err)) == 0, "example rejected: %s", err);
    if (c) {
        CHECK(c->backends[0].addr.port == 3306 && c->n_users == 1 && cfg_find_user(c, "app", 3) &&
                  strcmp(c->users[0].password, "app-password") == 0 && c->init_query == NULL,
              "example values");
        cfg_free(c);
    }
}

static void test_help(void)
{
    char *out = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&out, &len);
    cfg_print_help(m);
    fclose(m);
    static const char *const wants[] = {
        "[ringmux] workers = auto  (auto or an integer in 1..256; restart to change)\n",
        "[ringmux] log_level = info  (one of error, warn, info, debug; reloadable)\n",
        "[backend] address = (required)  (host:port",
        "[pool] init_query = (unset)  (text; reloadable)\n",
        "[pool] backend_connect_timeout = 5s  (a duration like 5s, 500ms, 2m or 1h, in 1ms..8760h",
        "[users] NAME = PASSWORD",
    };
    for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++)
        CHECK(strstr(out, wants[i]) != NULL, "help lacks \"%s\"", wants[i]);
    free(out);
}

static void test_reload(void)
{
    static const char a[] = BACKEND USERS;
    static const char b[] = "[ringmux]\nlisten = 127.0.0.1:7000\nworkers = 2\nlog_level = warn\n"
                            "[pool]\nmax_backend_connections = 5\ninit_query = SET @a = 1\n"
                            "[backend]\naddress = 127.0.0.1:3306\n"
                            "[users]\nx = y\n";
    struct rm_config *c1, *c2, *c3;
    char path[64], err[2048], diff[256];
    CHECK(load_text(a, sizeof(a) - 1, &c1, path, err, sizeof(err)) == 0, "%s", err);
    CHECK(load_text(b, sizeof(b) - 1, &c2, path, err, sizeof(err)) == 0, "%s", err);
    CHECK(load_text(a, sizeof(a) - 1, &c3, path, err, sizeof(err)) == 0, "%s", err);
    CHECK(cfg_restart_changes(c1, c3, diff, sizeof(diff)) == 0 && diff[0] == '\0', "same: %s", diff);
    CHECK(cfg_restart_changes(c1, c2, diff, sizeof(diff)) == 2 &&
              strcmp(diff, "[ringmux] listen, [ringmux] workers") == 0,
          "diff \"%s\"", diff);
    CHECK(cfg_restart_changes(c2, c1, NULL, 0) == 2, "NULL buffer");
    /* replace c1 by a reload of the other file, as a SIGHUP would */
    cfg_free(c1);
    CHECK(load_text(b, sizeof(b) - 1, &c1, path, err, sizeof(err)) == 0, "%s", err);
    CHECK(cfg_restart_changes(c1, c2, diff, sizeof(diff)) == 0, "reloaded: %s", diff);
    cfg_free(c1);
    cfg_free(c2);
    cfg_free(c3);
    cfg_free(NULL);
}

/* [backend.NAME] sections, host names, [monitor]. */
static void test_backends(void)
{
    static const char text[] = "[ringmux]\nreader_listen = 127.0.0.1:6034\n"
                               "[backend.a]\naddress = db-a.internal:3306\n"
                               "[backend.b]\naddress = 10.0.0.12:3307\nweight = 3\nmax_connections = 7\n"
                               "[backend.c]\naddress = [::1]:3308\n"
                               "[monitor]\ninterval = 500ms\nuser = mon\nmax_replica_lag = 2s\n"
                               "reader_fallback_to_writer = off\nwriter_conflict = prefer:b\n"
                               "[users]\napp = pw\nmon = mpw\n";
    struct rm_config *c;
    char path[64], err[2048];
    CHECK(load_text(text, sizeof(text) - 1, &c, path, err, sizeof(err)) == 0, "%s", err);
    if (!c)
        return;
    CHECK(c->n_backends == 3, "backends %d", c->n_backends);
    CHECK(strcmp(c->backends[0].name, "a") == 0 && strcmp(c->backends[0].addr.host, "db-a.internal") == 0 &&
              c->backends[0].addr.port == 3306 && c->backends[0].weight == 1 && c->backends[0].max_connections == 0,
          "backend a");
    CHECK(strcmp(c->backends[1].name, "b") == 0 && strcmp(c->backends[1].addr.host, "10.0.0.12") == 0 &&
              c->backends[1].weight == 3 && c->backends[1].max_connections == 7,
          "backend b");
    CHECK(strcmp(c->backends[2].addr.host, "::1") == 0 && c->backends[2].addr.port == 3308, "backend c");
    CHECK(c->reader_listen.port == 6034, "reader_listen");
    CHECK(c->monitor_interval_ms == 500 && c->max_replica_lag_ms == 2000 && c->reader_fallback_to_writer == 0,
          "monitor");
    CHECK(c->writer_conflict_mode == WRITER_CONFLICT_PREFER && c->writer_prefer == 1, "writer_conflict");
    CHECK(cfg_monitor_user(c) && strcmp(cfg_monitor_user(c)->name, "mon") == 0, "monitor user");
    CHECK(cfg_backend_index(c, "c") == 2 && cfg_backend_index(c, "d") == -1, "cfg_backend_index");
    cfg_free(c);
    /* Defaults, and "localhost" kept as a name for a backend. */
    static const char one[] = "[backend]\naddress = localhost:3306\n[users]\napp = pw\n";
    CHECK(load_text(one, sizeof(one) - 1, &c, path, err, sizeof(err)) == 0, "%s", err);
    if (!c)
        return;
    CHECK(c->n_backends == 1 && strcmp(c->backends[0].name, "default") == 0 &&
              strcmp(c->backends[0].addr.host, "localhost") == 0,
          "[backend]: %s", c->backends[0].addr.host);
    CHECK(c->monitor_interval_ms == 1000 && c->max_replica_lag_ms == 5000 && c->reader_fallback_to_writer == 1 &&
              c->writer_conflict_mode == WRITER_CONFLICT_REFUSE && c->reader_listen.port == 0,
          "monitor defaults");
    CHECK(cfg_monitor_user(c) && strcmp(cfg_monitor_user(c)->name, "app") == 0, "monitor user defaults to the first");
    /* A changed backend address needs a restart. */
    static const char two[] = "[backend]\naddress = localhost:3307\n[users]\napp = pw\n";
    struct rm_config *c2;
    char diff[256];
    CHECK(load_text(two, sizeof(two) - 1, &c2, path, err, sizeof(err)) == 0, "%s", err);
    if (c2) {
        CHECK(cfg_restart_changes(c, c2, diff, sizeof(diff)) == 1 &&
                  strcmp(diff, "[backend] sections or addresses") == 0,
              "diff \"%s\"", diff);
        cfg_free(c2);
    }
    cfg_free(c);
    /* Host names: what the parser takes. */
    struct rm_addr a;
    CHECK(cfg_parse_hostport("mydb.cluster-xyz.us-east-1.rds.amazonaws.com:3306", &a) == 0 && a.port == 3306,
          "aurora name");
    CHECK(cfg_parse_hostport("db:1", &a) == 0 && strcmp(a.host, "db") == 0, "short name");
    CHECK(cfg_parse_hostport("-db:3306", &a) < 0, "leading hyphen");
    CHECK(cfg_parse_hostport("db-:3306", &a) < 0, "trailing hyphen");
    CHECK(cfg_parse_hostport("a..b:3306", &a) < 0, "empty label");
    CHECK(cfg_parse_hostport("db.example:", &a) < 0, "no port");
    CHECK(cfg_parse_hostport("db.example:70000", &a) < 0, "port range");
    CHECK(cfg_parse_hostport("1.2.3:3306", &a) < 0, "numeric top label");
    CHECK(cfg_parse_addr("db.example:3306", &a) < 0, "listen addresses stay numeric");
}

/* [tls] secrets_file: merged [users], [token_keys], mode check, env. */
static void test_secrets(void)
{
    char spath[64], cpath[64], err[2048], text[512];
    struct rm_config *c;
    static const char secrets[] = "[users]\nsecret_user = s3cret\n[token_keys]\n"
                                  "k1 = 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    write_tmp(spath, secrets, sizeof(secrets) - 1);
    chmod(spath, 0600);
    snprintf(text, sizeof(text), BACKEND "[tls]\nsecrets_file = %s\n[users]\napp = pw\n", spath);
    CHECK(load_text(text, strlen(text), &c, cpath, err, sizeof(err)) == 0, "%s", err);
    if (c) {
        const struct rm_user *u = cfg_find_user(c, "secret_user", 11);
        CHECK(c->n_users == 2 && u && strcmp(u->password, "s3cret") == 0, "merged users");
        CHECK(c->n_token_keys == 1 && strcmp(c->token_keys[0].id, "k1") == 0 && c->token_keys[0].key[0] == 0 &&
                  c->token_keys[0].key[31] == 0x1f,
              "token key");
        cfg_free(c);
    }
    /* Readable by others: refused, with the fix in the message. */
    static const struct {
        mode_t mode;
        bool root_owned;
        const char *want; /* NULL: accepted */
    } modes[] = {{0644, true, "mode 0644 lets every user read or change it; expected 0600 or stricter"},
                 {0660, true, "mode 0660 lets its group read or change it"},
                 {0640, false, "mode 0640 lets its group read or change it"},
                 {0640, true, NULL},
                 {0440, true, NULL}};
    bool root = geteuid() == 0;
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (!modes[i].root_owned && (!root || chown(spath, 65534, 65534) != 0))
            continue; /* needs root to give the file away */
        if (modes[i].root_owned && (!root || chown(spath, 0, 0) != 0))
            continue;
        chmod(spath, modes[i].mode);
        int rc = load_text(text, strlen(text), &c, cpath, err, sizeof(err));
        if (modes[i].want)
            CHECK(rc < 0 && strstr(err, modes[i].want) && strstr(err, "chmod 600"), "mode %o: %s",
                  (unsigned)modes[i].mode, err);
        else
            CHECK(rc == 0, "mode %o, owned by root: %s", (unsigned)modes[i].mode, err);
        if (rc == 0)
            cfg_free(c);
    }
    if (root)
        CHECK(chown(spath, 0, 0) == 0, "chown back");
    chmod(spath, 0400);
    CHECK(load_text(text, strlen(text), &c, cpath, err, sizeof(err)) == 0, "mode 0400: %s", err);
    cfg_free(c);
    unlink(spath);
    /* Errors inside the secrets file name it; a key's value is never shown. */
    static const struct {
        const char *secrets, *want, *never;
    } bad[] = {
        {"[users]\napp = other\n", ":2: [users] app: already defined in ", NULL},
        {"[token_keys]\nk1 = 00ff\n", ":2: [token_keys] k1: expected 64 hex characters", "00ff"},
        {"[token_keys]\nk1 = zz02030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fzz\n",
         "got 64 characters with a non-hex one", "zz02"},
        {"[pool]\nx = 1\n", ":1: [pool]: not allowed in the secrets file; expected [users], [admin] or [token_keys]",
         NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_tmp(spath, bad[i].secrets, strlen(bad[i].secrets));
        chmod(spath, 0600);
        snprintf(text, sizeof(text), BACKEND "[tls]\nsecrets_file = %s\n[users]\napp = pw\n", spath);
        int rc = load_text(text, strlen(text), &c, cpath, err, sizeof(err));
        CHECK(rc < 0 && strstr(err, spath) && strstr(err, bad[i].want) && (!bad[i].never || !strstr(err, bad[i].never)),
              "secrets case %zu: %s", i, err);
        unlink(spath);
    }
    snprintf(text, sizeof(text), BACKEND "[tls]\nsecrets_file = /nonexistent/secrets.ini\n[users]\napp = pw\n");
    CHECK(load_text(text, strlen(text), &c, cpath, err, sizeof(err)) < 0 &&
              strstr(err, "[tls] secrets_file /nonexistent/secrets.ini: cannot open"),
          "missing secrets file: %s", err);
    static const char tk[] = BACKEND "[token_keys]\nk = 1\n[users]\napp = pw\n";
    CHECK(load_text(tk, sizeof(tk) - 1, &c, cpath, err, sizeof(err)) < 0 &&
              strstr(err, "[token_keys]: keys belong in the secrets file"),
          "token keys in the main file: %s", err);
    /* RINGMUX_PASSWORD_<USER> overrides. */
    setenv("RINGMUX_PASSWORD_APP_2", "from-env", 1);
    static const char envc[] = BACKEND "[users]\napp.2 =\nother = pw\n";
    CHECK(load_text(envc, sizeof(envc) - 1, &c, cpath, err, sizeof(err)) == 0, "%s", err);
    if (c) {
        const struct rm_user *u = cfg_find_user(c, "app.2", 5);
        CHECK(u && strcmp(u->password, "from-env") == 0, "env password");
        CHECK(strcmp(cfg_find_user(c, "other", 5)->password, "pw") == 0, "others untouched");
        cfg_free(c);
    }
    unsetenv("RINGMUX_PASSWORD_APP_2");
}

/* [tls]: the certificate files are read and checked at load time, each
 * mistake named with the key and file. */
static void test_tls(void)
{
    char dir[64] = "/tmp/ringmux-cfg-tls-XXXXXX", cmd[256], text[1024], cpath[64], err[2048], f[4][160];
    struct rm_config *c;
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    snprintf(cmd, sizeof(cmd), "%s/scripts/make-test-certs.sh %s >/dev/null", RINGMUX_SOURCE_DIR, dir);
    if (system(cmd) != 0) {
        CHECK(0, "scripts/make-test-certs.sh failed");
        return;
    }
    snprintf(f[0], sizeof(f[0]), "%s/server.pem", dir);
    snprintf(f[1], sizeof(f[1]), "%s/server.key", dir);
    snprintf(f[2], sizeof(f[2]), "%s/elsewhere.key", dir);
    snprintf(f[3], sizeof(f[3]), "%s/garbage.pem", dir);
    FILE *g = fopen(f[3], "w");
    if (g) {
        fputs("-----BEGIN PRIVATE KEY-----\nnot-base64-at-all SECRETBYTES\n-----END PRIVATE KEY-----\n", g);
        fclose(g);
    }
    snprintf(text, sizeof(text),
             BACKEND "[tls]\ntls_cert = %s\ntls_key = %s\nrequire_tls = on\nmin_version = 1.3\n" USERS, f[0], f[1]);
    CHECK(load_text(text, strlen(text), &c, cpath, err, sizeof(err)) == 0, "valid TLS: %s", err);
    if (c) {
        CHECK(c->tls_cert_pem.len > 100 && c->tls_key_pem.len > 100 && c->require_tls == 1 && c->tls_min_version == 1,
              "TLS files loaded");
        cfg_free(c);
    }
    static const struct {
        const char *tls; /* printf format of the [tls] body; %1$s .. %4$s = f[0..3] */
        const char *want;
    } bad[] = {
        {"tls_cert = %1$s\n", "[tls] tls_cert is set without tls_key"},
        {"tls_key = %2$s\n", "[tls] tls_key is set without tls_cert"},
        {"require_tls = on\n", "[tls] require_tls = on needs tls_cert and tls_key"},
        {"tls_ca = %1$s\n", "[tls] tls_ca is set without tls_cert and tls_key"},
        {"tls_cert = %1$s\ntls_key = /nonexistent/k.pem\n", "[tls] tls_key /nonexistent/k.pem: cannot open"},
        {"tls_cert = %1$s\ntls_key = %3$s\n", "does not match the certificate in tls_cert"},
        {"tls_cert = %1$s\ntls_key = %4$s\n", "not a usable PEM private key"},
        {"tls_cert = %4$s\ntls_key = %2$s\n", "not a usable PEM certificate"},
        {"tls_cert = %1$s\ntls_key = %2$s\ntls_ca = %4$s\n", "[tls] tls_ca"},
        {"tls_cert = %1$s\ntls_key = %2$s\nmin_version = 1.1\n", "[tls] min_version"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[600];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(body, sizeof(body), bad[i].tls, f[0], f[1], f[2], f[3]);
#pragma GCC diagnostic pop
        snprintf(text, sizeof(text), BACKEND "[tls]\n%s" USERS, body);
        CHECK(load_text(text, strlen(text), &c, cpath, err, sizeof(err)) < 0 && strstr(err, bad[i].want) &&
                  !strstr(err, "SECRETBYTES"),
              "tls case %zu: %s", i, err);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

int main(void)
{
    test_durations();
    test_sizes();
    test_addrs();
    test_defaults();
    test_values_set();
    test_errors();
    test_multiple_errors();
    test_file_errors();
    test_small_err_buffer();
    test_garbage();
    test_example();
    test_help();
    test_reload();
    test_backends();
    test_secrets();
    test_tls();
    return unit_summary();
}
