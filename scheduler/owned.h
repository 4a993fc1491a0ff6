/*
 * The recipients a scheduler must not read again: in flight, or answered
 * with a result not yet committed. A set of ids, hashed.
 */

#ifndef CS_OWNED_H
#define CS_OWNED_H

typedef struct cs_owned_s cs_owned_t;

cs_owned_t *cs_owned_create(void);
void cs_owned_free(cs_owned_t *o);
int cs_owned_has(const cs_owned_t *o, const char *id);
int cs_owned_add(cs_owned_t *o, const char *id);     /* 0, or -1 (memory) */
void cs_owned_del(cs_owned_t *o, const char *id);

#endif
