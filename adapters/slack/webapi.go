package slack

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/chatops/chatops/engine"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/slack-go/slack"
)

// webAPIs hands out the Web API client of each workspace, one per bot token,
// all over one HTTP client that neither retries nor follows redirects.
type webAPIs struct {
	web *http.Client

	mu      sync.Mutex
	clients map[string]*slack.Client // by API URL and token
}

func newWebAPIs(httpc *retryablehttp.Client) *webAPIs {
	return &webAPIs{web: &http.Client{Transport: &retryablehttp.RoundTripper{Client: httpc}, CheckRedirect: noRedirect}}
}

// client returns the client of the workspace's bot token (tokenOf says
// which) at apiURL; nil when it has none.
func (w *webAPIs) client(ctx context.Context, tokenOf func(context.Context, string) (string, error), apiURL, team string) (*slack.Client, error) {
	if tokenOf == nil {
		return nil, nil
	}
	token, err := tokenOf(ctx, team)
	if engine.ErrorCode(err) == engine.NotFound || (err == nil && token == "") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	key := apiURL + "\x00" + token
	c, ok := w.clients[key]
	if !ok {
		opts := []slack.Option{slack.OptionHTTPClient(w.web)}
		if apiURL != "" {
			opts = append(opts, slack.OptionAPIURL(strings.TrimRight(apiURL, "/")+"/"))
		}
		c = slack.New(token, opts...)
		if w.clients == nil {
			w.clients = map[string]*slack.Client{}
		}
		w.clients[key] = c
	}
	return c, nil
}
