/*
 * HMAC over pieces, base64 (OpenSSL's EVP_MAC): what Standard Webhooks
 * (SHA-256 over "id.timestamp.body") and Twilio's callbacks (SHA-1 over
 * the URL and the sorted parameters) sign. The scheduler signs with it;
 * the module checks receipts with it.
 */

#ifndef CS_HMAC_H
#define CS_HMAC_H

#include <stddef.h>

#define CS_HMAC_B64_MAX  96         /* base64 of a SHA-512, and a NUL */

typedef struct {
    const void  *data;
    size_t       len;
} cs_piece_t;

/* base64 of HMAC-<digest> ("SHA256", "SHA1") of the pieces in a row, into
 * out (CS_HMAC_B64_MAX); 0, or -1 */
int cs_hmac_b64(const char *digest, const void *key, size_t keylen,
    const cs_piece_t *pieces, size_t npieces, char *out);

/*
 * A Standard Webhooks secret: "whsec_" then base64; the key is the bytes
 * it decodes to. The key into out (room for outlen bytes); its length, or
 * -1 if it is not such a secret.
 */
long cs_whsec_key(const char *secret, size_t len, unsigned char *out,
    size_t outlen);

/* the contexts kept between calls, freed (a process's exit: nginx unloads
 * the module, and what it kept would be a leak) */
void cs_hmac_free(void);

/* equal, in time that does not depend on where they differ */
int cs_equal_ct(const void *a, const void *b, size_t len);

#endif
