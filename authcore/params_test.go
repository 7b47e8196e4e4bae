package authcore

import (
	"errors"
	"strings"
	"testing"
)

func TestParseJSONParams(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Params
		wantErr bool
	}{
		{name: "numbers keep their text", body: `{"application_id":1,"timestamp":1795618783,"x":1.50}`,
			want: Params{"application_id": "1", "timestamp": "1795618783", "x": "1.50"}},
		{name: "string application id", body: `{"application_id":"7266"}`, want: Params{"application_id": "7266"}},
		{name: "nested user is flattened", body: `{"user":{"login":"a","password":"b"}}`,
			want: Params{"user[login]": "a", "user[password]": "b"}},
		{name: "booleans and null", body: `{"a":true,"b":null}`, want: Params{"a": "true", "b": ""}},
		{name: "empty object", body: `{}`, want: Params{}},
		{name: "duplicate key", body: `{"a":1,"a":2}`, wantErr: true},
		{name: "duplicate nested key", body: `{"user":{"login":"a","login":"b"}}`, wantErr: true},
		{name: "array", body: `{"a":[1,2]}`, wantErr: true},
		{name: "tag list as an array is comma-joined", body: `{"user":{"login":"a","tag_list":["iphone","apple",7]}}`,
			want: Params{"user[login]": "a", "user[tag_list]": "iphone,apple,7"}},
		{name: "tag list as a string is kept", body: `{"user":{"tag_list":"iphone,apple"}}`,
			want: Params{"user[tag_list]": "iphone,apple"}},
		{name: "empty tag list", body: `{"user":{"tag_list":[]}}`, want: Params{"user[tag_list]": ""}},
		{name: "array in a scalar member", body: `{"user":{"login":["a","b"]}}`, wantErr: true},
		{name: "tag list of objects", body: `{"user":{"tag_list":[{"a":1}]}}`, wantErr: true},
		{name: "tag list of lists", body: `{"user":{"tag_list":[["a"]]}}`, wantErr: true},
		{name: "tag list with a null", body: `{"user":{"tag_list":[null]}}`, wantErr: true},
		{name: "tag item with a comma", body: `{"user":{"tag_list":["a,b"]}}`, wantErr: true},
		{name: "empty tag item", body: `{"user":{"tag_list":["a",""]}}`, wantErr: true},
		{name: "too many tags", body: `{"user":{"tag_list":[` + strings.TrimSuffix(strings.Repeat(`"t",`, maxListItems+1), ",") + `]}}`, wantErr: true},
		{name: "two levels deep", body: `{"user":{"x":{"y":1}}}`, wantErr: true},
		{name: "not an object", body: `[1]`, wantErr: true},
		{name: "trailing garbage", body: `{"a":1} {"b":2}`, wantErr: true},
		{name: "truncated", body: `{"a":`, wantErr: true},
		{name: "invalid utf-8", body: "{\"a\":\"\xff\"}", wantErr: true},
		{name: "key with ampersand", body: `{"a&b":1}`, wantErr: true},
		{name: "too many parameters", body: "{" + manyKeys(100) + "}", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJSONParams([]byte(tt.body))
			if tt.wantErr {
				if err == nil || !errors.Is(err, ErrBadParams) {
					t.Fatalf("err = %v, want ErrBadParams", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strings.Repeat("x", i%10) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":1`)
	}
	return b.String()
}

func TestParseFormParamsRefusesRepeatedKeys(t *testing.T) {
	if _, err := ParseFormParams("a=1&a=2"); !errors.Is(err, ErrBadParams) {
		t.Fatalf("err = %v, want ErrBadParams", err)
	}
	p, err := ParseFormParams("user%5Blogin%5D=a%20b&application_id=3")
	if err != nil {
		t.Fatal(err)
	}
	if p["user[login]"] != "a b" || p["application_id"] != "3" {
		t.Fatalf("got %v", p)
	}
	if sub := p.Sub("user"); sub["login"] != "a b" || len(sub) != 1 {
		t.Fatalf("Sub(user) = %v", sub)
	}
}

func TestAnArrayOutsideAListMemberIsAFieldValidationError(t *testing.T) {
	for _, parse := range []func() (Params, error){
		func() (Params, error) { return ParseJSONParams([]byte(`{"user":{"login":["a","b"]}}`)) },
		func() (Params, error) { return ParseFormParams("user[login][]=a&user[login][]=b") },
	} {
		_, err := parse()
		var verr *ValidationError
		if !errors.Is(err, ErrBadParams) || !errors.As(err, &verr) || verr.Fields["user[login]"] == nil {
			t.Fatalf("err = %v, want a ValidationError on user[login] that is ErrBadParams", err)
		}
	}
}

func TestParseFormParamsJoinsARepeatedTagList(t *testing.T) {
	p, err := ParseFormParams("user[login]=a&user[tag_list][]=iphone&user[tag_list][]=apple")
	if err != nil {
		t.Fatal(err)
	}
	if got := p["user[tag_list]"]; got != "iphone,apple" {
		t.Fatalf("user[tag_list] = %q, want iphone,apple", got)
	}
	for _, bad := range []string{
		"user[tag_list][]=a&user[tag_list]=b", // the same list twice
		"user[tag_list][]=a,b",                // an item holding the separator
		"user[tag_list][]=",                   // an empty item
		"user[x][tag_list][]=a",               // two levels deep
	} {
		if _, err := ParseFormParams(bad); !errors.Is(err, ErrBadParams) {
			t.Errorf("%s: err = %v, want ErrBadParams", bad, err)
		}
	}
}
