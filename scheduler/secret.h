/*
 * Secrets: `secret NAME PATH;` reads a file once per load (start and
 * SIGHUP). A relative PATH is a systemd credential, read from
 * $CREDENTIALS_DIRECTORY (LoadCredential= in the unit). The value never
 * reaches a log, -t's output or an error message: errors name the secret
 * and its file, never what it holds.
 */

#ifndef CS_SECRET_H
#define CS_SECRET_H

#include <stddef.h>

#define CS_SECRET_MAX  8192

typedef struct {
    char    name[32];
    char   *value;                  /* NUL-terminated, one trailing newline
                                     * dropped */
    size_t  len;
} cs_secret_t;

/* 0, or -1 with why (naming the file, not its contents) in err */
int cs_secret_read(cs_secret_t *s, const char *name, const char *path,
    char *err, size_t errlen);
/* wiped, then freed */
void cs_secret_free(cs_secret_t *s);

#endif
