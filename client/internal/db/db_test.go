package db

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestPermissionsAndPersistence(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	d, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Update(ctx, func(tx *Tx) error {
		if err := tx.Put("k", []byte("v")); err != nil {
			return err
		}
		if err := tx.PutPrekey(OneTimePrekey, 7, []byte("secret")); err != nil {
			return err
		}
		if err := tx.PutContact(&Contact{Account: []byte{1}, Handle: "bob", AIK: []byte{2}, List: []byte{3}}); err != nil {
			return err
		}
		_, err := tx.PutOutgoing(&Outgoing{ClientID: []byte{9}, Peer: []byte{1}, Plaintext: []byte("p"), Commitment: []byte("c")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A failed Update leaves nothing behind.
	boom := errors.New("boom")
	if err := d.Update(ctx, func(tx *Tx) error {
		if err := tx.Put("k", []byte("changed")); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	d.Close()

	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v, %v", st.Mode().Perm(), err)
	}
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, _ := e.Info(); fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s has mode %v", p, fi.Mode().Perm())
			}
		}
		return nil
	})

	d, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.View(ctx, func(tx *Tx) error {
		v, err := tx.Get("k")
		if err != nil || string(v) != "v" {
			t.Errorf("kv = %q, %v", v, err)
		}
		if _, err := tx.Get("absent"); !errors.Is(err, ErrNotFound) {
			t.Errorf("absent key: %v", err)
		}
		pk, err := tx.Prekey(OneTimePrekey, 7)
		if err != nil || !bytes.Equal(pk, []byte("secret")) {
			t.Errorf("prekey = %q, %v", pk, err)
		}
		c, err := tx.ContactByHandle("bob")
		if err != nil || !bytes.Equal(c.Account, []byte{1}) || c.Blocked {
			t.Errorf("contact = %+v, %v", c, err)
		}
		out, err := tx.Outbox()
		if err != nil || len(out) != 1 || string(out[0].Plaintext) != "p" {
			t.Errorf("outbox = %v, %v", out, err)
		}
		prev, seen, err := tx.Chain([]byte{5})
		if err != nil || len(prev) != 32 || len(seen) != 32 {
			t.Errorf("empty chain: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSeenAndMessages(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	self, peer := []byte{1}, []byte{2}
	err = d.Update(ctx, func(tx *Tx) error {
		if err := tx.PutMessage(&Message{ID: []byte("m1"), SenderAccount: peer, Conversation: self, TimestampMs: 2, Plaintext: []byte("a"), Commitment: []byte("c")}); err != nil {
			return err
		}
		if err := tx.PutMessage(&Message{ID: []byte("m0"), Outgoing: true, SenderAccount: self, Conversation: peer, TimestampMs: 1, Plaintext: []byte("b"), Commitment: []byte("c")}); err != nil {
			return err
		}
		// Another conversation.
		if err := tx.PutMessage(&Message{ID: []byte("mx"), SenderAccount: []byte{3}, Conversation: self, Plaintext: []byte("x"), Commitment: []byte("c")}); err != nil {
			return err
		}
		return tx.MarkSeen([]byte("dropped"))
	})
	if err != nil {
		t.Fatal(err)
	}
	d.View(ctx, func(tx *Tx) error {
		for _, id := range []string{"m1", "m0", "dropped"} {
			if ok, err := tx.Seen([]byte(id)); !ok || err != nil {
				t.Errorf("%s not seen: %v", id, err)
			}
		}
		if ok, _ := tx.Seen([]byte("new")); ok {
			t.Error("unknown id seen")
		}
		ms, err := tx.Messages(self, peer)
		if err != nil || len(ms) != 2 || string(ms[0].ID) != "m0" || !ms[0].Outgoing || string(ms[1].ID) != "m1" {
			t.Errorf("messages = %v, %v", ms, err)
		}
		return nil
	})
}

func TestReceipts(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Update(ctx, func(tx *Tx) error {
		for _, r := range []struct{ peer, id string }{{"b", "1"}, {"a", "2"}, {"b", "3"}, {"b", "4"}} {
			if err := tx.AddReceipt([]byte(r.peer), []byte(r.id)); err != nil {
				return err
			}
		}
		owed, order, err := tx.TakeReceipts(2)
		if err != nil {
			return err
		}
		if len(order) != 2 || order[0] != "b" || order[1] != "a" || len(owed["b"]) != 2 || string(owed["b"][1]) != "3" || len(owed["a"]) != 1 {
			t.Errorf("first take: %q %q", order, owed)
		}
		owed, order, err = tx.TakeReceipts(2)
		if err != nil {
			return err
		}
		if len(order) != 1 || string(owed["b"][0]) != "4" {
			t.Errorf("second take: %q %q", order, owed)
		}
		owed, _, err = tx.TakeReceipts(2)
		if len(owed) != 0 {
			t.Errorf("third take: %q", owed)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.sql.ExecContext(ctx, `PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := Open(ctx, dir); err == nil {
		t.Fatal("a database from a newer SDK was opened")
	}
}

func TestContactsAndUnsent(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Update(ctx, func(tx *Tx) error {
		for _, c := range []*Contact{
			{Account: []byte("2"), Handle: "zed", AIK: []byte("k"), List: []byte("l")},
			{Account: []byte("1"), Handle: "amy", AIK: []byte("k"), List: []byte("l"), Blocked: true, PendingAIK: []byte("p")},
		} {
			if err := tx.PutContact(c); err != nil {
				return err
			}
		}
		cs, err := tx.Contacts()
		if err != nil {
			return err
		}
		if len(cs) != 2 || cs[0].Handle != "amy" || !cs[0].Blocked || string(cs[0].PendingAIK) != "p" || cs[1].Handle != "zed" || cs[1].Blocked || cs[1].PendingAIK != nil {
			t.Errorf("Contacts = %+v", cs)
		}
		if n, err := tx.Unsent(); err != nil || n != 0 {
			t.Errorf("Unsent of an empty outbox = %d, %v", n, err)
		}
		if err := tx.AddReceipt([]byte("1"), []byte("m")); err != nil {
			return err
		}
		if _, err := tx.PutOutgoing(&Outgoing{ClientID: []byte("c"), Peer: []byte("2"), Plaintext: []byte("x"), Commitment: []byte("y")}); err != nil {
			return err
		}
		if n, err := tx.Unsent(); err != nil || n != 2 {
			t.Errorf("Unsent = %d, %v; want 2", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
