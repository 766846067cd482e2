#!/usr/bin/env bash
# Make sure the programs a make target needs are installed.
#
#   scripts/ensure-packages.sh [--for WHAT] [--dry-run] PROGRAM[=DEBIAN_PACKAGE]...
#
# A program already on PATH is left alone. For the missing ones: as root on a machine with apt-get, their Debian
# packages are installed (the package defaults to the program's name); otherwise one line on stderr names the
# packages to install, and the exit status is 1. --dry-run prints the apt-get command instead of running it.
# No browser build or binary is ever downloaded: Debian's packages only.
set -euo pipefail

what="this command"
dry_run=0
needed=()
while [ $# -gt 0 ]; do
  case "$1" in
    --for) what="$2"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    *) needed+=("$1"); shift ;;
  esac
done

missing=()
for item in "${needed[@]}"; do
  program="${item%%=*}"
  package="${item#*=}"
  command -v "$program" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "$what needs the package(s) ${missing[*]}: install them (as root: apt-get install -y ${missing[*]})" >&2
  exit 1
fi

if [ "$dry_run" = "1" ]; then
  echo "would run: apt-get install -y ${missing[*]}"
  exit 0
fi

echo "$what needs ${missing[*]}: installing the Debian package(s)" >&2
{
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
} >&2

for item in "${needed[@]}"; do
  program="${item%%=*}"
  command -v "$program" >/dev/null 2>&1 || { echo "$program is still missing after apt-get install ${item#*=}" >&2; exit 1; }
done
