package authcore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cubeauth/cubeauth/store"
)

// ImportedUser is one line of an import or export file (JSON Lines): the
// user's fields by their wire names and its password hash, native or
// foreign (foreignhash.go). A Firebase user has PasswordSalt too: its
// passwordHash and salt as Firebase exports them, verified with the
// project's FirebaseParams given to the import.
type ImportedUser struct {
	Login        string    `json:"login,omitempty"`
	Email        string    `json:"email,omitempty"`
	FullName     string    `json:"full_name,omitempty"`
	Phone        string    `json:"phone,omitempty"`
	Website      string    `json:"website,omitempty"`
	CustomData   string    `json:"custom_data,omitempty"`
	Tags         string    `json:"tag_list,omitempty"`
	ExternalID   string    `json:"external_id,omitempty"`
	FacebookID   string    `json:"facebook_id,omitempty"`
	TwitterID    string    `json:"twitter_id,omitempty"`
	Avatar       string    `json:"avatar,omitempty"`
	Timezone     *int      `json:"timezone,omitempty"`
	PasswordHash string    `json:"password_hash,omitempty"`
	PasswordSalt string    `json:"password_salt,omitempty"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
}

// LineError is a refused line of an import, by its line number in the file.
type LineError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// ImportResult says what one import batch did.
type ImportResult struct {
	Imported int `json:"imported"`
	// Skipped users were already there with the same login, email and
	// password hash: an earlier run of the same import stored them.
	Skipped int         `json:"skipped"`
	Errors  []LineError `json:"errors,omitempty"`
}

// ImportKeys are the folded login and email an imported user will be
// stored under, so that a whole file can be checked for duplicates before
// any of it is sent.
func ImportKeys(in ImportedUser) (login, email string) {
	if in.Login != "" {
		login = "login " + foldName(in.Login)
	}
	if in.Email != "" {
		email = "email " + foldName(in.Email)
	}
	return login, email
}

// PrepareImportedUser validates one line and returns the user it stores.
func PrepareImportedUser(in ImportedUser, fb *FirebaseParams, now time.Time) (store.User, error) {
	u := store.User{CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	ui := UserInput{
		Login: opt(in.Login), Email: opt(in.Email), FullName: opt(in.FullName), Phone: opt(in.Phone),
		Website: opt(in.Website), CustomData: opt(in.CustomData), Tags: opt(in.Tags),
		ExternalID: opt(in.ExternalID), FacebookID: opt(in.FacebookID), TwitterID: opt(in.TwitterID),
		Avatar: opt(in.Avatar),
	}
	if in.Timezone != nil {
		ui.Timezone = opt(strconv.Itoa(*in.Timezone))
	}
	if err := applyUserInput(&u, ui, true); err != nil {
		return u, err
	}
	u.PasswordHash = in.PasswordHash
	if in.PasswordSalt != "" {
		if fb == nil {
			return u, errors.New("password_salt (a Firebase hash) needs the project's Firebase hash parameters")
		}
		h, err := FirebaseHash(*fb, in.PasswordHash, in.PasswordSalt)
		if err != nil {
			return u, err
		}
		u.PasswordHash = h
	}
	if u.PasswordHash == "" {
		return u, errors.New("password_hash is required")
	}
	if err := CheckImportedHash(u.PasswordHash); err != nil {
		return u, errors.New("password_hash is not in a known format")
	}
	return u, nil
}

// ImportUsers stores one batch of an import (at most store.MaxImportBatch
// users; lineNumbers[i], when given, is users[i]'s line in the file, else
// they are numbered from firstLine on). The batch is atomic:
// when any line is refused (malformed, a login or email that another user
// holds, or that an earlier line of the batch has) nothing of it is
// stored and every refused line is reported. Users already stored with the
// same login, email and hash are skipped, so re-running an import that
// stopped part way resumes it.
func (s *Service) ImportUsers(ctx context.Context, appID int64, lines []ImportedUser, firstLine int, lineNumbers []int, fb *FirebaseParams) (ImportResult, error) {
	var res ImportResult
	if len(lines) > store.MaxImportBatch {
		return res, fmt.Errorf("at most %d users per batch", store.MaxImportBatch)
	}
	if _, err := s.StoredApp(ctx, appID); err != nil {
		return res, err
	}
	now := s.now()
	seen := map[string]int{}
	var users []store.User
	var userLines []int
	for i, in := range lines {
		line := firstLine + i
		if len(lineNumbers) == len(lines) {
			line = lineNumbers[i]
		}
		u, err := PrepareImportedUser(in, fb, now)
		if err != nil {
			res.Errors = append(res.Errors, LineError{line, err.Error()})
			continue
		}
		dup := false
		for _, k := range []string{prefixed("login ", u.Login), prefixed("email ", u.Email)} {
			if k == "" {
				continue
			}
			if first, ok := seen[k]; ok {
				res.Errors = append(res.Errors, LineError{line, fmt.Sprintf("duplicate %s of line %d", k[:5], first)})
				dup = true
			}
			seen[k] = line
		}
		if dup {
			continue
		}
		existing, found, err := s.importedBefore(ctx, appID, u)
		if err != nil {
			return res, err
		}
		switch {
		case found && existing:
			res.Skipped++
		case found:
			res.Errors = append(res.Errors, LineError{line, "login or email is taken by another user of the app"})
		default:
			users = append(users, u)
			userLines = append(userLines, line)
		}
	}
	if len(res.Errors) > 0 || len(users) == 0 {
		return res, nil
	}
	err := s.store.ImportUsers(ctx, appID, users)
	var ie *store.ImportError
	if errors.As(err, &ie) && (errors.Is(err, store.ErrLoginTaken) || errors.Is(err, store.ErrEmailTaken)) {
		// Taken since the check above, by a concurrent writer.
		res.Errors = append(res.Errors, LineError{userLines[ie.Index], "login or email is taken by another user of the app"})
		return res, nil
	}
	if err != nil {
		return res, storeErr(err, ErrNotFound)
	}
	res.Imported = len(users)
	return res, nil
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// importedBefore reports whether u's login or email is taken, and whether
// by a user identical to u in login, email and hash (imported earlier).
func (s *Service) importedBefore(ctx context.Context, appID int64, u store.User) (same, found bool, err error) {
	for _, lookup := range []struct {
		v   string
		get func(context.Context, int64, string) (store.User, error)
	}{{u.Login, s.store.GetUserByLogin}, {u.Email, s.store.GetUserByEmail}} {
		if lookup.v == "" {
			continue
		}
		old, err := lookup.get(ctx, appID, lookup.v)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, false, storeErr(err, ErrNotFound)
		}
		return old.Login == u.Login && old.Email == u.Email && old.PasswordHash == u.PasswordHash, true, nil
	}
	return false, false, nil
}

// ExportUsers calls fn with every user of the app, in ID order, as an
// import line: hashes included, for moving users to another server.
func (s *Service) ExportUsers(ctx context.Context, appID int64, fn func(ImportedUser) error) error {
	if _, err := s.StoredApp(ctx, appID); err != nil {
		return err
	}
	const page = 1000
	var after int64
	for {
		users, err := s.store.ScanUsers(ctx, appID, after, page)
		if err != nil {
			return storeErr(err, ErrNotFound)
		}
		for _, u := range users {
			after = u.ID
			if u.IsGuest {
				continue
			}
			if err := fn(ImportedUser{
				Login: u.Login, Email: u.Email, FullName: u.FullName, Phone: u.Phone, Website: u.Website,
				CustomData: u.CustomData, Tags: u.Tags, ExternalID: u.ExternalID, FacebookID: u.FacebookID,
				TwitterID: u.TwitterID, Avatar: u.Avatar, Timezone: u.Timezone, PasswordHash: u.PasswordHash,
				CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
			}); err != nil {
				return err
			}
		}
		if len(users) < page {
			return nil
		}
	}
}
