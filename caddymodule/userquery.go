package caddymodule

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cubeauth/cubeauth/authcore"
	"github.com/cubeauth/cubeauth/store"
)

// This file reads the users API's queries (docs/wire-format.md §5) into
// authcore.UserSearch: users/v2's field[op] parameters, the v1 list's
// filter[] and order, and the older by_* lookups. What they mean is
// authcore's and the store's.

// queryField is a field as the wire names it; external_user_id is
// external_id, and the v1 list says tags.
func queryField(name string) (store.UserField, bool) {
	switch name {
	case "external_user_id":
		return store.FieldExternalID, true
	case "tags":
		return store.FieldTags, true
	}
	f := store.UserField(name)
	return f, f.Kind() != 0
}

// v2Operators are users/v2's operators by their wire names.
var v2Operators = map[string]store.Operator{
	"": store.OpEq, "eq": store.OpEq, "in": store.OpIn, "nin": store.OpNotIn, "start_with": store.OpPrefix,
	"gt": store.OpGt, "lt": store.OpLt, "gte": store.OpGte, "lte": store.OpLte,
}

// condition makes a condition on f from operands as sent.
func condition(f store.UserField, op store.Operator, key string, raw []string) (store.UserCondition, error) {
	c := store.UserCondition{Field: f, Op: op}
	for _, v := range raw {
		v = strings.TrimSpace(v)
		switch f.Kind() {
		case store.KindNumber:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return c, &authcore.ValidationError{Fields: map[string][]string{key: {"must be an integer"}}}
			}
			c.Numbers = append(c.Numbers, n)
		case store.KindTime:
			t, ok := parseQueryTime(v)
			if !ok {
				return c, &authcore.ValidationError{Fields: map[string][]string{key: {
					"must be a date: 2018-12-06T09:21:41Z, 2018-12-06, or Unix seconds"}}}
			}
			c.Times = append(c.Times, t)
		default:
			c.Text = append(c.Text, v)
		}
	}
	return c, nil
}

// parseQueryTime reads the dates the docs show: ISO-8601, a day (yyyy-mm-dd
// or yyyy.mm.dd, v1), or a Unix timestamp.
func parseQueryTime(v string) (time.Time, bool) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02", "2006.01.02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// splitValues returns the values of a parameter, each comma-separated
// list split, refusing more than authcore.MaxLookupValues before splitting
// on (the domain bounds the total too).
func splitValues(vals []string) ([]string, error) {
	var items []string
	for _, val := range vals {
		if len(items)+strings.Count(val, ",")+1 > authcore.MaxLookupValues {
			return nil, &authcore.ValidationError{Fields: map[string][]string{"base": {"a request may name at most 100 users"}}}
		}
		items = append(items, strings.Split(val, ",")...)
	}
	return items, nil
}

// parseV2 reads GET /users/v2: field=v and field[op]=v (field[in][]=v
// repeated, or comma-separated), sort_asc/sort_desc, limit and offset.
func parseV2(v url.Values) (authcore.UserSearch, error) {
	q := authcore.UserSearch{V2: true, Limit: authcore.MaxLookupValues}
	for key, vals := range v {
		name, op, _ := strings.Cut(key, "[")
		op = strings.TrimSuffix(strings.TrimSuffix(op, "[]"), "]")
		switch name {
		case "limit", "per_page":
			n, err := strconv.Atoi(v.Get(key))
			if err != nil || n < 1 {
				return q, invalidQuery(key)
			}
			q.Limit = min(n, authcore.MaxLookupValues)
			continue
		case "offset", "skip":
			n, err := strconv.Atoi(v.Get(key))
			if err != nil || n < 0 {
				return q, invalidQuery(key)
			}
			q.Offset = n
			continue
		case "sort_asc", "sort_desc":
			f, ok := queryField(v.Get(key))
			if !ok || f == store.FieldTags {
				return q, &authcore.ValidationError{Fields: map[string][]string{key: {"is not a field users can be sorted by"}}}
			}
			q.SortBy, q.Descending = f, name == "sort_desc"
			continue
		}
		f, ok := queryField(name)
		operator, known := v2Operators[op]
		if !ok || !known {
			return q, invalidQuery(key)
		}
		items := vals
		if operator == store.OpIn || operator == store.OpNotIn {
			var err error
			if items, err = splitValues(vals); err != nil {
				return q, err
			}
		} else if len(vals) != 1 {
			return q, &authcore.ValidationError{Fields: map[string][]string{key: {"takes one value"}}}
		}
		c, err := condition(f, operator, key, items)
		if err != nil {
			return q, err
		}
		q.Where = append(q.Where, c)
	}
	return q, nil
}

// v1Operators are the v1 list's filter operators; ne and between become
// nin and a pair of comparisons.
var v1Operators = map[string]store.Operator{
	"eq": store.OpEq, "in": store.OpIn, "ne": store.OpNotIn, "gt": store.OpGt, "lt": store.OpLt,
	"ge": store.OpGte, "le": store.OpLte,
}

// parseV1 reads the v1 list (GET /users, by_full_name, by_tags): filter[]
// as "type field operator value" (the docs' + separated), order as
// "asc|desc type field", page and per_page (default 10).
func parseV1(v url.Values) (q authcore.UserSearch, page int, err error) {
	q, page = authcore.UserSearch{Limit: 10}, 1
	for key, vals := range v {
		switch key {
		case "page", "per_page":
			n, err := strconv.Atoi(v.Get(key))
			if err != nil || n < 1 {
				return q, 0, invalidQuery(key)
			}
			if key == "page" {
				page = n
			} else {
				q.Limit = min(n, authcore.MaxLookupValues)
			}
		case "order":
			parts := strings.Fields(v.Get(key))
			f, ok := store.UserField(""), false
			if len(parts) == 3 && (parts[0] == "asc" || parts[0] == "desc") {
				f, ok = queryField(parts[2])
			}
			if !ok || f == store.FieldTags {
				return q, 0, &authcore.ValidationError{Fields: map[string][]string{key: {
					"must be asc|desc, a type and a field users can be sorted by, e.g. asc string login"}}}
			}
			q.SortBy, q.Descending = f, parts[0] == "desc"
		case "filter", "filter[]":
			for _, raw := range vals {
				cs, err := v1Filter(raw)
				if err != nil {
					return q, 0, err
				}
				q.Where = append(q.Where, cs...)
			}
		default:
			if !strings.HasPrefix(key, "filter[") {
				return q, 0, invalidQuery(key)
			}
			for _, raw := range vals { // filter[gt]=number+id+gt+5, as the docs' table writes it
				cs, err := v1Filter(raw)
				if err != nil {
					return q, 0, err
				}
				q.Where = append(q.Where, cs...)
			}
		}
	}
	q.Offset = (page - 1) * q.Limit
	return q, page, nil
}

// v1Filter reads one "type field operator value" filter.
func v1Filter(raw string) ([]store.UserCondition, error) {
	bad := &authcore.ValidationError{Fields: map[string][]string{"filter": {
		"must be a type, a field, an operator and a value, e.g. number id gt 51496"}}}
	parts := strings.SplitN(strings.TrimSpace(raw), " ", 4)
	if len(parts) != 4 {
		return nil, bad
	}
	f, ok := queryField(parts[1])
	if !ok {
		return nil, &authcore.ValidationError{Fields: map[string][]string{"filter": {parts[1] + " is not a field users can be filtered by"}}}
	}
	value := parts[3]
	if parts[2] == "between" {
		lo, hi, ok := strings.Cut(value, ",")
		if !ok {
			return nil, bad
		}
		from, err := condition(f, store.OpGte, "filter", []string{lo})
		if err != nil {
			return nil, err
		}
		to, err := condition(f, store.OpLte, "filter", []string{hi})
		return []store.UserCondition{from, to}, err
	}
	op, ok := v1Operators[parts[2]]
	if !ok {
		return nil, bad
	}
	items := []string{value}
	if op == store.OpIn {
		var err error
		if items, err = splitValues([]string{value}); err != nil {
			return nil, err
		}
	}
	c, err := condition(f, op, "filter", items)
	return []store.UserCondition{c}, err
}

// lookupParams are the older lookups answered with one user, and the
// parameter each reads.
var lookupParams = map[string]struct {
	param string
	field store.UserField
}{
	"by_login":       {"login", store.FieldLogin},
	"by_email":       {"email", store.FieldEmail},
	"by_facebook_id": {"facebook_id", store.FieldFacebookID},
	"by_twitter_id":  {"twitter_id", store.FieldTwitterID},
	"phone":          {"phone", store.FieldPhone},
}

// listLookups are the older lookups answered with a v1 list.
var listLookups = map[string]struct {
	param string
	field store.UserField
}{
	"by_full_name": {"full_name", store.FieldFullName},
	"by_tags":      {"tags", store.FieldTags},
}

// lookupUser answers by_login, by_email, by_facebook_id, by_twitter_id,
// phone and GET /users/external/{id}: {"user": ...}, or 404.
func (h *Handler) lookupUser(w http.ResponseWriter, r *http.Request, f store.UserField, value string) error {
	id, err := h.authenticated(w, r)
	if err != nil {
		return err
	}
	if strings.TrimSpace(value) == "" {
		return &authcore.ValidationError{Fields: map[string][]string{string(f): {"cannot be blank"}}}
	}
	q := authcore.UserSearch{Where: []store.UserCondition{store.WhereText(f, store.OpEq, value)}, ClientIP: clientIP(r)}
	u, err := h.service.FindUser(r.Context(), id, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": renderUser(u)})
	return nil
}

// listUsersV2 answers users/v2: {limit, skip, total_entries, items}.
func (h *Handler) listUsersV2(w http.ResponseWriter, r *http.Request) error {
	id, err := h.authenticated(w, r)
	if err != nil {
		return err
	}
	v, err := readQuery(r)
	if err != nil {
		return err
	}
	q, err := parseV2(v)
	if err != nil {
		return err
	}
	q.ClientIP = clientIP(r)
	page, err := h.service.FindUsers(r.Context(), id, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"limit": page.Limit, "skip": q.Offset, "total_entries": page.Total, "items": renderAll(page.Users, renderUser),
	})
	return nil
}

// listUsersV1 answers the v1 list, GET /users, and by_full_name and
// by_tags (by, when set, names the one the request is): {current_page,
// per_page, total_entries, items: [{user}]}.
func (h *Handler) listUsersV1(w http.ResponseWriter, r *http.Request, by string) error {
	id, err := h.authenticated(w, r)
	if err != nil {
		return err
	}
	v, err := readQuery(r)
	if err != nil {
		return err
	}
	var extra store.UserCondition
	if lookup, ok := listLookups[by]; ok {
		value := strings.TrimSpace(v.Get(lookup.param))
		if value == "" {
			return &authcore.ValidationError{Fields: map[string][]string{lookup.param: {"cannot be blank"}}}
		}
		items, op := []string{value}, store.OpEq
		if lookup.field == store.FieldTags {
			if items, err = splitValues(items); err != nil {
				return err
			}
			op = store.OpIn
		}
		if extra, err = condition(lookup.field, op, lookup.param, items); err != nil {
			return err
		}
		v.Del(lookup.param)
	}
	q, page, err := parseV1(v)
	if err != nil {
		return err
	}
	if extra.Field != "" {
		q.Where = append(q.Where, extra)
	}
	q.ClientIP = clientIP(r)
	res, err := h.service.FindUsers(r.Context(), id, q)
	if err != nil {
		return err
	}
	items := make([]map[string]any, len(res.Users))
	for i, u := range res.Users {
		items[i] = map[string]any{"user": renderUser(u)}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"current_page": page, "per_page": res.Limit, "total_entries": res.Total, "items": items,
	})
	return nil
}

func invalidQuery(key string) error {
	return &authcore.ValidationError{Fields: map[string][]string{key: {"is not a supported filter"}}}
}
