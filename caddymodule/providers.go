package caddymodule

import (
	"fmt"

	"github.com/cubeauth/cubeauth/authcore"
)

// FirebaseAppConfig is an app's Firebase phone and email sign-in
// (provider=firebase_phone|firebase_email on POST /session).
type FirebaseAppConfig struct {
	// ProjectIDs are the Firebase projects whose ID tokens the app accepts.
	// Required.
	ProjectIDs []string `json:"project_ids"`
	// KeysURL is where the signing keys are published: an x509 certificate
	// map (kid -> PEM) or a JWKS. Default: Google's securetoken
	// certificates (DefaultFirebaseKeysURL).
	KeysURL string `json:"keys_url,omitempty"`
}

// provisionProviders builds the declared apps' providers. Apps that share
// a keys URL share its cache. Nothing is fetched until a token arrives.
func (h *Handler) provisionProviders() error {
	h.providers = map[int64]authcore.AppProviders{}
	keySets := map[string]*signingKeys{}
	for _, ac := range h.Apps {
		var p authcore.AppProviders
		if f := ac.Firebase; f != nil {
			if len(f.ProjectIDs) == 0 {
				return fmt.Errorf("app %d: firebase needs project_ids", ac.ID)
			}
			url := f.KeysURL
			if url == "" {
				url = DefaultFirebaseKeysURL
			}
			if keySets[url] == nil {
				keySets[url] = newSigningKeys(url)
			}
			p.Firebase = &authcore.FirebaseConfig{ProjectIDs: f.ProjectIDs, Keys: keySets[url]}
		}
		if c := ac.IdentityProvider; c != nil {
			if err := c.validate(); err != nil {
				return fmt.Errorf("app %d: %w", ac.ID, err)
			}
			p.IdentityProvider = newIdentityProvider(*c)
		}
		if p.Firebase != nil || p.IdentityProvider != nil {
			h.providers[ac.ID] = p
		}
	}
	return nil
}

// providersOf is the authcore.ProviderLookup of the handler's apps.
func (h *Handler) providersOf(appID int64) authcore.AppProviders { return h.providers[appID] }
