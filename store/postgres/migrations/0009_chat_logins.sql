-- Sessions whose token an XMPP server accepted as a chat password (and
-- users whose password it accepted: password_digest), so that the end of
-- the session (or a new password) ends the user's streams even after the
-- node that saw the login restarts. A token login's row lives as long as
-- its session can (the session's absolute expiry); expired rows are swept.
CREATE TABLE cubeauth_chat_logins (
	token_hash      bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
	app_id          bigint NOT NULL,
	user_id         bigint NOT NULL,
	password_digest bytea CHECK (octet_length(password_digest) = 32),
	expires_at      timestamptz NOT NULL
);

CREATE INDEX cubeauth_chat_logins_expiry ON cubeauth_chat_logins (expires_at);
