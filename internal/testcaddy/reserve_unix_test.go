//go:build unix

package testcaddy

import "testing"

func TestFreePortReservesItsPortsAgainstOtherProcesses(t *testing.T) {
	port := FreePort(t)
	// Another open file description of the lock conflicts as another
	// process's would.
	if reservePort(port) {
		t.Fatalf("port %d could be reserved again while this process holds it", port)
	}
}
