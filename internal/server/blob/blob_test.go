package blob_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wardchat/ward/internal/server/blob"
	"github.com/wardchat/ward/internal/server/blob/blobtest"
)

func TestFS(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := blob.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestFSLeavesNoTemporaryFiles: failed uploads clean up after themselves.
func TestFSLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, "ab01", bytes.NewReader([]byte("complete"))); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	s.Put(cctx, "ab01", bytes.NewReader([]byte("cancelled")))
	s.Put(cctx, "ab02", bytes.NewReader([]byte("cancelled")))
	entries, _ := os.ReadDir(filepath.Join(dir, "ab"))
	if len(entries) != 1 || entries[0].Name() != "ab01" {
		t.Fatalf("files left: %v", entries)
	}
}
