-- Pending password resets. Only the SHA-256 of a reset token is stored. A
-- reset goes with its user (cascade), and expired rows are swept.
CREATE TABLE cubeauth_password_resets (
	token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
	app_id     bigint NOT NULL,
	user_id    bigint NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	FOREIGN KEY (app_id, user_id) REFERENCES cubeauth_users (app_id, id) ON DELETE CASCADE
);

CREATE INDEX cubeauth_password_resets_user ON cubeauth_password_resets (app_id, user_id);
CREATE INDEX cubeauth_password_resets_expiry ON cubeauth_password_resets (expires_at);
