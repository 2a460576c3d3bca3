#!/bin/sh
# Tells systemd about the unit. The service is not enabled or started here:
# it needs SLACK_SIGNING_SECRET in /etc/chatops/chatops.env first. On an
# upgrade a running service is restarted on the new binary.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if systemctl is-active --quiet chatops; then
		systemctl restart chatops || true
	fi
fi
