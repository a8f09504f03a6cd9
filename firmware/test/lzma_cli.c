/*
 * Test driver: decodes a raw LZMA1 stream from stdin to stdout.
 * usage: lzma_cli LC LP PB DICT_BYTES [OUT_SIZE]   (no OUT_SIZE: the stream ends with the end marker)
 * Prints the decoder's RAM use on stderr as "ram <bytes>".
 */
#include "furrow_errors.h"
#include "furrow_lzma.h"

#include <stdio.h>
#include <stdlib.h>

struct mem {
    const uint8_t *p;
    size_t len, pos;
};

static int mem_read(void *arg, uint8_t *buf, size_t n)
{
    struct mem *m = arg;
    size_t k = m->len - m->pos < n ? m->len - m->pos : n;
    size_t i;
    for (i = 0; i < k; i++)
        buf[i] = m->p[m->pos + i];
    m->pos += k;
    return (int)k;
}

int main(int argc, char **argv)
{
    static uint8_t in[1 << 24];
    static uint8_t out[4096];
    struct furrow_lzma d;
    struct mem m = { in, 0, 0 };
    unsigned lc, lp, pb;
    uint32_t dict_size, out_size = 0xFFFFFFFFu;
    uint16_t *probs;
    uint8_t *dict;
    size_t nprobs;
    int r;
    if (argc < 5) {
        fprintf(stderr, "usage: lzma_cli LC LP PB DICT_BYTES [OUT_SIZE]\n");
        return 2;
    }
    lc = (unsigned)atoi(argv[1]);
    lp = (unsigned)atoi(argv[2]);
    pb = (unsigned)atoi(argv[3]);
    dict_size = (uint32_t)strtoul(argv[4], NULL, 10);
    if (argc > 5)
        out_size = (uint32_t)strtoul(argv[5], NULL, 10);
    m.len = fread(in, 1, sizeof in, stdin);
    nprobs = furrow_lzma_probs_count(lc > 8 ? 8 : lc, lp > 4 ? 4 : lp);
    probs = malloc(nprobs * sizeof *probs);
    dict = malloc(dict_size ? dict_size : 1);
    if (!probs || !dict)
        return 3;
    fprintf(stderr, "ram %zu\n", sizeof d + nprobs * sizeof *probs + dict_size);
    r = furrow_lzma_init(&d, lc, lp, pb, probs, nprobs, dict, dict_size, out_size, mem_read, &m);
    while (r == 0) {
        r = furrow_lzma_read(&d, out, sizeof out);
        if (r > 0 && fwrite(out, 1, (size_t)r, stdout) != (size_t)r)
            return 3;
        if (r == 0)
            break;
        if (r > 0)
            r = 0;
    }
    if (r < 0) {
        fprintf(stderr, "error %d: %s\n", r, furrow_strerror(r));
        return 1;
    }
    return 0;
}
