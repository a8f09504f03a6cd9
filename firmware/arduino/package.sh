#!/bin/sh
# Builds the Arduino / PlatformIO library furrow_ota from the ESP-IDF component, without keeping a second
# copy of its sources in the repository: the Arduino library format wants one root with
# library.properties and every source under src/ (the compiler's include path is src/ alone), and symlinks
# do not survive a Windows checkout or the Library Manager's zip. So the tree is generated:
#
#   OUT/furrow_ota/library.properties, library.json     (firmware/arduino/)
#   OUT/furrow_ota/src/                                 core *.c + include/*.h + port/esp_idf/* (flat),
#                                                       FurrowUpdate.h/.cpp (the Arduino interface)
#   OUT/furrow_ota/examples/FurrowOTA/                  the sketch + examples/farm-sensor/partitions.csv
#   OUT/furrow_ota-VERSION.zip                          Arduino IDE: Sketch > Include Library > Add .ZIP Library
#
# OUT defaults to firmware/build/arduino. The Arduino Library Manager indexes a repository whose root is
# the library: publish by committing OUT/furrow_ota to the release repository and tagging it.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
FW=$(dirname "$HERE")
CORE=$FW/components/furrow_ota
OUT=${1:-$FW/build/arduino}

die() {
    echo "package.sh: $*" >&2
    exit 1
}

# one version for the three manifests: the registries must not disagree on what a release is
v_props=$(sed -n 's/^version=//p' "$HERE/library.properties")
v_json=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$HERE/library.json")
v_idf=$(sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$CORE/idf_component.yml")
[ -n "$v_props" ] && [ "$v_props" = "$v_json" ] && [ "$v_props" = "$v_idf" ] ||
    die "versions differ: library.properties '$v_props', library.json '$v_json', idf_component.yml '$v_idf'"

LIB=$OUT/furrow_ota
rm -rf "$LIB" "$OUT/furrow_ota-$v_props.zip"
mkdir -p "$LIB/src" "$LIB/examples/FurrowOTA"
cp "$HERE/library.properties" "$HERE/library.json" "$LIB/"
for f in "$CORE"/*.c "$CORE"/include/*.h "$CORE"/port/esp_idf/*.c "$CORE"/port/esp_idf/*.h "$HERE"/src/*; do
    name=$(basename "$f")
    [ ! -e "$LIB/src/$name" ] || die "two sources named $name: src/ is flat"
    cp "$f" "$LIB/src/$name"
done
cp "$HERE/examples/FurrowOTA/FurrowOTA.ino" "$FW/examples/farm-sensor/partitions.csv" "$LIB/examples/FurrowOTA/"
(cd "$OUT" && zip -qr "furrow_ota-$v_props.zip" furrow_ota)
echo "$LIB ($(find "$LIB/src" -type f | wc -l) sources), $OUT/furrow_ota-$v_props.zip"
