/*
 * Declarations only, for `make size`: Debian's gcc-riscv64-unknown-elf ships no C library headers,
 * and the size report counts the furrow core, not libc (on the ESP32-C3 these come from ROM/newlib).
 */
#ifndef FURROW_SIZE_STRING_H
#define FURROW_SIZE_STRING_H
#include <stddef.h>
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
char *strncpy(char *d, const char *s, size_t n);
char *strcpy(char *d, const char *s);
char *strchr(const char *s, int c);
#endif
