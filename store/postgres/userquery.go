package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cubeauth/cubeauth/store"
)

// userColumnOf is the column of each text and time field; the ID is "id".
var userColumnOf = map[store.UserField]string{
	store.FieldLogin: "login", store.FieldEmail: "email", store.FieldFullName: "full_name",
	store.FieldPhone: "phone", store.FieldExternalID: "external_id", store.FieldFacebookID: "facebook_id",
	store.FieldTwitterID: "twitter_id", store.FieldTags: "tags",
	store.FieldCreatedAt: "created_at", store.FieldUpdatedAt: "updated_at",
	store.FieldLastRequestAt: "last_request_at",
}

// tagsArray is a user's tags as the index on them (0004_user_query.sql)
// has them.
const tagsArray = `regexp_split_to_array(lower(tags), '\s*,\s*')`

// maxRune bounds a prefix range: every text starting with p is at least p
// and, but for one that goes on with this very code point, less than
// p+maxRune in byte order.
const maxRune = "\U0010FFFF"

// userFilter builds the WHERE clause of a user query: the driver's own SQL
// with the operands as arguments, never input in the text.
type userFilter struct {
	where []string
	args  []any
}

// arg adds v as an argument and returns its placeholder.
func (f *userFilter) arg(v any) string {
	f.args = append(f.args, v)
	return fmt.Sprintf("$%d", len(f.args))
}

func (f *userFilter) add(cond string) { f.where = append(f.where, cond) }

// condition adds c, which Validate accepted.
func (f *userFilter) condition(c store.UserCondition) {
	switch c.Field.Kind() {
	case store.KindNumber:
		f.add(f.number(c))
	case store.KindText:
		f.add(f.text(c))
	case store.KindTime:
		f.add(f.time(c))
	}
}

func (f *userFilter) number(c store.UserCondition) string {
	switch c.Op {
	case store.OpIn:
		return "id = ANY(" + f.arg(c.Numbers) + "::bigint[])"
	case store.OpNotIn:
		return "id <> ALL(" + f.arg(c.Numbers) + "::bigint[])"
	}
	ops := map[store.Operator]string{store.OpEq: "=", store.OpGt: ">", store.OpLt: "<", store.OpGte: ">=", store.OpLte: "<="}
	return "id " + ops[c.Op] + " " + f.arg(c.Numbers[0])
}

func (f *userFilter) text(c store.UserCondition) string {
	folded := make([]string, len(c.Text))
	for i, v := range c.Text {
		folded[i] = store.FoldText(v)
	}
	col := userColumnOf[c.Field]
	if c.Field == store.FieldTags {
		switch c.Op {
		case store.OpPrefix:
			return "(tags <> '' AND EXISTS (SELECT 1 FROM unnest(" + tagsArray + ") t WHERE starts_with(t, " +
				f.arg(folded[0]) + ")))"
		case store.OpNotIn:
			return "NOT (tags <> '' AND " + tagsArray + " && " + f.arg(folded) + "::text[])"
		}
		return "(tags <> '' AND " + tagsArray + " && " + f.arg(folded) + "::text[])"
	}
	expr := "lower(" + col + `) COLLATE "C"`
	switch c.Op {
	case store.OpPrefix:
		return "(" + col + " <> '' AND " + expr + " >= " + f.arg(folded[0]) + " AND " + expr + " < " +
			f.arg(folded[0]+maxRune) + ")"
	case store.OpNotIn:
		return "NOT (" + col + " <> '' AND " + expr + " = ANY(" + f.arg(folded) + "::text[]))"
	}
	return "(" + col + " <> '' AND " + expr + " = ANY(" + f.arg(folded) + "::text[]))"
}

func (f *userFilter) time(c store.UserCondition) string {
	col := userColumnOf[c.Field]
	inRange := func(r store.TimeRange) string {
		var parts []string
		if !r.From.IsZero() {
			parts = append(parts, col+" >= "+f.arg(r.From))
		}
		if !r.To.IsZero() {
			parts = append(parts, col+" < "+f.arg(r.To))
		}
		return "(" + strings.Join(parts, " AND ") + ")"
	}
	if c.Op != store.OpIn && c.Op != store.OpNotIn {
		return inRange(c.Range())
	}
	var ranges []string
	for _, t := range c.Times {
		ranges = append(ranges, inRange(store.UserCondition{Op: store.OpEq, Times: []time.Time{t}}.Range()))
	}
	if c.Op == store.OpNotIn {
		// An unset time is in no range, so it is not excluded.
		return "NOT COALESCE(" + strings.Join(ranges, " OR ") + ", false)"
	}
	return "(" + strings.Join(ranges, " OR ") + ")"
}

// orderBy is q's ORDER BY: ties by ID, users lacking the field first (as
// the empty text and the zero time sort in store.UserQuery.CompareUsers).
func orderBy(q store.UserQuery) string {
	dir, nulls := "", " NULLS FIRST"
	if q.Descending {
		dir, nulls = " DESC", " NULLS LAST"
	}
	switch q.SortBy.Kind() {
	case store.KindText:
		return "lower(" + userColumnOf[q.SortBy] + `) COLLATE "C"` + dir + ", id"
	case store.KindTime:
		return userColumnOf[q.SortBy] + dir + nulls + ", id"
	case store.KindNumber:
		return "id" + dir
	}
	return "id"
}

// fewMatches is the most matches ListUsers sorts itself after finding
// them (see there).
const fewMatches = 10000

// ListUsers returns the users matching q, in q's order, and how many match
// in all; a Limit of zero or less means no limit. Every condition is one
// SQL condition over an index of 0004_user_query.sql.
func (s *Store) ListUsers(ctx context.Context, q store.UserQuery) ([]store.User, int, error) {
	const op = "listing users"
	if err := q.Validate(); err != nil {
		return nil, 0, wrap(op, err)
	}
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	defer cancel()
	f := &userFilter{}
	f.add("app_id = " + f.arg(q.AppID))
	f.add(userLive)
	for _, c := range q.Where {
		f.condition(c)
	}
	if q.Search != "" {
		p := f.arg(q.Search)
		f.add("(strpos(lower(login), lower(" + p + ")) > 0 OR strpos(lower(email), lower(" + p + ")) > 0" +
			" OR strpos(lower(full_name), lower(" + p + ")) > 0)")
	}
	where := strings.Join(f.where, " AND ")
	// Planned with the operands each time (no cached generic plan): which
	// index serves a query depends on its values, a tag's array above all.
	args := append([]any{pgx.QueryExecModeExec}, f.args...)
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM cubeauth_users WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, s.fail(op, err)
	}
	n := len(f.args)
	from := `cubeauth_users WHERE ` + where
	if total <= fewMatches {
		// Few matches: find them by the conditions' indexes, then sort.
		// Left to itself, the planner may walk the sort order's index
		// (the primary key) and filter, which reads the whole app when its
		// estimate of the matches is too high.
		from = `(SELECT ` + userColumns + ` FROM ` + from + ` OFFSET 0) m`
	}
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM `+from+
		` ORDER BY `+orderBy(q)+fmt.Sprintf(` LIMIT $%d OFFSET $%d`, n+1, n+2),
		append(args, limitArg(q.Limit), max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, s.fail(op, err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.User, error) { return scanUser(row) })
	if err != nil {
		return nil, 0, s.fail(op, err)
	}
	return users, total, nil
}

// TouchUser sets the user's last_request_at to at when the stored one is
// store.LastRequestPrecision or more older, without telling subscribers. It
// returns store.ErrNotFound when the user is gone.
func (s *Store) TouchUser(ctx context.Context, appID, userID int64, at time.Time) error {
	const op = "touching user"
	ctx, cancel, err := s.op(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE cubeauth_users SET last_request_at = $3
		WHERE app_id = $1 AND id = $2 AND `+userLive+` AND (last_request_at IS NULL OR last_request_at <= $4)`,
		appID, userID, at, at.Add(-store.LastRequestPrecision))
	if err != nil || tag.RowsAffected() > 0 {
		return s.fail(op, err)
	}
	// Nothing written: a recent touch, or no such user.
	var exists bool
	err = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cubeauth_users WHERE app_id = $1 AND id = $2 AND `+
		userLive+`)`, appID, userID).Scan(&exists)
	if err == nil && !exists {
		err = store.ErrNotFound
	}
	return s.fail(op, err)
}
