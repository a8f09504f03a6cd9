/*
 * Delivery manifest v1 and release statement (src/manifest/MANIFEST.md): COSE_Sign1 / ES256 checks
 * in the order the spec gives, all before a byte of the patch is written.
 */
#ifndef FURROW_MANIFEST_H
#define FURROW_MANIFEST_H

#include "furrow_port.h"

#define FURROW_ID_MAX 48

struct furrow_manifest {
    uint64_t seq;
    char product[FURROW_ID_MAX];
    char version[32];
    uint8_t has_base;
    uint8_t base_sha[32];
    uint8_t patch_sha[32];
    uint32_t patch_size;
    uint8_t table_digest[32];
    uint8_t result_sha[32];
    uint32_t result_size;
    uint32_t secure_version;
};

/** What the device knows and trusts. */
struct furrow_trust {
    const uint8_t *gateway_pub;  /**< 65-byte uncompressed P-256 point */
    const uint8_t *release_pub;  /**< 65 bytes; NULL = accept unsigned releases (development only) */
    const char *device_id;
    const char *product;
    const uint8_t *running_sha;  /**< SHA-256 of the running image */
    uint32_t secure_version;     /**< the device's anti-rollback counter */
};

/**
 * Verifies a COSE_Sign1 ES256 structure with pub; on success points *payload into buf.
 * Returns 0, FURROW_ERR_CBOR (not a COSE_Sign1 of the profile) or FURROW_ERR_SIGNATURE.
 */
int furrow_cose_verify(const struct furrow_port *port, const uint8_t *buf, size_t len, const uint8_t pub[65],
                       const uint8_t **payload, size_t *payload_len);

/**
 * Checks a delivery manifest: gateway signature, device id and product, base digest, release
 * statement signature and digest/size, secure version. Fills m on success. Errors:
 * FURROW_ERR_CBOR, _SIGNATURE, _WRONG_DEVICE, _WRONG_BASE, _RELEASE, _DOWNGRADE.
 */
int furrow_manifest_verify(const struct furrow_port *port, const uint8_t *buf, size_t len,
                           const struct furrow_trust *t, struct furrow_manifest *m);

#endif
