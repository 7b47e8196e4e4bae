package authcore

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// foldName is the one form of a login or email: NFKC, case-folded, NFKC
// again (Unicode's NFKC_Casefold, near enough), trimmed. It is what is
// stored and looked up, so "ＡＬＩＣＥ", "ALICE" and "alice" are one user
// in every store, whatever its database's idea of lower().
func foldName(s string) string {
	s = norm.NFKC.String(s)
	s = cases.Fold().String(s) // a Caser is not safe to share between goroutines
	return strings.TrimSpace(norm.NFKC.String(s))
}

// foldedBefore reports whether name may be stored in another form than
// foldName gives: users created before logins and emails were folded keep
// their exact form, which the stores match only up to their own lower().
// For ASCII the two agree, so a second lookup would find nothing new.
func foldedBefore(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// textKind says which characters a user field accepts beyond the printable.
type textKind int

const (
	// textName: identifiers (login, email, phone, ids, URLs). No controls,
	// no bidirectional formatting at all: invisible marks in an identifier
	// only serve to make two look alike.
	textName textKind = iota
	// textProse: human text (full name). Bidirectional marks (LRM, RLM,
	// ALM) stay, since right-to-left names need them to display right;
	// embeddings, overrides and isolates, which reorder what follows them
	// (the "Trojan Source" trick), do not.
	textProse
	// textJSON: custom data, an app's JSON text. As prose, plus tab, CR and
	// LF, the whitespace JSON itself allows between tokens; any other
	// control has to be written as a \u escape, which is plain text.
	textJSON
)

// hasForbiddenRune reports whether v holds a character that user fields
// refuse: C0 and C1 controls and DEL (terminal escapes, CR/LF in headers
// and logs), line and paragraph separators, and the bidirectional
// formatting characters that kind does not allow.
func hasForbiddenRune(v string, kind textKind) bool {
	for _, r := range v {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			if kind != textJSON {
				return true
			}
		case r < 0x20, r >= 0x7f && r <= 0x9f, r == 0x2028, r == 0x2029:
			return true
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return true
		case r == 0x200e || r == 0x200f || r == 0x061c:
			if kind == textName {
				return true
			}
		}
	}
	return false
}

// tooLong measures v as every path does, in characters (runes), so that
// what signs up can always sign in.
func tooLong(v string, maxLen int) bool {
	return utf8.RuneCountInString(v) > maxLen
}
