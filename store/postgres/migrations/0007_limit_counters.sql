-- Abuse-limit counters shared by every node: one row per key and fixed
-- window. Keys are opaque hashes chosen by authcore. A row lives two windows
-- (expires_at), long enough to be the previous window of the next one, and
-- expired rows are swept.
CREATE TABLE cubeauth_limit_counters (
	key          text NOT NULL CHECK (octet_length(key) BETWEEN 1 AND 128),
	window_start timestamptz NOT NULL,
	n            bigint NOT NULL,
	expires_at   timestamptz NOT NULL,
	PRIMARY KEY (key, window_start)
);

CREATE INDEX cubeauth_limit_counters_expiry ON cubeauth_limit_counters (expires_at);
