package server

import (
	"context"
	"net"
	"net/netip"

	"connectrpc.com/connect"

	"github.com/wardchat/ward/internal/store"
	wardv1 "github.com/wardchat/ward/proto/ward/v1"
	"github.com/wardchat/ward/proto/ward/v1/wardv1connect"
)

// maxRequestBytes bounds a Connect request body. A send carries at most
// MaxRecipientsPerSend envelopes of MaxEnvelopeBytes; everything else is
// small.
func (s *Server) maxRequestBytes() int {
	return s.cfg.MaxRecipientsPerSend*(s.cfg.MaxEnvelopeBytes+64) + 4096
}

type callerKey struct{}

// caller returns the authenticated device of a Connect call.
func caller(ctx context.Context) (store.Address, bool) {
	a, ok := ctx.Value(callerKey{}).(store.Address)
	return a, ok
}

// public lists the procedures that need no token; they are rate limited
// per client address instead.
var public = map[string]bool{
	wardv1connect.AccountServiceRegisterProcedure:     true,
	wardv1connect.AccountServiceChallengeProcedure:    true,
	wardv1connect.AccountServiceAuthenticateProcedure: true,
}

// clientIP returns the address a request came from, without port; IPv6
// addresses are limited per /64.
func clientIP(peer string) string {
	host, _, err := net.SplitHostPort(peer)
	if err != nil {
		host = peer
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.Unmap().String()
}

// interceptor authenticates every call but the public ones, applies the
// per-address limit to the public ones, and counts calls.
func (s *Server) interceptor() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			proc := req.Spec().Procedure
			resp, err := s.intercept(ctx, req, next, proc)
			code := "ok"
			if err != nil {
				code = connect.CodeOf(err).String()
			}
			s.metrics.rpcs.WithLabelValues(proc, code).Inc()
			return resp, err
		}
	}
}

func (s *Server) intercept(ctx context.Context, req connect.AnyRequest, next connect.UnaryFunc, proc string) (connect.AnyResponse, error) {
	if public[proc] {
		if !s.addrLimit.allow(clientIP(req.Peer().Addr)) {
			s.metrics.rateLimited.WithLabelValues("address").Inc()
			return nil, toConnect(s.rateErr("client address", s.cfg.AddrRate, s.cfg.AddrBurst))
		}
		return next(ctx, req)
	}
	tok := tokenFromHeader(req.Header().Get("Authorization"))
	if tok == "" {
		return nil, toConnect(errorf(CodeUnauthenticated, `missing "Authorization: Ward <token>" header`))
	}
	addr, err := s.authorize(ctx, tok)
	if err != nil {
		return nil, toConnect(err)
	}
	return next(context.WithValue(ctx, callerKey{}, addr), req)
}

// unary adapts a core method to a Connect handler. Store failures are
// logged with their cause (the client sees only "unavailable"); other
// errors are the client's and logged at debug level.
func unary[Req, Resp any](s *Server, ctx context.Context, req *connect.Request[Req], f func(context.Context, store.Address, *Req) (*Resp, error)) (*connect.Response[Resp], error) {
	who, _ := caller(ctx)
	resp, err := f(ctx, who, req.Msg)
	if err != nil {
		e := asError(err)
		if e.Code == CodeUnavailable {
			s.log.Warn("request failed", "procedure", req.Spec().Procedure, "err", err)
		} else {
			s.log.Debug("request refused", "procedure", req.Spec().Procedure, "code", e.Code.wireName(), "msg", e.Msg)
		}
		return nil, toConnect(e)
	}
	return connect.NewResponse(resp), nil
}

func anon[Req, Resp any](f func(context.Context, *Req) (*Resp, error)) func(context.Context, store.Address, *Req) (*Resp, error) {
	return func(ctx context.Context, _ store.Address, r *Req) (*Resp, error) { return f(ctx, r) }
}

type accountHandler struct{ s *Server }

func (h accountHandler) Register(ctx context.Context, r *connect.Request[wardv1.RegisterRequest]) (*connect.Response[wardv1.RegisterResponse], error) {
	return unary(h.s, ctx, r, anon(h.s.Register))
}

func (h accountHandler) Challenge(ctx context.Context, r *connect.Request[wardv1.ChallengeRequest]) (*connect.Response[wardv1.ChallengeResponse], error) {
	return unary(h.s, ctx, r, anon(h.s.Challenge))
}

func (h accountHandler) Authenticate(ctx context.Context, r *connect.Request[wardv1.AuthenticateRequest]) (*connect.Response[wardv1.AuthenticateResponse], error) {
	return unary(h.s, ctx, r, anon(h.s.Authenticate))
}

func (h accountHandler) PublishDeviceList(ctx context.Context, r *connect.Request[wardv1.PublishDeviceListRequest]) (*connect.Response[wardv1.PublishDeviceListResponse], error) {
	return unary(h.s, ctx, r, h.s.PublishDeviceList)
}

func (h accountHandler) Lookup(ctx context.Context, r *connect.Request[wardv1.LookupRequest]) (*connect.Response[wardv1.LookupResponse], error) {
	return unary(h.s, ctx, r, h.s.Lookup)
}

func (h accountHandler) CreateInvite(ctx context.Context, r *connect.Request[wardv1.CreateInviteRequest]) (*connect.Response[wardv1.CreateInviteResponse], error) {
	return unary(h.s, ctx, r, func(ctx context.Context, who store.Address, req *wardv1.CreateInviteRequest) (*wardv1.CreateInviteResponse, error) {
		return h.s.CreateInvite(ctx, &who.Account, req)
	})
}

type keyHandler struct{ s *Server }

func (h keyHandler) UploadPrekeys(ctx context.Context, r *connect.Request[wardv1.UploadPrekeysRequest]) (*connect.Response[wardv1.UploadPrekeysResponse], error) {
	return unary(h.s, ctx, r, h.s.UploadPrekeys)
}

func (h keyHandler) FetchBundles(ctx context.Context, r *connect.Request[wardv1.FetchBundlesRequest]) (*connect.Response[wardv1.FetchBundlesResponse], error) {
	return unary(h.s, ctx, r, h.s.FetchBundles)
}

type messageHandler struct{ s *Server }

func (h messageHandler) Send(ctx context.Context, r *connect.Request[wardv1.SendRequest]) (*connect.Response[wardv1.SendResponse], error) {
	return unary(h.s, ctx, r, h.s.Send)
}
