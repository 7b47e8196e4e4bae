package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// storm sends wrong-password logins at a fixed rate, whatever the answers'
// latency (an open loop: a closed one would slow down with the server and
// never offer more than its capacity), from many accounts in turn.
type storm struct {
	// Counts by answer: 401 is a hashed wrong password, 503 a login that
	// found no hashing turn within hash_wait, 429 a rate limit.
	sent, unauthorized, busy, throttled, other, failed atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startStorm starts sending rate logins per second to url with authKey for
// the logins prefix0..prefix(accounts-1), and with spin also spins a thread
// in the idle class. Stop it with stop.
func startStorm(url, authKey, prefix string, accounts int, rate float64, spin bool) *storm {
	ctx, cancel := context.WithCancel(context.Background())
	s := &storm{cancel: cancel}
	if spin {
		s.wg.Go(func() { spinIdle(ctx) })
	}
	if rate <= 0 {
		return s
	}
	client := &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        0,
			MaxIdleConnsPerHost: 100_000,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	interval := time.Duration(float64(time.Second) / rate)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		start := time.Now()
		for i := 0; ; i++ {
			next := start.Add(time.Duration(i) * interval)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(next)):
			}
			body := fmt.Sprintf(`{"application_id":1,"auth_key":%q,"user":{"login":"%s%d","password":"wrong password %d"}}`,
				authKey, prefix, i%accounts, i)
			s.sent.Add(1)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.send(client, url, body)
			}()
		}
	}()
	return s
}

func (s *storm) send(client *http.Client, url, body string) {
	res, err := client.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		s.failed.Add(1)
		return
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	switch res.StatusCode {
	case http.StatusUnauthorized:
		s.unauthorized.Add(1)
	case http.StatusServiceUnavailable:
		s.busy.Add(1)
	case http.StatusTooManyRequests:
		s.throttled.Add(1)
	default:
		s.other.Add(1)
	}
}

// stop stops sending and waits for the answers still awaited.
func (s *storm) stop() {
	s.cancel()
	s.wg.Wait()
}

// spinIdle burns CPU on a thread of its own in the kernel's idle scheduling
// class, as a hash worker does, until ctx ends: beside B1 it shows what
// sharing the machine with any background computation costs, which is the
// floor under what a login storm can cost once its hashing is kept there.
func spinIdle(ctx context.Context) {
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		log.Printf("spin: cannot enter the idle class: %v", err)
		return
	}
	for x := uint64(1); ctx.Err() == nil; {
		for range 1 << 20 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		spinSink.Store(x)
	}
}

var spinSink atomic.Uint64
