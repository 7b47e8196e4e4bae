package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// UserField names a user field that queries filter and sort on, by its
// name on the wire.
type UserField string

// Fields of UserQuery conditions and sorting.
const (
	FieldID            UserField = "id"
	FieldLogin         UserField = "login"
	FieldEmail         UserField = "email"
	FieldFullName      UserField = "full_name"
	FieldPhone         UserField = "phone"
	FieldExternalID    UserField = "external_id"
	FieldFacebookID    UserField = "facebook_id"
	FieldTwitterID     UserField = "twitter_id"
	FieldTags          UserField = "user_tags"
	FieldCreatedAt     UserField = "created_at"
	FieldUpdatedAt     UserField = "updated_at"
	FieldLastRequestAt UserField = "last_request_at"
)

// FieldKind is how a field's operands are typed and compared.
type FieldKind int

// Kinds of fields.
const (
	// KindNumber: the user ID. Operands are UserCondition.Numbers.
	KindNumber FieldKind = iota + 1
	// KindText: compared case-insensitively (folded with strings.ToLower),
	// an empty value never matches. Operands are UserCondition.Text.
	KindText
	// KindTime: compared to the second, as the wire shows times; an unset
	// time (a user that never made a request) matches no comparison.
	// Operands are UserCondition.Times.
	KindTime
)

// userFieldKinds lists every queryable field.
var userFieldKinds = map[UserField]FieldKind{
	FieldID:    KindNumber,
	FieldLogin: KindText, FieldEmail: KindText, FieldFullName: KindText, FieldPhone: KindText,
	FieldExternalID: KindText, FieldFacebookID: KindText, FieldTwitterID: KindText, FieldTags: KindText,
	FieldCreatedAt: KindTime, FieldUpdatedAt: KindTime, FieldLastRequestAt: KindTime,
}

// Kind returns the field's kind, or zero for an unknown field.
func (f UserField) Kind() FieldKind { return userFieldKinds[f] }

// UserFields lists the queryable fields, sorted.
func UserFields() []UserField {
	out := make([]UserField, 0, len(userFieldKinds))
	for f := range userFieldKinds {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// Operator compares a field with a condition's operands.
type Operator string

// Operators of UserQuery conditions.
const (
	// OpEq: equal to the one operand.
	OpEq Operator = "eq"
	// OpIn: equal to any operand.
	OpIn Operator = "in"
	// OpNotIn: equal to none of the operands (a user lacking the field
	// matches).
	OpNotIn Operator = "nin"
	// OpPrefix: a text starting with the one operand.
	OpPrefix Operator = "start_with"
	// OpGt, OpLt, OpGte, OpLte compare a number or a time with the one
	// operand.
	OpGt  Operator = "gt"
	OpLt  Operator = "lt"
	OpGte Operator = "gte"
	OpLte Operator = "lte"
)

// UserCondition is one filter of a UserQuery. For user_tags, which holds a
// comma-separated list, eq, in and start_with match a user with any such
// tag and nin one with none of them.
type UserCondition struct {
	Field UserField
	Op    Operator
	// The operands, in the slice of the field's kind.
	Numbers []int64
	Text    []string
	Times   []time.Time
}

// WhereText, WhereID and WhereTime make conditions on a field of each kind.
func WhereText(f UserField, op Operator, values ...string) UserCondition {
	return UserCondition{Field: f, Op: op, Text: values}
}

// WhereID makes a condition on the user ID.
func WhereID(op Operator, ids ...int64) UserCondition {
	return UserCondition{Field: FieldID, Op: op, Numbers: ids}
}

// WhereTime makes a condition on a time field.
func WhereTime(f UserField, op Operator, times ...time.Time) UserCondition {
	return UserCondition{Field: f, Op: op, Times: times}
}

// UserQuery selects users of one app for listing. A user matches when it
// meets every condition of Where and, when Search is set, Search.
type UserQuery struct {
	AppID int64
	Where []UserCondition
	// Search matches a substring of login, email or full name (the
	// operator's dashboard; no index serves it).
	Search string
	// SortBy orders the result (ties by ID); empty means by ID. Descending
	// reverses the order.
	SortBy     UserField
	Descending bool
	Offset     int
	Limit      int
}

// LastRequestPrecision is how stale User.LastRequestAt may be: TouchUser
// writes at most once per user per LastRequestPrecision.
const LastRequestPrecision = time.Minute

// ErrBadQuery means a UserQuery is malformed: an unknown field, an
// operator the field's kind does not have, or operands that do not fit.
var ErrBadQuery = errors.New("malformed user query")

// Validate reports whether drivers can run q, wrapping ErrBadQuery.
func (q UserQuery) Validate() error {
	for _, c := range q.Where {
		if err := c.validate(); err != nil {
			return fmt.Errorf("%w: %s %s: %v", ErrBadQuery, c.Field, c.Op, err)
		}
	}
	if q.SortBy != "" && (q.SortBy.Kind() == 0 || q.SortBy == FieldTags) {
		return fmt.Errorf("%w: cannot sort by %q", ErrBadQuery, q.SortBy)
	}
	return nil
}

func (c UserCondition) validate() error {
	kind := c.Field.Kind()
	if kind == 0 {
		return errors.New("unknown field")
	}
	n := map[FieldKind]int{KindNumber: len(c.Numbers), KindText: len(c.Text), KindTime: len(c.Times)}
	if n[kind] != len(c.Numbers)+len(c.Text)+len(c.Times) {
		return errors.New("operands of another kind")
	}
	switch c.Op {
	case OpIn, OpNotIn:
		if n[kind] == 0 {
			return errors.New("no operands")
		}
		return nil
	case OpEq:
	case OpPrefix:
		if kind != KindText {
			return errors.New("start_with needs a text field")
		}
	case OpGt, OpLt, OpGte, OpLte:
		if kind == KindText {
			return errors.New("text fields are not compared")
		}
	default:
		return errors.New("unknown operator")
	}
	if n[kind] != 1 {
		return errors.New("needs exactly one operand")
	}
	return nil
}

// FoldText is how text fields are compared: what drivers index and match.
func FoldText(s string) string { return strings.ToLower(s) }

// SplitTags returns the tags of a user's comma-separated Tags, trimmed and
// folded, without empty ones.
func SplitTags(tags string) []string {
	var out []string
	for t := range strings.SplitSeq(tags, ",") {
		if t = FoldText(strings.TrimSpace(t)); t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// TextValues returns the folded values of a text field of u: one, none
// when the field is empty, or each tag of user_tags.
func TextValues(u *User, f UserField) []string {
	var v string
	switch f {
	case FieldTags:
		return SplitTags(u.Tags)
	case FieldLogin:
		v = u.Login
	case FieldEmail:
		v = u.Email
	case FieldFullName:
		v = u.FullName
	case FieldPhone:
		v = u.Phone
	case FieldExternalID:
		v = u.ExternalID
	case FieldFacebookID:
		v = u.FacebookID
	case FieldTwitterID:
		v = u.TwitterID
	}
	if v == "" {
		return nil
	}
	return []string{FoldText(v)}
}

// TimeValue returns a time field of u; the zero time when unset.
func TimeValue(u *User, f UserField) time.Time {
	switch f {
	case FieldCreatedAt:
		return u.CreatedAt
	case FieldUpdatedAt:
		return u.UpdatedAt
	case FieldLastRequestAt:
		return u.LastRequestAt
	}
	return time.Time{}
}

// TimeRange is the half-open interval [From, To) of instants a time
// condition accepts; a zero bound is open. Times compare to the second, so
// "gt 10:00:00" starts at 10:00:01 and "lte 10:00:00" ends before 10:00:01.
type TimeRange struct{ From, To time.Time }

// Range returns the interval a time condition with eq or a comparison
// accepts.
func (c UserCondition) Range() TimeRange {
	t := c.Times[0].Truncate(time.Second)
	next := t.Add(time.Second)
	switch c.Op {
	case OpGt:
		return TimeRange{From: next}
	case OpGte:
		return TimeRange{From: t}
	case OpLt:
		return TimeRange{To: t}
	case OpLte:
		return TimeRange{To: next}
	}
	return TimeRange{From: t, To: next}
}

// Contains reports whether t, a set time, is in r.
func (r TimeRange) Contains(t time.Time) bool {
	return !t.IsZero() && (r.From.IsZero() || !t.Before(r.From)) && (r.To.IsZero() || t.Before(r.To))
}

// Matches reports whether u meets c. Drivers that cannot express a
// condition in their own query language filter with it, so that every
// driver answers alike.
func (c UserCondition) Matches(u *User) bool {
	switch c.Field.Kind() {
	case KindNumber:
		return matchNumber(c, u.ID)
	case KindTime:
		t := TimeValue(u, c.Field)
		switch c.Op {
		case OpIn, OpNotIn:
			in := slices.ContainsFunc(c.Times, func(v time.Time) bool {
				return (UserCondition{Op: OpEq, Times: []time.Time{v}}).Range().Contains(t)
			})
			return in == (c.Op == OpIn)
		}
		return c.Range().Contains(t)
	case KindText:
		values := TextValues(u, c.Field)
		anyMatch := func(match func(v, operand string) bool) bool {
			for _, v := range values {
				for _, o := range c.Text {
					if match(v, FoldText(o)) {
						return true
					}
				}
			}
			return false
		}
		switch c.Op {
		case OpPrefix:
			return anyMatch(strings.HasPrefix)
		case OpNotIn:
			return !anyMatch(func(v, o string) bool { return v == o })
		}
		return anyMatch(func(v, o string) bool { return v == o })
	}
	return false
}

func matchNumber(c UserCondition, id int64) bool {
	switch c.Op {
	case OpIn:
		return slices.Contains(c.Numbers, id)
	case OpNotIn:
		return !slices.Contains(c.Numbers, id)
	case OpGt:
		return id > c.Numbers[0]
	case OpLt:
		return id < c.Numbers[0]
	case OpGte:
		return id >= c.Numbers[0]
	case OpLte:
		return id <= c.Numbers[0]
	}
	return id == c.Numbers[0]
}

// Matches reports whether u meets every condition of q and its Search.
func (q UserQuery) Matches(u *User) bool {
	for _, c := range q.Where {
		if !c.Matches(u) {
			return false
		}
	}
	if q.Search == "" {
		return true
	}
	s := FoldText(q.Search)
	return strings.Contains(FoldText(u.Login), s) || strings.Contains(FoldText(u.Email), s) ||
		strings.Contains(FoldText(u.FullName), s)
}

// CompareUsers orders users as q.SortBy and q.Descending ask, ties (and
// an empty SortBy) by ID ascending. Users lacking a text or time field
// sort before those that have it.
func (q UserQuery) CompareUsers(a, b *User) int {
	c := 0
	switch q.SortBy.Kind() {
	case KindText:
		c = strings.Compare(sortText(a, q.SortBy), sortText(b, q.SortBy))
	case KindTime:
		c = TimeValue(a, q.SortBy).Compare(TimeValue(b, q.SortBy))
	case KindNumber:
		c = cmpInt(a.ID, b.ID)
	}
	if q.Descending {
		c = -c
	}
	if c == 0 {
		c = cmpInt(a.ID, b.ID)
	}
	return c
}

func sortText(u *User, f UserField) string {
	if v := TextValues(u, f); len(v) > 0 {
		return v[0]
	}
	return ""
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
