/* Leveled logging, one line per event: logfmt
 *   time=2026-12-01T05:45:30.123Z level=info session=12 msg="..."
 * or JSON ({"time":...,"level":...,"session":12,"msg":...}) per
 * [ringmux] log_format; to stderr or [ringmux] log_file (reopened on
 * reload).  Macros check the level before formatting; the session and
 * backend-connection variants add the object's id as its own field, so one
 * client's story can be grepped (session=12) or filtered out of a busy log. */
#ifndef RINGMUX_LOG_H
#define RINGMUX_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };

extern atomic_int log_current_level;  /* reloadable: written by main, read by workers */
extern atomic_int log_current_format; /* enum log_format, reloadable */

static inline bool log_enabled(enum log_level lvl)
{
    return (int)lvl <= atomic_load_explicit(&log_current_level, memory_order_relaxed);
}
void log_write(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* With an object's id as a field: kind "session" or "backend". */
void log_write_id(enum log_level lvl, const char *kind, uint32_t id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Write to path from now on ("-" or NULL: stderr); called again with the
 * same path it reopens the file (log rotation).  Main thread only.  0, or
 * -1 with a message naming log_file in err. */
int log_set_file(const char *path, char *err, size_t errlen);
const char *log_level_str(enum log_level lvl);

#define LOG_AT(lvl, ...)                                                                                               \
    do {                                                                                                               \
        if ((int)(lvl) <= atomic_load_explicit(&log_current_level, memory_order_relaxed))                              \
            log_write((lvl), __VA_ARGS__);                                                                             \
    } while (0)

#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)

#define LOG_ID_AT(lvl, kind, id, ...)                                                                                  \
    do {                                                                                                               \
        if ((int)(lvl) <= atomic_load_explicit(&log_current_level, memory_order_relaxed))                              \
            log_write_id((lvl), (kind), (id), __VA_ARGS__);                                                            \
    } while (0)

/* Session- and backend-scoped variants: a session=<id> / backend=<id> field. */
#define slog(lvl, s, ...) LOG_ID_AT(lvl, "session", (s)->id, __VA_ARGS__)
#define blog(lvl, b, ...) LOG_ID_AT(lvl, "backend", (b)->id, __VA_ARGS__)

#endif
