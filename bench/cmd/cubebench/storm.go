package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
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
// the logins prefix0..prefix(accounts-1). Stop it with stop.
func startStorm(url, authKey, prefix string, accounts int, rate float64) *storm {
	ctx, cancel := context.WithCancel(context.Background())
	s := &storm{cancel: cancel}
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
