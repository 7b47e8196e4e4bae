package badger

import (
	"testing"
	"time"
)

func TestGarbageCollectionStopsOnClose(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), GCInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // several GC rounds
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: the GC goroutine did not stop")
	}
	select {
	case <-s.gcDone:
	default:
		t.Fatal("the GC goroutine is still running after Close")
	}
}
