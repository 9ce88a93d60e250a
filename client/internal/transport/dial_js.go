//go:build js

package transport

import (
	"context"
	"net/http"
	"net/url"

	"github.com/coder/websocket"
)

// dial opens the stream from a browser, which cannot set headers on a
// WebSocket: the token goes in the "token" query parameter (docs/API.md,
// "Delivery stream").
func dial(ctx context.Context, u *url.URL, _ *http.Client, tok string) (*websocket.Conn, *http.Response, error) {
	q := u.Query()
	q.Set("token", tok)
	u.RawQuery = q.Encode()
	return websocket.Dial(ctx, u.String(), nil)
}
