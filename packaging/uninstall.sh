#!/usr/bin/env bash
# Remove Lynex. The data directory and backups stay unless --purge is given.
#
#   uninstall.sh [--prefix DIR] [--data-dir DIR] [--backup-dir DIR] [--bin-dir DIR] [--user NAME]
#                [--purge] [--no-systemd]
set -euo pipefail
prefix=/opt/lynex data_dir=/var/lib/lynex backup_dir=/var/backups/lynex bin_dir=/usr/local/bin user=lynex
purge=0 systemd=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --data-dir) data_dir="$2"; shift 2 ;;
    --backup-dir) backup_dir="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --user) user="$2"; shift 2 ;;
    --purge) purge=1; shift ;;
    --no-systemd) systemd=0; shift ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "uninstall.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$systemd" = 1 ] && command -v systemctl > /dev/null; then
  systemctl disable --now lynex 2> /dev/null || true
  rm -f /etc/systemd/system/lynex.service
  systemctl daemon-reload || true
fi
[ "$(readlink -f "$bin_dir/lynex" 2> /dev/null)" = "$(readlink -f "$prefix/current/lynex/lynex" 2> /dev/null)" ] \
  && rm -f "$bin_dir/lynex"
rm -rf "$prefix"
echo "removed $prefix"
if [ "$purge" = 1 ]; then
  rm -rf "$data_dir" "$backup_dir" /etc/lynex
  if [ "$systemd" = 1 ] && id "$user" > /dev/null 2>&1; then userdel "$user" || true; fi
  echo "purged $data_dir, $backup_dir and /etc/lynex"
else
  echo "kept the data in $data_dir and backups in $backup_dir (uninstall.sh --purge removes them)"
fi
