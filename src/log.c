/* Logging: one line per record, written with a single write(2) so lines
 * from different workers never interleave; logfmt or JSON; stderr or a
 * file that a reload reopens (include/ringmux/log.h). */
#include "ringmux/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

atomic_int log_current_level = LOG_INFO;
atomic_int log_current_format = LOG_FORMAT_TEXT;
/* Where lines go: stderr, or the descriptor of log_file (its number stays
 * the same across reopens: dup2 replaces the file under it). */
static atomic_int log_fd = STDERR_FILENO;

const char *log_level_str(enum log_level lvl)
{
    switch (lvl) {
    case LOG_ERROR: return "error";
    case LOG_WARN: return "warn";
    case LOG_INFO: return "info";
    case LOG_DEBUG: return "debug";
    }
    return "?";
}

int log_set_file(const char *path, char *err, size_t errlen)
{
    int cur = atomic_load(&log_fd);
    if (!path || !*path || strcmp(path, "-") == 0) {
        if (cur != STDERR_FILENO) {
            atomic_store(&log_fd, STDERR_FILENO);
            close(cur);
        }
        return 0;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "[ringmux] log_file %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (cur == STDERR_FILENO) {
        atomic_store(&log_fd, fd);
        return 0;
    }
    /* Reopen (log rotation): the new file takes the old descriptor's
     * number at once, so a worker writing right now writes to one or the
     * other, never to a closed descriptor. */
    if (dup2(fd, cur) < 0) {
        snprintf(err, errlen, "[ringmux] log_file %s: cannot reopen: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Append s to line (at *n, room len) as a quoted logfmt value or a JSON
 * string: quotes, backslashes and control bytes escaped; in JSON bytes
 * above 0x7f too (\u00XX), so a line stays valid whatever a client sent. */
static void put_str(char *line, size_t len, size_t *n, const char *s, bool json)
{
    size_t o = *n;
    if (o < len)
        line[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 7 < len; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            line[o++] = '\\';
            line[o++] = (char)c;
        } else if (c == '\n') {
            line[o++] = '\\';
            line[o++] = 'n';
        } else if (c < 0x20 || c == 0x7f || (json && c >= 0x80)) {
            o += (size_t)snprintf(line + o, len - o, json ? "\\u%04x" : "\\x%02x", c);
        } else {
            line[o++] = (char)c;
        }
    }
    if (o < len)
        line[o++] = '"';
    *n = o;
}

static void emit(enum log_level lvl, const char *kind, uint32_t id, const char *fmt, va_list ap)
{
    char msg[1024], line[2200];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000));
    bool json = atomic_load_explicit(&log_current_format, memory_order_relaxed) == LOG_FORMAT_JSON;
    size_t n;
    if (json) {
        n = (size_t)snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\"", ts, log_level_str(lvl));
        if (kind)
            n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"%s\":%u", kind, id);
        n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"msg\":");
        put_str(line, sizeof(line) - 2, &n, msg, true);
        line[n++] = '}';
    } else {
        n = (size_t)snprintf(line, sizeof(line), "time=%s level=%s", ts, log_level_str(lvl));
        if (kind)
            n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%u", kind, id);
        n += (size_t)snprintf(line + n, sizeof(line) - n, " msg=");
        put_str(line, sizeof(line) - 1, &n, msg, false);
    }
    line[n++] = '\n';
    ssize_t w = write(atomic_load_explicit(&log_fd, memory_order_relaxed), line, n);
    (void)w;
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(lvl, NULL, 0, fmt, ap);
    va_end(ap);
}

void log_write_id(enum log_level lvl, const char *kind, uint32_t id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(lvl, kind, id, fmt, ap);
    va_end(ap);
}
