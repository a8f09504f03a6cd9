/* Internal to the patch decoder (furrow_patch.c, furrow_patch_apply.c); not part of the API. */
#ifndef FURROW_PATCH_INT_H
#define FURROW_PATCH_INT_H

#include "furrow_patch.h"

uint32_t furrow_le32(const uint8_t *b);
uint32_t furrow_body_len(const struct furrow_patch_chunk *c);
uint32_t furrow_restart_point(const struct furrow_patch *p, uint32_t pos);
/** Sequential write into a region, erasing each sector the first time it is entered. */
int furrow_seq_write(struct furrow_patch *p, int region, uint32_t *erased_to, uint32_t off, const void *buf,
                     size_t len);
/** Checks the staged body p->ch against its digest, decodes it into the passive slot, reads it back. */
int furrow_apply_chunk(struct furrow_patch *p);

#endif
