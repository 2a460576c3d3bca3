package github_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chatops/chatops/adapters/github"
)

// BenchmarkDeploy measures one whole Deploy (lookup, create, one poll that
// is final at once) against a fake that answers at once: the overhead
// chatops adds to GitHub's own time.
func BenchmarkDeploy(b *testing.B) {
	created := `{"url":"http://x/repos/acme/shop/deployments/1","id":1,"sha":"a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d","ref":"a84d88e","task":"deploy","payload":{},"environment":"production"}`
	statuses := `[{"id":2,"state":"success","description":"Deployed","environment_url":"https://shop.example.com"},{"id":1,"state":"in_progress","description":"Deploying"}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost:
			w.WriteHeader(201)
			fmt.Fprint(w, created)
		case strings.HasSuffix(r.URL.Path, "/statuses"):
			fmt.Fprint(w, statuses)
		default:
			fmt.Fprint(w, "[]")
		}
	}))
	defer srv.Close()
	d := &github.Driver{
		Repo: "acme/shop", BaseURL: srv.URL, Token: token,
		HTTPClient: srv.Client(),
		After:      func(time.Duration) <-chan time.Time { panic("no poll should wait") },
		Logger:     slog.New(slog.DiscardHandler),
	}
	dep := promotion()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Deploy(ctx, dep, func(string) {}); err != nil {
			b.Fatal(err)
		}
	}
}
