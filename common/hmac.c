#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

#include "hmac.h"


/*
 * One context per digest, made once per process and keyed again for each
 * use: fetching HMAC and the digest by name, under OpenSSL's locks, cost
 * as much as the HMAC of a delivery's body. (A scheduler signs on its loop
 * alone; nginx's workers are processes of one thread.)
 */
static struct {
    const char   *digest;
    EVP_MAC_CTX  *ctx;
} cache[4];


void
cs_hmac_free(void)
{
    size_t  i;

    for (i = 0; i < 4; i++) {
        EVP_MAC_CTX_free(cache[i].ctx);
        cache[i].ctx = NULL;
        cache[i].digest = NULL;
    }
}


static EVP_MAC_CTX *
hmac_ctx(const char *digest)
{
    size_t       i;
    EVP_MAC     *mac;
    OSSL_PARAM   params[2];

    for (i = 0; i < 4 && cache[i].digest != NULL; i++) {
        if (strcmp(cache[i].digest, digest) == 0) {
            return cache[i].ctx;
        }
    }
    if (i == 4) {
        return NULL;
    }

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        return NULL;
    }
    cache[i].ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);              /* the context holds it */
    if (cache[i].ctx == NULL) {
        return NULL;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) digest, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_CTX_set_params(cache[i].ctx, params)) {
        EVP_MAC_CTX_free(cache[i].ctx);
        cache[i].ctx = NULL;
        return NULL;
    }
    cache[i].digest = digest;
    return cache[i].ctx;
}


int
cs_hmac_b64(const char *digest, const void *key, size_t keylen,
    const cs_piece_t *pieces, size_t npieces, char *out)
{
    size_t          i, n;
    EVP_MAC_CTX    *ctx;
    unsigned char   md[EVP_MAX_MD_SIZE];

    ctx = hmac_ctx(digest);
    if (ctx == NULL || !EVP_MAC_init(ctx, key, keylen, NULL)) {
        return -1;
    }
    for (i = 0; i < npieces; i++) {
        if (pieces[i].len && !EVP_MAC_update(ctx, pieces[i].data,
                                             pieces[i].len))
        {
            return -1;
        }
    }
    if (!EVP_MAC_final(ctx, md, &n, sizeof(md))
        || 4 * ((n + 2) / 3) + 1 > CS_HMAC_B64_MAX)
    {
        return -1;
    }
    EVP_EncodeBlock((unsigned char *) out, md, (int) n);
    OPENSSL_cleanse(md, sizeof(md));
    return 0;
}


long
cs_whsec_key(const char *secret, size_t len, unsigned char *out,
    size_t outlen)
{
    int     n;
    size_t  b64 = len - 6, pad = 0;

    if (len <= 6 || memcmp(secret, "whsec_", 6) != 0 || b64 % 4 != 0
        || b64 / 4 * 3 > outlen)
    {
        return -1;
    }
    /* EVP_DecodeBlock counts the padding as bytes of zeros */
    if (secret[len - 1] == '=') {
        pad = secret[len - 2] == '=' ? 2 : 1;
    }
    n = EVP_DecodeBlock(out, (const unsigned char *) secret + 6, (int) b64);
    if (n < 0 || (size_t) n < pad) {
        return -1;
    }
    return n - (long) pad;
}


int
cs_equal_ct(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}
