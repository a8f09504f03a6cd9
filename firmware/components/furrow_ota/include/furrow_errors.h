/*
 * furrow OTA error codes. Every public function of the core returns 0 on success or one of these
 * negative values; furrow_strerror() gives a one-line reason fit for a report.
 */
#ifndef FURROW_ERRORS_H
#define FURROW_ERRORS_H

#define FURROW_OK 0
/** A port callback (flash, state, crypto, network) reported a failure. */
#define FURROW_ERR_IO (-1)
/** The LZMA stream is corrupt (bad range coder state, distance beyond dictionary, truncated). */
#define FURROW_ERR_LZMA_CORRUPT (-2)
/** LZMA parameters out of range (lc > 8, lp > 4, pb > 4) or buffers too small for them. */
#define FURROW_ERR_LZMA_PARAMS (-3)
/** The patch header is not a furrow patch of a supported version. */
#define FURROW_ERR_PATCH_HEADER (-4)
/** The patch body is inconsistent (control entry out of range, sizes disagree). */
#define FURROW_ERR_PATCH_CORRUPT (-5)
/** A staged chunk body's SHA-256 differs from the (signed) chunk table: the body is re-fetched. */
#define FURROW_ERR_CHUNK_DIGEST (-6)
/** Something does not fit: image larger than the slot, chunk larger than the staging area. */
#define FURROW_ERR_TOO_BIG (-7)
/** The call is not valid in the current decoder / state machine state. */
#define FURROW_ERR_STATE (-8)
/** Malformed CBOR (truncated, indefinite length, wrong type, missing required key). */
#define FURROW_ERR_CBOR (-9)
/** A COSE_Sign1 signature did not verify, or the structure is not ES256 COSE_Sign1. */
#define FURROW_ERR_SIGNATURE (-10)
/** The manifest names another device or product. */
#define FURROW_ERR_WRONG_DEVICE (-11)
/** The manifest's base image digest is not the running image. */
#define FURROW_ERR_WRONG_BASE (-12)
/** The manifest's secure version is lower than the device's. */
#define FURROW_ERR_DOWNGRADE (-13)
/** The finished image's SHA-256 or size differs from the signed manifest. */
#define FURROW_ERR_RESULT_DIGEST (-14)
/** A CoAP message could not be parsed or built. */
#define FURROW_ERR_COAP (-15)
/** No answer after all retransmissions. */
#define FURROW_ERR_TIMEOUT (-16)
/** The server answered with an error response code. */
#define FURROW_ERR_SERVER (-17)
/** The release statement does not match the manifest (digest, size, product). */
#define FURROW_ERR_RELEASE (-18)
/** The patch bytes' SHA-256 is not the manifest's patch id. */
#define FURROW_ERR_PATCH_DIGEST (-19)

/** The patch's chunk table digest is not the one in the signed manifest. */
#define FURROW_ERR_TABLE_DIGEST (-20)
/** What was written to the passive slot does not read back the same. */
#define FURROW_ERR_FLASH_VERIFY (-22)
/** The manifest's release digest was refused before (failed self-test). */
#define FURROW_ERR_REFUSED (-21)
/** The server's answer (collected from Block2 blocks) is larger than the buffer given for it. */
#define FURROW_ERR_ANSWER_TOO_BIG (-23)
/** The server refuses a request body this large (4.13 Request Entity Too Large, RFC 7959 §2.9.3). */
#define FURROW_ERR_REQUEST_TOO_BIG (-24)

const char *furrow_strerror(int err);
/**
 * 1 when err may go away by itself (a lost or refused answer, an error response such as 4.04 or 5.00, a
 * malformed CoAP message, a flash/NVS/network callback failure, a write that did not read back): the
 * device keeps its progress and retries with backoff, and does not refuse the patch or report `failed`
 * until FURROW_TRANSIENT_RETRIES in a row. 0 for everything a retry cannot change (signature, base,
 * digests, format): the patch is refused at once. src/coap/resources/failure.ts mirrors this list.
 */
int furrow_err_transient(int err);

#endif
