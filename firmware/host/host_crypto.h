/* OpenSSL (libcrypto) implementations of the port's crypto callbacks. */
#ifndef HOST_CRYPTO_H
#define HOST_CRYPTO_H

#include "furrow_port.h"

void host_sha256_init(struct furrow_sha256 *c);
void host_sha256_update(struct furrow_sha256 *c, const void *p, size_t n);
void host_sha256_final(struct furrow_sha256 *c, uint8_t out[32]);
int host_ecdsa_p256_verify(void *arg, const uint8_t pub[65], const uint8_t hash[32], const uint8_t sig[64]);
void host_random(void *arg, void *buf, size_t len);
/** Reads a P-256 public key (PEM SubjectPublicKeyInfo, or 130 hex digits of the point) into pub. */
int host_load_pubkey(const char *path, uint8_t pub[65]);
/** Parses up to max bytes of hex (whitespace ignored); returns the byte count or -1. */
int host_hex(const char *s, uint8_t *out, size_t max);

#endif
