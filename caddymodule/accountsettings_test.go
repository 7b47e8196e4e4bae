package caddymodule

import (
	"net/http"
	"testing"
)

func TestAccountSettingsAnswerTheConfiguredEndpoints(t *testing.T) {
	ts := newTestServer(t, func(h *Handler) {
		h.AccountSettings = &AccountSettings{APIEndpoint: "https://api.example.com", ChatEndpoint: "chat.example.com"}
	})
	for _, path := range []string{"/account_settings", "/account_settings.json"} {
		res := ts.do("GET", path, "", "CB-Account-Key", "anything")
		if res.status != http.StatusOK || res.body["api_endpoint"] != "https://api.example.com" || res.body["chat_endpoint"] != "chat.example.com" {
			t.Fatalf("GET %s: %d %s", path, res.status, res.raw)
		}
	}
	if n := ts.reachedCount(); n != 0 {
		t.Fatalf("%d requests reached the backend", n)
	}
	expectError(t, newTestServer(t).do("GET", "/account_settings.json", ""), http.StatusNotFound, "not configured")

	bad := &Handler{AccountSettings: &AccountSettings{APIEndpoint: "api.example.com"}}
	if err := bad.AccountSettings.validate(); err == nil {
		t.Errorf("an api_endpoint without a scheme was accepted: %+v", bad.AccountSettings)
	}
}
