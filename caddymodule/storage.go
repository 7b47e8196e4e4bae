package caddymodule

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/cubeauth/cubeauth/store"
)

// Storage is a cubeauth.storage module: a driver that says where apps,
// users and sessions are kept, owns its Caddyfile block and defaults, and
// opens the store when the config starts. Provisioning a driver must not
// touch the store: caddy validate provisions every module.
type Storage interface {
	caddy.Module
	// StoreID identifies the store: handlers whose drivers give the same
	// ID share one open store. It may hold secrets and is never shown.
	StoreID() string
	// StoreName names the store for operators, without secrets.
	StoreName() string
	// OpenStore opens the store. It runs once per store ID, when the
	// first config that uses it starts.
	OpenStore(logger *zap.Logger) (store.Store, error)
	// OfflineGrace is how long cached sessions keep working while the
	// store is unreachable; zero takes authcore's default.
	OfflineGrace() time.Duration
}

// storageOptions are the options every driver takes.
type storageOptions struct {
	// OfflineGrace is how long sessions already in a node's cache keep
	// working while the store is unreachable; after it they are answered
	// 503 until the store is back. Default: 5m.
	OfflineGraceDuration caddy.Duration `json:"offline_grace,omitempty"`
}

// OfflineGrace returns the configured grace.
func (o storageOptions) OfflineGrace() time.Duration { return time.Duration(o.OfflineGraceDuration) }
