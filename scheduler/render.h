/*
 * A delivery's body: {"campaign_id", "recipient_id", "type", "to", "vars",
 * "message"}, with every {{var}} in the message's strings filled from the
 * recipient's vars ({{to}} is its address; a missing var renders empty).
 */

#ifndef CS_RENDER_H
#define CS_RENDER_H

#include <stddef.h>
#include <yajl/yajl_tree.h>

/* a campaign's message, parsed once for all its recipients; NULL if bad */
yajl_val cs_render_message(const char *message_json);

/* a malloc'ed, NUL-terminated body, or NULL if vars is bad */
char *cs_render_body(const char *campaign_id, const char *recipient_id,
    const char *type, const char *to, const char *vars_json,
    yajl_val message, size_t *len);

/* "id" of a provider's JSON answer (string or number), malloc'ed, or NULL */
char *cs_render_provider_id(const char *answer, size_t len);

#endif
