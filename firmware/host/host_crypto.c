/* The low-level SHA256_* / EC_KEY calls are deprecated in OpenSSL 3 but fixed-size and allocation
 * free for SHA, which is what the port contract wants. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "host_crypto.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

typedef char sha_ctx_fits[sizeof(SHA256_CTX) <= sizeof(struct furrow_sha256) ? 1 : -1];

void host_sha256_init(struct furrow_sha256 *c)
{
    SHA256_Init((SHA256_CTX *)c);
}

void host_sha256_update(struct furrow_sha256 *c, const void *p, size_t n)
{
    SHA256_Update((SHA256_CTX *)c, p, n);
}

void host_sha256_final(struct furrow_sha256 *c, uint8_t out[32])
{
    SHA256_Final(out, (SHA256_CTX *)c);
}

int host_ecdsa_p256_verify(void *arg, const uint8_t pub[65], const uint8_t hash[32], const uint8_t sig[64])
{
    EC_KEY *key = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *pt = NULL;
    ECDSA_SIG *s = NULL;
    BIGNUM *r = NULL, *ss = NULL;
    int ok = 0;
    (void)arg;
    if (!key)
        goto cleanup;
    pt = EC_POINT_new(EC_KEY_get0_group(key));
    if (!pt || !EC_POINT_oct2point(EC_KEY_get0_group(key), pt, pub, 65, NULL) || !EC_KEY_set_public_key(key, pt))
        goto cleanup;
    s = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    ss = BN_bin2bn(sig + 32, 32, NULL);
    if (!s || !r || !ss || !ECDSA_SIG_set0(s, r, ss))
        goto cleanup;
    r = ss = NULL; /* owned by s now */
    ok = ECDSA_do_verify(hash, 32, s, key) == 1;
cleanup:
    BN_free(r);
    BN_free(ss);
    ECDSA_SIG_free(s);
    EC_POINT_free(pt);
    EC_KEY_free(key);
    return ok ? 0 : -1;
}

void host_random(void *arg, void *buf, size_t len)
{
    (void)arg;
    if (RAND_bytes(buf, (int)len) != 1)
        memset(buf, 0x5A, len);
}

int host_load_pubkey(const char *path, uint8_t pub[65])
{
    char text[4096];
    size_t n;
    FILE *f = fopen(path, "r");
    EVP_PKEY *pk;
    EC_KEY *ec;
    int ok = -1;
    if (!f)
        return -1;
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    if (!strstr(text, "-----BEGIN"))
        return host_hex(text, pub, 65) == 65 && pub[0] == 4 ? 0 : -1;
    f = fopen(path, "r");
    if (!f)
        return -1;
    pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!pk)
        return -1;
    ec = EVP_PKEY_get1_EC_KEY(pk);
    if (ec && EC_POINT_point2oct(EC_KEY_get0_group(ec), EC_KEY_get0_public_key(ec), POINT_CONVERSION_UNCOMPRESSED, pub,
                                 65, NULL) == 65)
        ok = 0;
    EC_KEY_free(ec);
    EVP_PKEY_free(pk);
    return ok;
}
