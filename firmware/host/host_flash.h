/*
 * File-backed NOR flash for the host simulator: one file per region (slot0, slot1, staging), erase in
 * 4 KB sectors to 0xFF, a write may only clear bits (setting a 0 bit back to 1 is refused, as on real
 * NOR flash). The state blob and otadata are files replaced atomically (write + fsync + rename), like
 * an NVS blob / the two otadata sectors.
 *
 * Power-cut injection: every flash write, erase and state/otadata store is one "operation"; when the
 * configured operation is reached, half of it is done (half the bytes written, half the sector erased,
 * or nothing for atomic stores) and the process dies with _exit(), printing
 * {"event":"power_cut","op":N}. Error injection: the chosen operation instead fails once without
 * effect, printing {"event":"flash_error","op":N}.
 */
#ifndef HOST_FLASH_H
#define HOST_FLASH_H

#include <stddef.h>
#include <stdint.h>

#define HOST_SECTOR 4096u

struct host_flash {
    int fd[3];
    uint32_t size[3];
    char dir[512];
};

int host_flash_open(struct host_flash *f, const char *dir, uint32_t slot_size, uint32_t staging_size);
void host_flash_close(struct host_flash *f);

/** 0 = no cut; otherwise die at that operation (1-based). */
void host_power_cut_at(uint64_t op);
uint64_t host_ops(void);
/** 0 = none; otherwise that operation (1-based) fails once without effect (a flash/NVS write error). */
void host_fail_at(uint64_t op);
/** Counts one operation; dies here if it is the chosen one (after calling partial(arg)); returns -1
 * when it is the one chosen to fail. */
int host_op(void (*partial)(void *), void *arg);

int host_flash_read(struct host_flash *f, int region, uint32_t off, void *buf, size_t len);
int host_flash_write(struct host_flash *f, int region, uint32_t off, const void *buf, size_t len);
int host_flash_erase(struct host_flash *f, int region, uint32_t off, uint32_t len);

/** Atomic small files in the flash dir ("state.bin", "otadata.bin"). load returns length, 0 if absent. */
int host_blob_load(struct host_flash *f, const char *name, void *buf, size_t len);
int host_blob_store(struct host_flash *f, const char *name, const void *buf, size_t len);

#endif
