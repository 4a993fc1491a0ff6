#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

#include "hmac.h"


int
cs_hmac_b64(const char *digest, const void *key, size_t keylen,
    const cs_piece_t *pieces, size_t npieces, char *out)
{
    int             rc = -1;
    size_t          i, n;
    EVP_MAC        *mac;
    EVP_MAC_CTX    *ctx = NULL;
    unsigned char   md[EVP_MAX_MD_SIZE];
    OSSL_PARAM      params[2];

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        return -1;
    }
    ctx = EVP_MAC_CTX_new(mac);

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) digest, 0);
    params[1] = OSSL_PARAM_construct_end();

    if (ctx == NULL || !EVP_MAC_init(ctx, key, keylen, params)) {
        goto done;
    }
    for (i = 0; i < npieces; i++) {
        if (pieces[i].len && !EVP_MAC_update(ctx, pieces[i].data,
                                             pieces[i].len))
        {
            goto done;
        }
    }
    if (!EVP_MAC_final(ctx, md, &n, sizeof(md)) || 4 * ((n + 2) / 3) + 1
                                                   > CS_HMAC_B64_MAX)
    {
        goto done;
    }
    EVP_EncodeBlock((unsigned char *) out, md, (int) n);
    rc = 0;

done:

    OPENSSL_cleanse(md, sizeof(md));
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return rc;
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
