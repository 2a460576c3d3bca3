#!/bin/sh
# Creates the chatops system user and group that the service runs as.
set -e
if ! getent group chatops >/dev/null 2>&1; then
	groupadd --system chatops
fi
if ! getent passwd chatops >/dev/null 2>&1; then
	useradd --system --gid chatops --home-dir /var/lib/chatops --no-create-home \
		--shell /usr/sbin/nologin --comment "chatops service" chatops
fi
