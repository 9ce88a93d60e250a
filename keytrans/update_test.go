package keytrans

import (
	"testing"

	"github.com/wardchat/ward/identity"
)

func TestCheckAccountUpdate(t *testing.T) {
	w := newWorld(t, "update")
	a := w.newAccount()
	v0 := w.stateValue(a, a.aik)
	if _, _, err := CheckAccountUpdate(a.label(), nil, v0); err != nil {
		t.Fatal(err)
	}
	w.appendValue(a.label(), v0, true)
	w.addDevice(a)
	v1 := w.stateValue(a, a.aik)
	if _, list, err := CheckAccountUpdate(a.label(), v0, v1); err != nil || len(list.Devices) != 2 {
		t.Fatal(err)
	}
	other := w.newAccount()
	serverKey, _ := identity.GenerateAccountKey(testRand("server"))
	// Unchanged list version under the same AIK (a replay of v0 with the
	// new chain hash).
	replay := &AccountState{AccountID: a.aid, AIK: a.aik.Public(), SignedDeviceList: mustParseState(t, v0).SignedDeviceList, PrevValueHash: ValueHash(v0)}
	// List signed by another key while claiming a's AIK.
	forged := mustParseState(t, v1)
	forged.SignedDeviceList, _ = a.list.Sign(serverKey)
	bad := map[string]struct {
		l          Label
		prev, next []byte
	}{
		"handle label":       {HandleLabel("x"), nil, v0},
		"other account":      {other.label(), nil, v0},
		"no chain":           {a.label(), v0, v0},
		"chain without prev": {a.label(), nil, v1},
		"replayed list":      {a.label(), v0, mustMarshal(t, replay)},
		"forged list":        {a.label(), v0, mustMarshal(t, forged)},
		"garbage":            {a.label(), nil, []byte{1, 2, 3}},
	}
	for name, tt := range bad {
		if _, _, err := CheckAccountUpdate(tt.l, tt.prev, tt.next); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func mustParseState(t *testing.T, v []byte) *AccountState {
	t.Helper()
	s, err := ParseAccountState(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckHandleUpdate(t *testing.T) {
	l := HandleLabel("bob")
	v0 := mustMarshal(t, &HandleBinding{Handle: "bob", AccountID: identity.AccountID{1}})
	if _, err := CheckHandleUpdate(l, nil, v0); err != nil {
		t.Fatal(err)
	}
	v1 := mustMarshal(t, &HandleBinding{Handle: "bob", PrevValueHash: ValueHash(v0)})
	if _, err := CheckHandleUpdate(l, v0, v1); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckHandleUpdate(l, nil, v1); err == nil {
		t.Fatal("unchained accepted")
	}
	if _, err := CheckHandleUpdate(HandleLabel("eve"), nil, v0); err == nil {
		t.Fatal("other handle accepted")
	}
}

func TestNewAuthoredKey(t *testing.T) {
	w := newWorld(t, "authored")
	a := w.newAccount()
	v := w.stateValue(a, a.aik)
	e := w.appendValue(a.label(), v, false)
	k, err := NewAuthoredKey(e.LabelID, a.label(), 0, w.openKey.Opening(e.LabelID, 0), v)
	if err != nil || k != (AuthoredKey{LabelID: e.LabelID, Version: 0, Commitment: e.Commitment}) {
		t.Fatal("authored key does not match the logged entry")
	}
}
