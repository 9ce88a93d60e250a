package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"

	"github.com/wardchat/ward/internal/store"
)

// Code classifies an [Error]. Each code maps to one Connect code and one
// HTTP status (docs/API.md lists them).
type Code uint8

// Error codes.
const (
	// CodeInvalid: the request is malformed or breaks a rule (bad key,
	// bad signature encoding, send that omits devices). Connect
	// invalid_argument, HTTP 400.
	CodeInvalid Code = iota + 1
	// CodeExists: a unique value is taken (handle, account id). Connect
	// already_exists, HTTP 409.
	CodeExists
	// CodeNotFound: the account, device, blob or prekey does not exist.
	// Connect not_found, HTTP 404.
	CodeNotFound
	// CodePermission: the caller is authenticated but may not do this
	// (not a device of the account, account suspended, invite required).
	// Connect permission_denied, HTTP 403.
	CodePermission
	// CodeUnauthenticated: no token, a bad or expired token, or a failed
	// challenge signature. Connect unauthenticated, HTTP 401.
	CodeUnauthenticated
	// CodeExhausted: a limit was hit (rate limit, queue cap, size limit,
	// recipients per send). Connect resource_exhausted, HTTP 429 (413 for
	// a blob over the size limit).
	CodeExhausted
	// CodeFailedPrecondition: the request is well-formed but the state
	// does not allow it now (stale device list version, blob already
	// complete). Connect failed_precondition, HTTP 409.
	CodeFailedPrecondition
	// CodeUnavailable: the store failed or the server is shutting down.
	// Connect unavailable, HTTP 503. Retry with backoff.
	CodeUnavailable
)

// Error is the typed error every core function of the server returns. Msg
// is safe to show to the client; Err (never shown) keeps the cause for logs.
type Error struct {
	Code Code
	Msg  string
	Err  error
}

// Error returns "server: <message>: <cause>" (for logs; clients see Msg).
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("server: %s: %v", e.Msg, e.Err)
	}
	return "server: " + e.Msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// storeErr turns a store error into an *Error. what names the object for
// the client ("account", "device").
func storeErr(err error, what string) error {
	var de *store.DeviceError
	switch {
	case err == nil:
		return nil
	case errors.As(err, new(*Error)):
		return err
	case errors.As(err, &de) && errors.Is(err, store.ErrQueueFull):
		return &Error{Code: CodeExhausted, Msg: fmt.Sprintf("queue of device %d of account %s is full; nothing was enqueued", de.Device.Device, de.Device.Account), Err: err}
	case errors.As(err, &de) && errors.Is(err, store.ErrNotFound):
		return &Error{Code: CodeNotFound, Msg: fmt.Sprintf("device %d of account %s does not exist; nothing was enqueued", de.Device.Device, de.Device.Account), Err: err}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Code: CodeNotFound, Msg: what + " not found", Err: err}
	case errors.Is(err, store.ErrConflict):
		return &Error{Code: CodeExists, Msg: what + " already exists", Err: err}
	case errors.Is(err, store.ErrStaleVersion):
		return &Error{Code: CodeFailedPrecondition, Msg: "device list version must be greater than the current one", Err: err}
	case errors.Is(err, store.ErrInviteInvalid):
		return &Error{Code: CodePermission, Msg: "invite code is invalid, used up or expired", Err: err}
	case errors.Is(err, store.ErrNoPrekey):
		return &Error{Code: CodeNotFound, Msg: what + " has not uploaded its prekeys", Err: err}
	case errors.Is(err, store.ErrInvalid):
		return &Error{Code: CodeInvalid, Msg: "invalid " + what, Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeUnavailable, Msg: "request cancelled or timed out", Err: err}
	case errors.Is(err, store.ErrBatcherClosed):
		return &Error{Code: CodeUnavailable, Msg: "server is shutting down", Err: err}
	}
	return &Error{Code: CodeUnavailable, Msg: "storage temporarily unavailable", Err: err}
}

var connectCodes = map[Code]connect.Code{
	CodeInvalid:            connect.CodeInvalidArgument,
	CodeExists:             connect.CodeAlreadyExists,
	CodeNotFound:           connect.CodeNotFound,
	CodePermission:         connect.CodePermissionDenied,
	CodeUnauthenticated:    connect.CodeUnauthenticated,
	CodeExhausted:          connect.CodeResourceExhausted,
	CodeFailedPrecondition: connect.CodeFailedPrecondition,
	CodeUnavailable:        connect.CodeUnavailable,
}

var httpStatus = map[Code]int{
	CodeInvalid:            http.StatusBadRequest,
	CodeExists:             http.StatusConflict,
	CodeNotFound:           http.StatusNotFound,
	CodePermission:         http.StatusForbidden,
	CodeUnauthenticated:    http.StatusUnauthorized,
	CodeExhausted:          http.StatusTooManyRequests,
	CodeFailedPrecondition: http.StatusConflict,
	CodeUnavailable:        http.StatusServiceUnavailable,
}

// wireName is the code's name in stream Error frames and blob error bodies
// (the Connect code names).
func (c Code) wireName() string {
	if cc, ok := connectCodes[c]; ok {
		return cc.String()
	}
	return connect.CodeInternal.String()
}

// asError returns err as an *Error, classifying unknown errors as
// unavailable.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return storeErr(err, "object").(*Error)
}

// toConnect maps a core error to a Connect error with a clear message.
func toConnect(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	e := asError(err)
	return connect.NewError(connectCodes[e.Code], errors.New(e.Msg))
}
