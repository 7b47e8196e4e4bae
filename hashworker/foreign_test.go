package hashworker

import (
	"context"
	"testing"

	"github.com/cubeauth/cubeauth/authcore"
)

// Foreign hashes are verified in the workers: the Pool answers them, and a
// Hasher with the Pool verifies through it.
func TestWorkersVerifyForeignHashes(t *testing.T) {
	h, pool := workerHasher(t, 1)
	// firebase/scrypt's README example, made by Firebase's utility.
	enc, err := authcore.FirebaseHash(authcore.FirebaseParams{
		SignerKey:     "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==",
		SaltSeparator: "Bw==", Rounds: 8, MemCost: 14,
	}, "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==", "42xEC+ixf3L2lw==")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		password string
		want     bool
	}{{"user1password", true}, {"user2password", false}} {
		got, err := pool.VerifyForeign(context.Background(), enc, []byte(c.password))
		if err != nil || got != c.want {
			t.Fatalf("Pool.VerifyForeign(%q) = %v, %v; want %v", c.password, got, err, c.want)
		}
		ok, weaker, err := h.Verify(context.Background(), enc, c.password)
		if err != nil || ok != c.want || !weaker {
			t.Fatalf("Hasher.Verify(%q) = %v, %v, %v", c.password, ok, weaker, err)
		}
	}
	// A worker answers a malformed hash "no" and stays usable.
	if got, err := pool.VerifyForeign(context.Background(), "$2b$nonsense", []byte("x")); got || err != nil {
		t.Fatalf("malformed: %v, %v", got, err)
	}
	if _, err := h.Hash(context.Background(), "still works"); err != nil {
		t.Fatal(err)
	}
}
