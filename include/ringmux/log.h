/* Leveled logging.  Macros check the level before formatting, and the
 * session/connection variants prefix the object's id so one client's story
 * can be grepped out of a busy log. */
#ifndef RINGMUX_LOG_H
#define RINGMUX_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

extern atomic_int log_current_level; /* reloadable: written by main, read by workers */

static inline bool log_enabled(enum log_level lvl)
{
    return (int)lvl <= atomic_load_explicit(&log_current_level, memory_order_relaxed);
}
void log_write(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
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

/* Session- and backend-scoped variants: "s=<id>" / "b=<id>" prefixes. */
#define slog(lvl, s, fmt, ...) LOG_AT(lvl, "s=%u " fmt, (s)->id, ##__VA_ARGS__)
#define blog(lvl, b, fmt, ...) LOG_AT(lvl, "b=%u " fmt, (b)->id, ##__VA_ARGS__)

#endif
