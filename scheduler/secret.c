#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"


int
cs_secret_read(cs_secret_t *s, const char *name, const char *path,
    char *err, size_t errlen)
{
    int          fd;
    char         full[4096], *buf;
    ssize_t      n;
    size_t       len = 0;
    const char  *dir;

    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);

    if (path[0] != '/') {
        dir = getenv("CREDENTIALS_DIRECTORY");
        if (dir == NULL || dir[0] == '\0') {
            snprintf(err, errlen, "secret \"%s\": \"%s\" is a credential's "
                     "name, and $CREDENTIALS_DIRECTORY is not set", name,
                     path);
            return -1;
        }
        if (strchr(path, '/') != NULL || strcmp(path, "..") == 0
            || strcmp(path, ".") == 0)
        {
            snprintf(err, errlen, "secret \"%s\": a credential's name has "
                     "no \"/\"", name);
            return -1;
        }
        snprintf(full, sizeof(full), "%s/%s", dir, path);
        path = full;
    }

    buf = malloc(CS_SECRET_MAX + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "secret \"%s\": out of memory", name);
        return -1;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "secret \"%s\": cannot open \"%s\": %s", name,
                 path, strerror(errno));
        free(buf);
        return -1;
    }
    while (len <= CS_SECRET_MAX
           && (n = read(fd, buf + len, CS_SECRET_MAX + 1 - len)) != 0)
    {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            snprintf(err, errlen, "secret \"%s\": cannot read \"%s\": %s",
                     name, path, strerror(errno));
            close(fd);
            OPENSSL_cleanse(buf, len);
            free(buf);
            return -1;
        }
        len += (size_t) n;
    }
    close(fd);

    if (len > CS_SECRET_MAX) {
        snprintf(err, errlen, "secret \"%s\": \"%s\" is over %d bytes", name,
                 path, CS_SECRET_MAX);
        OPENSSL_cleanse(buf, len);
        free(buf);
        return -1;
    }

    /* as `echo` and editors leave it */
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
        if (len > 0 && buf[len - 1] == '\r') {
            len--;
        }
    }
    buf[len] = '\0';

    if (len == 0 || memchr(buf, '\0', len) != NULL
        || memchr(buf, '\n', len) != NULL)
    {
        snprintf(err, errlen, "secret \"%s\": \"%s\" is empty, or holds a "
                 "NUL byte or more than one line", name, path);
        OPENSSL_cleanse(buf, len);
        free(buf);
        return -1;
    }

    s->value = buf;
    s->len = len;
    return 0;
}


void
cs_secret_free(cs_secret_t *s)
{
    if (s->value) {
        OPENSSL_cleanse(s->value, s->len);
        free(s->value);
    }
    memset(s, 0, sizeof(*s));
}
