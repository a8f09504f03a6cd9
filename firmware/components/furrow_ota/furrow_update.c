/* Update state machine; see furrow_update.h for the phases and the persistence rule. */
#include "furrow_update.h"
#include "furrow_errors.h"
#include "furrow_proto.h"

#include <string.h>

/* furrow_update_boot loads the blob into mbuf */
typedef char furrow_state_fits_mbuf[sizeof(((struct furrow_update *)0)->mbuf) >= sizeof(struct furrow_persist) ? 1 : -1];

static const char *const phase_names[] = { "idle", "download", "switch", "trial", "report" };
static const char *const report_names[] = { "none", "booted", "failed", "rolled_back" };

const char *furrow_phase_name(int phase)
{
    return phase >= 0 && phase <= FURROW_PH_REPORT ? phase_names[phase] : "?";
}

static void event(struct furrow_update *u, const char *name, const char *detail, uint32_t a, uint32_t b)
{
    if (u->port->event)
        u->port->event(u->port->arg, name, detail, a, b);
}

static int persist(struct furrow_update *u)
{
    return u->port->state_store(u->port->arg, &u->st, sizeof u->st) ? FURROW_ERR_IO : 0;
}

static int set_phase(struct furrow_update *u, int phase)
{
    u->st.phase = (uint8_t)phase;
    event(u, "state", phase_names[phase], u->st.pr.offset, u->st.pr.applied);
    return persist(u);
}

static int slot_sha(struct furrow_update *u, int slot, uint32_t size, uint8_t out[32])
{
    return furrow_flash_sha256(u->port, slot, 0, size, u->mbuf, sizeof u->mbuf, out);
}

int furrow_update_boot(struct furrow_update *u, const struct furrow_port *port, const struct furrow_config *cfg)
{
    int32_t size;
    int n;
    u->port = port;
    u->cfg = cfg;
    u->sleep_s = 0;
    furrow_coap_client_init(&u->coap, port);
    if (cfg->ack_timeout_ms)
        u->coap.ack_timeout_ms = cfg->ack_timeout_ms;
    /* into mbuf, larger than any layout so far: a newer image's blob loads too (its prefix is ours),
     * and fields newer than an older blob read as the zeros after it */
    memset(u->mbuf, 0, sizeof u->mbuf);
    n = port->state_load(port->arg, u->mbuf, sizeof u->mbuf);
    memcpy(&u->st, u->mbuf, sizeof u->st);
    if (u->st.version == 1)
        u->st.size = FURROW_STATE_V1_SIZE; /* its 32-bit version word 1 */
    if (n < FURROW_STATE_V1_SIZE || n != u->st.size || u->st.magic != FURROW_STATE_MAGIC) {
        /* factory state (or a blob that is not ours: start clean rather than misread it) */
        memset(&u->st, 0, sizeof u->st);
        u->st.magic = FURROW_STATE_MAGIC;
        u->st.secure_version = cfg->secure_version;
        strncpy(u->st.running_version, cfg->version ? cfg->version : "", sizeof u->st.running_version - 1);
    }
    u->st.version = FURROW_STATE_VERSION;
    u->st.size = sizeof u->st;
    u->st.reason[sizeof u->st.reason - 1] = 0;
    u->st.patch_path[sizeof u->st.patch_path - 1] = 0;
    u->running = port->running_slot(port->arg);
    if (port->boot_pending && port->boot_pending(port->arg) == 1) {
        /* on trial (ESP_OTA_IMG_PENDING_VERIFY) whatever the blob says: self-test and confirm, or
         * the bootloader rolls a good image back */
        u->st.phase = FURROW_PH_TRIAL;
        u->st.target = (uint8_t)u->running;
    }
    size = port->image_size(port->arg, u->running);
    if (size <= 0)
        return FURROW_ERR_IO;
    event(u, "boot", phase_names[u->st.phase <= FURROW_PH_REPORT ? u->st.phase : 0], (uint32_t)u->running,
          (uint32_t)size);
    return slot_sha(u, u->running, (uint32_t)size, u->running_sha);
}

static int sleep_for(struct furrow_update *u, uint32_t s)
{
    u->sleep_s = s;
    return FURROW_ACT_SLEEP;
}

/* A transient failure (furrow_err_transient) keeps the phase and its progress and sleeps, 60 s << n;
 * after FURROW_TRANSIENT_RETRIES in a row, or any other failure: remember why, report it, never touch
 * the boot slot. */
static int fail(struct furrow_update *u, int err, const char *what)
{
    size_t n;
    if (furrow_err_transient(err)) {
        if (u->st.transient < FURROW_TRANSIENT_RETRIES) {
            u->st.transient++;
            persist(u);
            return sleep_for(u, 30u << u->st.transient); /* the "sleep" event shows it */
        }
        what = "retries exhausted"; /* PROTOCOL.md: the gateway counts this one */
    }
    n = strlen(what);
    if (n > 40)
        n = 40;
    memcpy(u->st.reason, what, n);
    u->st.reason[n] = ':';
    u->st.reason[n + 1] = ' ';
    strncpy(u->st.reason + n + 2, furrow_strerror(err), sizeof u->st.reason - n - 3);
    u->st.result = FURROW_RES_FAILED;
    furrow_digest_cpy(u->st.failed_patch, u->st.m.patch_sha);
    event(u, "refused", u->st.reason, (uint32_t)-err, u->st.pr.offset);
    set_phase(u, FURROW_PH_REPORT);
    return FURROW_ACT_CONTINUE;
}

static int checkpoint(void *arg, const struct furrow_patch_progress *pr)
{
    struct furrow_update *u = arg;
    u->st.pr = *pr;
    u->st.chunk_retries = 0;
    event(u, "chunk", NULL, pr->applied, pr->offset);
    return persist(u);
}

static int do_switch(struct furrow_update *u);
static int trial(struct furrow_update *u);

static int download(struct furrow_update *u)
{
    struct furrow_manifest *m = &u->st.m;
    struct furrow_coap_msg resp;
    int r, refetch;
    r = furrow_patch_init(&u->patch, u->port, u->running, u->st.target, m->patch_size, m->table_digest,
                          m->has_base ? u->running_sha : NULL, &u->st.pr, checkpoint, u);
    if (r && !(r == FURROW_ERR_CHUNK_DIGEST && u->st.chunk_retries < FURROW_CHUNK_RETRIES))
        return fail(u, r, "patch");
    if (r)
        u->st.chunk_retries++;
    u->st.pr = u->patch.pr;
    while (u->patch.pr.offset < m->patch_size) {
        uint32_t off = u->patch.pr.offset, bs = 16u << u->st.szx, data_off, n;
        uint8_t szx = u->st.szx;
        r = furrow_get_block(u, u->st.patch_path, off / bs, &szx, off == 0, &resp);
        if (r == FURROW_ERR_TIMEOUT || r == FURROW_ERR_IO)
            return sleep_for(u, 30); /* progress is persisted: resume on the next wake */
        if (r == FURROW_ERR_SERVER && resp.code == FURROW_COAP_CODE(5, 3))
            return FURROW_ACT_SLEEP;
        if (r)
            return fail(u, r, "patch download");
        if (u->st.etag_len && (resp.etag_len != u->st.etag_len || memcmp(resp.etag, u->st.etag, resp.etag_len)))
            return fail(u, FURROW_ERR_PATCH_DIGEST, "patch ETag changed");
        if (resp.has_size2 && resp.size2 != m->patch_size)
            return fail(u, FURROW_ERR_PATCH_DIGEST, "patch size differs from the manifest");
        u->st.szx = szx;
        data_off = resp.block2_num * (16u << szx);
        if (off < data_off || off >= data_off + resp.payload_len)
            return fail(u, FURROW_ERR_COAP, "block out of order");
        n = (uint32_t)(data_off + resp.payload_len - off);
        if (n > m->patch_size - off)
            n = m->patch_size - off;
        u->st.received += (uint32_t)resp.payload_len;
        r = furrow_patch_process(&u->patch, resp.payload + (off - data_off), n);
        refetch = r == FURROW_ERR_CHUNK_DIGEST && u->st.chunk_retries < FURROW_CHUNK_RETRIES;
        if (refetch) {
            u->st.chunk_retries++;
            event(u, "refetch", "chunk digest mismatch", u->patch.pr.applied, u->patch.pr.offset);
        } else if (r) {
            return fail(u, r, "patch");
        }
        if (off < 160 && u->patch.pr.offset >= 160 &&
            (furrow_patch_result_size(&u->patch) != m->result_size ||
             furrow_digest_cmp(furrow_patch_result_sha(&u->patch), m->result_sha)))
            return fail(u, FURROW_ERR_RESULT_DIGEST, "patch header");
        u->st.pr = u->patch.pr;
        u->st.transient = 0;
        if ((r = persist(u)) != 0)
            return fail(u, r, "state");
        if (!resp.block2_more && u->patch.pr.offset < m->patch_size && !refetch)
            return fail(u, FURROW_ERR_PATCH_CORRUPT, "patch shorter than announced");
    }
    if ((r = furrow_patch_finalize(&u->patch)) != 0)
        return fail(u, r, "result");
    event(u, "applied", NULL, m->result_size, u->st.received);
    set_phase(u, FURROW_PH_SWITCH);
    return do_switch(u);
}

static int start_update(struct furrow_update *u, const struct furrow_checkin_resp *ci)
{
    struct furrow_manifest m;
    struct furrow_trust t;
    int n, r;
    n = furrow_get_all(u, ci->manifest_path, u->mbuf, sizeof u->mbuf);
    if (n == FURROW_ERR_TIMEOUT || n == FURROW_ERR_IO)
        return sleep_for(u, 30);
    if (n < 0 && u->sleep_s && n == FURROW_ERR_SERVER)
        return FURROW_ACT_SLEEP;
    /* from here on any earlier transfer is abandoned */
    memset(&u->st.m, 0, sizeof u->st.m);
    furrow_digest_cpy(u->st.m.patch_sha, ci->patch_id);
    u->st.pr.offset = 0;
    u->st.pr.applied = 0;
    if (n < 0)
        return fail(u, n, "manifest fetch");
    t.gateway_pub = u->cfg->gateway_pub;
    t.release_pub = u->cfg->release_pub;
    t.device_id = u->cfg->device_id;
    t.product = u->cfg->product;
    t.running_sha = u->running_sha;
    t.secure_version = u->st.secure_version;
    if ((r = furrow_manifest_verify(u->port, u->mbuf, (size_t)n, &t, &m)) != 0)
        return fail(u, r, "manifest");
    if (furrow_digest_cmp(m.patch_sha, ci->patch_id) || (ci->patch_size && ci->patch_size != m.patch_size))
        return fail(u, FURROW_ERR_PATCH_DIGEST, "check-in and manifest disagree");
    if (u->st.has_bad && !furrow_digest_cmp(u->st.bad_result, m.result_sha))
        return fail(u, FURROW_ERR_REFUSED, "manifest");
    u->st.m = m;
    memcpy(u->st.patch_path, ci->patch_path, sizeof u->st.patch_path);
    memcpy(u->st.etag, ci->etag, sizeof u->st.etag);
    u->st.etag_len = ci->etag_len;
    u->st.szx = (uint8_t)(ci->szx && ci->szx < u->cfg->max_szx ? ci->szx : u->cfg->max_szx);
    u->st.target = (uint8_t)(1 - u->running);
    u->st.result = FURROW_RES_NONE;
    u->st.reason[0] = 0;
    u->st.trial_boots = 0;
    u->st.chunk_retries = 0;
    u->st.received = 0;
    u->st.transient = 0;
    event(u, "manifest", m.version, m.patch_size, m.result_size);
    set_phase(u, FURROW_PH_DOWNLOAD);
    return download(u);
}

static int checkin(struct furrow_update *u)
{
    struct furrow_checkin_resp ci;
    int r = furrow_checkin(u, &ci);
    if (r == FURROW_ERR_SERVER && u->sleep_s)
        return FURROW_ACT_SLEEP;
    if (r)
        return sleep_for(u, 60);
    event(u, "checkin", NULL, ci.decision, ci.retry_after);
    if (ci.decision == 1)
        return sleep_for(u, ci.retry_after ? ci.retry_after : 60);
    if (ci.decision == 0) {
        u->sleep_s = ci.retry_after;
        return FURROW_ACT_IDLE;
    }
    if (u->st.result == FURROW_RES_FAILED && !furrow_digest_cmp(ci.patch_id, u->st.failed_patch)) {
        /* refused this very patch already (and reported why): wait for the gateway to offer another */
        event(u, "skip", "patch refused before", 0, 0);
        u->sleep_s = 3600;
        return FURROW_ACT_IDLE;
    }
    if (u->st.phase == FURROW_PH_DOWNLOAD && !furrow_digest_cmp(ci.patch_id, u->st.m.patch_sha)) {
        /* same transfer: the paths may be new, the progress is ours */
        memcpy(u->st.patch_path, ci.patch_path, sizeof u->st.patch_path);
        return download(u);
    }
    return start_update(u, &ci);
}

static int do_switch(struct furrow_update *u)
{
    uint8_t sha[32];
    int r;
    if (u->running == u->st.target) {
        /* cut after the boot slot was set but before TRIAL was stored: we are the new image */
        return trial(u);
    }
    /* FORMAT.md §8 / MANIFEST.md: never set a boot slot whose image is not the signed result */
    if ((r = slot_sha(u, u->st.target, u->st.m.result_size, sha)) != 0)
        return fail(u, r, "verify");
    if (furrow_digest_cmp(sha, u->st.m.result_sha))
        return fail(u, FURROW_ERR_RESULT_DIGEST, "verify");
    if ((r = u->port->boot_set(u->port->arg, u->st.target)) != 0)
        return fail(u, r, "set boot slot"); /* a FURROW_ERR_*: -1 is FURROW_ERR_IO */
    set_phase(u, FURROW_PH_TRIAL);
    event(u, "reboot", "new image", u->st.target, 0);
    return FURROW_ACT_REBOOT;
}

static int trial(struct furrow_update *u)
{
    if (u->running != u->st.target) {
        /* The bootloader did not keep the new image (reset before confirmation). The passive slot
         * still holds the verified result: try again a few times before giving up. */
        if (u->st.trial_boots < FURROW_TRIAL_RETRIES) {
            u->st.trial_boots++;
            set_phase(u, FURROW_PH_SWITCH);
            return do_switch(u);
        }
        strcpy(u->st.reason, "new image was not confirmed; bootloader rolled back");
        u->st.result = FURROW_RES_ROLLED_BACK;
        set_phase(u, FURROW_PH_REPORT);
        return FURROW_ACT_CONTINUE;
    }
    if (u->port->self_test(u->port->arg)) {
        strcpy(u->st.reason, "self-test failed");
        u->st.result = FURROW_RES_ROLLED_BACK;
        furrow_digest_cpy(u->st.bad_result, u->st.m.result_sha);
        u->st.has_bad = 1;
        set_phase(u, FURROW_PH_REPORT);
        event(u, "rollback", u->st.reason, u->running, 0);
        u->port->boot_invalidate(u->port->arg);
        return FURROW_ACT_REBOOT;
    }
    if (u->port->boot_confirm(u->port->arg))
        return sleep_for(u, 1); /* confirmation is retried from TRIAL */
    /* a trial the blob knew nothing of (PENDING_VERIFY, unreadable blob) has no manifest: keep ours */
    if (u->st.m.secure_version > u->st.secure_version)
        u->st.secure_version = u->st.m.secure_version;
    if (u->st.m.version[0])
        memcpy(u->st.running_version, u->st.m.version, sizeof u->st.running_version);
    u->st.result = FURROW_RES_OK;
    u->st.reason[0] = 0;
    event(u, "confirmed", u->st.m.version, u->running, u->st.received);
    set_phase(u, FURROW_PH_REPORT);
    return FURROW_ACT_CONTINUE;
}

int furrow_update_step(struct furrow_update *u)
{
    const char *result = report_names[u->st.result & 3];
    u->sleep_s = 0;
    switch (u->st.phase) {
    case FURROW_PH_TRIAL:
        return trial(u);
    case FURROW_PH_SWITCH:
        return do_switch(u);
    case FURROW_PH_REPORT:
        if (furrow_report(u, result))
            return sleep_for(u, 30);
        event(u, "reported", result, u->st.result, 0);
        set_phase(u, FURROW_PH_IDLE);
        return FURROW_ACT_CONTINUE;
    default:
        return checkin(u);
    }
}
