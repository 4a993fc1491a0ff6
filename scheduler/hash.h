/* FNV-1a of a string: the campaign cache's and the dispatcher's buckets. */

#ifndef CS_HASH_H
#define CS_HASH_H

static inline unsigned
cs_hash(const char *s)
{
    unsigned  h = 2166136261u;

    while (*s) {
        h = (h ^ (unsigned char) *s++) * 16777619u;
    }
    return h;
}

#endif
