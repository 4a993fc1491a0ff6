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

/* a campaign's message (a JSON object), read once; NULL if it is not */
cs_template_t *cs_render_template(const char *message_json);
void cs_render_template_free(cs_template_t *t);

/* a malloc'ed, NUL-terminated body; or NULL, with why (the recipient's
 * last_error) */
char *cs_render_body(const char *campaign_id, const char *recipient_id,
    const char *type, const char *to, const char *vars_json,
    const cs_template_t *t, size_t *len, const char **why);

/* "id" of a provider's JSON answer (string or number), malloc'ed, at most
 * 200 bytes cut before a character, or NULL */
char *cs_render_provider_id(const char *answer, size_t len);

#endif
