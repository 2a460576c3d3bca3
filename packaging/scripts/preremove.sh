#!/bin/sh
# Stops and disables the service when the package is removed, not upgraded:
# deb passes "remove" (or "upgrade"), rpm the count of versions left (0 on erase).
set -e
case "$1" in
	remove|purge|0) ;;
	*) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
	systemctl stop chatops >/dev/null 2>&1 || true
	systemctl disable chatops >/dev/null 2>&1 || true
fi
