package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wardchat/ward/internal/store"
)

func testAccounts(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	noErr(t, "Ping", s.Ping(ctx))
	a := mustAccount(t, s, "Alice", 1, 2)

	got, err := s.Account(ctx, a.ID)
	noErr(t, "Account", err)
	if got.ID != a.ID || got.Handle != "Alice" || got.AgeBand != store.AgeAdult || got.Status != store.StatusActive ||
		!got.CreatedAt.Equal(t0) || got.DeviceListVersion != 1 {
		t.Fatalf("Account = %+v", got)
	}
	equalBytes(t, "IdentityKey", got.IdentityKey, a.IdentityKey)
	equalBytes(t, "DeviceList", got.DeviceList, a.DeviceList.Signed)

	devs, err := s.Devices(ctx, a.ID)
	noErr(t, "Devices", err)
	if len(devs) != 2 || devs[0].ID != 1 || devs[1].ID != 2 {
		t.Fatalf("Devices = %+v, want devices 1 and 2", devs)
	}
	equalBytes(t, "SigningKey", devs[1].SigningKey, a.DeviceList.Devices[1].SigningKey)
	equalBytes(t, "IdentityKey", devs[1].IdentityKey, a.DeviceList.Devices[1].IdentityKey)
	if !devs[0].CreatedAt.Equal(t0) || !devs[0].LastSeen.Equal(t0) {
		t.Fatalf("device times = %v, %v", devs[0].CreatedAt, devs[0].LastSeen)
	}

	// Same account id again: conflict, even with a fresh handle.
	dup := newAccount("someone-else")
	dup.ID = a.ID
	wantErr(t, "CreateAccount(same id)", s.CreateAccount(ctx, dup), store.ErrConflict)

	_, err = s.Account(ctx, newID())
	wantErr(t, "Account(unknown)", err, store.ErrNotFound)
	_, err = s.AccountByHandle(ctx, "nobody")
	wantErr(t, "AccountByHandle(unknown)", err, store.ErrNotFound)

	for _, st := range []store.Status{store.StatusRestricted, store.StatusSuspended, store.StatusBanned, store.StatusActive} {
		noErr(t, "SetAccountStatus", s.SetAccountStatus(ctx, a.ID, st))
		got, err := s.Account(ctx, a.ID)
		noErr(t, "Account", err)
		if got.Status != st {
			t.Fatalf("status = %q, want %q", got.Status, st)
		}
	}
	wantErr(t, "SetAccountStatus(unknown account)", s.SetAccountStatus(ctx, newID(), store.StatusBanned), store.ErrNotFound)
	wantErr(t, "SetAccountStatus(bad status)", s.SetAccountStatus(ctx, a.ID, "zombie"), store.ErrInvalid)

	teen := newAccount("teen")
	teen.AgeBand = store.AgeTeen
	noErr(t, "CreateAccount(teen)", s.CreateAccount(ctx, teen))
	got, err = s.Account(ctx, teen.ID)
	noErr(t, "Account(teen)", err)
	if got.AgeBand != store.AgeTeen {
		t.Fatalf("age band = %q", got.AgeBand)
	}

	d, err := s.Device(ctx, addr(a, 2))
	noErr(t, "Device", err)
	if d.ID != 2 {
		t.Fatalf("Device = %+v", d)
	}
	_, err = s.Device(ctx, addr(a, 3))
	wantErr(t, "Device(unknown)", err, store.ErrNotFound)

	later := t0.Add(time.Hour)
	noErr(t, "TouchDevice", s.TouchDevice(ctx, addr(a, 2), later))
	d, err = s.Device(ctx, addr(a, 2))
	noErr(t, "Device", err)
	if !d.LastSeen.Equal(later) || !d.CreatedAt.Equal(t0) {
		t.Fatalf("after TouchDevice: created %v last seen %v", d.CreatedAt, d.LastSeen)
	}
	wantErr(t, "TouchDevice(unknown)", s.TouchDevice(ctx, addr(a, 9), later), store.ErrNotFound)

	if devs, err := s.Devices(ctx, newID()); err != nil || len(devs) != 0 {
		t.Fatalf("Devices(unknown) = %v, %v; want none", devs, err)
	}
}

func testAccountValidation(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	cases := []struct {
		name string
		mod  func(a *store.NewAccount)
	}{
		{"empty handle", func(a *store.NewAccount) { a.Handle = "" }},
		{"long handle", func(a *store.NewAccount) { a.Handle = string(make([]byte, store.MaxHandleLen+1)) }},
		{"bad utf-8 handle", func(a *store.NewAccount) { a.Handle = "a\xff" }},
		{"age band", func(a *store.NewAccount) { a.AgeBand = "child" }},
		{"short identity key", func(a *store.NewAccount) { a.IdentityKey = a.IdentityKey[:31] }},
		{"zero time", func(a *store.NewAccount) { a.CreatedAt = time.Time{} }},
		{"version 0", func(a *store.NewAccount) { a.DeviceList.Version = 0 }},
		{"version 2^63", func(a *store.NewAccount) { a.DeviceList.Version = 1 << 63 }},
		{"unsigned list", func(a *store.NewAccount) { a.DeviceList.Signed = nil }},
		{"no devices", func(a *store.NewAccount) { a.DeviceList.Devices = nil }},
		{"device twice", func(a *store.NewAccount) {
			a.DeviceList.Devices = append(a.DeviceList.Devices, keysFor(1)...)
		}},
		{"short device key", func(a *store.NewAccount) { a.DeviceList.Devices[0].SigningKey = nil }},
		{"long device key", func(a *store.NewAccount) { a.DeviceList.Devices[0].IdentityKey = make([]byte, 33) }},
	}
	for _, tc := range cases {
		a := newAccount("valid")
		tc.mod(&a)
		wantErr(t, tc.name, s.CreateAccount(ctx, a), store.ErrInvalid)
	}
	// None of them was stored: the handle is still free.
	mustAccount(t, s, "valid")
}

func testHandleCaseInsensitive(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "Bob.Smith")
	for _, h := range []string{"bob.smith", "BOB.SMITH", "Bob.Smith", "bOb.sMiTh"} {
		got, err := s.AccountByHandle(ctx, h)
		noErr(t, "AccountByHandle("+h+")", err)
		if got.ID != a.ID || got.Handle != "Bob.Smith" {
			t.Fatalf("AccountByHandle(%q) = %x %q", h, got.ID, got.Handle)
		}
		wantErr(t, "CreateAccount("+h+")", s.CreateAccount(ctx, newAccount(h)), store.ErrConflict)
	}
	// Non-ASCII letters fold too.
	mustAccount(t, s, "Ærøskøbing")
	wantErr(t, "CreateAccount(ærøskøbing)", s.CreateAccount(ctx, newAccount("ærøskøbing")), store.ErrConflict)
	// A different handle is fine.
	mustAccount(t, s, "bob.smith2")
}

func testInvites(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	creator := mustAccount(t, s, "creator")
	hash := randBytes(32)
	inv := store.Invite{CodeHash: hash, CreatedBy: &creator.ID, UsesLeft: 2, ExpiresAt: t0.Add(time.Hour)}
	noErr(t, "CreateInvite", s.CreateInvite(ctx, inv))
	wantErr(t, "CreateInvite(dup)", s.CreateInvite(ctx, inv), store.ErrConflict)
	wantErr(t, "CreateInvite(0 uses)", s.CreateInvite(ctx, store.Invite{CodeHash: randBytes(32), ExpiresAt: t0}), store.ErrInvalid)

	got, err := s.Invite(ctx, hash)
	noErr(t, "Invite", err)
	if got.UsesLeft != 2 || got.CreatedBy == nil || *got.CreatedBy != creator.ID || !got.ExpiresAt.Equal(inv.ExpiresAt) {
		t.Fatalf("Invite = %+v", got)
	}
	_, err = s.Invite(ctx, randBytes(32))
	wantErr(t, "Invite(unknown)", err, store.ErrNotFound)

	use := func(handle string) error {
		a := newAccount(handle)
		a.InviteCodeHash = hash
		return s.CreateAccount(ctx, a)
	}
	noErr(t, "CreateAccount(invite use 1)", use("invited1"))

	// A registration that fails for another reason consumes no use.
	wantErr(t, "CreateAccount(taken handle with invite)", use("INVITED1"), store.ErrConflict)
	if got, _ := s.Invite(ctx, hash); got.UsesLeft != 1 {
		t.Fatalf("uses left = %d after a failed registration, want 1", got.UsesLeft)
	}

	noErr(t, "CreateAccount(invite use 2)", use("invited2"))
	wantErr(t, "CreateAccount(used up)", use("invited3"), store.ErrInviteInvalid)
	if _, err := s.AccountByHandle(ctx, "invited3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("account created with a used-up invite: %v", err)
	}

	a := newAccount("nope")
	a.InviteCodeHash = randBytes(32)
	wantErr(t, "CreateAccount(unknown invite)", s.CreateAccount(ctx, a), store.ErrInviteInvalid)

	// Expiry is checked against the registration time.
	exp := store.Invite{CodeHash: randBytes(32), UsesLeft: 5, ExpiresAt: t0.Add(time.Minute)}
	noErr(t, "CreateInvite", s.CreateInvite(ctx, exp))
	late := newAccount("late")
	late.InviteCodeHash = exp.CodeHash
	late.CreatedAt = t0.Add(time.Minute)
	wantErr(t, "CreateAccount(expired invite)", s.CreateAccount(ctx, late), store.ErrInviteInvalid)
	late.CreatedAt = t0.Add(time.Minute - time.Millisecond)
	noErr(t, "CreateAccount(invite just before expiry)", s.CreateAccount(ctx, late))

	// Operator invite: no creator.
	op := store.Invite{CodeHash: randBytes(32), UsesLeft: 1, ExpiresAt: t0.Add(time.Hour)}
	noErr(t, "CreateInvite(operator)", s.CreateInvite(ctx, op))
	if got, _ := s.Invite(ctx, op.CodeHash); got == nil || got.CreatedBy != nil {
		t.Fatalf("operator invite = %+v, want no creator", got)
	}
}

func testInviteConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const uses, tries = 3, 12
	hash := randBytes(32)
	noErr(t, "CreateInvite", s.CreateInvite(ctx, store.Invite{CodeHash: hash, UsesLeft: uses, ExpiresAt: t0.Add(time.Hour)}))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, used int
	)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := newAccount(fmt.Sprintf("racer%d", i))
			a.InviteCodeHash = hash
			err := s.CreateAccount(ctx, a)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrInviteInvalid):
				used++
			default:
				t.Errorf("CreateAccount: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != uses || used != tries-uses {
		t.Fatalf("%d registrations succeeded and %d were refused; want %d and %d", ok, used, uses, tries-uses)
	}
	got, err := s.Invite(ctx, hash)
	noErr(t, "Invite", err)
	if got.UsesLeft != 0 {
		t.Fatalf("uses left = %d, want 0", got.UsesLeft)
	}
}

func testDeviceLists(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "lister", 1, 2)
	keys1 := a.DeviceList.Devices

	// v2: keep device 2 (same keys), drop device 1, add device 3.
	at := t0.Add(time.Hour)
	new3 := keysFor(3)
	v2 := store.DeviceListUpdate{Version: 2, Signed: []byte("v2"), Devices: append([]store.DeviceKeys{keys1[1]}, new3...), At: at}
	noErr(t, "PublishDeviceList(v2)", s.PublishDeviceList(ctx, a.ID, v2))

	devs, err := s.Devices(ctx, a.ID)
	noErr(t, "Devices", err)
	if len(devs) != 2 || devs[0].ID != 2 || devs[1].ID != 3 {
		t.Fatalf("Devices after v2 = %+v, want 2 and 3", devs)
	}
	if !devs[0].CreatedAt.Equal(t0) || !devs[1].CreatedAt.Equal(at) {
		t.Fatalf("created_at = %v, %v; want kept %v and new %v", devs[0].CreatedAt, devs[1].CreatedAt, t0, at)
	}
	equalBytes(t, "new device key", devs[1].SigningKey, new3[0].SigningKey)
	acct, err := s.Account(ctx, a.ID)
	noErr(t, "Account", err)
	if acct.DeviceListVersion != 2 || string(acct.DeviceList) != "v2" {
		t.Fatalf("current list = %d %q", acct.DeviceListVersion, acct.DeviceList)
	}

	// Versions may skip.
	v7 := store.DeviceListUpdate{Version: 7, Signed: []byte("v7"), Devices: v2.Devices, At: at}
	noErr(t, "PublishDeviceList(v7)", s.PublishDeviceList(ctx, a.ID, v7))

	hist, err := s.DeviceListHistory(ctx, a.ID, 0, 0)
	noErr(t, "DeviceListHistory", err)
	if len(hist) != 3 || hist[0].Version != 1 || hist[1].Version != 2 || hist[2].Version != 7 {
		t.Fatalf("history = %+v", hist)
	}
	equalBytes(t, "history v1", hist[0].Signed, a.DeviceList.Signed)
	equalBytes(t, "history v2", hist[1].Signed, []byte("v2"))
	if !hist[0].AcceptedAt.Equal(t0) || !hist[1].AcceptedAt.Equal(at) {
		t.Fatalf("history times = %v %v", hist[0].AcceptedAt, hist[1].AcceptedAt)
	}
	hist, err = s.DeviceListHistory(ctx, a.ID, 1, 1)
	noErr(t, "DeviceListHistory(after 1, limit 1)", err)
	if len(hist) != 1 || hist[0].Version != 2 {
		t.Fatalf("history page = %+v", hist)
	}
	hist, err = s.DeviceListHistory(ctx, newID(), 0, 0)
	if err != nil || len(hist) != 0 {
		t.Fatalf("history of unknown account = %v, %v", hist, err)
	}

	// A device id may not come back with other keys.
	bad := store.DeviceListUpdate{Version: 8, Signed: []byte("v8"), Devices: append(keysFor(2), new3...), At: at}
	wantErr(t, "PublishDeviceList(reused id)", s.PublishDeviceList(ctx, a.ID, bad), store.ErrConflict)
	wantErr(t, "PublishDeviceList(unknown account)", s.PublishDeviceList(ctx, newID(), v7), store.ErrNotFound)
	wantErr(t, "PublishDeviceList(no devices)", s.PublishDeviceList(ctx, a.ID,
		store.DeviceListUpdate{Version: 9, Signed: []byte("x"), At: at}), store.ErrInvalid)

	acct, _ = s.Account(ctx, a.ID)
	if acct.DeviceListVersion != 7 {
		t.Fatalf("version = %d after refused updates, want 7", acct.DeviceListVersion)
	}
}

func testDeviceListStale(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "stale", 1)
	up := func(v uint64, sig string) error {
		return s.PublishDeviceList(ctx, a.ID, store.DeviceListUpdate{Version: v, Signed: []byte(sig), Devices: a.DeviceList.Devices, At: t0})
	}
	noErr(t, "v5", up(5, "five"))
	for _, v := range []uint64{5, 4, 1} {
		wantErr(t, fmt.Sprintf("PublishDeviceList(v%d after v5)", v), up(v, "rollback"), store.ErrStaleVersion)
	}
	hist, err := s.DeviceListHistory(ctx, a.ID, 0, 0)
	noErr(t, "DeviceListHistory", err)
	if len(hist) != 2 || hist[1].Version != 5 || string(hist[1].Signed) != "five" {
		t.Fatalf("history = %+v", hist)
	}

	// Concurrent publishers of the same version: exactly one wins.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := up(6, fmt.Sprint("six-", i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrStaleVersion):
				t.Errorf("PublishDeviceList: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent publishes of v6 succeeded, want 1", wins)
	}
	hist, _ = s.DeviceListHistory(ctx, a.ID, 5, 0)
	if len(hist) != 1 {
		t.Fatalf("history after v5 = %+v, want one entry", hist)
	}
}

func testDeviceRemovalCascades(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := mustAccount(t, s, "cascade", 1, 2)
	b := mustAccount(t, s, "sender", 1)
	d1 := addr(a, 1)
	noErr(t, "SetSignedPrekey", s.SetSignedPrekey(ctx, d1, store.Prekey{ID: 1, Key: []byte("spk")}))
	noErr(t, "AddOneTimePrekeys", s.AddOneTimePrekeys(ctx, d1, []store.Prekey{{ID: 1, Key: []byte("otk")}}, nil))
	mustEnqueue(t, s, send(addr(b, 1), d1, addr(a, 2)))
	noErr(t, "PutChallenge", s.PutChallenge(ctx, store.Challenge{Nonce: []byte("n1"), Device: d1, ExpiresAt: t0.Add(time.Hour)}))

	noErr(t, "PublishDeviceList", s.PublishDeviceList(ctx, a.ID, store.DeviceListUpdate{
		Version: 2, Signed: []byte("v2"), Devices: a.DeviceList.Devices[1:], At: t0}))

	_, err := s.Device(ctx, d1)
	wantErr(t, "Device(removed)", err, store.ErrNotFound)
	checkDepth(t, s, d1, 0)
	checkDepth(t, s, addr(a, 2), 1)
	_, err = s.PrekeyCounts(ctx, d1)
	wantErr(t, "PrekeyCounts(removed)", err, store.ErrNotFound)
	_, err = s.ConsumeChallenge(ctx, []byte("n1"), t0)
	wantErr(t, "ConsumeChallenge(removed device)", err, store.ErrNotFound)

	// Sends to the removed device now fail as a whole.
	r := enqueue(t, s, send(addr(b, 1), d1, addr(a, 2)))
	wantErr(t, "enqueue to removed device", r.Err, store.ErrNotFound)
	var de *store.DeviceError
	if !errors.As(r.Err, &de) || de.Device != d1 {
		t.Fatalf("error %v does not name device %s", r.Err, d1)
	}
	checkDepth(t, s, addr(a, 2), 1)
}
