#!/bin/sh
# Links the given rv32 objects into one image, as the device build would, and prints
# "text <.text+.rodata> data <.data+.sdata> bss <.bss+.sbss>" of that image.
#
# Why link: in an object file every call is auipc+jalr (8 B) awaiting relocation; the linker relaxes
# calls inside the image to jal/c.jal, as it does for the firmware image. Summing object sections
# overstates code by those bytes. Kept a fair (slightly pessimistic) measure of the device image:
#  - every global function of the objects is kept (-u), --gc-sections only drops what nothing uses;
#  - symbols the objects use but do not define (libc, crypto/CoAP/manifest, furrow_strerror) are
#    placed 32 MB away, so calls to them stay full 8-byte calls, as calls into ESP32-C3 ROM do;
#  - no __global_pointer$, so no gp-relative relaxation of data addresses.
# Usage: link.sh out.elf obj.o...
set -e
out=$1
shift
nm=riscv64-unknown-elf-nm
defined=$($nm -g --defined-only "$@" | awk 'NF == 3 { print $3 }' | sort -u)
used=$($nm -u "$@" | awk 'NF == 2 { print $2 }' | sort -u)
args=
for s in $defined; do args="$args -Wl,-u,$s"; done
for s in $used; do
  echo "$defined" | grep -qx "$s" || args="$args -Wl,--defsym=$s=0x40000000"
done
# shellcheck disable=SC2086
riscv64-unknown-elf-gcc -march=rv32imc -mabi=ilp32 -nostdlib -nostartfiles -Wl,--gc-sections -Wl,-e,0 \
  -Wl,-T,"$(dirname "$0")/image.ld" $args -o "$out" "$@"
riscv64-unknown-elf-size -A "$out" | awk '
  NR <= 2 || $1 !~ /^\./ || $1 == ".comment" || $1 ~ /^\.(riscv|debug)/ { next }
  $1 ~ /^\.s?data/ { d += $2; next }
  $1 ~ /^\.s?bss/ { b += $2; next }
  { t += $2 } # .text, .rodata and anything unexpected count as code
  END { print "text " t + 0 " data " d + 0 " bss " b + 0 }'
