/*
 * The device's update state machine:
 *   IDLE -> check-in -> DOWNLOAD (manifest verified; patch fetched with Block2 and applied chunk by
 *   chunk into the passive slot) -> SWITCH (result SHA-256 verified, boot slot set) -> reboot ->
 *   TRIAL (self-test; confirm, or invalidate and roll back) -> REPORT -> IDLE.
 * Every transition is persisted (port->state_store) before the action it guards, so after a power
 * cut furrow_update_boot() + furrow_update_step() resume at the right step; the bootloader only ever
 * gets a boot slot whose image was verified, and an unconfirmed image is rolled back by it.
 */
#ifndef FURROW_UPDATE_H
#define FURROW_UPDATE_H

#include "furrow_coap.h"
#include "furrow_manifest.h"
#include "furrow_patch.h"

enum furrow_phase { FURROW_PH_IDLE = 0, FURROW_PH_DOWNLOAD, FURROW_PH_SWITCH, FURROW_PH_TRIAL, FURROW_PH_REPORT };
enum furrow_result { FURROW_RES_NONE = 0, FURROW_RES_OK, FURROW_RES_FAILED, FURROW_RES_ROLLED_BACK };
/** What furrow_update_step() asks the caller to do next. */
enum furrow_action { FURROW_ACT_CONTINUE = 0, FURROW_ACT_SLEEP, FURROW_ACT_REBOOT, FURROW_ACT_IDLE };

#define FURROW_STATE_MAGIC 0x46525753u /* "FRWS" */
#define FURROW_STATE_VERSION 2
/** Length of a version 1 blob (firmware before the blob carried its size): everything up to `received`. */
#define FURROW_STATE_V1_SIZE 544
#define FURROW_TRIAL_RETRIES 3
/** Transient failures in a row (furrow_err_transient) retried with backoff before the update is refused. */
#define FURROW_TRANSIENT_RETRIES 6
/** Times a chunk whose staged body fails its digest is fetched again before the patch is refused. */
#define FURROW_CHUNK_RETRIES 2

/**
 * Persisted state (one blob). Versions only ever append fields, so any image reads the prefix it knows
 * of a blob another image wrote (furrow_update_boot): version 1 (544 bytes, a 32-bit version word 1,
 * which reads as version 1 and size 0 on these little-endian chips) and newer, larger blobs alike;
 * fields a blob is too short to hold start at 0.
 */
struct furrow_persist {
    uint32_t magic;
    uint16_t version; /**< FURROW_STATE_VERSION of the image that stored it */
    uint16_t size;    /**< sizeof of its layout; 0 in version 1 */
    uint8_t phase, target, szx, result, trial_boots, has_bad, chunk_retries, pad;
    uint64_t counter;
    uint32_t secure_version;
    char running_version[32];
    struct furrow_manifest m;
    char patch_path[64];
    uint8_t etag[8];
    uint8_t etag_len;
    struct furrow_patch_progress pr;
    char reason[96];
    uint8_t bad_result[32];
    uint8_t failed_patch[32]; /**< the patch last refused: not retried at once when offered again */
    uint32_t received; /**< patch bytes received over the air for this update, re-downloads included */
    /* version 2 */
    uint8_t transient; /**< transient failures in a row (backoff 60 s << n), reset by progress */
    uint8_t pad2[7];
};

struct furrow_config {
    const char *device_id;
    const char *product;
    const uint8_t *key;         /**< 32-byte device secret K (PROTOCOL.md) */
    const uint8_t *gateway_pub; /**< 65 bytes */
    const uint8_t *release_pub; /**< 65 bytes, NULL: accept unsigned releases */
    uint8_t max_szx;            /**< largest block size the device takes (6 = 1024 bytes) */
    uint32_t ack_timeout_ms;
    uint32_t secure_version;    /**< factory value, used when no state is stored */
    const char *version;        /**< factory version string */
    /**
     * Largest CoAP payload one datagram to or from the gateway carries (LoRaWAN DR0-2: 32), 0 = no
     * limit beyond FURROW_COAP_BUF. With a limit, a check-in or report body larger than it goes up
     * in Block1 blocks and every POST asks for its answer in Block2 blocks of at most that size
     * (PROTOCOL.md "Small frames"), with 2-byte CoAP tokens. Read on every request, so an app whose
     * data rate changes (LoRaWAN ADR) may update it between furrow_update_step() calls. Last in the
     * struct: the fields above keep their offsets.
     */
    uint16_t max_payload;
};

struct furrow_update {
    const struct furrow_port *port;
    const struct furrow_config *cfg;
    int running;
    uint32_t sleep_s;
    struct furrow_persist st;
    uint8_t running_sha[32];
    /* the decoder's small fields stay within a 12-bit load offset of u (its coder RAM is last) */
    struct furrow_patch patch;
    struct furrow_coap_client coap;
    uint8_t body[320], env[420], mbuf[1024];
};

/** After every (re)boot: loads the state, hashes the running image. */
int furrow_update_boot(struct furrow_update *u, const struct furrow_port *port, const struct furrow_config *cfg);
/** Runs the next step; see enum furrow_action. Never returns an error: failures become reports. */
int furrow_update_step(struct furrow_update *u);
const char *furrow_phase_name(int phase);

/** HMAC-SHA256 over the port's SHA-256 (key <= 64 bytes). */
void furrow_hmac_sha256(const struct furrow_port *port, const uint8_t *key, size_t klen, const uint8_t *const *parts,
                        const size_t *lens, int nparts, uint8_t out[32]);

#endif
