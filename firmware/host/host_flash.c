#define _POSIX_C_SOURCE 200809L
#include "host_flash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t ops, cut_at, fail_at;

void host_power_cut_at(uint64_t op)
{
    cut_at = op;
}

void host_fail_at(uint64_t op)
{
    fail_at = op;
}

uint64_t host_ops(void)
{
    return ops;
}

int host_op(void (*partial)(void *), void *arg)
{
    ops++;
    if (fail_at && ops == fail_at) {
        printf("{\"event\":\"flash_error\",\"op\":%llu}\n", (unsigned long long)ops);
        fflush(stdout);
        return -1;
    }
    if (cut_at && ops == cut_at) {
        if (partial)
            partial(arg);
        printf("{\"event\":\"power_cut\",\"op\":%llu}\n", (unsigned long long)ops);
        fflush(stdout);
        _exit(99);
    }
    return 0;
}

static const char *const names[3] = { "slot0.bin", "slot1.bin", "staging.bin" };

int host_flash_open(struct host_flash *f, const char *dir, uint32_t slot_size, uint32_t staging_size)
{
    int i;
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    mkdir(dir, 0755);
    f->size[0] = f->size[1] = slot_size;
    f->size[2] = staging_size;
    for (i = 0; i < 3; i++) {
        char path[600];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        f->fd[i] = open(path, O_RDWR | O_CREAT, 0644);
        if (f->fd[i] < 0 || fstat(f->fd[i], &st)) {
            fprintf(stderr, "furrow-device: cannot open flash file %s: %s\n", path, strerror(errno));
            return -1;
        }
        if (st.st_size == 0) {
            /* factory-fresh flash reads as erased */
            static uint8_t ff[HOST_SECTOR];
            uint32_t o;
            memset(ff, 0xFF, sizeof ff);
            for (o = 0; o < f->size[i]; o += HOST_SECTOR)
                if (pwrite(f->fd[i], ff, HOST_SECTOR, o) != (ssize_t)HOST_SECTOR)
                    return -1;
        } else if ((uint64_t)st.st_size != f->size[i]) {
            fprintf(stderr, "furrow-device: flash file %s is %lld bytes, expected %u (same --slot-size/--staging-size as before?)\n",
                    path, (long long)st.st_size, (unsigned)f->size[i]);
            return -1;
        }
    }
    return 0;
}

void host_flash_close(struct host_flash *f)
{
    int i;
    for (i = 0; i < 3; i++)
        if (f->fd[i] >= 0)
            close(f->fd[i]);
}

static int in_range(struct host_flash *f, int region, uint32_t off, size_t len)
{
    return region >= 0 && region < 3 && off <= f->size[region] && len <= f->size[region] - off;
}

int host_flash_read(struct host_flash *f, int region, uint32_t off, void *buf, size_t len)
{
    if (!in_range(f, region, off, len))
        return -1;
    return pread(f->fd[region], buf, len, off) == (ssize_t)len ? 0 : -1;
}

struct pending_write {
    struct host_flash *f;
    int region;
    uint32_t off;
    const uint8_t *buf;
    size_t len;
};

static void write_half(void *arg)
{
    struct pending_write *w = arg;
    uint8_t old[HOST_SECTOR];
    size_t half = w->len / 2, i;
    if (half > sizeof old)
        half = sizeof old;
    if (pread(w->f->fd[w->region], old, half, w->off) != (ssize_t)half)
        return;
    for (i = 0; i < half; i++)
        old[i] &= w->buf[i];
    if (pwrite(w->f->fd[w->region], old, half, w->off) != (ssize_t)half)
        return;
}

int host_flash_write(struct host_flash *f, int region, uint32_t off, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    uint8_t old[HOST_SECTOR];
    struct pending_write w = { f, region, off, b, len };
    size_t done = 0;
    if (!in_range(f, region, off, len) || host_op(write_half, &w))
        return -1;
    while (done < len) {
        size_t n = len - done < sizeof old ? len - done : sizeof old, i;
        if (pread(f->fd[region], old, n, off + done) != (ssize_t)n)
            return -1;
        for (i = 0; i < n; i++) {
            if ((old[i] & b[done + i]) != b[done + i]) {
                fprintf(stderr, "furrow-device: NOR violation: write to %s+0x%x would set bits (0x%02x over 0x%02x); erase first\n",
                        names[region], (unsigned)(off + done + i), b[done + i], old[i]);
                return -1;
            }
        }
        if (pwrite(f->fd[region], b + done, n, off + done) != (ssize_t)n)
            return -1;
        done += n;
    }
    return 0;
}

struct pending_erase {
    struct host_flash *f;
    int region;
    uint32_t off;
};

static void erase_half(void *arg)
{
    struct pending_erase *e = arg;
    uint8_t ff[HOST_SECTOR / 2];
    memset(ff, 0xFF, sizeof ff);
    if (pwrite(e->f->fd[e->region], ff, sizeof ff, e->off) != (ssize_t)sizeof ff)
        return;
}

int host_flash_erase(struct host_flash *f, int region, uint32_t off, uint32_t len)
{
    uint8_t ff[HOST_SECTOR];
    uint32_t o;
    if (!in_range(f, region, off, len) || off % HOST_SECTOR || len % HOST_SECTOR)
        return -1;
    memset(ff, 0xFF, sizeof ff);
    for (o = off; o < off + len; o += HOST_SECTOR) {
        struct pending_erase e = { f, region, o };
        if (host_op(erase_half, &e) || pwrite(f->fd[region], ff, HOST_SECTOR, o) != (ssize_t)HOST_SECTOR)
            return -1;
    }
    return 0;
}

int host_blob_load(struct host_flash *f, const char *name, void *buf, size_t len)
{
    char path[600];
    int fd;
    ssize_t n;
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    fd = open(path, O_RDONLY);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    n = read(fd, buf, len);
    close(fd);
    return n < 0 ? -1 : (int)n;
}

int host_blob_store(struct host_flash *f, const char *name, const void *buf, size_t len)
{
    char path[600], tmp[620];
    int fd;
    /* a cut here leaves the previous blob: the store is atomic, as NVS commits are */
    if (host_op(NULL, NULL))
        return -1;
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    /* no fsync: a simulated power cut kills the process, the page cache survives it */
    if (write(fd, buf, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    close(fd);
    return rename(tmp, path) ? -1 : 0;
}
