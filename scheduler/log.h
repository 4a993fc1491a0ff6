/* One line per event on stderr: time, level, then key=value fields. */

#ifndef CS_LOG_H
#define CS_LOG_H

void cs_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_info(...)   cs_log("info", __VA_ARGS__)
#define log_warn(...)   cs_log("warn", __VA_ARGS__)
#define log_error(...)  cs_log("error", __VA_ARGS__)

#endif
