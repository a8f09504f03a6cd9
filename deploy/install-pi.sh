#!/usr/bin/env bash
# Installs furrow on Raspberry Pi OS (arm64; Debian bookworm or trixie) as a hardened systemd service.
#
#   sudo ./deploy/install-pi.sh [--from <dir|furrow-ota-X.Y.Z.tgz>] [--with-mosquitto] [--no-start]
#                               [--no-apt] [--node-modules <dir>] [--root <dir>] [--dry-run]
#   sudo ./deploy/install-pi.sh --rollback [--no-start] [--root <dir>]
#
# Each run installs one release side by side with the others and switches to it atomically:
#   /opt/furrow/releases/<version>/   the package (dist/, bin/, config/) and its production node_modules
#   /opt/furrow/current  -> releases/<version>   what the unit and /usr/local/bin/furrow run
#   /opt/furrow/previous -> releases/<older>     what --rollback switches back to
# An old tree is never written into: an upgrade unpacks a fresh directory, checks the config with it, then
# renames a new `current` symlink over the old one (ln -sfn + mv -T, one rename(2)). Three releases are kept.
#
# Steps: 1. Node.js 24 LTS from NodeSource (if node is missing or older than 22), xz-utils and bzip2;
#        2. every program the daemon runs must be on PATH (xz, bzip2, sh, systemd-notify), else it stops
#           naming the package; 3. system user furrow in group dialout; 4. the release as above;
#        5. /etc/furrow/furrow.yaml from deploy/furrow.yaml if there is none (never overwritten), checked
#           with the new release; 6. the unit (systemd-analyze verify) and a journald size cap;
#        7. optionally mosquitto with the example bridge config; 8. switch, enable, restart, wait for /readyz.
#
#   --from          a furrow checkout (packed here with `npm pack`, which builds dist/) or a tarball from it
#   --no-apt        install no packages; check that they are there (for hosts managed by other tools)
#   --node-modules  copy production dependencies from <dir> (built for this OS/arch) instead of `npm ci`
#   --root          install into the file system tree at <dir> (an image being prepared, a test): nothing
#                   of the running system is touched (no restart, no daemon-reload), users go to <dir>/etc
#   --rollback      switch current and previous back, then restart the service
#   --dry-run       print the steps instead of running them
set -euo pipefail

NODE_MAJOR=24        # installed from NodeSource: the Active LTS line (Node 20 reached end of life 2026-04-30)
NODE_MAJOR_OK=22     # an existing node at least this new (a maintained LTS) is kept
KEEP_RELEASES=3
# Programs the daemon runs (grep src for spawn/runFilter; test/unit/telemetry/deploy.test.ts checks this
# list against the sources), as program:Debian package.
RUNTIME_PROGRAMS="xz:xz-utils bzip2:bzip2 sh:dash systemd-notify:systemd"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FROM="$(dirname "$HERE")"
WITH_MOSQUITTO=0
START=1
DRY_RUN=0
APT=1
ROLLBACK=0
NODE_MODULES=""
ROOT=""

usage() { sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --from) FROM="${2:?--from needs a directory or a .tgz made by npm pack}"; shift 2 ;;
    --with-mosquitto) WITH_MOSQUITTO=1; shift ;;
    --no-start) START=0; shift ;;
    --no-apt) APT=0; shift ;;
    --node-modules) NODE_MODULES="${2:?--node-modules needs a directory}"; shift 2 ;;
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --rollback) ROLLBACK=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-pi.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '==> %s\n' "$*"; }
run() {
  if [ "$DRY_RUN" = 1 ]; then printf '    would run: %s\n' "$*"; else "$@"; fi
}
die() { printf 'install-pi.sh: %s\n' "$*" >&2; exit 1; }
live() { [ -z "$ROOT" ]; }

if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || die "--root $ROOT: not a directory"
  ROOT="$(cd "$ROOT" && pwd)"
fi
OPT="$ROOT/opt/furrow"
CONF_DIR="$ROOT/etc/furrow"
UNIT="$ROOT/etc/systemd/system/furrow.service"
BIN_LINK="$ROOT/usr/local/bin/furrow"
JOURNALD_DROPIN="$ROOT/etc/systemd/journald.conf.d/furrow.conf"

if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then die "run as root (sudo $0)"; fi
command -v systemctl >/dev/null || die "systemctl not found: furrow's service needs systemd (package systemd)"

# Points $OPT/<name> at releases/<target> with one rename(2): never a moment without the link.
switch_link() {
  run ln -sfn "releases/$2" "$OPT/$1.new"
  run mv -T "$OPT/$1.new" "$OPT/$1"
}
# Two unpacked releases need the same node_modules: equal lock files, or (a tarball has none) equal
# dependencies and overrides in package.json.
same_deps() {
  if [ -f "$1/package-lock.json" ] && [ -f "$2/package-lock.json" ]; then cmp -s "$1/package-lock.json" "$2/package-lock.json"; return; fi
  [ "$DRY_RUN" = 0 ] || return 1
  node -e 'const r = (d) => { const p = require(d + "/package.json"); return JSON.stringify([p.dependencies, p.overrides]); };
    process.exit(r(process.argv[1]) === r(process.argv[2]) ? 0 : 1)' "$1" "$2"
}
release_of() { if [ -L "$OPT/$1" ]; then basename "$(readlink "$OPT/$1")"; fi; }

restart_service() {
  if [ "$START" = 0 ] || ! live; then
    say "not restarting furrow (--no-start or --root)"
    return
  fi
  run systemctl restart furrow.service
  [ "$DRY_RUN" = 1 ] && return
  say "waiting for furrow to be ready"
  for _ in $(seq 1 60); do
    if curl -fsS http://127.0.0.1:9464/readyz >/dev/null 2>&1; then
      systemctl --no-pager --lines=5 status furrow.service || true
      return
    fi
    sleep 2
  done
  systemctl --no-pager --lines=20 status furrow.service || true
  die "furrow did not become ready in 120 s (journalctl -u furrow -p warning); to go back: $0 --rollback"
}

if [ "$ROLLBACK" = 1 ]; then
  cur="$(release_of current)"
  prev="$(release_of previous)"
  if [ -z "$prev" ] || [ ! -d "$OPT/releases/$prev" ]; then die "no previous release to roll back to (under $OPT/releases)"; fi
  say "rolling back: $cur -> $prev"
  switch_link current "$prev"
  if [ -n "$cur" ]; then switch_link previous "$cur"; fi
  # A newer release may have migrated the database; the older one then refuses it at start, naming the
  # problem ("written by a newer furrow"): restore the backup taken before the upgrade in that case.
  restart_service
  say "current: $prev (previous: ${cur:-none})"
  exit 0
fi

# 1. Node.js and the packages the daemon's programs come from
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
# package.json engines: the oldest Node furrow runs on (tested in CI), even if out of support.
node_runs_furrow() { node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null; }
if [ "$(node_major)" -lt "$NODE_MAJOR_OK" ] && [ "$APT" = 0 ]; then
  have="$(node --version 2>/dev/null || echo none)"
  node_runs_furrow || die "--no-apt: Node.js $have found; furrow needs Node.js >= 20.19, better $NODE_MAJOR LTS (nodejs $NODE_MAJOR.x from https://deb.nodesource.com)"
  say "warning: Node.js $have is out of support; install Node.js $NODE_MAJOR LTS (nodejs $NODE_MAJOR.x from https://deb.nodesource.com)"
elif [ "$(node_major)" -lt "$NODE_MAJOR_OK" ]; then
  have="$(node --version 2>/dev/null || echo none)"
  say "installing Node.js ${NODE_MAJOR}.x from NodeSource (found: $have)"
  command -v apt-get >/dev/null || die "apt-get not found: this script targets Raspberry Pi OS / Debian"
  run apt-get update
  run apt-get install -y ca-certificates curl gnupg
  run install -d -m 0755 /etc/apt/keyrings
  if [ "$DRY_RUN" = 1 ]; then
    echo "    would run: curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor -o /etc/apt/keyrings/nodesource.gpg"
  else
    curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor --yes -o /etc/apt/keyrings/nodesource.gpg
    echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_${NODE_MAJOR}.x nodistro main" >/etc/apt/sources.list.d/nodesource.list
  fi
  run apt-get update
  run apt-get install -y nodejs
else
  say "Node.js $(node --version) is recent enough"
fi
if [ "$APT" = 1 ]; then
  say "packages the daemon runs programs from, and build tools for native modules without an arm64 prebuild"
  run apt-get install -y --no-install-recommends xz-utils bzip2 systemd curl build-essential python3
fi

# 2. every program the daemon runs
missing=""
pkgs=""
for entry in $RUNTIME_PROGRAMS; do
  if ! command -v "${entry%%:*}" >/dev/null 2>&1; then
    missing="$missing ${entry%%:*} (package ${entry#*:})"
    pkgs="$pkgs ${entry#*:}"
  fi
done
if [ -n "$missing" ] && [ "$DRY_RUN" = 0 ]; then
  die "the daemon runs programs that are not on PATH:$missing; install them: apt-get install -y$pkgs"
fi

# 3. user (under --root, in <root>/etc/passwd and group)
ugroot=()
if [ -n "$ROOT" ]; then ugroot=(--prefix "$ROOT"); fi
if awk -F: '$1 == "furrow" { found = 1 } END { exit !found }' "$ROOT/etc/passwd" 2>/dev/null; then
  say "user furrow exists"
else
  say "creating system user furrow"
  run useradd "${ugroot[@]}" --system --user-group --home-dir /var/lib/furrow --no-create-home --shell /usr/sbin/nologin furrow
fi
run usermod "${ugroot[@]}" -a -G dialout furrow
furrow_gid() { awk -F: '$1 == "furrow" { print $3 }' "$ROOT/etc/group"; }

# 4. the release, unpacked into a fresh directory
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
if [ -f "$FROM" ]; then
  tgz="$FROM"
elif [ -d "$FROM" ] && [ -f "$FROM/package.json" ]; then
  say "packing $FROM (npm pack builds dist/; needs its dev dependencies: npm ci)"
  [ -d "$FROM/node_modules/typescript" ] || run sh -c "cd '$FROM' && npm ci --no-audit --no-fund"
  if [ "$DRY_RUN" = 1 ]; then
    echo "    would run: npm pack --pack-destination $stage (in $FROM)"
    tgz="$stage/furrow-ota.tgz"
  else
    tgz="$stage/$(cd "$FROM" && npm pack --silent --pack-destination "$stage" | tail -n 1)"
  fi
  lock="$FROM/package-lock.json"
else
  die "--from $FROM: expected a furrow checkout (with package.json) or a .tgz made by npm pack"
fi
if [ "$DRY_RUN" = 1 ] && [ ! -f "$tgz" ]; then
  version="X.Y.Z"; sha="dry-run"
else
  sha="$(sha256sum "$tgz" | cut -d' ' -f1)"
  version="$(tar -xzOf "$tgz" package/package.json | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>console.log(JSON.parse(s).version))')" ||
    die "$tgz: no package/package.json inside; expected a tarball made by npm pack"
fi
name="$version"
if [ -f "$OPT/releases/$name/.furrow-release" ] && ! grep -qx "sha256=$sha" "$OPT/releases/$name/.furrow-release"; then
  name="$version-${sha:0:8}" # the same version number, other contents (a rebuild): a directory of its own
fi
release="$OPT/releases/$name"
if [ -f "$release/.furrow-release" ]; then
  say "release $name is already unpacked in $release"
else
  say "unpacking release $name into $release"
  new="$OPT/releases/.new-$name"
  run rm -rf "$new"
  run install -d -m 0755 "$OPT/releases" "$new"
  run tar -xzf "$tgz" -C "$new" --strip-components=1 # npm pack puts everything under package/
  has_lock=0
  if [ -n "${lock:-}" ] && [ -f "$lock" ]; then
    run cp "$lock" "$new/package-lock.json"
    has_lock=1
  fi
  cur="$(release_of current)"
  if [ -n "$NODE_MODULES" ]; then
    [ -d "$NODE_MODULES" ] || die "--node-modules $NODE_MODULES: not a directory"
    say "production dependencies copied from $NODE_MODULES"
    run cp -a "$(realpath "$NODE_MODULES")" "$new/node_modules"
  elif [ -n "$cur" ] && [ -d "$OPT/releases/$cur/node_modules" ] && same_deps "$new" "$OPT/releases/$cur"; then
    # Same dependencies: hard links to the current release's (npm never edits them in place), instead of
    # minutes of npm ci and native builds on a Pi.
    say "dependencies unchanged since $cur: linking its node_modules"
    run cp -al "$OPT/releases/$cur/node_modules" "$new/node_modules"
  elif [ "$has_lock" = 1 ]; then
    run sh -c "cd '$new' && npm ci --omit=dev --no-audit --no-fund"
  else
    run sh -c "cd '$new' && npm install --omit=dev --no-audit --no-fund" # a bare tarball carries no lock file
  fi
  if [ "$DRY_RUN" = 0 ]; then printf 'version=%s\nsha256=%s\n' "$version" "$sha" >"$new/.furrow-release"; fi
  run chown -R 0:0 "$new"
  run chmod -R go-w "$new"
  run mv -T "$new" "$release"
fi

# 5. config, checked with the release about to run it
run install -d -m 0750 "$CONF_DIR" "$CONF_DIR/keys" "$CONF_DIR/tls"
if [ "$DRY_RUN" = 0 ]; then chown "0:$(furrow_gid)" "$CONF_DIR" "$CONF_DIR/keys" "$CONF_DIR/tls"; fi
if [ -e "$CONF_DIR/furrow.yaml" ]; then
  say "keeping the existing $CONF_DIR/furrow.yaml"
else
  gw="$(hostname -s | tr -c 'A-Za-z0-9._\n-' '-' | cut -c1-64)"
  say "writing $CONF_DIR/furrow.yaml (gateway id: $gw)"
  if [ "$DRY_RUN" = 1 ]; then
    echo "    would write: $CONF_DIR/furrow.yaml from $HERE/furrow.yaml"
  else
    sed "s/GATEWAY_ID/$gw/g" "$HERE/furrow.yaml" >"$CONF_DIR/furrow.yaml"
    chown "0:$(furrow_gid)" "$CONF_DIR/furrow.yaml"
    chmod 0640 "$CONF_DIR/furrow.yaml"
  fi
fi
if [ "$DRY_RUN" = 0 ]; then
  # FURROW_RUNTIME=dist: a release runs its compiled build, whatever the caller's environment says.
  (cd "${TMPDIR:-/tmp}" && FURROW_RUNTIME=dist node "$release/bin/furrow.js" --config "$CONF_DIR/furrow.yaml" config check) ||
    die "$CONF_DIR/furrow.yaml does not validate with release $name: fix it (errors above) and run this script again; the running release is unchanged"
fi

# 6. unit and journald cap
node_bin="$(command -v node || echo /usr/bin/node)"
say "installing $UNIT (node at $node_bin)"
if [ "$DRY_RUN" = 1 ]; then
  echo "    would write: $UNIT from $HERE/furrow.service"
else
  install -d -m 0755 "$(dirname "$UNIT")"
  sed "s#^ExecStart=/usr/bin/node #ExecStart=$node_bin #" "$HERE/furrow.service" >"$UNIT"
  chmod 0644 "$UNIT"
  systemd-analyze verify "$UNIT"
fi
if [ ! -e "$JOURNALD_DROPIN" ]; then
  run install -D -m 0644 "$HERE/journald-furrow.conf" "$JOURNALD_DROPIN"
  if live; then run systemctl restart systemd-journald; fi
fi
if live; then run systemctl daemon-reload; fi

# 7. mosquitto (optional)
if [ "$WITH_MOSQUITTO" = 1 ]; then
  say "installing mosquitto; the bridge example goes to /etc/mosquitto/conf.d/furrow-bridge.conf.example"
  if [ "$APT" = 1 ]; then run apt-get install -y mosquitto mosquitto-clients; fi
  run install -D -m 0644 "$HERE/mosquitto-bridge.conf" "$ROOT/etc/mosquitto/conf.d/furrow-bridge.conf.example"
fi

# 8. switch, prune, start
cur="$(release_of current)"
if [ "$cur" != "$name" ]; then
  say "switching current: ${cur:-none} -> $name"
  switch_link current "$name"
  if [ -n "$cur" ]; then switch_link previous "$cur"; fi
else
  say "release $name is already current"
fi
run install -d -m 0755 "$(dirname "$BIN_LINK")"
run ln -sfn /opt/furrow/current/bin/furrow.js "$BIN_LINK"
if [ -d "$OPT/releases" ]; then
  keep="$(release_of current) $(release_of previous)"
  n=0
  # Newest first; beyond KEEP_RELEASES, anything that is neither current nor previous goes.
  while read -r _ dir; do
    n=$((n + 1))
    if [ "$n" -gt "$KEEP_RELEASES" ] && ! printf ' %s ' "$keep" | grep -q " $dir "; then
      say "removing old release $dir"
      run rm -rf "${OPT:?}/releases/$dir"
    fi
  done < <(find "$OPT/releases" -mindepth 1 -maxdepth 1 -type d ! -name '.new-*' -printf '%T@ %f\n' | sort -rn)
fi
if live; then
  run systemctl enable furrow.service
else
  run systemctl --root="$ROOT" enable furrow.service
fi
restart_service

if [ "$DRY_RUN" = 1 ]; then say "dry run: nothing was changed"; exit 0; fi
cat <<EOF

furrow $name is installed ($OPT/current; previous: $(release_of previous || true); roll back: $0 --rollback).
  config    /etc/furrow/furrow.yaml  (check: furrow --config /etc/furrow/furrow.yaml config check)
  state     /var/lib/furrow          (SQLite database and blobs; back this up)
  logs      journalctl -u furrow -f  (warnings and errors only: journalctl -u furrow -p warning)
  status    sudo -u furrow furrow --config /etc/furrow/furrow.yaml status
  metrics   http://127.0.0.1:9464/metrics
Next: copy the vendor's release public key to /etc/furrow/keys/vendor-release.pub.pem, set mqtt.url,
then: sudo systemctl reload furrow
EOF
