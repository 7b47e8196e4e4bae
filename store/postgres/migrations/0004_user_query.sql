-- Indexes for user queries (store.UserQuery): text fields are compared
-- folded, in byte order (COLLATE "C", so that range scans serve prefixes),
-- tags as the array of a user's comma-separated tags, times as they are.
-- Queries repeat these expressions exactly so that the planner uses them.
CREATE INDEX cubeauth_users_q_login ON cubeauth_users (app_id, (lower(login) COLLATE "C")) WHERE login <> '';
CREATE INDEX cubeauth_users_q_email ON cubeauth_users (app_id, (lower(email) COLLATE "C")) WHERE email <> '';
CREATE INDEX cubeauth_users_q_full_name ON cubeauth_users (app_id, (lower(full_name) COLLATE "C")) WHERE full_name <> '';
CREATE INDEX cubeauth_users_q_phone ON cubeauth_users (app_id, (lower(phone) COLLATE "C")) WHERE phone <> '';
CREATE INDEX cubeauth_users_q_external_id ON cubeauth_users (app_id, (lower(external_id) COLLATE "C")) WHERE external_id <> '';
CREATE INDEX cubeauth_users_q_facebook_id ON cubeauth_users (app_id, (lower(facebook_id) COLLATE "C")) WHERE facebook_id <> '';
CREATE INDEX cubeauth_users_q_twitter_id ON cubeauth_users (app_id, (lower(twitter_id) COLLATE "C")) WHERE twitter_id <> '';
CREATE INDEX cubeauth_users_q_tags ON cubeauth_users USING gin ((regexp_split_to_array(lower(tags), '\s*,\s*'))) WHERE tags <> '';
CREATE INDEX cubeauth_users_q_created_at ON cubeauth_users (app_id, created_at);
CREATE INDEX cubeauth_users_q_updated_at ON cubeauth_users (app_id, updated_at);
CREATE INDEX cubeauth_users_q_last_request_at ON cubeauth_users (app_id, last_request_at) WHERE last_request_at IS NOT NULL;
