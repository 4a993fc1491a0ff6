#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "owned.h"

#define CS_OWNED_BUCKETS  4096

typedef struct cs_id_s cs_id_t;

struct cs_id_s {
    cs_id_t  *next;
    char      id[37];
};

struct cs_owned_s {
    cs_id_t  *buckets[CS_OWNED_BUCKETS];
};


static unsigned
owned_bucket(const char *id)
{
    return cs_hash(id) % CS_OWNED_BUCKETS;
}


cs_owned_t *
cs_owned_create(void)
{
    return calloc(1, sizeof(cs_owned_t));
}


void
cs_owned_free(cs_owned_t *o)
{
    size_t    i;
    cs_id_t  *p, *next;

    for (i = 0; i < CS_OWNED_BUCKETS; i++) {
        for (p = o->buckets[i]; p; p = next) {
            next = p->next;
            free(p);
        }
    }
    free(o);
}


int
cs_owned_has(const cs_owned_t *o, const char *id)
{
    const cs_id_t  *p;

    for (p = o->buckets[owned_bucket(id)]; p; p = p->next) {
        if (strcmp(p->id, id) == 0) {
            return 1;
        }
    }
    return 0;
}


int
cs_owned_add(cs_owned_t *o, const char *id)
{
    unsigned   b = owned_bucket(id);
    cs_id_t   *p;

    p = malloc(sizeof(cs_id_t));
    if (p == NULL) {
        return -1;
    }
    snprintf(p->id, sizeof(p->id), "%s", id);
    p->next = o->buckets[b];
    o->buckets[b] = p;
    return 0;
}


void
cs_owned_del(cs_owned_t *o, const char *id)
{
    cs_id_t  **pp, *p;

    for (pp = &o->buckets[owned_bucket(id)]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            p = *pp;
            *pp = p->next;
            free(p);
            return;
        }
    }
}
