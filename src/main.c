/* ringmux: command line, signals, start and stop of the workers. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <mysql.h>

#include "ringmux/backend.h"
#include "ringmux/config.h"
#include "ringmux/log.h"
#include "ringmux/monitor.h"
#include "ringmux/net.h"
#include "ringmux/pool.h"
#include "ringmux/token.h"
#include "ringmux/worker.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: ringmux -c FILE [--check]\n"
               "       ringmux token -c FILE --user USER [--ttl 15m] [--key NAME]\n"
               "       ringmux --help-config | --example-config | --version | --help\n"
               "\n"
               "  -c, --config FILE    configuration file (see etc/ringmux.ini)\n"
               "      --check          validate the configuration and exit (0 = valid)\n"
               "      --help-config    describe every configuration key\n"
               "      --example-config print a documented example configuration\n"
               "      --man-config     print the ringmux.ini(5) manual page (troff)\n"
               "  -V, --version        print the version\n"
               "  -h, --help           this text\n"
               "\n"
               "Signals: SIGTERM/SIGINT stop gracefully (in-flight statements finish),\n"
               "SIGHUP reloads the reloadable settings ([pool], [users], log_level, ...).\n");
}

/* Configs replaced by reloads stay allocated until exit: workers may still
 * be reading them, and reloads are rare. */
struct old_cfg {
    struct rm_config *cfg;
    struct old_cfg *next;
};

static int load(const char *path, struct rm_config **out)
{
    char err[8192];
    if (cfg_load(path, out, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s", err);
        if (err[0] && err[strlen(err) - 1] != '\n')
            fputc('\n', stderr);
        return -1;
    }
    return 0;
}

/* Raise the open-file limit to its hard maximum: every client and backend
 * connection is a socket.  Warn when even that can't hold the configured
 * limits. */
static void raise_fd_limit(const struct rm_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t need = (rlim_t)cfg->max_client_connections + (rlim_t)cfg->max_backend_connections + 64;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        log_warn("open-file limit %llu is below max_client_connections + max_backend_connections (%llu); "
                 "raise it (ulimit -n) or clients will be refused",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

static int workers_for(const struct rm_config *cfg)
{
    if (cfg->workers > 0)
        return cfg->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > RM_MAX_WORKERS ? RM_MAX_WORKERS : (int)n;
}

static void reload(struct rm_shared *sh, const char *path, struct old_cfg **olds)
{
    struct rm_config *next;
    if (load(path, &next) < 0) {
        log_error("reload of %s failed; keeping the running configuration", path);
        return;
    }
    struct rm_config *cur = atomic_load(&sh->cfg);
    char changes[1024];
    if (cfg_restart_changes(cur, next, changes, sizeof(changes)) > 0)
        log_warn("reload: these settings need a restart and keep their old values: %s", changes);
    /* Settings that need a restart keep their running values. */
    next->listen = cur->listen;
    next->admin = cur->admin;
    next->console_listen = cur->console_listen;
    next->workers = cur->workers;
    next->reader_listen = cur->reader_listen;
    bool same_backends = next->n_backends == cur->n_backends;
    for (int i = 0; same_backends && i < cur->n_backends; i++)
        same_backends = strcmp(next->backends[i].name, cur->backends[i].name) == 0 &&
                        strcmp(next->backends[i].addr.host, cur->backends[i].addr.host) == 0 &&
                        next->backends[i].addr.port == cur->backends[i].addr.port;
    if (!same_backends) { /* workers index backends: keep the running set */
        next->n_backends = cur->n_backends;
        memcpy(next->backends, cur->backends, sizeof(next->backends));
        if (next->writer_conflict_mode == WRITER_CONFLICT_PREFER) {
            next->writer_prefer = cfg_backend_index(next, next->writer_conflict + 7);
            if (next->writer_prefer < 0)
                next->writer_conflict_mode = WRITER_CONFLICT_REFUSE;
        }
    }
    next->max_allowed_packet = cur->max_allowed_packet;
    struct old_cfg *o = malloc(sizeof(*o));
    if (!o) {
        cfg_free(next);
        return;
    }
    o->cfg = cur;
    o->next = *olds;
    *olds = o;
    atomic_store(&log_current_level, next->log_level);
    atomic_store(&log_current_format, next->log_format);
    char lerr[300];
    if (log_set_file(next->log_file, lerr, sizeof(lerr)) < 0) /* a rotated log file starts anew */
        log_error("%s; logging on to the previous destination", lerr);
    atomic_store(&sh->cfg, next);
    for (int i = 0; i < sh->n_workers; i++)
        worker_wake(&sh->workers[i]);
    log_info("configuration reloaded from %s", path);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "token") == 0)
        return token_command(argc - 1, argv + 1);
    const char *path = NULL;
    bool check = false;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'k'},
        {"help-config", no_argument, NULL, 'H'},  {"example-config", no_argument, NULL, 'E'},
        {"man-config", no_argument, NULL, 'M'},   {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'k': check = true; break;
        case 'H': cfg_print_help(stdout); return 0;
        case 'E': cfg_write_example(stdout); return 0;
        case 'M': cfg_write_man(stdout, RINGMUX_VERSION); return 0;
        case 'V': printf("ringmux %s\n", RINGMUX_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!path) {
        fprintf(stderr, "ringmux: -c FILE is needed: the configuration %s\n", check ? "to check" : "to run with");
        usage(stderr);
        return 2;
    }
    struct rm_config *cfg;
    if (load(path, &cfg) < 0)
        return 1;
    if (check) {
        printf("%s: configuration is valid\n", path);
        cfg_free(cfg);
        return 0;
    }
    atomic_store(&log_current_level, cfg->log_level);
    atomic_store(&log_current_format, cfg->log_format);
    char err[300];
    if (log_set_file(cfg->log_file, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        cfg_free(cfg);
        return 1;
    }
    if (net_check_unused(&cfg->listen, err, sizeof(err)) < 0) {
        log_error("listen = %s:%u: %s", cfg->listen.host, cfg->listen.port, err);
        cfg_free(cfg);
        return 1;
    }
    if (cfg->admin.port != 0 && net_check_unused(&cfg->admin, err, sizeof(err)) < 0) {
        log_error("admin_listen = %s:%u: %s", cfg->admin.host, cfg->admin.port, err);
        cfg_free(cfg);
        return 1;
    }
    raise_fd_limit(cfg);

    /* Signals are handled by sigwait in this thread only. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    mysql_library_init(0, NULL, NULL);
    static struct rm_shared sh;
    atomic_store(&sh.cfg, cfg);
    monitor_first_round(&sh); /* resolves, checks, publishes the first topology (and greeting) */
    sh.n_workers = workers_for(cfg);
    sh.workers = calloc((size_t)sh.n_workers, sizeof(struct rm_worker));
    sh.metrics = calloc((size_t)sh.n_workers, sizeof(struct rm_metrics *));
    if (!sh.workers || !sh.metrics) {
        log_error("out of memory");
        return 1;
    }
    int started = 0, rc = 0;
    for (int i = 0; i < sh.n_workers; i++) {
        if (worker_init(&sh.workers[i], &sh, i) < 0) {
            rc = 1;
            break;
        }
        sh.metrics[i] = &sh.workers[i].met;
    }
    if (rc == 0) {
        for (; started < sh.n_workers; started++)
            if (pthread_create(&sh.workers[started].thread, NULL, worker_main, &sh.workers[started]) != 0) {
                log_error("pthread_create: %s", strerror(errno));
                rc = 1;
                break;
            }
    }
    if (rc == 0 && monitor_start(&sh) < 0) {
        log_error("cannot start the monitor thread");
        rc = 1;
    }
    if (rc == 0)
        log_info("ringmux %s listening on %s:%u (%d workers), %d backend(s), first %s:%u", RINGMUX_VERSION,
                 cfg->listen.host, cfg->listen.port, sh.n_workers, cfg->n_backends, cfg->backends[0].addr.host,
                 cfg->backends[0].addr.port);
    struct old_cfg *olds = NULL;
    while (rc == 0) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(&sh, path, &olds);
            continue;
        }
        log_info("signal %d: stopping (in-flight statements finish first)", sig);
        break;
    }
    atomic_store(&sh.stopping, true);
    for (int i = 0; i < started; i++)
        worker_wake(&sh.workers[i]);
    for (int i = 0; i < started; i++)
        pthread_join(sh.workers[i].thread, NULL);
    monitor_stop(&sh); /* after the workers' loops (they read its snapshots), before their wake fds close */
    for (int i = 0; i < sh.n_workers; i++)
        if (sh.workers[i].idx == i && sh.workers[i].sh)
            worker_destroy(&sh.workers[i]);
    free(sh.workers);
    free(sh.metrics);
    while (olds) {
        struct old_cfg *o = olds;
        olds = o->next;
        cfg_free(o->cfg);
        free(o);
    }
    cfg_free(atomic_load(&sh.cfg));
    mysql_library_end();
    log_info("stopped");
    return rc;
}
