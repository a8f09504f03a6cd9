#!/bin/sh
# Builds the ESP-IDF header fixture that check.sh compiles the ESP-IDF port and the example against:
# only the headers under the directories listed in include-dirs.txt (no sources, no build), plus the
# newlib headers standing in for the ESP toolchain's sysroot. Built once, cached, never committed.
#
# Sources, either
#   IDF_PATH=/path/to/esp-idf            an ESP-IDF checkout with its submodules (git submodule update --init)
# or git repositories read with `git archive` (bare clones or mirrors are fine):
#   FURROW_IDF_GIT=DIR                   espressif/esp-idf, at FURROW_IDF_REF (default v5.5.5)
#   FURROW_MBEDTLS_GIT=DIR               Mbed-TLS/mbedtls or espressif/mbedtls, at FURROW_MBEDTLS_REF
#                                        (default: the submodule commit the IDF ref records)
#   FURROW_LWIP_GIT=DIR                  espressif/esp-lwip, at FURROW_LWIP_REF (default: the submodule commit)
# The C library headers of the ESP toolchain (newlib 4.3 as Espressif patches it), either
#   FURROW_NEWLIB_INCLUDE=DIR            the toolchain's sysroot include directory
#                                        ($(riscv32-esp-elf-gcc -print-sysroot)/include with ESP-IDF installed)
#   FURROW_NEWLIB_GIT=DIR                espressif/newlib-esp32 at FURROW_NEWLIB_REF (default esp-4.3.0):
#                                        newlib/libc/include + the riscv machine headers, and newlib.h /
#                                        _newlib_version.h written here with the options of the ESP toolchain
#                                        (configure generates them; the repository has a placeholder)
#
# Output: $FURROW_ESP_IDF, default ${XDG_CACHE_HOME:-~/.cache}/furrow/esp-idf-v5.5.5-headers, with
# MANIFEST.txt (sources, commits, every file and the total size).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
IDF_REF=${FURROW_IDF_REF:-v5.5.5}
OUT=${FURROW_ESP_IDF:-${XDG_CACHE_HOME:-$HOME/.cache}/furrow/esp-idf-v5.5.5-headers}
NEWLIB_REF=${FURROW_NEWLIB_REF:-esp-4.3.0}
# chip-specific directories of every other target are left out (the check is for ESP32-C3)
OTHER_TARGETS='/(esp32|esp32s2|esp32s3|esp32c2|esp32c5|esp32c6|esp32c61|esp32h2|esp32h21|esp32h4|esp32p4|linux)(/|$)'

die() {
    echo "fixture.sh: $*" >&2
    exit 1
}

DIRS=$(grep -v -e '^#' -e '^$' "$HERE/include-dirs.txt")
[ -n "${FURROW_NEWLIB_INCLUDE:-}${FURROW_NEWLIB_GIT:-}" ] ||
    die "set FURROW_NEWLIB_INCLUDE (the ESP toolchain's sysroot include) or FURROW_NEWLIB_GIT (espressif/newlib-esp32)"

TMP="$OUT.tmp.$$"
rm -rf "$TMP"
mkdir -p "$TMP/idf" "$TMP/newlib"
trap 'rm -rf "$TMP"' EXIT

# keep_headers SRC_ROOT REL...: copies the headers under each SRC_ROOT/REL (recursively) to $TMP/idf/REL
keep_headers() {
    src=$1
    shift
    (cd "$src" && find "$@" -type f \( -name '*.h' -o -name '*.inc' \)) | { grep -Ev "$OTHER_TARGETS" || true; } >"$TMP/list"
    (cd "$src" && tar -cf "$TMP/part.tar" -T "$TMP/list") && tar -xf "$TMP/part.tar" -C "$TMP/idf" && rm "$TMP/part.tar" "$TMP/list"
}

# from_git GITDIR REF PREFIX: extracts the trees of the listed dirs under PREFIX from GITDIR at REF
from_git() {
    git_dir=$1 ref=$2 prefix=$3
    root="$TMP/stage"
    paths=$(echo "$DIRS" | while read -r d; do
        case "$d" in "$prefix"*) echo "${d#"$prefix"}" ;; esac
    done)
    [ -n "$paths" ] || return 0
    for p in $paths; do
        # a missing directory is an error of include-dirs.txt or of the ref, not something to skip
        git --git-dir="$git_dir" cat-file -e "$ref:$p" 2>/dev/null || die "$p is not in $git_dir at $ref"
    done
    rm -rf "$root" && mkdir -p "$root/$prefix"
    # shellcheck disable=SC2086
    # to a file, not a pipe: a failing git archive must fail the build (set -e sees only a pipe's last command)
    git --git-dir="$git_dir" archive --format=tar -o "$TMP/part.tar" "$ref" -- $paths
    tar -x -C "$root/$prefix" -f "$TMP/part.tar" && rm "$TMP/part.tar"
    # shellcheck disable=SC2046
    keep_headers "$root" $(for p in $paths; do echo "$prefix$p"; done)
    rm -rf "$root"
}

if [ -n "${IDF_PATH:-}" ]; then
    [ -f "$IDF_PATH/components/esp_common/include/esp_err.h" ] || die "IDF_PATH=$IDF_PATH is not an ESP-IDF checkout"
    echo "$DIRS" | while read -r d; do
        [ -d "$IDF_PATH/$d" ] || die "$IDF_PATH/$d is missing (submodules checked out? git submodule update --init)"
    done
    # shellcheck disable=SC2086
    keep_headers "$IDF_PATH" $DIRS
    SOURCES="IDF_PATH=$IDF_PATH ($(git -C "$IDF_PATH" describe --tags 2>/dev/null || echo 'no git'))"
else
    [ -n "${FURROW_IDF_GIT:-}" ] || die "set IDF_PATH (an ESP-IDF checkout) or FURROW_IDF_GIT, FURROW_MBEDTLS_GIT and FURROW_LWIP_GIT (git repositories)"
    [ -n "${FURROW_MBEDTLS_GIT:-}" ] || die "set FURROW_MBEDTLS_GIT (Mbed TLS, the components/mbedtls/mbedtls submodule)"
    [ -n "${FURROW_LWIP_GIT:-}" ] || die "set FURROW_LWIP_GIT (esp-lwip, the components/lwip/lwip submodule)"
    sub() { git --git-dir="$FURROW_IDF_GIT" ls-tree "$IDF_REF" "$1" | awk '{print $3}'; }
    MBEDTLS_REF=${FURROW_MBEDTLS_REF:-$(sub components/mbedtls/mbedtls)}
    LWIP_REF=${FURROW_LWIP_REF:-$(sub components/lwip/lwip)}
    for r in "$FURROW_MBEDTLS_GIT $MBEDTLS_REF FURROW_MBEDTLS_REF" "$FURROW_LWIP_GIT $LWIP_REF FURROW_LWIP_REF"; do
        set -- $r
        git --git-dir="$1" cat-file -e "$2^{commit}" 2>/dev/null ||
            die "$1 has no commit $2 (the submodule commit $IDF_REF records); set $3 to the nearest tag or branch"
    done
    # submodule paths first, so the IDF pass does not ask its own tree for them
    from_git "$FURROW_MBEDTLS_GIT" "$MBEDTLS_REF" components/mbedtls/mbedtls/
    from_git "$FURROW_LWIP_GIT" "$LWIP_REF" components/lwip/lwip/
    DIRS=$(echo "$DIRS" | grep -v -e '^components/mbedtls/mbedtls/' -e '^components/lwip/lwip/')
    from_git "$FURROW_IDF_GIT" "$IDF_REF" ''
    c() { git --git-dir="$1" rev-parse "$2^{commit}"; }
    SOURCES="esp-idf $IDF_REF $(c "$FURROW_IDF_GIT" "$IDF_REF"); mbedtls $MBEDTLS_REF $(c "$FURROW_MBEDTLS_GIT" "$MBEDTLS_REF"); esp-lwip $LWIP_REF $(c "$FURROW_LWIP_GIT" "$LWIP_REF")"
fi
if [ -n "${FURROW_NEWLIB_INCLUDE:-}" ]; then
    [ -f "$FURROW_NEWLIB_INCLUDE/newlib.h" ] || die "$FURROW_NEWLIB_INCLUDE has no newlib.h (not a newlib sysroot include)"
    cp -R "$FURROW_NEWLIB_INCLUDE/." "$TMP/newlib/"
    NEWLIB_SRC="$FURROW_NEWLIB_INCLUDE"
else
    git --git-dir="$FURROW_NEWLIB_GIT" cat-file -e "$NEWLIB_REF:newlib/libc/include" 2>/dev/null ||
        die "$FURROW_NEWLIB_GIT has no newlib/libc/include at $NEWLIB_REF"
    git --git-dir="$FURROW_NEWLIB_GIT" archive --format=tar -o "$TMP/part.tar" "$NEWLIB_REF" -- newlib/libc/include newlib/libc/machine/riscv
    tar -x -C "$TMP/newlib" -f "$TMP/part.tar" && rm "$TMP/part.tar"
    (cd "$TMP/newlib" && mv newlib/libc/include/* . && for d in machine sys; do
        [ ! -d "newlib/libc/machine/riscv/$d" ] || cp -R "newlib/libc/machine/riscv/$d/." "$d/"
    done && rm -rf newlib)
    # configure writes these two; what the ESP toolchain's newlib configure (crosstool-NG, Espressif's
    # samples) enables: reent-small, retargetable locking, C99/long long/positional printf, 64-bit time_t
    cat >"$TMP/newlib/_newlib_version.h" <<'EOF'
/* written by firmware/idf-check/fixture.sh (newlib's configure generates it) */
#ifndef _NEWLIB_VERSION_H__
#define _NEWLIB_VERSION_H__ 1
#define _NEWLIB_VERSION "4.3.0"
#define __NEWLIB__ 4
#define __NEWLIB_MINOR__ 3
#define __NEWLIB_PATCHLEVEL__ 0
#endif
EOF
    cat >"$TMP/newlib/newlib.h" <<'EOF'
/* written by firmware/idf-check/fixture.sh: the options of the ESP toolchain's newlib configure */
#ifndef __NEWLIB_H__
#define __NEWLIB_H__ 1
#include <_newlib_version.h>
#define _ATEXIT_DYNAMIC_ALLOC 1
#define _FSEEK_OPTIMIZATION 1
#define _FVWRITE_IN_STREAMIO 1
#define _HAVE_CC_INHIBIT_LOOP_TO_LIBCALL 1
#define _HAVE_INITFINI_ARRAY 1
#define _HAVE_LONG_DOUBLE 1
#define _MB_LEN_MAX 1
#define _REENT_CHECK_VERIFY 1
#define _RETARGETABLE_LOCKING 1
#define _UNBUF_STREAM_OPT 1
#define _WANT_IO_C99_FORMATS 1
#define _WANT_IO_LONG_LONG 1
#define _WANT_IO_POS_ARGS 1
#define _WANT_REENT_BACKWARD_BINARY_COMPAT 1
#define _WANT_REENT_SMALL 1
#define _WANT_REGISTER_FINI 1
#define _WIDE_ORIENT 1
#endif
EOF
    NEWLIB_SRC="newlib-esp32 $NEWLIB_REF $(git --git-dir="$FURROW_NEWLIB_GIT" rev-parse "$NEWLIB_REF^{commit}")"
fi

{
    echo "furrow ESP-IDF header fixture (firmware/idf-check/fixture.sh)"
    echo "sources: $SOURCES"
    echo "newlib: $NEWLIB_SRC ($(sed -n 's/^#define _NEWLIB_VERSION "\(.*\)"/\1/p' "$TMP/newlib/_newlib_version.h"))"
    echo "files: $(find "$TMP/idf" "$TMP/newlib" -type f | wc -l)"
    echo "bytes: $(find "$TMP/idf" "$TMP/newlib" -type f -exec cat {} + | wc -c)"
    echo
    (cd "$TMP" && find idf newlib -type f | LC_ALL=C sort | while read -r f; do echo "$(wc -c <"$f") $f"; done)
} >"$TMP/MANIFEST.txt"

trap - EXIT
rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
mv "$TMP" "$OUT"
sed -n 2,5p "$OUT/MANIFEST.txt"
echo "fixture ready: $OUT"
