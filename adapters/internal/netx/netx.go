// Package netx holds what the HTTP drivers share about the network.
package netx

import (
	"errors"
	"net"
)

// NotSent says whether err happened before any byte of a request left: a
// failed dial or name lookup. After any other failure the receiver may have
// the request.
func NotSent(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var de *net.DNSError
	return errors.As(err, &de)
}
