#!/usr/bin/env bash
# Install or upgrade Lynex from a release tarball, after verifying its checksum and Ed25519 signature.
#
#   install.sh [options] lynex-<version>-linux-x86_64.tar.gz
#
#   --pubkey FILE     verify with this public key (default: the release key embedded below)
#   --sums FILE       SHA256SUMS to check against (default: next to the tarball)
#   --sig FILE        signature of the tarball (default: TARBALL.sig)
#   --prefix DIR      where releases live (default /opt/lynex); DIR/current is the active one
#   --data-dir DIR    Lynex data directory (default /var/lib/lynex); never touched except by backup
#   --backup-dir DIR  where the pre-upgrade backup goes (default /var/backups/lynex)
#   --bin-dir DIR     where the `lynex` command is linked (default /usr/local/bin)
#   --user NAME       system user the service runs as (default lynex)
#   --no-systemd      no user, no unit, no start (containers, tests, manual supervision)
#   --no-start        install the unit but do not (re)start the service
#
# Upgrade = the same command with a newer tarball: the service is stopped, the data directory is
# backed up with the running (old) binary, `current` switches to the new release and the service
# starts; schema migrations run on start. `rollback.sh` goes back to the previous release and backup.
# Nothing here needs the network.
set -euo pipefail

# The release public key (build.sh embeds it in the copy of this script it ships beside the tarball).
RELEASE_PUBLIC_KEY="$(cat <<'PUBKEY'
# @RELEASE_PUBLIC_KEY@
PUBKEY
)"

prefix=/opt/lynex data_dir=/var/lib/lynex backup_dir=/var/backups/lynex bin_dir=/usr/local/bin user=lynex
pubkey="" sums="" sig="" systemd=1 start=1 tarball=""
die() { echo "install.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --pubkey) pubkey="$2"; shift 2 ;;
    --sums) sums="$2"; shift 2 ;;
    --sig) sig="$2"; shift 2 ;;
    --prefix) prefix="$2"; shift 2 ;;
    --data-dir) data_dir="$2"; shift 2 ;;
    --backup-dir) backup_dir="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --user) user="$2"; shift 2 ;;
    --no-systemd) systemd=0; shift ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$tarball" ] || die "one tarball at a time"; tarball="$1"; shift ;;
  esac
done
[ -n "$tarball" ] || die "give the release tarball (lynex-<version>-linux-x86_64.tar.gz)"
[ -f "$tarball" ] || die "$tarball not found"
tarball="$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")"
base="$(basename "$tarball")"
sums="${sums:-$(dirname "$tarball")/SHA256SUMS}"
sig="${sig:-$tarball.sig}"

# ---- 1. Verify before anything is written ------------------------------------------------------
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
if [ -n "$pubkey" ]; then
  [ -f "$pubkey" ] || die "public key $pubkey not found"
  cp "$pubkey" "$workdir/release.pub"
elif grep -q "BEGIN PUBLIC KEY" <<<"$RELEASE_PUBLIC_KEY"; then
  printf '%s\n' "$RELEASE_PUBLIC_KEY" > "$workdir/release.pub"
else
  die "no release public key: this install.sh has none embedded; pass --pubkey lynex-release.pub"
fi

[ -f "$sums" ] || die "checksum file $sums not found (pass --sums)"
expected="$(awk -v f="$base" '$2 == f || $2 == "*"f {print $1}' "$sums")"
[ -n "$expected" ] || die "$sums has no line for $base"
actual="$(sha256sum "$tarball" | awk '{print $1}')"
[ "$expected" = "$actual" ] || die "REFUSED: SHA-256 of $base is $actual, $sums says $expected (corrupt or tampered download)"
echo "checksum OK ($actual)"

[ -f "$sig" ] || die "signature $sig not found (pass --sig)"
if openssl pkeyutl -verify -pubin -inkey "$workdir/release.pub" -rawin -in "$tarball" -sigfile "$sig" \
     > "$workdir/verify.out" 2>&1; then
  echo "signature OK (Ed25519, openssl)"
elif grep -qi "signature verification failure\|Signature Verification Failure" "$workdir/verify.out"; then
  die "REFUSED: the Ed25519 signature of $base does not verify against the release key (tampered or wrong key)"
elif command -v python3 > /dev/null && python3 -c 'import cryptography' 2> /dev/null; then
  # An OpenSSL without raw Ed25519 support (< 3.0): the same check in Python.
  python3 - "$workdir/release.pub" "$tarball" "$sig" <<'EOF' || die "REFUSED: the Ed25519 signature of $base does not verify"
import sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
pub, data, sig = sys.argv[1:]
load_pem_public_key(open(pub, "rb").read()).verify(open(sig, "rb").read(), open(data, "rb").read())
EOF
  echo "signature OK (Ed25519, python cryptography)"
else
  cat "$workdir/verify.out" >&2
  die "cannot verify the signature here: needs OpenSSL >= 3.0, or python3 with the cryptography package"
fi

# ---- 2. Unpack into a new release directory -----------------------------------------------------
mkdir -p "$prefix/releases"
prefix="$(cd "$prefix" && pwd)"
# Unpacked next to its final place (same file system: no copy, and no /tmp space or noexec surprises).
incoming="$(mktemp -d "$prefix/releases/.incoming.XXXXXX")"
trap 'rm -rf "$workdir" "$incoming"' EXIT
tar -C "$incoming" -xzf "$tarball"
top="$(find "$incoming" -mindepth 1 -maxdepth 1 -type d -name 'lynex-*' | head -n 1)"
[ -x "$top/lynex/lynex" ] || die "$base does not hold lynex/lynex"
version="$(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$top/BUILDINFO.json")"
release="$prefix/releases/$version-$(date -u +%Y%m%dT%H%M%SZ)"
mv "$top" "$release"
"$release/lynex/lynex" version > /dev/null || die "the new binary does not start on this host (see packaging/README.md, Requirements)"

# ---- 3. Upgrade: stop, back up with the old binary, then switch ---------------------------------
service_active=0
if [ "$systemd" = 1 ] && command -v systemctl > /dev/null && systemctl is-active --quiet lynex 2> /dev/null; then
  service_active=1
  echo "stopping lynex.service for the upgrade"
  systemctl stop lynex
fi
if [ -L "$prefix/current" ]; then
  old="$(readlink -f "$prefix/current")"
  if [ -f "$data_dir/meta.sqlite" ] || [ -f "$data_dir/hot.duckdb" ]; then
    backup="$backup_dir/$(date -u +%Y%m%dT%H%M%SZ)-before-$version"
    echo "backing up $data_dir to $backup (with $(basename "$old"))"
    mkdir -p "$backup_dir"
    run_as=()
    if [ "$systemd" = 1 ] && [ "$(id -u)" = 0 ] && id "$user" > /dev/null 2>&1; then
      chown "$user:" "$backup_dir"; run_as=(runuser -u "$user" --)
    fi
    "${run_as[@]}" "$old/lynex/lynex" backup "$backup" --data-dir "$data_dir" \
      || die "backup failed; nothing was changed (the old release is still current)"
    # Installation secrets `lynex backup` does not copy: without master.key, encrypted alert-channel
    # secrets in the backup could not be read back; license.json is the license in force.
    for secret in master.key license.json; do
      [ -f "$data_dir/$secret" ] && cp -p "$data_dir/$secret" "$backup/$secret"
    done
    echo "$backup" > "$release/.upgrade-backup"
  fi
  ln -sfn "$old" "$prefix/previous"
fi
ln -sfn "$release" "$prefix/current.new" && mv -T "$prefix/current.new" "$prefix/current"
mkdir -p "$bin_dir"
ln -sfn "$prefix/current/lynex/lynex" "$bin_dir/lynex"
echo "installed $(cat "$release/BUILDINFO.json" | tr -d '\n ' ) at $release"

# ---- 4. The service -------------------------------------------------------------------------------
if [ "$systemd" = 1 ]; then
  [ "$(id -u)" = 0 ] || die "the systemd install needs root (or pass --no-systemd)"
  id "$user" > /dev/null 2>&1 || useradd --system --home-dir "$data_dir" --no-create-home \
    --shell /usr/sbin/nologin "$user"
  mkdir -p "$data_dir" /etc/lynex
  chown "$user:" "$data_dir" && chmod 750 "$data_dir"
  [ -f /etc/lynex/lynex.env ] || printf '# LYNEX_* settings (lynex settings lists them), e.g.\n# LYNEX_PORT=8600\n' \
    > /etc/lynex/lynex.env
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@DATA_DIR@|$data_dir|g" -e "s|@USER@|$user|g" \
    "$release/packaging/lynex.service" > /etc/systemd/system/lynex.service
  systemctl daemon-reload
  systemctl enable lynex > /dev/null
  if [ "$start" = 1 ]; then
    systemctl restart lynex
    echo "lynex.service started; first start prints the setup URL: journalctl -u lynex"
  fi
elif [ "$service_active" = 0 ]; then
  echo "no service installed (--no-systemd); run: $bin_dir/lynex serve --data-dir $data_dir"
fi
