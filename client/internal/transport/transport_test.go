package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"connectrpc.com/connect"
)

func TestTemporary(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{connect.NewError(connect.CodeUnavailable, errors.New("down")), true},
		{connect.NewError(connect.CodeResourceExhausted, errors.New("rate")), true},
		{connect.NewError(connect.CodeFailedPrecondition, errors.New("stale")), false},
		{connect.NewError(connect.CodeInvalidArgument, errors.New("bad")), false},
		{connect.NewError(connect.CodePermissionDenied, errors.New("no")), false},
		{&HTTPError{Status: 503}, true},
		{&HTTPError{Status: 429}, true},
		{&HTTPError{Status: 413}, false},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, true},
		{errors.New("client: device not in the verified device list"), false},
	}
	for _, tt := range tests {
		if got := Temporary(tt.err); got != tt.want {
			t.Errorf("Temporary(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
