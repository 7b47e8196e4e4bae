package e2e

import (
	"net/http"
	"sync"
	"testing"
)

// Forty first sessions for one new login at once all fit in hash_wait
// (their hashes take about 2 s even if none were shared): admission goes by
// expected wait, not by a fixed count of waiters, and logins with the same
// password share their hash. Before, 23 of the 40 got 503 "too many logins
// at once".
func TestFortyConcurrentFirstSessionsForOneNewLoginAreAllCreated(t *testing.T) {
	srv := startServer(t) // app 1 in development, default hashing settings
	c := newClient(t, srv)
	login := "crowd" + uniqueSuffix(t)
	const n = 40

	replies := make([]reply, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			replies[i] = c.postJSON("/session.json", map[string]any{
				"application_id": devAppID, "auth_key": devAuthKey,
				"user": map[string]any{"login": login, "password": "supersecret1"},
			})
		})
	}
	close(start)
	wg.Wait()

	created, users := 0, map[int64]bool{}
	for _, r := range replies {
		if r.Status == http.StatusCreated {
			created++
			users[*decodeSession(t, r).UserID] = true
		}
	}
	if created != n {
		for _, r := range replies {
			if r.Status != http.StatusCreated {
				t.Errorf("%s", r)
				break
			}
		}
		t.Fatalf("%d of %d concurrent first sessions answered 201", created, n)
	}
	if len(users) != 1 {
		t.Fatalf("%d concurrent first sessions made %d users", n, len(users))
	}
}
