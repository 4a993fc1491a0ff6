/* One line per event on stderr: time, level, then key=value fields. */

#ifndef CS_LOG_H
#define CS_LOG_H

void cs_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A value for a field, quoted and escaped (\" \\ \n \r \t, other control
 * bytes as \xHH), so that an event stays on one line whatever the text:
 * libpq's messages span lines. Up to 8 of them per event; each is cut at
 * 400 bytes.
 */
const char *log_esc(const char *s);

#define log_info(...)   cs_log("info", __VA_ARGS__)
#define log_warn(...)   cs_log("warn", __VA_ARGS__)
#define log_error(...)  cs_log("error", __VA_ARGS__)

#endif
