-- cubeauth's tables. Every name carries the cubeauth_ prefix so that the
-- tables can share a schema with an application's own.

CREATE TABLE cubeauth_apps (
	id                           bigint PRIMARY KEY CHECK (id > 0),
	name                         text NOT NULL DEFAULT '',
	auth_key                     text NOT NULL,
	previous_auth_key            text NOT NULL DEFAULT '',
	previous_auth_key_expires_at timestamptz,
	auth_secret                  text NOT NULL DEFAULT '',
	stage                        text NOT NULL,
	session_without_user         text NOT NULL DEFAULT '',
	require_signature            boolean NOT NULL DEFAULT false,
	pinned                       text[] NOT NULL DEFAULT '{}',
	created_at                   timestamptz NOT NULL,
	updated_at                   timestamptz NOT NULL
);

CREATE TABLE cubeauth_users (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	app_id          bigint NOT NULL REFERENCES cubeauth_apps (id) ON DELETE CASCADE,
	-- '' means "none": only non-empty logins and emails are unique.
	login           text NOT NULL DEFAULT '',
	email           text NOT NULL DEFAULT '',
	full_name       text NOT NULL DEFAULT '',
	phone           text NOT NULL DEFAULT '',
	website         text NOT NULL DEFAULT '',
	custom_data     text NOT NULL DEFAULT '',
	tags            text NOT NULL DEFAULT '',
	external_id     text NOT NULL DEFAULT '',
	facebook_id     text NOT NULL DEFAULT '',
	twitter_id      text NOT NULL DEFAULT '',
	avatar          text NOT NULL DEFAULT '',
	timezone        integer,
	password_hash   text NOT NULL DEFAULT '',
	is_guest        boolean NOT NULL DEFAULT false,
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL,
	last_request_at timestamptz,
	-- NULL: never expires. Guests expire and are swept in batches.
	expires_at      timestamptz,
	-- Sessions reference (app_id, id) so that a session cannot point at
	-- another app's user.
	UNIQUE (app_id, id)
);

-- The database decides who gets a login or email: two nodes creating the
-- same login at once cannot both succeed. The constraint names are what the
-- driver maps to store.ErrLoginTaken and store.ErrEmailTaken.
CREATE UNIQUE INDEX cubeauth_users_login ON cubeauth_users (app_id, lower(login)) WHERE login <> '';
CREATE UNIQUE INDEX cubeauth_users_email ON cubeauth_users (app_id, lower(email)) WHERE email <> '';
CREATE INDEX cubeauth_users_expiry ON cubeauth_users (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE cubeauth_sessions (
	id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	-- SHA-256 of the token; tokens are never stored.
	token_hash     bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
	app_id         bigint NOT NULL REFERENCES cubeauth_apps (id) ON DELETE CASCADE,
	-- NULL for an app session.
	user_id        bigint,
	nonce          text NOT NULL DEFAULT '',
	ts             bigint NOT NULL DEFAULT 0,
	created_at     timestamptz NOT NULL,
	updated_at     timestamptz NOT NULL,
	expires_at     timestamptz NOT NULL,
	max_expires_at timestamptz NOT NULL,
	FOREIGN KEY (app_id, user_id) REFERENCES cubeauth_users (app_id, id) ON DELETE CASCADE
);

CREATE INDEX cubeauth_sessions_app ON cubeauth_sessions (app_id, id);
CREATE INDEX cubeauth_sessions_user ON cubeauth_sessions (app_id, user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX cubeauth_sessions_expiry ON cubeauth_sessions (least(expires_at, max_expires_at));

-- Legacy-signature nonces, each usable once until it expires. An expired row
-- counts as free: UseNonce takes it over in place.
CREATE TABLE cubeauth_nonces (
	app_id     bigint NOT NULL,
	key        text NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (app_id, key)
);

CREATE INDEX cubeauth_nonces_expiry ON cubeauth_nonces (expires_at);

-- The revocation log: every change that caches on other nodes must hear of
-- (see events.go). Rows are written in the changing transaction, announced
-- with NOTIFY, and read back by every other node; they are kept for a while
-- so that a node that missed a notification finds them when it polls.
CREATE TABLE cubeauth_events (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	-- The writing transaction's 64-bit ID: pollers read everything at or
	-- above the oldest transaction that was still running at their last poll.
	txid       bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
	node       text NOT NULL,
	kind       text NOT NULL,
	app_id     bigint NOT NULL,
	user_id    bigint NOT NULL DEFAULT 0,
	token_hash bytea,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX cubeauth_events_txid ON cubeauth_events (txid);
CREATE INDEX cubeauth_events_created ON cubeauth_events (created_at);
