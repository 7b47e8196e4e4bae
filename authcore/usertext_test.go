package authcore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cubeauth/cubeauth/store"
)

func signup(f *fixture, in UserInput) (store.User, error) {
	if in.Password == nil {
		p := "supersecret"
		in.Password = &p
	}
	return f.svc.CreateUser(context.Background(), CreateUserRequest{AppID: 1, ClientIP: "192.0.2.1", Input: in})
}

func fieldError(err error, field string) []string {
	var verr *ValidationError
	if !errors.As(err, &verr) {
		return nil
	}
	return verr.Fields[field]
}

func TestUserFieldsRefuseControlAndBidiCharacters(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		field string
		in    UserInput
		ok    bool
	}{
		{"CR LF in a login", "login", UserInput{Login: str("eve\r\nX-Cube-User-Id: 1")}, false},
		{"escape in a login", "login", UserInput{Login: str("eve\x1b[2J")}, false},
		{"C1 control in a login", "login", UserInput{Login: str("eve\u009b2J")}, false},
		{"RLO in a login", "login", UserInput{Login: str("eve\u202egnp.exe")}, false},
		{"RLM in a login", "login", UserInput{Login: str("eve\u200f")}, false},
		{"isolate in an email", "email", UserInput{Login: str("eve1"), Email: str("eve\u2066@example.com")}, false},
		{"tab in a full name", "full_name", UserInput{Login: str("eve2"), FullName: str("Eve\tX")}, false},
		{"RLO in a full name", "full_name", UserInput{Login: str("eve3"), FullName: str("Eve \u202eX")}, false},
		{"RLM in a full name", "full_name", UserInput{Login: str("eve4"), FullName: str("\u05d0\u05d1 \u200f(2)")}, true},
		{"line separator in a phone", "phone", UserInput{Login: str("eve5"), Phone: str("555\u20281")}, false},
		{"DEL in a website", "website", UserInput{Login: str("eve6"), Website: str("https://x.example/\x7f")}, false},
		{"NUL in an external id", "external_id", UserInput{Login: str("eve7"), ExternalID: str("1\x00")}, false},
		{"escape in tags", "tag_list", UserInput{Login: str("eve8"), Tags: str("a,\x1bb")}, false},
		{"escape in an avatar", "avatar", UserInput{Login: str("eve9"), Avatar: str("\x1b")}, false},
		{"newlines in custom data", "custom_data", UserInput{Login: str("eve10"), CustomData: str("{\n\t\"a\": \"\\u001b\"\r\n}")}, true},
		{"raw escape in custom data", "custom_data", UserInput{Login: str("eve11"), CustomData: str("{\"a\":\"\x1b\"}")}, false},
		{"RLO in custom data", "custom_data", UserInput{Login: str("eve12"), CustomData: str("{\"a\":\"\u202e\"}")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signup(f, tt.in)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if msgs := fieldError(err, tt.field); len(msgs) != 1 || msgs[0] != msgForbiddenRune {
				t.Fatalf("got %v, want a 422 on %s", err, tt.field)
			}
		})
	}
	t.Run("guest full name", func(t *testing.T) {
		_, err := f.svc.CreateSession(context.Background(), SessionRequest{ClientIP: "192.0.2.1", Params: Params{
			"application_id": "1", "auth_key": testAppKey, "user[guest]": "1", "user[full_name]": "\x1b]0;owned\x07",
		}})
		if msgs := fieldError(err, "full_name"); len(msgs) != 1 {
			t.Fatalf("got %v, want a 422 on full_name", err)
		}
	})
}

func TestLoginsAndEmailsThatDifferOnlyInWidthOrCaseAreOneUser(t *testing.T) {
	f := newFixture(t)
	u, err := signup(f, UserInput{Login: str("ＡＬＩＣＥ"), Email: str("Ａlice@Example.COM")})
	if err != nil {
		t.Fatal(err)
	}
	if u.Login != "alice" || u.Email != "alice@example.com" {
		t.Fatalf("stored as %q, %q; want the folded forms", u.Login, u.Email)
	}
	for _, in := range []UserInput{
		{Login: str("ALICE")},
		{Login: str("alice")},
		{Login: str("other"), Email: str("ALICE@example.com")},
		{Login: str("other2"), Email: str("ａｌｉｃｅ@ｅｘａｍｐｌｅ.ｃｏｍ")},
	} {
		if _, err := signup(f, in); fieldError(err, "login") == nil && fieldError(err, "email") == nil {
			t.Errorf("signup %q %q: %v, want taken", deref(in.Login), deref(in.Email), err)
		}
	}
	if _, err := signup(f, UserInput{Login: str("straße")}); err != nil {
		t.Fatal(err)
	}
	if _, err := signup(f, UserInput{Login: str("STRASSE")}); fieldError(err, "login") == nil {
		t.Errorf("STRASSE beside straße: %v, want taken", err)
	}
	for _, login := range []string{"Alice", "ＡＬＩＣＥ", "ａｌｉｃｅ"} {
		res, err := f.login(t, 1, login, "supersecret", "192.0.2.1")
		if err != nil || res.User.ID != u.ID || res.UserCreated {
			t.Errorf("sign in as %q: %v, want alice's user", login, err)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestAUserStoredBeforeNamesWereFoldedStillSignsIn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	hash, err := f.svc.hasher.Hash(ctx, "supersecret")
	if err != nil {
		t.Fatal(err)
	}
	legacy := store.User{AppID: 1, Login: "ＣＡＲＯＬ", Email: "Ｃarol@example.com", PasswordHash: hash}
	if err := f.st.CreateUser(ctx, &legacy); err != nil {
		t.Fatal(err)
	}
	res, err := f.login(t, 1, "ＣＡＲＯＬ", "supersecret", "192.0.2.1")
	if err != nil || res.User.ID != legacy.ID {
		t.Fatalf("legacy login: %v", err)
	}
	if u, err := f.svc.FindUser(ctx, Identity{AppID: 1}, UserSearch{Where: []store.UserCondition{store.WhereText(store.FieldLogin, store.OpEq, "ＣＡＲＯＬ")}}); err != nil || u.ID != legacy.ID {
		t.Fatalf("legacy login lookup: %v", err)
	}
}

func TestAPasswordOf50MultibyteCharactersSignsUpAndSignsIn(t *testing.T) {
	f := newFixture(t)
	password := strings.Repeat("€", 50) // 150 bytes, 50 characters
	login := "olga"
	if _, err := signup(f, UserInput{Login: &login, Password: &password}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login(t, 1, login, password, "192.0.2.1"); err != nil {
		t.Fatalf("sign in with the password that signed up: %v", err)
	}
	long := strings.Repeat("€", maxPassword+1)
	if _, err := signup(f, UserInput{Login: str("olga2"), Password: &long}); fieldError(err, "password") == nil {
		t.Fatalf("a password of %d characters: %v, want too long", maxPassword+1, err)
	}
}

func str(s string) *string { return &s }
