package operator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
)

// importBody is POST /cubeauth/apps/{app}/users/import: one batch of an
// import file, at most store.MaxImportBatch users.
type importBody struct {
	// FirstLine is the line number of Users[0] in the file, for reports.
	FirstLine int `json:"first_line"`
	// Lines, when given, are the line numbers of Users one by one (the
	// file had blank lines).
	Lines    []int                    `json:"lines,omitempty"`
	Firebase *authcore.FirebaseParams `json:"firebase,omitempty"`
	Users    []authcore.ImportedUser  `json:"users"`
}

// maxImportBody bounds an import batch: larger than maxAdminBody, as a
// batch carries up to store.MaxImportBatch users.
const maxImportBody = 16 << 20

func (api *operatorAPI) importUsers(w http.ResponseWriter, r *http.Request, t target) error {
	var body importBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxImportBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return adminError(http.StatusRequestEntityTooLarge, "request body is too large")
		}
		// A syntax error may quote the body, which holds hashes.
		return adminError(http.StatusBadRequest, "body must be a JSON object with users")
	}
	if len(body.Users) > store.MaxImportBatch {
		return adminError(http.StatusBadRequest, fmt.Sprintf("at most %d users per batch", store.MaxImportBatch))
	}
	if body.FirstLine < 1 {
		body.FirstLine = 1
	}
	res, err := t.svc.ImportUsers(r.Context(), t.app, body.Users, body.FirstLine, body.Lines, body.Firebase)
	if err != nil {
		return adminDomainError(err, "app")
	}
	api.logger.Info("users imported", zap.Int64("app_id", t.app), zap.Int("imported", res.Imported),
		zap.Int("skipped", res.Skipped), zap.Int("refused", len(res.Errors)))
	return writeAdminJSON(w, http.StatusOK, res)
}

func (api *operatorAPI) exportUsers(w http.ResponseWriter, r *http.Request, t target) error {
	started := false
	bw := bufio.NewWriter(w)
	err := t.svc.ExportUsers(r.Context(), t.app, func(u authcore.ImportedUser) error {
		if !started {
			w.Header().Set("Content-Type", "application/jsonl")
			started = true
		}
		b, err := json.Marshal(u)
		if err != nil {
			return err
		}
		bw.Write(b)
		return bw.WriteByte('\n')
	})
	if err != nil && !started {
		return adminDomainError(err, "app")
	}
	if err != nil {
		// Too late for a status: cut the stream so that the reader sees
		// it end without a final newline.
		api.logger.Error("exporting users", zap.Int64("app_id", t.app), zap.Error(err))
		return nil
	}
	if !started {
		w.Header().Set("Content-Type", "application/jsonl")
	}
	return bw.Flush()
}

// importCommand is `caddy cubeauth users import APP FILE`.
func importCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import <app-id> <file>",
		Short: "Imports users with their password hashes from JSON Lines (- for stdin)",
		Long: `Imports users from a JSON Lines file, one user a line, keeping their password
hashes (bcrypt, argon2id, argon2i, scrypt, Django pbkdf2_sha256, Firebase scrypt).
The whole file is checked first; when a line is malformed or repeats a login or
email, every such line is reported and nothing is imported. Batches of 1000 are
then stored, each all or nothing; users already present with the same login,
email and hash are skipped, so running an interrupted import again resumes it.`,
		Args: cobra.ExactArgs(2),
		RunE: cliRun(func(c *cliContext, args []string) error { return c.importUsers(args[0], args[1]) }),
	}
	f := cmd.Flags()
	f.String("firebase-signer-key", "", "Firebase project's base64_signer_key (for lines with password_salt)")
	f.String("firebase-salt-separator", "", "Firebase project's base64_salt_separator")
	f.Int("firebase-rounds", 8, "Firebase project's rounds")
	f.Int("firebase-mem-cost", 14, "Firebase project's mem_cost")
	return cmd
}

func (c *cliContext) importUsers(appID, file string) error {
	var in io.Reader = os.Stdin
	if file != "-" {
		fh, err := os.Open(file)
		if err != nil {
			return err
		}
		defer fh.Close()
		in = fh
	}
	var fb *authcore.FirebaseParams
	flags := c.cmd.Flags()
	if key, _ := flags.GetString("firebase-signer-key"); key != "" {
		fb = &authcore.FirebaseParams{SignerKey: key}
		fb.SaltSeparator, _ = flags.GetString("firebase-salt-separator")
		fb.Rounds, _ = flags.GetInt("firebase-rounds")
		fb.MemCost, _ = flags.GetInt("firebase-mem-cost")
	}
	// Check the whole file before sending any of it.
	var users []authcore.ImportedUser
	var lines []int
	var problems []authcore.LineError
	seen := map[string]int{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	now := time.Now()
	for n := 1; sc.Scan(); n++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var u authcore.ImportedUser
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&u); err != nil || dec.More() {
			problems = append(problems, authcore.LineError{Line: n, Message: "not a JSON object of user fields"})
			continue
		}
		if _, err := authcore.PrepareImportedUser(u, fb, now); err != nil {
			problems = append(problems, authcore.LineError{Line: n, Message: err.Error()})
			continue
		}
		login, email := authcore.ImportKeys(u)
		for _, k := range []string{login, email} {
			if first, ok := seen[k]; ok && k != "" {
				problems = append(problems, authcore.LineError{Line: n, Message: fmt.Sprintf("duplicate %s of line %d", k[:5], first)})
			} else if k != "" {
				seen[k] = n
			}
		}
		users, lines = append(users, u), append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	if len(problems) > 0 {
		printLineErrors(c.cmd.ErrOrStderr(), problems)
		return fmt.Errorf("%d line(s) refused; nothing imported", len(problems))
	}
	var total authcore.ImportResult
	for start := 0; start < len(users); start += store.MaxImportBatch {
		end := min(start+store.MaxImportBatch, len(users))
		if err := c.importBatch(appID, users[start:end], lines[start:end], fb, &total); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.out, "%d user(s) imported, %d already there.\n", total.Imported, total.Skipped)
	return nil
}

func (c *cliContext) importBatch(appID string, users []authcore.ImportedUser, lines []int, fb *authcore.FirebaseParams, total *authcore.ImportResult) error {
	body := importBody{FirstLine: lines[0], Firebase: fb, Users: users}
	if lines[len(lines)-1]-lines[0] != len(lines)-1 {
		body.Lines = lines // blank lines were dropped: number each
	}
	first := lines[0]
	asJSON := c.asJSON
	c.asJSON = false // the answers are summed, not printed one by one
	defer func() { c.asJSON = asJSON }()
	var res authcore.ImportResult
	err := c.call(http.MethodPost, "apps/"+appID+"/users/import", nil,
		body, &res, func() {})
	if err != nil {
		return err
	}
	total.Imported += res.Imported
	total.Skipped += res.Skipped
	if len(res.Errors) > 0 {
		printLineErrors(c.cmd.ErrOrStderr(), res.Errors)
		return fmt.Errorf("%d line(s) refused; the batch from line %d was not imported, %d user(s) before it were (run again to resume)",
			len(res.Errors), first, total.Imported+total.Skipped)
	}
	return nil
}

func printLineErrors(w io.Writer, errs []authcore.LineError) {
	for _, e := range errs {
		fmt.Fprintf(w, "line %d: %s\n", e.Line, cliSafe(e.Message))
	}
}

// exportCommand is `caddy cubeauth users export APP`.
func exportCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "export <app-id>",
		Short: "Writes an app's users with their password hashes as JSON Lines, for import",
		Args:  cobra.ExactArgs(1),
		RunE: cliRun(func(c *cliContext, args []string) error {
			if _, err := adminPathID(args[0], "app"); err != nil {
				return err
			}
			uri := operatorPrefix + "apps/" + args[0] + "/users/export"
			if c.store != "" {
				uri += "?store=" + c.store
			}
			resp, err := caddycmd.AdminAPIRequest(c.addr, http.MethodGet, uri, nil, nil)
			if err != nil {
				return adminRequestError(c.addr, err)
			}
			defer resp.Body.Close()
			_, err = io.Copy(c.out, resp.Body)
			return err
		}),
	}
}
