#!/usr/bin/env bash
# Installs furrow on Raspberry Pi OS (Debian bookworm, arm64) as a hardened systemd service.
#
#   sudo ./deploy/install-pi.sh [--from <dir|furrow-ota-X.Y.Z.tgz>] [--with-mosquitto] [--no-start] [--dry-run]
#
# What it does (each step is skipped when already done, so running it again upgrades in place):
#   1. Node.js 20+ from NodeSource (only if `node` is missing or older than 20), plus build tools for the
#      native modules (better-sqlite3, serialport, bsdiff-node) in case no arm64 prebuild matches.
#   2. System user `furrow` (no login, no home), member of `dialout` for the modem's serial port.
#   3. The package into /opt/furrow (root-owned, read-only to the service) with production dependencies,
#      and /usr/local/bin/furrow for operators.
#   4. /etc/furrow/furrow.yaml from deploy/furrow.yaml if there is none (never overwritten).
#   5. The unit (deploy/furrow.service), checked with systemd-analyze verify; a journald size cap.
#   6. Optionally mosquitto with the example bridge config (disabled until edited).
#   7. Enables and starts furrow, then waits for /readyz.
set -euo pipefail

PREFIX=/opt/furrow
CONF_DIR=/etc/furrow
UNIT=/etc/systemd/system/furrow.service
NODE_MAJOR_MIN=20
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FROM="$(dirname "$HERE")"
WITH_MOSQUITTO=0
START=1
DRY_RUN=0

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --from) FROM="${2:?--from needs a directory or a .tgz made by npm pack}"; shift 2 ;;
    --with-mosquitto) WITH_MOSQUITTO=1; shift ;;
    --no-start) START=0; shift ;;
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

if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then die "run as root (sudo $0 $*)"; fi
arch="$(uname -m)"
if [ "$arch" != aarch64 ] && [ "$arch" != arm64 ]; then
  say "note: this is $arch, not arm64; continuing (the steps are the same on any Debian)"
fi
command -v apt-get >/dev/null || die "apt-get not found: this script targets Raspberry Pi OS / Debian"
command -v systemctl >/dev/null || die "systemctl not found: furrow's service needs systemd"

# 1. Node.js 20+
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt "$NODE_MAJOR_MIN" ]; then
  say "installing Node.js ${NODE_MAJOR_MIN}.x from NodeSource (found: $(node --version 2>/dev/null || echo none))"
  run apt-get update
  run apt-get install -y ca-certificates curl gnupg
  run install -d -m 0755 /etc/apt/keyrings
  if [ "$DRY_RUN" = 1 ]; then
    echo "    would run: curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor -o /etc/apt/keyrings/nodesource.gpg"
  else
    curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor --yes -o /etc/apt/keyrings/nodesource.gpg
    echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_${NODE_MAJOR_MIN}.x nodistro main" >/etc/apt/sources.list.d/nodesource.list
  fi
  run apt-get update
  run apt-get install -y nodejs
else
  say "Node.js $(node --version) is recent enough"
fi
say "build tools for native modules (used only when no prebuilt arm64 binary matches)"
run apt-get install -y --no-install-recommends build-essential python3

# 2. user
if id furrow >/dev/null 2>&1; then
  say "user furrow exists"
else
  say "creating system user furrow"
  run useradd --system --user-group --home-dir /var/lib/furrow --no-create-home --shell /usr/sbin/nologin furrow
fi
run usermod -a -G dialout furrow

# 3. package
say "installing the package from $FROM into $PREFIX"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
if [ -f "$FROM" ]; then
  run tar -xzf "$FROM" -C "$stage"   # npm pack puts everything under package/
  src="$stage/package"
elif [ -d "$FROM" ] && [ -f "$FROM/package.json" ]; then
  src="$FROM"
else
  die "--from $FROM: expected a furrow checkout (with package.json) or a .tgz made by npm pack"
fi
run install -d -m 0755 "$PREFIX"
for item in package.json package-lock.json bin src config deploy README.md; do
  if [ -e "$src/$item" ]; then run cp -a "$src/$item" "$PREFIX/"; fi
done
# Production dependencies only; tsx is one of them (furrow runs TypeScript without a build step).
run sh -c "cd '$PREFIX' && npm ci --omit=dev --no-audit --no-fund"
run chown -R root:root "$PREFIX"
run chmod -R go-w "$PREFIX"
run ln -sf "$PREFIX/bin/furrow.js" /usr/local/bin/furrow

# 4. config
run install -d -m 0750 -o root -g furrow "$CONF_DIR" "$CONF_DIR/keys" "$CONF_DIR/tls"
if [ -e "$CONF_DIR/furrow.yaml" ]; then
  say "keeping the existing $CONF_DIR/furrow.yaml"
else
  gw="$(hostname -s | tr -c 'A-Za-z0-9._\n-' '-' | cut -c1-64)"
  say "writing $CONF_DIR/furrow.yaml (gateway id: $gw)"
  if [ "$DRY_RUN" = 1 ]; then
    echo "    would write: $CONF_DIR/furrow.yaml from $HERE/furrow.yaml"
  else
    sed "s/GATEWAY_ID/$gw/g" "$HERE/furrow.yaml" >"$CONF_DIR/furrow.yaml"
    chown root:furrow "$CONF_DIR/furrow.yaml"
    chmod 0640 "$CONF_DIR/furrow.yaml"
  fi
fi
if [ "$DRY_RUN" = 0 ]; then
  (cd /var/tmp && node "$PREFIX/bin/furrow.js" --config "$CONF_DIR/furrow.yaml" config check) ||
    die "$CONF_DIR/furrow.yaml does not validate: fix it (errors above) and run this script again"
fi

# 5. unit and journald cap
node_bin="$(command -v node || echo /usr/bin/node)"
say "installing $UNIT (node at $node_bin)"
if [ "$DRY_RUN" = 1 ]; then
  echo "    would write: $UNIT from $HERE/furrow.service"
else
  sed "s#^ExecStart=/usr/bin/node #ExecStart=$node_bin #" "$HERE/furrow.service" >"$UNIT"
  chmod 0644 "$UNIT"
  systemd-analyze verify "$UNIT"
fi
if [ ! -e /etc/systemd/journald.conf.d/furrow.conf ]; then
  run install -D -m 0644 "$HERE/journald-furrow.conf" /etc/systemd/journald.conf.d/furrow.conf
  run systemctl restart systemd-journald
fi
run systemctl daemon-reload

# 6. mosquitto (optional)
if [ "$WITH_MOSQUITTO" = 1 ]; then
  say "installing mosquitto; the bridge example goes to /etc/mosquitto/conf.d/furrow-bridge.conf.example"
  run apt-get install -y mosquitto mosquitto-clients
  run install -m 0644 "$HERE/mosquitto-bridge.conf" /etc/mosquitto/conf.d/furrow-bridge.conf.example
fi

# 7. start
run systemctl enable furrow.service
if [ "$START" = 1 ]; then
  run systemctl restart furrow.service
  if [ "$DRY_RUN" = 0 ]; then
    say "waiting for furrow to be ready"
    for _ in $(seq 1 60); do
      if curl -fsS http://127.0.0.1:9464/readyz >/dev/null 2>&1; then break; fi
      sleep 2
    done
    systemctl --no-pager --lines=5 status furrow.service || true
  fi
fi

if [ "$DRY_RUN" = 1 ]; then say "dry run: nothing was changed"; exit 0; fi
cat <<EOF

furrow is installed.
  config    $CONF_DIR/furrow.yaml  (check: furrow --config $CONF_DIR/furrow.yaml config check)
  state     /var/lib/furrow        (SQLite database and blobs; back this up)
  logs      journalctl -u furrow -f
  status    sudo -u furrow furrow --config $CONF_DIR/furrow.yaml status
  metrics   http://127.0.0.1:9464/metrics
Next: copy the vendor's release public key to $CONF_DIR/keys/vendor-release.pub.pem, set mqtt.url,
then: sudo systemctl reload furrow
EOF
