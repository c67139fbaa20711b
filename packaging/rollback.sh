#!/usr/bin/env bash
# Go back to the release that was current before the last upgrade.
#
#   rollback.sh [--prefix DIR] [--data-dir DIR] [--bin-dir DIR] [--keep-data] [--no-systemd]
#
# Migrations only go forward, so by default the data directory is returned to the backup install.sh
# took just before that upgrade: the current data directory is moved aside (DATA.rolled-back-<time>,
# nothing is deleted) and the backup restored into a fresh one. Spans ingested since the upgrade are in
# the moved-aside directory, not in the restored one. --keep-data switches the binary only (safe when
# the upgrade changed no schema; the release notes say so).
set -euo pipefail
prefix=/opt/lynex data_dir=/var/lib/lynex bin_dir=/usr/local/bin keep=0 systemd=1
die() { echo "rollback.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --data-dir) data_dir="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --keep-data) keep=1; shift ;;
    --no-systemd) systemd=0; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
[ -L "$prefix/previous" ] || die "no previous release under $prefix to roll back to"
current="$(readlink -f "$prefix/current")"
previous="$(readlink -f "$prefix/previous")"
[ -x "$previous/lynex/lynex" ] || die "$previous is incomplete"

if [ "$systemd" = 1 ] && command -v systemctl > /dev/null; then systemctl stop lynex || true; fi
if [ "$keep" = 0 ]; then
  [ -f "$current/.upgrade-backup" ] || die "no pre-upgrade backup recorded for $(basename "$current"); use --keep-data"
  backup="$(cat "$current/.upgrade-backup")"
  [ -d "$backup" ] || die "backup $backup is gone; use --keep-data"
  aside="$data_dir.rolled-back-$(date -u +%Y%m%dT%H%M%SZ)"
  mv "$data_dir" "$aside"
  echo "moved $data_dir aside to $aside"
  "$previous/lynex/lynex" restore "$backup" --data-dir "$data_dir"
  # `lynex restore` brings back the stores only; the installation's master key and license come from
  # the backup (install.sh put them there), else from the moved-aside directory of this same install.
  for secret in master.key license.json; do
    for from in "$backup" "$aside"; do
      if [ -f "$from/$secret" ] && [ ! -f "$data_dir/$secret" ]; then cp -p "$from/$secret" "$data_dir/$secret"; fi
    done
  done
  if [ "$systemd" = 1 ] && [ "$(id -u)" = 0 ]; then
    owner="$(stat -c %U "$aside")"; chown -R "$owner:" "$data_dir"; chmod 750 "$data_dir"
  fi
fi
ln -sfn "$previous" "$prefix/current.new" && mv -T "$prefix/current.new" "$prefix/current"
ln -sfn "$current" "$prefix/previous"
ln -sfn "$prefix/current/lynex/lynex" "$bin_dir/lynex"
echo "rolled back to $(basename "$previous")"
if [ "$systemd" = 1 ] && command -v systemctl > /dev/null; then systemctl start lynex; fi
