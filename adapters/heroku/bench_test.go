package heroku_test

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

	"github.com/chatops/chatops/adapters/heroku"
)

// BenchmarkDeploy measures one whole promotion (POST, one poll that is final
// at once; the app ids cached after the first) against a fake that answers
// at once: the overhead chatops adds to Heroku's own time.
func BenchmarkDeploy(b *testing.B) {
	created := fmt.Sprintf(`{"id":"aaaaaaaa-0000-4000-8000-000000000001","pipeline":{"id":%q},"source":{"app":{"id":%q}},"status":"pending"}`, pipelineID, stagingID)
	targets := fmt.Sprintf(`[{"app":{"id":%q},"error_message":null,"id":"eeeeeeee-0000-4000-8000-000000000001","pipeline_promotion":{"id":"aaaaaaaa-0000-4000-8000-000000000001"},"release":{"id":"dddddddd-0000-4000-8000-000000000042"},"status":"succeeded"}]`, prodID)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost:
			w.WriteHeader(201)
			fmt.Fprint(w, created)
		case strings.HasSuffix(r.URL.Path, "/promotion-targets"):
			fmt.Fprint(w, targets)
		default:
			fmt.Fprintf(w, `{"id":%q}`, prodID)
		}
	}))
	defer srv.Close()
	d := &heroku.Driver{
		Pipeline: "shop", HerokuPipeline: pipelineID, App: "web-production",
		Apps:    map[string]string{"staging": stagingID},
		BaseURL: srv.URL, Token: token,
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
