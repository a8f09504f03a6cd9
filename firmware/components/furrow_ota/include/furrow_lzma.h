/*
 * Raw LZMA1 decoder (no .lzma header): lc/lp/pb and dictionary size are parameters.
 * Written from the public LZMA specification (Igor Pavlov, lzma-specification.txt).
 *
 * Pull model on both sides: input comes from a read callback (the staged chunk in flash, or a RAM
 * buffer), output is requested with furrow_lzma_read(). No allocation: the caller hands in the
 * probability array (furrow_lzma_probs_count() uint16_t) and the dictionary buffer (>= dict size).
 *
 * RAM: sizeof(struct furrow_lzma) = ~90 bytes + FURROW_LZMA_INBUF; probabilities 2 * (1846 + 0x300 << (lc+lp))
 * bytes (5228 for lc=lp=0); the dictionary.
 */
#ifndef FURROW_LZMA_H
#define FURROW_LZMA_H

#include <stddef.h>
#include <stdint.h>

#ifndef FURROW_LZMA_INBUF
#define FURROW_LZMA_INBUF 64
#endif

/** Reads up to n bytes of compressed input; returns the count (0 at end of input) or < 0 on error. */
typedef int (*furrow_lzma_in_fn)(void *arg, uint8_t *buf, size_t n);

/* The fields used per bit come first and inbuf last: on RV32C, loads and stores of words within
 * 124 bytes of the struct pointer have 2-byte encodings. */
struct furrow_lzma {
    /* range decoder */
    uint32_t range, code;
    /* input */
    furrow_lzma_in_fn in;
    void *in_arg;
    uint16_t in_pos, in_len;
    uint8_t in_eof;
    /* model */
    uint16_t *probs;
    uint8_t lc, lp, pb, state;
    uint32_t rep[4];
    /* dictionary (circular) */
    uint8_t *dict;
    uint32_t dict_size, dict_pos, total;
    /* unfinished match from the previous read */
    uint32_t pending;
    /* output limit: UINT32_MAX when the stream ends with the end marker */
    uint32_t out_limit;
    uint8_t finished;
    int err;
    uint8_t inbuf[FURROW_LZMA_INBUF];
};

/** Number of uint16_t probabilities needed for lc + lp. */
size_t furrow_lzma_probs_count(unsigned lc, unsigned lp);

/**
 * Starts decoding a raw LZMA1 stream. out_size is the decoded size if known (the stream may then
 * omit the end marker), or UINT32_MAX if the stream ends with the end marker.
 * Returns 0, FURROW_ERR_LZMA_PARAMS, FURROW_ERR_LZMA_CORRUPT (bad first bytes) or FURROW_ERR_IO.
 */
int furrow_lzma_init(struct furrow_lzma *d, unsigned lc, unsigned lp, unsigned pb, uint16_t *probs,
                     size_t probs_count, uint8_t *dict, uint32_t dict_size, uint32_t out_size,
                     furrow_lzma_in_fn in, void *in_arg);

/**
 * Decodes up to n bytes into out. Returns the number of bytes produced (< n only at the end of the
 * stream) or a negative error. After the end, returns 0.
 */
int furrow_lzma_read(struct furrow_lzma *d, uint8_t *out, size_t n);

#endif
