package interop

import (
	"fmt"
	"io"
)

// Ward is the [Implementation] backed by Ward's own mls package
// (github.com/wardchat/ward/mls, resolved through the replace directive in
// this module's go.mod).
//
// Ward's mls package does not yet export a group API (mls/API.md does not
// exist at the time of writing), so NewClient reports ErrUnsupported and
// every test role given to Ward skips with this message. The mapping the
// adapter will implement, one Client method to one mls call, is:
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
const missingWardAPI = "ward: mls exports no group API yet (mls/API.md absent; see interop/mlsgo/ward.go)"

const _ = "needs: key package generation, " +
	"create group, add/remove/update commit with Welcome, join from Welcome, process " +
	"PublicMessage, protect/unprotect PrivateMessage, GroupInfo/external commit, epoch authenticator)"

// Name implements [Implementation].
func (Ward) Name() string { return "ward" }

// NewClient implements [Implementation].
func (Ward) NewClient(identity []byte, suite Suite, rand io.Reader) (Client, error) {
	return nil, fmt.Errorf("%s: %w", missingWardAPI, ErrUnsupported)
}
