//go:build !wardmls

package interop

import (
	"fmt"
	"io"
)

// Ward is the [Implementation] backed by Ward's own mls package
// (github.com/wardchat/ward/mls, resolved through the replace directive in
// this module's go.mod).
//
// This file is the default build: Ward's group API (mls.NewGroup,
// mls.JoinGroup, Group.Commit, ...) is not yet committed, so NewClient
// reports ErrUnsupported and every role given to Ward skips with that
// message. The adapter proper is ward_mls.go, built with -tags wardmls
// against the mls package in the working tree; it becomes the default once
// that API is committed. The mapping, one Client method to one mls call:
//
//	KeyPackage            -> a fresh KeyPackage + private keys, MLSMessage-wrapped
//	CreateGroup           -> new group at epoch 0 (RFC 9420 Section 11)
//	Join                  -> join from Welcome, optional external ratchet tree
//	GroupInfo             -> signed GroupInfo with external_pub (+ ratchet_tree)
//	ExternalJoin          -> external commit (Section 12.4.3.2)
//	Propose*              -> signed PublicMessage proposals
//	Commit                -> commit pending + by-value proposals, Welcome
//	Process               -> verify and apply a PublicMessage proposal/commit
//	Protect / Unprotect   -> PrivateMessage application data with AAD
//	EpochAuthenticator    -> epoch_authenticator (Section 8.7)
type Ward struct{}

// missingWardAPI names what Ward's mls package must export before the
// adapter can be written.
const missingWardAPI = "ward: mls group API not committed yet (build with -tags wardmls to use the working tree's)"

// Name implements [Implementation].
func (Ward) Name() string { return "ward" }

// NewClient implements [Implementation].
func (Ward) NewClient(identity []byte, suite Suite, rand io.Reader) (Client, error) {
	return nil, fmt.Errorf("%s: %w", missingWardAPI, ErrUnsupported)
}
