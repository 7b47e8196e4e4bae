package caddymodule

import (
	"reflect"
	"testing"
	"time"

	"github.com/cubeauth/cubeauth/authcore"
)

func TestEveryAbuseLimitOfAuthcoreCanBeConfigured(t *testing.T) {
	var l authcore.Limits
	configurable := map[any]bool{}
	for _, f := range (&LimitsConfig{}).fields(&l) {
		configurable[f.rate] = true
	}
	v := reflect.ValueOf(&l).Elem()
	for i := range v.NumField() {
		if v.Field(i).Type() == reflect.TypeFor[authcore.Rate]() && !configurable[v.Field(i).Addr().Interface()] {
			t.Errorf("authcore.Limits.%s has no LimitsConfig field", v.Type().Field(i).Name)
		}
	}
}

func TestLimitsConfigOverridesOnlyWhatItSets(t *testing.T) {
	got, err := (&LimitsConfig{LoginsPerIP: "5/1m", FailuresPerIP: "off", IPv6Prefix: 48}).limits()
	if err != nil {
		t.Fatal(err)
	}
	want := authcore.DefaultLimits
	want.LoginsPerIP = authcore.Rate{Count: 5, Per: time.Minute}
	want.FailuresPerIP = authcore.Rate{}
	want.IPv6Prefix = 48
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for _, bad := range []*LimitsConfig{{SignupsPerIP: "many"}, {IPv6Prefix: 129}} {
		if _, err := bad.limits(); err == nil {
			t.Errorf("%+v was accepted", *bad)
		}
	}
}
