//go:build !js

package transport

import (
	"context"
	"net/http"
	"net/url"

	"github.com/coder/websocket"
)

// dial opens the stream with the token in the Authorization header.
func dial(ctx context.Context, u *url.URL, hc *http.Client, tok string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	h.Set("Authorization", "Ward "+tok)
	return websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h})
}
