/*
 * A delivery's body: {"campaign_id", "recipient_id", "type", "to", "vars",
 * "message"}, with every {{var}} in the message's strings filled from the
 * recipient's vars ({{to}} is its address; a missing var, or one that is
 * an object, an array or null, renders empty).
 *
 * A campaign's message is read once, with the names of its placeholders
 * (a template); each body is then made in time linear in the message and
 * the vars: the vars are read once, keeping only the values the message
 * names, and copied into the body as they came.
 */

#ifndef CS_RENDER_H
#define CS_RENDER_H

#include <stddef.h>

/* a body is at most this long, as written (escaped): a provider would not
 * take more, and placeholders could make a 64 KiB message thousands of
 * times that */
#define CS_RENDER_MAX  (1024 * 1024)

typedef struct cs_template_s cs_template_t;
typedef struct cs_render_s cs_render_t;

/* one recipient, as a claim read it */
typedef struct {
    const char  *campaign_id;
    const char  *recipient_id;
    const char  *type;
    const char  *to;
    const char  *vars_json;
} cs_render_in_t;

/*
 * A campaign's message (a JSON object) and metadata (an object, or NULL),
 * read once, with the vars its placeholders name and the extra ones (a
 * provider's templates' vars.*); NULL if either is not an object.
 */
cs_template_t *cs_render_template(const char *message_json,
    const char *metadata_json, char *const *extra, size_t nextra);
void cs_render_template_free(cs_template_t *t);

/*
 * One recipient: its vars are read once, then any of the renderings below
 * (at most CS_RENDER_MAX bytes in all). NULL, with why (the recipient's
 * last_error), if its vars are not an object.
 */
cs_render_t *cs_render_begin(const cs_template_t *t,
    const cs_render_in_t *in, const char **why);
void cs_render_end(cs_render_t *rd);

/*
 * Each gives a malloc'ed, NUL-terminated text, or NULL with why.
 *   json: the project's own body (above);
 *   doc:  a provider's JSON document (a yajl tree) with the placeholders
 *         of its strings filled, escaped as JSON strings;
 *   text: a provider's string (a header's value) filled, raw;
 *   form: name=value pairs, each value filled, then percent-encoded.
 * A provider's placeholders are to, type, recipient.id, campaign.id,
 * vars.NAME, message.PATH (its own placeholders filled) and
 * campaign.metadata.PATH, a PATH being dotted keys.
 */
char *cs_render_json(cs_render_t *rd, size_t *len, const char **why);
char *cs_render_doc(cs_render_t *rd, const void *doc, size_t *len,
    const char **why);
char *cs_render_text(cs_render_t *rd, const char *s, size_t *len,
    const char **why);
char *cs_render_form(cs_render_t *rd, char *const *names,
    char *const *values, size_t npairs, size_t *len, const char **why);

/* begin, json, end */
char *cs_render_body(const char *campaign_id, const char *recipient_id,
    const char *type, const char *to, const char *vars_json,
    const cs_template_t *t, size_t *len, const char **why);

/* found() for each placeholder's name in s, or in a yajl tree's strings;
 * non-zero from found() stops it */
int cs_render_names(const char *s, int (*found)(const char *name,
    size_t n, void *data), void *data);
int cs_render_doc_names(const void *doc, int (*found)(const char *name,
    size_t n, void *data), void *data);
/* 1 if a provider's template may name it */
int cs_render_field_ok(const char *name, size_t n);

/* the field at path (dotted keys, e.g. "sid", "data.id") of a provider's
 * JSON answer (string or number), malloc'ed, at most 200 bytes cut before
 * a character, or NULL */
char *cs_render_provider_id(const char *answer, size_t len,
    const char *path);

#endif
