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

/* a rendered message is at most this long: a provider would not take more,
 * and placeholders could make a 64 KiB message thousands of times that */
#define CS_RENDER_MAX  (1024 * 1024)

/* a malloc'ed, NUL-terminated body, in time linear in the message and the
 * vars; or NULL, with why (the recipient's last_error) */
char *cs_render_body(const char *campaign_id, const char *recipient_id,
    const char *type, const char *to, const char *vars_json,
    yajl_val message, size_t *len, const char **why);

/* "id" of a provider's JSON answer (string or number), malloc'ed, or NULL */
char *cs_render_provider_id(const char *answer, size_t len);

#endif
