-- Assertion signing keys a fleet shares. (alg, slot) is the rotation
-- period a key was made for: the primary key makes concurrent rotations
-- agree on one key. Expired rows are never used or published.
CREATE TABLE cubeauth_signing_keys (
	alg         text NOT NULL,
	slot        bigint NOT NULL,
	kid         text NOT NULL UNIQUE,
	private_key bytea NOT NULL,
	created_at  timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL,
	PRIMARY KEY (alg, slot)
);
