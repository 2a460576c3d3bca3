package netx_test

import (
	"context"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chatops/chatops/adapters/internal/netx"
)

var _ = flag.Bool("update", false, "rewrite golden files (none here)")

// TestNotSent: a refused connection sent nothing; a connection the server
// closed after reading the request may have delivered it.
func TestNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = http.Post("http://"+addr+"/", "text/plain", nil)
	if err == nil || !netx.NotSent(err) {
		t.Errorf("refused connection: NotSent(%v) is false", err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL, nil)
	_, err = srv.Client().Do(req)
	if err == nil || netx.NotSent(err) {
		t.Errorf("connection closed after the request: NotSent(%v) is true", err)
	}
}
