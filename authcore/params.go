package authcore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Params are request parameters flattened the way ConnectyCube signs them:
// top-level scalars under their own name, members of a one-level object
// under "name[member]". Values are the raw text the client sent (numbers
// exactly as written), which the legacy signature depends on.
type Params map[string]string

// Limits on parameter input, so that a hostile body costs little.
const (
	maxParams     = 64
	maxParamKey   = 64
	maxParamValue = 64 << 10
	// maxListItems bounds one list parameter (tag_list); a user has a
	// handful of tags.
	maxListItems = 100
)

// listParams are the members that take a list: the SDK typings send
// tag_list as a JSON array of strings, the docs as a comma-separated
// string. Either arrives here as the comma-joined string, the one form
// the domain knows.
var listParams = map[string]bool{"tag_list": true, "user_tags": true}

// isListParam says whether the flattened key ("tag_list",
// "user[tag_list]") names a list member.
func isListParam(key string) bool {
	name := key
	if i := strings.LastIndexByte(key, '['); i >= 0 {
		name = strings.TrimSuffix(key[i+1:], "]")
	}
	return listParams[name]
}

// notAList refuses an array where a scalar belongs: a validation error
// (422, in ConnectyCube's field shape) that is also ErrBadParams.
func notAList(key string) error {
	return fmt.Errorf("%w: %w", ErrBadParams, &ValidationError{Fields: map[string][]string{key: {"must be a single value, not a list"}}})
}

// ErrBadParams is wrapped by every parameter parsing error.
var ErrBadParams = errors.New("malformed parameters")

func badParams(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadParams, fmt.Sprintf(format, args...))
}

// ParseJSONParams flattens a JSON object body. Nested objects deeper than
// one level, duplicated keys and invalid UTF-8 are refused; arrays only for
// list members (tag_list), where an array of strings or numbers becomes the
// comma-joined string.
func ParseJSONParams(body []byte) (Params, error) {
	if !utf8.Valid(body) {
		return nil, badParams("body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	p := Params{}
	if err := readObject(dec, "", p); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badParams("unexpected data after the JSON object")
	}
	return p, nil
}

// readObject reads one JSON object whose opening brace is next in dec.
// prefix is "" at the top level and the parent's key one level down.
func readObject(dec *json.Decoder, prefix string, p Params) error {
	tok, err := dec.Token()
	if err != nil {
		return badParams("invalid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return badParams("body must be a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badParams("invalid JSON")
		}
		key := tok.(string) // object keys are always strings
		if prefix != "" {
			key = prefix + "[" + key + "]"
		}
		if err := readValue(dec, key, prefix == "", p); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return badParams("invalid JSON")
	}
	return nil
}

func readValue(dec *json.Decoder, key string, nestable bool, p Params) error {
	if strings.ContainsAny(key, "&=") || len(key) > maxParamKey {
		return badParams("invalid parameter name")
	}
	if _, dup := p[key]; dup {
		return badParams("parameter %s given twice", key)
	}
	tok, err := dec.Token()
	if err != nil {
		return badParams("invalid JSON")
	}
	var value string
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' && nestable {
			return readMembers(dec, key, p)
		}
		if v == '[' {
			return readList(dec, key, p)
		}
		return badParams("parameter %s has an unsupported type", key)
	case string:
		value = v
	case json.Number:
		value = v.String()
	case bool:
		value = fmt.Sprint(v)
	case nil:
		value = ""
	}
	return setParam(p, key, value)
}

// readMembers reads the members of an object whose opening brace was read.
func readMembers(dec *json.Decoder, prefix string, p Params) error {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badParams("invalid JSON")
		}
		if err := readValue(dec, prefix+"["+tok.(string)+"]", false, p); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return badParams("invalid JSON")
	}
	return nil
}

// readList reads the items of an array whose opening bracket was read: only
// for list members, only strings and numbers, at most maxListItems, none
// empty or holding the comma that separates them.
func readList(dec *json.Decoder, key string, p Params) error {
	if !isListParam(key) {
		return notAList(key)
	}
	var items []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badParams("invalid JSON")
		}
		var item string
		switch v := tok.(type) {
		case string:
			item = v
		case json.Number:
			item = v.String()
		default:
			return badParams("parameter %s must be a list of strings", key)
		}
		if err := appendListItem(&items, key, item); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return badParams("invalid JSON")
	}
	return setParam(p, key, strings.Join(items, ","))
}

// appendListItem adds one item of list parameter key, within the bounds
// both body formats share.
func appendListItem(items *[]string, key, item string) error {
	if len(*items) >= maxListItems {
		return badParams("parameter %s has more than %d items", key, maxListItems)
	}
	if strings.TrimSpace(item) == "" || strings.Contains(item, ",") {
		return fmt.Errorf("%w: %w", ErrBadParams, &ValidationError{Fields: map[string][]string{key: {"items must be non-empty and hold no comma"}}})
	}
	*items = append(*items, item)
	return nil
}

func setParam(p Params, key, value string) error {
	if len(p) >= maxParams {
		return badParams("too many parameters")
	}
	if len(value) > maxParamValue {
		return badParams("parameter %s is too long", key)
	}
	if !utf8.ValidString(value) {
		return badParams("parameter %s is not valid UTF-8", key)
	}
	p[key] = value
	return nil
}

// ParseFormParams reads an application/x-www-form-urlencoded body or query
// string, where nested keys already arrive flattened ("user[login]"). A list
// member may come as repeated "user[tag_list][]" keys, the form spelling of
// a JSON array.
func ParseFormParams(encoded string) (Params, error) {
	values, err := url.ParseQuery(encoded)
	if err != nil {
		return nil, badParams("invalid form encoding")
	}
	p := Params{}
	for key, vs := range values {
		if base, ok := strings.CutSuffix(key, "[]"); ok && isListParam(base) && strings.Count(base, "[") <= 1 {
			if err := setFormList(p, values, base, vs); err != nil {
				return nil, err
			}
			continue
		} else if ok {
			return nil, notAList(base)
		}
		if len(vs) > 1 {
			return nil, badParams("parameter %s given twice", key)
		}
		if len(key) > maxParamKey || strings.Count(key, "[") > 1 {
			return nil, badParams("invalid parameter name")
		}
		if err := setParam(p, key, vs[0]); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// setFormList sets list parameter base from the values of its "base[]"
// keys; the same list given both ways is given twice.
func setFormList(p Params, values url.Values, base string, vs []string) error {
	if values.Has(base) {
		return badParams("parameter %s given twice", base)
	}
	if len(base)+2 > maxParamKey {
		return badParams("invalid parameter name")
	}
	var items []string
	for _, v := range vs {
		if err := appendListItem(&items, base, v); err != nil {
			return err
		}
	}
	return setParam(p, base, strings.Join(items, ","))
}

// Sub returns the members of the one-level object name, keyed by member
// name: Sub("user") of {"user[login]": "a"} is {"login": "a"}.
func (p Params) Sub(name string) map[string]string {
	prefix := name + "["
	var sub map[string]string
	for k, v := range p {
		if rest, ok := strings.CutPrefix(k, prefix); ok && strings.HasSuffix(rest, "]") {
			if sub == nil {
				sub = map[string]string{}
			}
			sub[strings.TrimSuffix(rest, "]")] = v
		}
	}
	return sub
}
