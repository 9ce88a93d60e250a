package keytrans

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wardchat/ward/identity"
)

// CheckAccountUpdate is the log operator's check of a new AccountState
// before it is appended under an "acct:" label (notes/key-transparency.md,
// Section 5.2, "Write path": "server checks signatures and version =
// previous+1"). prev is the label's current value encoding (nil for the
// first version). It checks that next decodes, is for the label's account,
// chains prev_value_hash to prev, and carries a device list signed by its
// AIK for that account; when the AIK is unchanged, the list's version must
// exceed prev's (identity.VerifyDeviceList with prev's list, so rollback and
// equivocation are refused). An AIK change is not judged here: the caller
// must verify the account's identity.AccountKeyRotation first.
func CheckAccountUpdate(l Label, prev, next []byte) (*AccountState, *identity.DeviceList, error) {
	kind, err := l.Kind()
	if err != nil || kind != KindAccountState {
		return nil, nil, errors.New("keytrans: not an account label")
	}
	aid, _ := identity.ParseAccountID(strings.TrimPrefix(string(l), accountLabelPrefix))
	st, err := ParseAccountState(next)
	if err != nil {
		return nil, nil, err
	}
	if st.AccountID != aid {
		return nil, nil, errors.New("keytrans: account state for another account")
	}
	var prevList *identity.DeviceList
	want := [StateHashSize]byte{}
	if prev != nil {
		ps, err := ParseAccountState(prev)
		if err != nil {
			return nil, nil, fmt.Errorf("keytrans: previous state: %w", err)
		}
		want = ValueHash(prev)
		if ps.AIK.Equal(st.AIK) {
			sdl, err := identity.ParseSignedDeviceList(ps.SignedDeviceList)
			if err != nil {
				return nil, nil, fmt.Errorf("keytrans: previous state: %w", err)
			}
			if prevList, err = identity.ParseDeviceList(sdl.List); err != nil {
				return nil, nil, fmt.Errorf("keytrans: previous state: %w", err)
			}
		}
	}
	if st.PrevValueHash != want {
		return nil, nil, errors.New("keytrans: prev_value_hash does not chain to the current value")
	}
	list, err := identity.VerifyDeviceList(st.SignedDeviceList, st.AIK, prevList)
	if err != nil {
		return nil, nil, fmt.Errorf("keytrans: device list: %w", err)
	}
	if list.AccountID != aid {
		return nil, nil, errors.New("keytrans: device list for another account")
	}
	if prevList != nil && list.Version == prevList.Version {
		return nil, nil, errors.New("keytrans: device list version not increased")
	}
	return st, list, nil
}

// CheckHandleUpdate is the log operator's check of a new HandleBinding
// under a "handle:" label: it decodes, names the label's handle and chains
// prev_value_hash to prev (nil for the first version). Whether the account
// may take the handle is the server's policy.
func CheckHandleUpdate(l Label, prev, next []byte) (*HandleBinding, error) {
	kind, err := l.Kind()
	if err != nil || kind != KindHandleBinding {
		return nil, errors.New("keytrans: not a handle label")
	}
	hb, err := ParseHandleBinding(next)
	if err != nil {
		return nil, err
	}
	if hb.Handle != strings.TrimPrefix(string(l), handleLabelPrefix) {
		return nil, errors.New("keytrans: binding for another handle")
	}
	want := [StateHashSize]byte{}
	if prev != nil {
		want = ValueHash(prev)
	}
	if hb.PrevValueHash != want {
		return nil, errors.New("keytrans: prev_value_hash does not chain to the current value")
	}
	return hb, nil
}

// NewAuthoredKey returns the AuthoredKey of a value a device uploaded (or
// of a sibling's, once the device has checked it): the caller learns the
// opening and version from the server's write response.
func NewAuthoredKey(id LabelID, l Label, version uint32, opening Opening, value []byte) (AuthoredKey, error) {
	c, err := Commit(opening, l, version, value)
	if err != nil {
		return AuthoredKey{}, err
	}
	return AuthoredKey{LabelID: id, Version: version, Commitment: c}, nil
}
