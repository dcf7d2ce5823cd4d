#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

/* OpenSSL 3's one-shot SHA256() looks the algorithm up on every call; a
 * per-thread context with the digest fetched once does not. */
static _Thread_local EVP_MD_CTX *sha_ctx;
static _Thread_local EVP_MD *sha_md;

void auth_thread_done(void)
{
    EVP_MD_CTX_free(sha_ctx);
    EVP_MD_free(sha_md);
    sha_ctx = NULL;
    sha_md = NULL;
}

static void sha256(const char *p, size_t len, unsigned char out[SHA256_DIGEST_LENGTH])
{
    unsigned int n;

    if (sha_md == NULL)
        sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha_ctx == NULL)
        sha_ctx = EVP_MD_CTX_new();
    if (sha_md == NULL || sha_ctx == NULL || EVP_DigestInit_ex2(sha_ctx, sha_md, NULL) != 1 ||
        EVP_DigestUpdate(sha_ctx, p, len) != 1 || EVP_DigestFinal_ex(sha_ctx, out, &n) != 1)
        ia_fatal("SHA-256 unavailable");
}

static int match_key(const config_t *cfg, const char *key, size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    int found = AUTH_INVALID;

    sha256(key, len, md);
    /* No early exit: every key is compared whatever the outcome. */
    for (size_t i = 0; i < cfg->n_keys; i++) {
        int same = CRYPTO_memcmp(md, cfg->keys[i].hash, sizeof(md)) == 0;
        found = same ? (int)i : found;
    }
    return found;
}

int auth_check(const config_t *cfg, const http_request_t *req)
{
    if (req->has_authorization) {
        slice_t v = req->authorization;
        size_t i = 0;
        if (v.len < 7 || strncasecmp(v.ptr, "Bearer ", 7) != 0)
            return AUTH_INVALID;
        i = 7;
        while (i < v.len && v.ptr[i] == ' ')
            i++;
        if (i == v.len)
            return AUTH_INVALID;
        return match_key(cfg, v.ptr + i, v.len - i);
    }
    if (req->has_x_api_key) {
        if (req->x_api_key.len == 0)
            return AUTH_INVALID;
        return match_key(cfg, req->x_api_key.ptr, req->x_api_key.len);
    }
    return AUTH_MISSING;
}

void auth_key_id(const config_t *cfg, int key_index, char out[AUTH_KEY_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    static const char domain[] = "items-api idempotency scope v1";
    unsigned char in[sizeof(domain) + CONFIG_KEY_HASH_LEN];
    unsigned char md[SHA256_DIGEST_LENGTH];

    /* Derived, not the auth hash itself: the database never holds a value
     * that could be replayed against auth_check's table. */
    memcpy(in, domain, sizeof(domain));
    memcpy(in + sizeof(domain), cfg->keys[key_index].hash, CONFIG_KEY_HASH_LEN);
    SHA256(in, sizeof(in), md);
    for (size_t i = 0; i < AUTH_KEY_ID_LEN / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[AUTH_KEY_ID_LEN] = '\0';
}
