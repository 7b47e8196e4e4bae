package authcore

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestRehashKeepsAConcurrentUpdateAndAConcurrentPasswordChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old, err := bcrypt.GenerateFromPassword([]byte("old password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.ImportUsers(ctx, 1, []ImportedUser{
		{Login: "imp1", PasswordHash: string(old)}, {Login: "imp2", PasswordHash: string(old)},
	}, 1, nil, nil)
	if err != nil || res.Imported != 2 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	stale1, _ := f.st.GetUserByLogin(ctx, 1, "imp1")
	stale2, _ := f.st.GetUserByLogin(ctx, 1, "imp2")
	// While the login hashes: imp1's profile changes, imp2's password does.
	changed := stale1
	changed.FullName = "Changed Meanwhile"
	if err := f.st.UpdateUser(ctx, changed); err != nil {
		t.Fatal(err)
	}
	changed = stale2
	changed.PasswordHash = "$2b$04$newerhashnewerhashnewerhashnewerhashnewerhashnewerhas"
	if err := f.st.UpdateUser(ctx, changed); err != nil {
		t.Fatal(err)
	}
	f.svc.rehash(ctx, stale1, "old password")
	f.svc.rehash(ctx, stale2, "old password")
	got1, _ := f.st.GetUser(ctx, 1, stale1.ID)
	if !strings.HasPrefix(got1.PasswordHash, "$argon2id$") || got1.FullName != "Changed Meanwhile" {
		t.Fatalf("imp1: hash %q, full name %q", got1.PasswordHash, got1.FullName)
	}
	got2, _ := f.st.GetUser(ctx, 1, stale2.ID)
	if got2.PasswordHash != changed.PasswordHash {
		t.Fatalf("imp2: the password set meanwhile was overwritten: %q", got2.PasswordHash)
	}
	// And a real login re-hashes an imported user.
	if _, err := f.login(t, 1, "imp1", "old password", "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
}
