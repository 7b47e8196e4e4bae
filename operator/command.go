package operator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "cubeauth",
		Usage: "<apps|users|sessions> <action> [args] [--address <admin>] [--json]",
		Short: "Manages cubeauth apps, users and sessions of a running Caddy",
		Long: `
Manages the apps, stages, permissions, users and sessions of cubeauth
through a running Caddy's admin API (the routes under /cubeauth/).

  caddy cubeauth apps list
  caddy cubeauth apps create [--name <name>] [--stage development|production]
  caddy cubeauth apps show <app-id>
  caddy cubeauth apps set-stage <app-id> development|production
  caddy cubeauth apps set-permission <app-id> session_without_user|list_users|guest_sessions allow|deny|default
  caddy cubeauth apps rotate-key <app-id> [--grace 24h]
  caddy cubeauth apps delete <app-id>
  caddy cubeauth users list <app-id> [--search <text>] [--offset n] [--limit n]
  caddy cubeauth users show <app-id> <user-id>
  caddy cubeauth users delete <app-id> <user-id>
  caddy cubeauth users end-sessions <app-id> <user-id>
  caddy cubeauth sessions list <app-id> [--user <user-id>] [--offset n] [--limit n]
  caddy cubeauth sessions revoke <app-id> <session-id>
  caddy cubeauth sessions revoke <app-id> --user <user-id>

Output is a table or text for people; --json prints the API's JSON.
Changes apply to the next request, without a restart, and keep sessions.
Fields set in the Caddyfile/JSON config are pinned: changing them is
refused, change them in the config.

--address is the admin endpoint (default: from --config, else
localhost:2019). With several cubeauth stores in one Caddy, choose one
with --store (see the names at GET /cubeauth/stores).
`,
		CobraFunc: func(cmd *cobra.Command) {
			f := cmd.PersistentFlags()
			f.String("address", "", "The admin API endpoint to use, if not the default")
			f.StringP("config", "c", "", "Configuration file to read the admin address from, if --address is not used")
			f.StringP("adapter", "a", "", "Name of the config adapter to apply (when --config is used)")
			f.String("store", "", "The cubeauth store to manage, when Caddy uses several")
			f.Bool("json", false, "Print the API's JSON instead of a table")
			cmd.AddCommand(appsCommand(), usersCommand(), sessionsCommand())
		},
	})
}

func appsCommand() *cobra.Command {
	apps := cliGroupCommand("apps", "Lists, creates and changes apps")
	create := &cobra.Command{
		Use: "create", Short: "Creates an app with a new App ID and Auth Key", Args: cobra.NoArgs,
		RunE: cliRun(func(c *cliContext, _ []string) error {
			body := map[string]any{}
			if name, _ := c.cmd.Flags().GetString("name"); name != "" {
				body["name"] = name
			}
			if stage, _ := c.cmd.Flags().GetString("stage"); stage != "" {
				body["stage"] = stage
			}
			var res struct{ App appView }
			return c.call(http.MethodPost, "apps", nil, body, &res, func() { printCLIApp(c.out, res.App) })
		}),
	}
	create.Flags().String("name", "", "A label for operators")
	create.Flags().String("stage", "", "development (default) or production")
	rotate := &cobra.Command{
		Use: "rotate-key <app-id>", Short: "Gives an app a new Auth Key; the old one works for --grace", Args: cobra.ExactArgs(1),
		RunE: cliRun(func(c *cliContext, args []string) error {
			grace, _ := c.cmd.Flags().GetString("grace")
			var res struct{ App appView }
			return c.call(http.MethodPost, "apps/"+args[0]+"/rotate_key", nil, map[string]string{"grace": grace}, &res, func() {
				fmt.Fprintf(c.out, "New Auth Key of app %d: %s\n", res.App.ID, res.App.AuthKey)
				if res.App.PreviousAuthKeyExpiresAt != nil {
					fmt.Fprintf(c.out, "The previous key works until %s.\n", cliTime(*res.App.PreviousAuthKeyExpiresAt))
				} else {
					fmt.Fprintln(c.out, "The previous key no longer works.")
				}
			})
		}),
	}
	rotate.Flags().String("grace", "24h", "How long the old key keeps working (0 ends it at once)")
	apps.AddCommand(
		&cobra.Command{
			Use: "list", Short: "Lists the apps", Args: cobra.NoArgs,
			RunE: cliRun(func(c *cliContext, _ []string) error {
				var res struct{ Apps []appView }
				return c.call(http.MethodGet, "apps", nil, nil, &res, func() {
					tw := newCLITable(c.out, "APP ID", "NAME", "STAGE", "SESSION WITHOUT USER", "PINNED", "WARNINGS")
					for _, a := range res.Apps {
						tw.row(a.ID, a.Name, a.Stage, a.permission(), strings.Join(a.Pinned, ","), len(a.Warnings))
					}
					tw.flush()
				})
			}),
		},
		create,
		&cobra.Command{
			Use: "show <app-id>", Short: "Shows an app's credentials and settings", Args: cobra.ExactArgs(1),
			RunE: cliRun(func(c *cliContext, args []string) error {
				var res struct{ App appView }
				return c.call(http.MethodGet, "apps/"+args[0], nil, nil, &res, func() { printCLIApp(c.out, res.App) })
			}),
		},
		&cobra.Command{
			Use: "set-stage <app-id> <development|production>", Short: "Switches an app's stage", Args: cobra.ExactArgs(2),
			RunE: cliRun(func(c *cliContext, args []string) error {
				var res struct{ App appView }
				return c.call(http.MethodPatch, "apps/"+args[0], nil, map[string]any{"stage": args[1]}, &res, func() {
					fmt.Fprintf(c.out, "App %d is now in %s; session without user: %s.\n", res.App.ID, res.App.Stage, res.App.permission())
					printCLIWarnings(c.out, res.App)
				})
			}),
		},
		&cobra.Command{
			Use:   "set-permission <app-id> <permission> <allow|deny|default>",
			Short: "Sets session_without_user (default follows the stage), list_users (default follows the stage) or guest_sessions (default follows session_without_user)",
			Args:  cobra.ExactArgs(3),
			RunE: cliRun(func(c *cliContext, args []string) error {
				name := strings.ReplaceAll(args[1], "-", "_")
				if !slices.Contains(cliPermissions, name) {
					return fmt.Errorf("unknown permission %s: the permissions are %s", cliSafe(args[1]), strings.Join(cliPermissions, ", "))
				}
				var value any
				switch args[2] {
				case "allow", "deny":
					value = args[2]
				case "default", "stage":
				default:
					return fmt.Errorf("%s must be allow, deny or default, not %s", name, cliSafe(args[2]))
				}
				var res struct{ App appView }
				return c.call(http.MethodPatch, "apps/"+args[0], nil, map[string]any{name: value}, &res, func() {
					fmt.Fprintf(c.out, "App %d (%s): session without user: %s; list users: %s; guest sessions: %s.\n",
						res.App.ID, res.App.Stage, res.App.permission(), res.App.listUsers(), res.App.guestSessions())
					printCLIWarnings(c.out, res.App)
				})
			}),
		},
		rotate,
		&cobra.Command{
			Use: "delete <app-id>", Short: "Deletes a runtime-created app with its users and sessions", Args: cobra.ExactArgs(1),
			RunE: cliRun(func(c *cliContext, args []string) error {
				return c.call(http.MethodDelete, "apps/"+args[0], nil, nil, nil, func() {
					fmt.Fprintf(c.out, "App %s deleted.\n", args[0])
				})
			}),
		},
	)
	return apps
}

func usersCommand() *cobra.Command {
	users := cliGroupCommand("users", "Lists and deletes an app's users")
	list := &cobra.Command{
		Use: "list <app-id>", Short: "Lists an app's users", Args: cobra.ExactArgs(1),
		RunE: cliRun(func(c *cliContext, args []string) error {
			q := c.paging()
			if s, _ := c.cmd.Flags().GetString("search"); s != "" {
				q.Set("search", s)
			}
			var res struct {
				Users []userView
				Total int
			}
			return c.call(http.MethodGet, "apps/"+args[0]+"/users", q, nil, &res, func() {
				tw := newCLITable(c.out, "USER ID", "LOGIN", "EMAIL", "FULL NAME", "CREATED")
				for _, u := range res.Users {
					tw.row(u.ID, u.Login, u.Email, u.FullName, cliTime(u.CreatedAt))
				}
				tw.flush()
				fmt.Fprintf(c.out, "%d of %d user(s)\n", len(res.Users), res.Total)
			})
		}),
	}
	list.Flags().String("search", "", "Only users whose login, email or full name contains this")
	cliPagingFlags(list)
	users.AddCommand(
		list, importCommand(), exportCommand(),
		&cobra.Command{
			Use: "show <app-id> <user-id>", Short: "Shows a user", Args: cobra.ExactArgs(2),
			RunE: cliRun(func(c *cliContext, args []string) error {
				var res struct{ User userView }
				return c.call(http.MethodGet, "apps/"+args[0]+"/users/"+args[1], nil, nil, &res, func() {
					u := res.User
					sessions := 0
					if u.Sessions != nil {
						sessions = *u.Sessions
					}
					tw := newCLITable(c.out)
					tw.row("User ID:", u.ID)
					tw.row("Login:", u.Login)
					tw.row("Email:", u.Email)
					tw.row("Full name:", u.FullName)
					tw.row("Guest:", u.IsGuest)
					tw.row("Created:", cliTime(u.CreatedAt))
					tw.row("Active sessions:", sessions)
					tw.flush()
				})
			}),
		},
		&cobra.Command{
			Use: "delete <app-id> <user-id>", Short: "Deletes a user; its sessions end", Args: cobra.ExactArgs(2),
			RunE: cliRun(func(c *cliContext, args []string) error {
				return c.call(http.MethodDelete, "apps/"+args[0]+"/users/"+args[1], nil, nil, nil, func() {
					fmt.Fprintf(c.out, "User %s of app %s deleted; its sessions ended.\n", args[1], args[0])
				})
			}),
		},
		&cobra.Command{
			Use: "end-sessions <app-id> <user-id>", Short: "Ends every session of a user", Args: cobra.ExactArgs(2),
			RunE: cliRun(func(c *cliContext, args []string) error {
				return c.endUserSessions(args[0], args[1])
			}),
		},
	)
	return users
}

func sessionsCommand() *cobra.Command {
	sessions := cliGroupCommand("sessions", "Lists and revokes an app's sessions")
	list := &cobra.Command{
		Use: "list <app-id>", Short: "Lists an app's active sessions", Args: cobra.ExactArgs(1),
		RunE: cliRun(func(c *cliContext, args []string) error {
			q := c.paging()
			if u, _ := c.cmd.Flags().GetString("user"); u != "" {
				q.Set("user_id", u)
			}
			var res struct {
				Sessions []sessionView
				Total    int
			}
			return c.call(http.MethodGet, "apps/"+args[0]+"/sessions", q, nil, &res, func() {
				tw := newCLITable(c.out, "SESSION ID", "USER ID", "TYPE", "FINGERPRINT", "CREATED", "IDLE EXPIRY")
				for _, s := range res.Sessions {
					user := "-"
					if s.UserID != nil {
						user = strconv.FormatInt(*s.UserID, 10)
					}
					tw.row(s.ID, user, s.Type, s.Fingerprint, cliTime(s.CreatedAt), cliTime(s.ExpiresAt))
				}
				tw.flush()
				fmt.Fprintf(c.out, "%d of %d session(s)\n", len(res.Sessions), res.Total)
			})
		}),
	}
	list.Flags().String("user", "", "Only this user's sessions")
	cliPagingFlags(list)
	revoke := &cobra.Command{
		Use:   "revoke <app-id> <session-id> | revoke <app-id> --user <user-id>",
		Short: "Revokes a session, or every session of a user",
		Args:  cobra.RangeArgs(1, 2),
		RunE: cliRun(func(c *cliContext, args []string) error {
			user, _ := c.cmd.Flags().GetString("user")
			switch {
			case user != "" && len(args) == 1:
				return c.endUserSessions(args[0], user)
			case user == "" && len(args) == 2:
				return c.call(http.MethodDelete, "apps/"+args[0]+"/sessions/"+args[1], nil, nil, nil, func() {
					fmt.Fprintf(c.out, "Session %s revoked: its token is refused from the next request on.\n", args[1])
				})
			}
			return errors.New("give a session ID, or --user <user-id> to end all of a user's sessions")
		}),
	}
	revoke.Flags().String("user", "", "End every session of this user")
	sessions.AddCommand(list, revoke)
	return sessions
}

// cliGroupCommand is apps, users or sessions: it only holds actions, and
// refuses an unknown one instead of printing help and exiting 0.
func cliGroupCommand(use, short string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			cmd.SilenceUsage = true
			return fmt.Errorf("unknown action %q for %q; see --help", args[0], cmd.CommandPath())
		},
	}
}

func cliPagingFlags(cmd *cobra.Command) {
	cmd.Flags().Int("offset", 0, "Skip this many")
	cmd.Flags().Int("limit", defaultPageSize, "Show at most this many (up to 500)")
}

// cliContext is one run of a subcommand: where the admin API is and how to
// print.
type cliContext struct {
	cmd    *cobra.Command
	out    io.Writer
	addr   string
	store  string
	asJSON bool
}

// cliRun adapts a subcommand to cobra: errors go to stderr as one line,
// without the usage text.
func cliRun(run func(c *cliContext, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cmd.SilenceUsage = true
		cmd.SilenceErrors = true
		flags := cmd.Flags()
		address, _ := flags.GetString("address")
		configFile, _ := flags.GetString("config")
		adapter, _ := flags.GetString("adapter")
		addr, err := caddycmd.DetermineAdminAPIAddress(address, nil, configFile, adapter)
		if err == nil {
			c := &cliContext{cmd: cmd, out: cmd.OutOrStdout(), addr: addr}
			c.store, _ = flags.GetString("store")
			c.asJSON, _ = flags.GetBool("json")
			err = run(c, args)
		}
		if err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "cubeauth:", cliSafe(err.Error()))
		}
		return err
	}
}

func (c *cliContext) paging() url.Values {
	q := url.Values{}
	if n, _ := c.cmd.Flags().GetInt("offset"); n > 0 {
		q.Set("offset", strconv.Itoa(n))
	}
	if n, _ := c.cmd.Flags().GetInt("limit"); n > 0 {
		q.Set("limit", strconv.Itoa(n))
	}
	return q
}

func (c *cliContext) endUserSessions(appID, userID string) error {
	var res struct{ Ended int }
	return c.call(http.MethodPost, "apps/"+appID+"/users/"+userID+"/end_sessions", nil, nil, &res, func() {
		fmt.Fprintf(c.out, "%d session(s) of user %s ended.\n", res.Ended, userID)
	})
}

// call sends one request to the admin API. With --json it prints the answer
// as it came; otherwise it decodes it into out and calls human.
func (c *cliContext) call(method, path string, query url.Values, body, out any, human func()) error {
	for _, part := range strings.Split(path, "/") {
		if part == "" || part != url.PathEscape(part) {
			return fmt.Errorf("%q is not a valid ID", part)
		}
	}
	if query == nil {
		query = url.Values{}
	}
	if c.store != "" {
		query.Set("store", c.store)
	}
	uri := operatorPrefix + path
	if len(query) > 0 {
		uri += "?" + query.Encode()
	}
	var reqBody io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reqBody = bytes.NewReader(b)
	}
	resp, err := caddycmd.AdminAPIRequest(c.addr, method, uri, nil, reqBody)
	if err != nil {
		return adminRequestError(c.addr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if c.asJSON {
		if len(bytes.TrimSpace(raw)) == 0 {
			return nil
		}
		var pretty bytes.Buffer
		if json.Indent(&pretty, raw, "", "  ") != nil {
			return errors.New("the admin API did not answer JSON")
		}
		pretty.WriteByte('\n')
		_, err := pretty.WriteTo(c.out)
		return err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decoding the answer: %w", err)
		}
	}
	human()
	return nil
}

// adminRequestError makes caddycmd's errors readable: the API's own
// message for a refusal, and a hint when Caddy cannot be reached.
func adminRequestError(addr string, err error) error {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "caddy responded with error: "); ok {
		status, body, _ := strings.Cut(rest, ": ")
		var apiErr struct {
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(body), &apiErr) == nil && apiErr.Error != "" {
			return fmt.Errorf("%s (%s)", apiErr.Error, status)
		}
		return errors.New(rest)
	}
	return fmt.Errorf("cannot reach Caddy's admin API at %s (is Caddy running? use --address): %w", addr, err)
}

// The CLI decodes the admin API's answers into the types that encode them
// (appView, userView and sessionView in views.go).

// cliPermissions are the permissions set-permission sets.
var cliPermissions = []string{authcore.FieldSessionWithoutUser, authcore.FieldListUsers, authcore.FieldGuestSessions}

// listUsers is what the tables show for list_users.
func (a appView) listUsers() string {
	return withDefault(a.ListUsers, a.ListUsersEffective, "stage default")
}

// guestSessions is what the tables show for guest_sessions.
func (a appView) guestSessions() string {
	return withDefault(a.GuestSessions, a.GuestSessionsEffective, "as session without user")
}

func withDefault(set *string, effective, byDefault string) string {
	if set == nil {
		return effective + " (" + byDefault + ")"
	}
	return effective
}

// permission is what the tables show for session_without_user.
func (a appView) permission() string {
	return withDefault(a.SessionWithoutUser, a.SessionWithoutUserEffective, "stage default")
}

func printCLIApp(w io.Writer, a appView) {
	pinned := func(field string) string {
		if slices.Contains(a.Pinned, field) {
			return "  (set by config)"
		}
		return ""
	}
	tw := newCLITable(w)
	tw.row("App ID:", a.ID)
	tw.row("Name:", a.Name+pinned(authcore.FieldName))
	tw.row("Auth Key:", a.AuthKey+pinned(authcore.FieldAuthKey))
	if a.PreviousAuthKeyExpiresAt != nil {
		tw.row("Previous key:", "works until "+cliTime(*a.PreviousAuthKeyExpiresAt))
	}
	secret := "not set"
	if a.AuthSecretSet {
		secret = "set"
	}
	tw.row("Auth Secret:", secret+pinned(authcore.FieldAuthSecret))
	tw.row("Stage:", a.Stage+pinned(authcore.FieldStage))
	tw.row("Session without user:", a.permission()+pinned(authcore.FieldSessionWithoutUser))
	tw.row("Require signature:", strconv.FormatBool(a.RequireSignature)+pinned(authcore.FieldRequireSignature))
	tw.row("List users:", a.listUsers()+pinned(authcore.FieldListUsers))
	tw.row("Guest sessions:", a.guestSessions()+pinned(authcore.FieldGuestSessions))
	var private []string
	for _, f := range authcore.UserFieldNames() {
		if a.UserFields[f] == store.VisibilityPrivate {
			private = append(private, f)
		}
	}
	tw.row("Private user fields:", strings.Join(private, ", ")+pinned(authcore.FieldUserFields))
	tw.row("Min password length:", strconv.Itoa(a.MinPasswordLength)+pinned(authcore.FieldMinPasswordLength))
	tw.flush()
	printCLIWarnings(w, a)
}

func printCLIWarnings(w io.Writer, a appView) {
	for _, msg := range a.Warnings {
		fmt.Fprintln(w, "WARNING:", cliSafe(msg))
	}
}

func cliTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// cliTable prints aligned columns.
type cliTable struct{ tw *tabwriter.Writer }

func newCLITable(w io.Writer, header ...string) *cliTable {
	t := &cliTable{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	if len(header) > 0 {
		fmt.Fprintln(t.tw, strings.Join(header, "\t"))
	}
	return t
}

func (t *cliTable) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		parts[i] = cliSafe(fmt.Sprint(c))
		if parts[i] == "" {
			parts[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

func (t *cliTable) flush() { _ = t.tw.Flush() }

// cliSafe returns s as it is when every character prints plainly, and
// quoted Go-style otherwise, so that stored text (a login, a full name)
// cannot drive the terminal with control or bidirectional characters.
func cliSafe(s string) string {
	for _, r := range s {
		if r != ' ' && !strconv.IsGraphic(r) || unicode.Is(unicode.Bidi_Control, r) {
			return strconv.Quote(s)
		}
	}
	return s
}
