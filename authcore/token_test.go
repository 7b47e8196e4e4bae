package authcore

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
	badgerstore "github.com/cubeauth/cubeauth/store/badger"
)

func TestTokensAreRandomAnd256Bits(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok, h := newToken()
		raw, err := hex.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q is not 32 bytes of hex", tok)
		}
		if seen[tok] || h != HashToken(tok) {
			t.Fatal("a token repeated, or its hash is not SHA-256 of it")
		}
		seen[tok] = true
	}
}

func TestACopyOfTheDatabaseYieldsNoUsableToken(t *testing.T) {
	dir := t.TempDir()
	bs, err := badgerstore.Open(badgerstore.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	svc := New(bs, Options{Hasher: NewHasher(testParams, 1, time.Second)})
	ctx := context.Background()
	if err := svc.ApplyConfigApp(ctx, store.App{ID: 1, AuthKey: testAppKey}, []string{FieldAuthKey}); err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for _, login := range []string{"", "alice"} {
		p := Params{"application_id": "1", "auth_key": testAppKey}
		if login != "" {
			p["user[login]"], p["user[password]"] = login, "supersecret"
		}
		res, err := svc.CreateSession(ctx, SessionRequest{Params: p})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, res.Token)
	}
	svc.Close()
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	var stored []byte // every byte the store wrote
	err = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		stored = append(stored, data...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		raw, _ := hex.DecodeString(tok)
		if bytes.Contains(stored, []byte(tok)) || bytes.Contains(stored, raw) {
			t.Error("the data directory holds a token")
		}
		// The hash must be there, or this test is not looking at the data.
		if h := HashToken(tok); !bytes.Contains(stored, h[:]) {
			t.Fatal("the token hash is in no file either")
		}
	}
}
