package authcore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The vectors come from the reference implementations, run now
// (testdata/foreign_vectors.py; scripts/setup.sh installs its Debian
// packages), never from this package's code.
func TestForeignHashVectors(t *testing.T) {
	out, err := exec.Command("/usr/bin/python3", "testdata/foreign_vectors.py").Output()
	if err != nil {
		t.Fatalf("running the reference implementations (scripts/setup.sh installs them): %v", err)
	}
	h := NewHasher(DefaultArgon2Params, 2, time.Minute)
	formats := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var v struct{ Format, Password, Hash string }
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		formats[v.Format]++
		if err := CheckImportedHash(v.Hash); err != nil {
			t.Errorf("%s: %q refused: %v", v.Format, v.Hash, err)
			continue
		}
		ok, weaker, err := h.Verify(context.Background(), v.Hash, v.Password)
		if err != nil || !ok {
			t.Errorf("%s: the right password: ok=%v err=%v", v.Format, ok, err)
		}
		if !weaker && v.Format != "argon2id" {
			t.Errorf("%s: a foreign hash must be re-hashed", v.Format)
		}
		if ok, _, _ := h.Verify(context.Background(), v.Hash, v.Password+"!"); ok {
			t.Errorf("%s: a wrong password matched", v.Format)
		}
	}
	for _, f := range []string{"bcrypt-2a", "bcrypt-2b", "bcrypt-2y", "argon2id", "argon2i", "scrypt", "django-pbkdf2_sha256"} {
		if formats[f] == 0 {
			t.Errorf("no %s vectors", f)
		}
	}
}

// firebase/scrypt's README example, made by Firebase's own utility.
func TestFirebaseScryptVector(t *testing.T) {
	p := FirebaseParams{
		SignerKey:     "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==",
		SaltSeparator: "Bw==", Rounds: 8, MemCost: 14,
	}
	enc, err := FirebaseHash(p, "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==", "42xEC+ixf3L2lw==")
	if err != nil {
		t.Fatal(err)
	}
	h := NewHasher(DefaultArgon2Params, 1, time.Minute)
	if ok, weaker, err := h.Verify(context.Background(), enc, "user1password"); !ok || !weaker || err != nil {
		t.Fatalf("user1password: ok=%v weaker=%v err=%v", ok, weaker, err)
	}
	if ok, _, _ := h.Verify(context.Background(), enc, "user2password"); ok {
		t.Fatal("a wrong password matched")
	}
}

func TestForeignHashMalformed(t *testing.T) {
	for _, enc := range []string{
		"$2b$04$short", "$argon2i$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$scrypt$ln=30,r=8,p=1$c2FsdA$" + strings.Repeat("A", 43), "pbkdf2_sha256$x$salt$AAAA",
		"$firebase-scrypt$r=8,m=20$AA$Bw$AA$AA", "md5$abc", "plain",
	} {
		if CheckImportedHash(enc) == nil {
			t.Errorf("%q accepted", enc)
		}
	}
}
