package authcore

import (
	"maps"
	"slices"
	"strings"

	"github.com/cubeauth/cubeauth/store"
)

// Which user fields a session sees. A user sees all of its own record;
// other sessions see a user's public fields only. Contact details and
// linked accounts are private by default: the auth key is public, so what
// an app session can read, anyone can. Profile fields that apps show to
// other users are public by default. An app's UserFields overrides either.

// User fields whose visibility an app can set, by their wire names.
const (
	UserFieldEmail      = "email"
	UserFieldPhone      = "phone"
	UserFieldExternalID = "external_id"
	UserFieldFacebookID = "facebook_id"
	UserFieldTwitterID  = "twitter_id"
	UserFieldFullName   = "full_name"
	UserFieldWebsite    = "website"
	UserFieldCustomData = "custom_data"
	UserFieldAvatar     = "avatar"
	UserFieldTags       = "user_tags"
	UserFieldTimezone   = "timezone"
)

// privateByDefault is each settable field's default visibility.
var privateByDefault = map[string]bool{
	UserFieldEmail: true, UserFieldPhone: true, UserFieldExternalID: true,
	UserFieldFacebookID: true, UserFieldTwitterID: true,
	UserFieldFullName: false, UserFieldWebsite: false, UserFieldCustomData: false,
	UserFieldAvatar: false, UserFieldTags: false, UserFieldTimezone: false,
}

// UserFieldNames lists the fields whose visibility an app can set.
func UserFieldNames() []string { return slices.Sorted(maps.Keys(privateByDefault)) }

// IsPrivateUserField reports whether other sessions of app may not see
// field (a name from UserFieldNames).
func IsPrivateUserField(a store.App, field string) bool {
	switch a.UserFields[field] {
	case store.VisibilityPublic:
		return false
	case store.VisibilityPrivate:
		return true
	}
	return privateByDefault[field]
}

func checkUserFields(fields map[string]string, verr *ValidationError) {
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		if _, known := privateByDefault[f]; !known {
			verr.add(FieldUserFields, "has an unknown field "+quoteField(f)+"; known fields: "+strings.Join(UserFieldNames(), ", "))
		} else if v := fields[f]; v != store.VisibilityPublic && v != store.VisibilityPrivate {
			verr.add(FieldUserFields, quoteField(f)+" must be public or private")
		}
	}
}

// quoteField shows an operator's field name without letting it spoil the
// message: unknown names are cut short.
func quoteField(f string) string {
	if len(f) > 40 {
		f = f[:40] + "…"
	}
	return `"` + f + `"`
}

// visibleTo returns u as caller may see it: whole when it is the caller's
// own user, otherwise with the app's private fields emptied.
func visibleTo(caller Identity, a store.App, u store.User) store.User {
	if caller.UserID != 0 && caller.UserID == u.ID {
		return u
	}
	hide := func(field string, v *string) {
		if IsPrivateUserField(a, field) {
			*v = ""
		}
	}
	hide(UserFieldEmail, &u.Email)
	hide(UserFieldPhone, &u.Phone)
	hide(UserFieldExternalID, &u.ExternalID)
	hide(UserFieldFacebookID, &u.FacebookID)
	hide(UserFieldTwitterID, &u.TwitterID)
	hide(UserFieldFullName, &u.FullName)
	hide(UserFieldWebsite, &u.Website)
	hide(UserFieldCustomData, &u.CustomData)
	hide(UserFieldAvatar, &u.Avatar)
	hide(UserFieldTags, &u.Tags)
	if IsPrivateUserField(a, UserFieldTimezone) {
		u.Timezone = nil
	}
	u.PasswordHash = ""
	return u
}
