package storetest

import (
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

func testNonces(t *testing.T, h Harness) {
	t.Run("a nonce is accepted once per app", func(t *testing.T) {
		s := openFresh(t, h)
		mustPutApp(t, s, newApp(1))
		mustPutApp(t, s, newApp(2))
		wantErr(t, "UseNonce", s.UseNonce(t.Context(), 1, "n1:1700000000", time.Hour), nil)
		wantErr(t, "UseNonce again", s.UseNonce(t.Context(), 1, "n1:1700000000", time.Hour), store.ErrNonceUsed)
		wantErr(t, "UseNonce in another app", s.UseNonce(t.Context(), 2, "n1:1700000000", time.Hour), nil)
		wantErr(t, "UseNonce of another key", s.UseNonce(t.Context(), 1, "n1:1700000001", time.Hour), nil)
		wantErr(t, "UseNonce in another app again", s.UseNonce(t.Context(), 2, "n1:1700000000", time.Hour), store.ErrNonceUsed)
	})
}

// testNonceExpiry waits for a nonce to expire.
func testNonceExpiry(t *testing.T, h Harness) {
	s := openFresh(t, h)
	mustPutApp(t, s, newApp(1))
	const ttl = time.Second
	used := time.Now()
	wantErr(t, "UseNonce", s.UseNonce(t.Context(), 1, "n2:1700000000", ttl), nil)
	wantErr(t, "UseNonce within the ttl", s.UseNonce(t.Context(), 1, "n2:1700000000", ttl), store.ErrNonceUsed)
	time.Sleep(time.Until(used.Add(ttl)) + 200*time.Millisecond)
	wantErr(t, "UseNonce after the ttl", s.UseNonce(t.Context(), 1, "n2:1700000000", ttl), nil)
	wantErr(t, "UseNonce within the new ttl", s.UseNonce(t.Context(), 1, "n2:1700000000", ttl), store.ErrNonceUsed)
}
