package authcore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// testParams keep hashing fast in tests; the format and logic are the same.
var testParams = Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}

func TestHasherVerifiesOnlyTheRightPassword(t *testing.T) {
	h := NewHasher(testParams, 2, time.Second)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", enc)
	}
	if ok, _, err := h.Verify(ctx, enc, "correct horse"); !ok || err != nil {
		t.Fatalf("right password: ok=%v err=%v", ok, err)
	}
	if ok, _, _ := h.Verify(ctx, enc, "correct horsE"); ok {
		t.Fatal("wrong password verified")
	}
	if ok, _, _ := h.Verify(ctx, "", "anything"); ok {
		t.Fatal("an empty hash verified")
	}
	if _, _, err := h.Verify(ctx, "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAAAAAAAAAAAAAAAAAAAA", "x"); err == nil {
		t.Fatal("an absurd memory parameter was accepted")
	}
}

func TestHasherReportsWeakerHashes(t *testing.T) {
	weak := NewHasher(testParams, 1, time.Second)
	strong := NewHasher(Argon2Params{MemoryKiB: 128, Time: 2, Threads: 1}, 1, time.Second)
	enc, _ := weak.Hash(context.Background(), "pw")
	ok, weaker, err := strong.Verify(context.Background(), enc, "pw")
	if !ok || !weaker || err != nil {
		t.Fatalf("ok=%v weaker=%v err=%v, want true true nil", ok, weaker, err)
	}
}

func TestHasherRefusesWhenAllTurnsAreTaken(t *testing.T) {
	h := NewHasher(testParams, 1, 20*time.Millisecond)
	h.turns <- struct{}{} // someone else is hashing
	_, err := h.Hash(context.Background(), "pw")
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Throttled {
		t.Fatalf("err = %v, want a capacity BusyError", err)
	}
	<-h.turns
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatalf("after the turn was released: %v", err)
	}
}
