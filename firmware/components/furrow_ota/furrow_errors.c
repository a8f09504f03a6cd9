#include "furrow_errors.h"

const char *furrow_strerror(int err)
{
    switch (err) {
    case FURROW_OK: return "ok";
    case FURROW_ERR_IO: return "flash, state, crypto or network callback failed";
    case FURROW_ERR_LZMA_CORRUPT: return "compressed stream is corrupt";
    case FURROW_ERR_LZMA_PARAMS: return "LZMA parameters out of range";
    case FURROW_ERR_PATCH_HEADER: return "not a furrow patch of a supported version";
    case FURROW_ERR_PATCH_CORRUPT: return "patch is inconsistent";
    case FURROW_ERR_CHUNK_DIGEST: return "chunk digest mismatch";
    case FURROW_ERR_TOO_BIG: return "does not fit in the slot or staging area";
    case FURROW_ERR_STATE: return "call not valid in this state";
    case FURROW_ERR_CBOR: return "malformed CBOR";
    case FURROW_ERR_SIGNATURE: return "signature does not verify";
    case FURROW_ERR_WRONG_DEVICE: return "manifest is for another device or product";
    case FURROW_ERR_WRONG_BASE: return "patch base is not the running image";
    case FURROW_ERR_DOWNGRADE: return "secure version lower than the device's";
    case FURROW_ERR_RESULT_DIGEST: return "result image digest or size mismatch";
    case FURROW_ERR_COAP: return "malformed CoAP message";
    case FURROW_ERR_TIMEOUT: return "no answer from the server";
    case FURROW_ERR_SERVER: return "server answered with an error";
    case FURROW_ERR_RELEASE: return "release statement does not match the manifest";
    case FURROW_ERR_PATCH_DIGEST: return "patch digest mismatch";
    case FURROW_ERR_TABLE_DIGEST: return "chunk table digest differs from the manifest";
    case FURROW_ERR_FLASH_VERIFY: return "flash does not read back what was written";
    case FURROW_ERR_REFUSED: return "this image failed its self-test before";
    case FURROW_ERR_ANSWER_TOO_BIG: return "server's answer is larger than the device's buffer";
    case FURROW_ERR_REQUEST_TOO_BIG: return "server refuses a request body this large (4.13)";
    default: return "unknown error";
    }
}

int furrow_err_transient(int err)
{
    return err == FURROW_ERR_IO || err == FURROW_ERR_TIMEOUT || err == FURROW_ERR_SERVER || err == FURROW_ERR_COAP ||
           err == FURROW_ERR_FLASH_VERIFY;
}
