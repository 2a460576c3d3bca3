package http_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	chatopshttp "github.com/chatops/chatops/adapters/http"
)

// BenchmarkDeploy measures one whole deployment against a receiver that
// answers at once: the POST, a 202, and one poll that is already final.
// What it reports is the driver's overhead (signing, encoding, the retrying
// client, loopback HTTP) over the receiver's own time.
func BenchmarkDeploy(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"status_url":"/status/J42"}`)
			return
		}
		io.WriteString(w, `{"state":"success","message":"live","log":["built","switched"]}`)
	}))
	defer srv.Close()
	d := &chatopshttp.Driver{
		URL:        srv.URL + "/deploy",
		Secret:     []byte(secret),
		HTTPClient: srv.Client(),
		After:      instant,
		Logger:     slog.New(slog.DiscardHandler),
	}
	dep := promotion()
	ctx := context.Background()
	progress := func(string) {}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Deploy(ctx, dep, progress); err != nil {
			b.Fatal(err)
		}
	}
}
