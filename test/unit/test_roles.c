/* The role decision (topo_decide) and the first snapshot (topo_from_config):
 * which backend is the writer, which are readers, what a conflict does. */
#include <stdio.h>
#include <unistd.h>

#include "ringmux/config.h"
#include "ringmux/monitor.h"
#include "unit.h"

static struct rm_config *load(const char *text)
{
    char path[] = "/tmp/ringmux-roles-XXXXXX", err[1024];
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror("temp config");
        exit(2);
    }
    close(fd);
    struct rm_config *c = NULL;
    if (cfg_load(path, &c, err, sizeof(err)) < 0) {
        printf("config: %s\n", err);
        exit(2);
    }
    unlink(path);
    return c;
}

#define THREE(monitor)                                                                                                 \
    "[backend.a]\naddress = 10.0.0.1:3306\n[backend.b]\naddress = 10.0.0.2:3306\n"                                     \
    "[backend.c]\naddress = db-c.example:3306\n[monitor]\n" monitor "\n[users]\napp = pw\n"

/* Set backend i's health. */
static void health(struct rm_topology *t, int i, bool up, bool ro, int64_t lag_ms)
{
    t->be[i].up = up;
    t->be[i].read_only = ro;
    t->be[i].lag_ms = lag_ms;
}

static void test_from_config(void)
{
    struct rm_config *c = load(THREE(""));
    struct rm_topology *t = topo_from_config(c);
    CHECK(t && t->n == 3, "snapshot of three");
    CHECK_U(t->writer, (uint64_t)-1, "no writer before any check (several backends)");
    CHECK_U(t->be[0].n_addrs, 1, "numeric address filled in");
    CHECK_U(t->be[2].n_addrs, 0, "a name waits for the monitor");
    CHECK(!t->server_known && strstr(t->server.version, "ringmux"), "default greeting %s", t->server.version);
    free(t);
    cfg_free(c);
    c = load("[backend]\naddress = db.example:3306\n[users]\napp = pw\n");
    t = topo_from_config(c);
    CHECK_U(t->writer, 0, "a lone backend is the writer before any check");
    health(t, 0, false, true, 0);
    topo_decide(t, c);
    CHECK_U(t->writer, 0, "a lone backend stays the writer, down or read-only");
    free(t);
    cfg_free(c);
}

static void test_decide(void)
{
    struct rm_config *c = load(THREE("max_replica_lag = 5s"));
    struct rm_topology *t = topo_from_config(c);
    health(t, 0, true, false, 0);
    health(t, 1, true, true, 1000);
    health(t, 2, true, true, 9000);
    topo_decide(t, c);
    CHECK_U(t->writer, 0, "the one writable backend");
    CHECK(!t->reader_ok[0] && t->reader_ok[1] && !t->reader_ok[2], "readers: b only (c lags 9 s > 5 s)");
    health(t, 2, true, true, -1);
    topo_decide(t, c);
    CHECK(!t->reader_ok[2], "not replicating: no reader");
    /* The writer dies, b is promoted. */
    health(t, 0, false, false, 0);
    health(t, 1, true, false, 0);
    topo_decide(t, c);
    CHECK_U(t->writer, 1, "b after the promotion");
    CHECK(!t->reader_ok[0] && !t->reader_ok[1], "a down, b writer: no reader");
    /* Nobody writable. */
    health(t, 1, true, true, 0);
    topo_decide(t, c);
    CHECK_U(t->writer, (uint64_t)-1, "no writer");
    CHECK(!t->conflict, "no conflict");
    /* Two writable: refuse. */
    health(t, 0, true, false, 0);
    health(t, 1, true, false, 0);
    topo_decide(t, c);
    CHECK(t->conflict && t->writer == -1, "two writers with refuse: none (writer %d)", t->writer);
    free(t);
    cfg_free(c);
    /* prefer:b keeps b. */
    c = load(THREE("writer_conflict = prefer:b"));
    t = topo_from_config(c);
    health(t, 0, true, false, 0);
    health(t, 1, true, false, 0);
    health(t, 2, true, true, 0);
    topo_decide(t, c);
    CHECK(t->conflict && t->writer == 1, "prefer:b with a and b writable: b (writer %d)", t->writer);
    CHECK(t->reader_ok[2] && !t->reader_ok[0], "c reads; a (writable, not the writer) does not");
    /* prefer:b but b not writable: the other one, no conflict. */
    health(t, 1, true, true, 0);
    topo_decide(t, c);
    CHECK(!t->conflict && t->writer == 0, "only a writable: a (writer %d)", t->writer);
    free(t);
    cfg_free(c);
    /* max_replica_lag = 0: no limit at all (lag and replication state unchecked). */
    c = load(THREE("max_replica_lag = 0"));
    t = topo_from_config(c);
    health(t, 0, true, false, 0);
    health(t, 1, true, true, 3600 * 1000);
    health(t, 2, true, true, -1);
    topo_decide(t, c);
    CHECK(t->reader_ok[1] && t->reader_ok[2], "no lag limit: every read-only backend reads");
    free(t);
    cfg_free(c);
}

/* GET /readyz: a writer that the monitor logged in to. */
static void test_ready(void)
{
    char why[400];
    struct rm_config *c = load("[backend]\naddress = 10.0.0.9:3306\n[users]\napp = pw\n");
    struct rm_topology *t = topo_from_config(c);
    CHECK(!topo_ready(t, c, why, sizeof(why)) && strstr(why, "not ready: writer default not checked yet"),
          "before any check: %s", why);
    t->be[0].checked = true;
    snprintf(t->be[0].error, sizeof(t->be[0].error), "10.0.0.9:3306: Can't connect");
    CHECK(!topo_ready(t, c, why, sizeof(why)) && strstr(why, "writer default is unreachable: 10.0.0.9:3306: Can't"),
          "down: %s", why);
    health(t, 0, true, true, 0); /* a lone backend is the writer even when read-only */
    t->be[0].error[0] = '\0';
    CHECK(topo_ready(t, c, why, sizeof(why)) && strcmp(why, "ready: writer default") == 0, "up: %s", why);
    free(t);
    cfg_free(c);
    c = load(THREE(""));
    t = topo_from_config(c);
    for (int i = 0; i < 3; i++)
        t->be[i].checked = true;
    health(t, 0, true, true, 0);
    health(t, 1, false, false, 0);
    health(t, 2, true, true, 0);
    topo_decide(t, c);
    CHECK(!topo_ready(t, c, why, sizeof(why)) &&
              strcmp(why, "not ready: no writer: a read-only; b down; c read-only") == 0,
          "no writer: %s", why);
    health(t, 1, true, false, 0);
    topo_decide(t, c);
    CHECK(topo_ready(t, c, why, sizeof(why)) && strcmp(why, "ready: writer b") == 0, "b writes: %s", why);
    free(t);
    cfg_free(c);
}

int main(void)
{
    test_from_config();
    test_decide();
    test_ready();
    return unit_summary();
}
