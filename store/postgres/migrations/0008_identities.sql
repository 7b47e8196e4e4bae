-- Bindings of users to identities at outside providers (a Firebase uid, a
-- custom identity provider's user id): one user per app, provider and
-- subject, decided by the primary key across every node. A binding goes
-- with its user (cascade).
CREATE TABLE cubeauth_user_identities (
	app_id     bigint NOT NULL,
	provider   text NOT NULL,
	subject    text NOT NULL,
	user_id    bigint NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (app_id, provider, subject),
	FOREIGN KEY (app_id, user_id) REFERENCES cubeauth_users (app_id, id) ON DELETE CASCADE
);

CREATE INDEX cubeauth_user_identities_user ON cubeauth_user_identities (app_id, user_id);
