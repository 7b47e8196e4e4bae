-- An app's settings that no query filters on: the users-list and guest
-- permissions, the visibility of user fields, the password policy.
ALTER TABLE cubeauth_apps ADD COLUMN policy jsonb NOT NULL DEFAULT '{}';
