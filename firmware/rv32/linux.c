/*
 * The few POSIX calls the decoder's test driver (test/patch_cli.c, host/host_flash.c) and picolibc's
 * stdio make, as Linux rv32 system calls (asm-generic numbers, 64-bit time and offsets), so a
 * picolibc-linked binary runs under qemu-riscv32 (user mode) with the host's files. Plus the startup
 * a C library's crt would do: the thread pointer for picolibc's TLS (errno), argc/argv, exit.
 * qemu 7.2's user mode has no semihosting for RISC-V, hence system calls.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    SYS_mkdirat = 34,
    SYS_unlinkat = 35,
    SYS_openat = 56,
    SYS_close = 57,
    SYS_llseek = 62,
    SYS_read = 63,
    SYS_write = 64,
    SYS_pread64 = 67,
    SYS_pwrite64 = 68,
    SYS_fsync = 82,
    SYS_exit_group = 94,
    SYS_renameat2 = 276,
    SYS_statx = 291,
};
#define LINUX_AT_FDCWD (-100)
#define LINUX_AT_EMPTY_PATH 0x1000
#define LINUX_STATX_BASIC_STATS 0x7ffu

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    register long a0 __asm__("a0") = a;
    register long a1 __asm__("a1") = b;
    register long a2 __asm__("a2") = c;
    register long a3 __asm__("a3") = d;
    register long a4 __asm__("a4") = e;
    register long a5 __asm__("a5") = f;
    register long a7 __asm__("a7") = n;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a3), "r"(a4), "r"(a5), "r"(a7) : "memory");
    return a0;
}
#define sys(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)

/* Linux returns -errno; picolibc's errno numbers are newlib's, equal to Linux's for the ones used */
static long ret(long r)
{
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

/* picolibc's O_* are newlib's; Linux's generic values differ */
static long linux_oflags(int f)
{
    long l = f & O_ACCMODE; /* 0, 1, 2 on both */
    if (f & O_CREAT)
        l |= 0100;
    if (f & O_EXCL)
        l |= 0200;
    if (f & O_TRUNC)
        l |= 01000;
    if (f & O_APPEND)
        l |= 02000;
    return l | 0400000; /* O_LARGEFILE: offsets past 2 GB never occur, but the kernel wants it on rv32 */
}

int open(const char *path, int flags, ...)
{
    return (int)ret(sys6(SYS_openat, LINUX_AT_FDCWD, (long)path, linux_oflags(flags), 0644, 0, 0));
}

int close(int fd)
{
    return (int)ret(sys(SYS_close, fd, 0, 0));
}

ssize_t read(int fd, void *buf, size_t n)
{
    return ret(sys(SYS_read, fd, buf, n));
}

ssize_t write(int fd, const void *buf, size_t n)
{
    return ret(sys(SYS_write, fd, buf, n));
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    uint64_t o = (uint64_t)off;
    return ret(sys6(SYS_pread64, fd, (long)buf, (long)n, (long)(uint32_t)o, (long)(uint32_t)(o >> 32), 0));
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    uint64_t o = (uint64_t)off;
    return ret(sys6(SYS_pwrite64, fd, (long)buf, (long)n, (long)(uint32_t)o, (long)(uint32_t)(o >> 32), 0));
}

off_t lseek(int fd, off_t off, int whence)
{
    uint64_t o = (uint64_t)off, result = 0;
    if (ret(sys6(SYS_llseek, fd, (long)(uint32_t)(o >> 32), (long)(uint32_t)o, (long)&result, whence, 0)) < 0)
        return -1;
    return (off_t)result;
}

int fsync(int fd)
{
    return (int)ret(sys(SYS_fsync, fd, 0, 0));
}

int mkdir(const char *path, mode_t mode)
{
    return (int)ret(sys(SYS_mkdirat, LINUX_AT_FDCWD, path, mode));
}

int unlink(const char *path)
{
    return (int)ret(sys(SYS_unlinkat, LINUX_AT_FDCWD, path, 0));
}

int rename(const char *from, const char *to)
{
    return (int)ret(sys6(SYS_renameat2, LINUX_AT_FDCWD, (long)from, LINUX_AT_FDCWD, (long)to, 0, 0));
}

/* struct statx (include/uapi/linux/stat.h): only the fields read here */
struct linux_statx {
    uint32_t mask, blksize;
    uint64_t attributes;
    uint32_t nlink, uid, gid;
    uint16_t mode, pad0;
    uint64_t ino, size, blocks, attributes_mask;
    uint8_t rest[256 - 64];
};

int fstat(int fd, struct stat *st)
{
    struct linux_statx sx;
    if (ret(sys6(SYS_statx, fd, (long)"", LINUX_AT_EMPTY_PATH, LINUX_STATX_BASIC_STATS, (long)&sx, 0)) < 0)
        return -1;
    memset(st, 0, sizeof *st);
    st->st_mode = sx.mode; /* S_IF* and permission bits are the same numbers */
    st->st_size = (off_t)sx.size;
    st->st_nlink = sx.nlink;
    st->st_blksize = sx.blksize;
    return 0;
}

int isatty(int fd)
{
    (void)fd;
    return 0;
}

_Noreturn void _exit(int status)
{
    for (;;)
        sys(SYS_exit_group, status, 0, 0);
}

/* malloc's memory: a fixed arena in .bss (the loader maps it zero-filled, pages on first touch) */
static char heap[64u << 20] __attribute__((aligned(16)));
static size_t heap_used;

void *sbrk(ptrdiff_t incr)
{
    if (incr < 0 ? (size_t)-incr > heap_used : (size_t)incr > sizeof heap - heap_used) {
        errno = ENOMEM;
        return (void *)-1;
    }
    heap_used += (size_t)incr;
    return heap + heap_used - incr;
}

/* stdin/stdout/stderr for picolibc's tinystdio: unbuffered, so a power cut's _exit loses nothing */
static int put(char c, FILE *f)
{
    return write(f == stderr ? 2 : 1, &c, 1) == 1 ? (unsigned char)c : EOF;
}

static int get(FILE *f)
{
    unsigned char c;
    (void)f;
    return read(0, &c, 1) == 1 ? c : EOF;
}

static FILE io[3] = {
    FDEV_SETUP_STREAM(NULL, get, NULL, _FDEV_SETUP_READ),
    FDEV_SETUP_STREAM(put, NULL, NULL, _FDEV_SETUP_WRITE),
    FDEV_SETUP_STREAM(put, NULL, NULL, _FDEV_SETUP_WRITE),
};
FILE *const stdin = &io[0];
FILE *const stdout = &io[1];
FILE *const stderr = &io[2];

/* ELF program header (32-bit) and the auxiliary vector entries used to find the TLS template */
struct phdr32 {
    uint32_t type, offset, vaddr, paddr, filesz, memsz, flags, align;
};
#define PT_TLS 7
#define AT_PHDR 3
#define AT_PHNUM 5

/* the main thread's TLS block (picolibc keeps errno there); the thread pointer points at its start */
static uint8_t tls[1024] __attribute__((aligned(64)));

int main(int argc, char **argv);
_Noreturn void rv32_start(long *sp);

_Noreturn void rv32_start(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    unsigned long *aux;
    const struct phdr32 *ph = NULL;
    unsigned long phnum = 0, i;
    while (*envp)
        envp++;
    for (aux = (unsigned long *)(envp + 1); aux[0]; aux += 2) {
        if (aux[0] == AT_PHDR)
            ph = (const struct phdr32 *)aux[1];
        else if (aux[0] == AT_PHNUM)
            phnum = aux[1];
    }
    for (i = 0; ph && i < phnum; i++) {
        if (ph[i].type == PT_TLS) {
            if (ph[i].memsz > sizeof tls || ph[i].align > 64) {
                static const char msg[] = "rv32 start: TLS segment larger than the block reserved for it\n";
                write(2, msg, sizeof msg - 1);
                _exit(127);
            }
            memcpy(tls, (const void *)ph[i].vaddr, ph[i].filesz);
        }
    }
    __asm__ volatile("mv tp, %0" : : "r"(tls));
    exit(main(argc, argv));
}
