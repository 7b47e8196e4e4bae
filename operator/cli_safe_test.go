package operator

import (
	"bytes"
	"strings"
	"testing"
)

func TestTheCLIEscapesControlAndBidiCharactersItPrints(t *testing.T) {
	var out bytes.Buffer
	tw := newCLITable(&out, "ID", "LOGIN", "FULL NAME")
	tw.row(1, "eve\x1b]0;owned\x07", "Eve \u202egnp.exe")
	tw.row(2, "zoë", "Zoë Ünal")
	tw.flush()
	printCLIWarnings(&out, appView{Warnings: []string{"app \x1b[2Jname\r\n"}})
	got := out.String()
	for _, raw := range []string{"\x1b", "\x07", "\u202e", "\r"} {
		if strings.Contains(got, raw) {
			t.Fatalf("the output holds %q raw:\n%s", raw, got)
		}
	}
	for _, want := range []string{`"eve\x1b]0;owned\a"`, `"Eve \u202egnp.exe"`, "zoë", "Zoë Ünal", `"app \x1b[2Jname\r\n"`} {
		if !strings.Contains(got, want) {
			t.Fatalf("the output lacks %s:\n%s", want, got)
		}
	}
}
