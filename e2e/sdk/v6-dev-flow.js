'use strict';
// connectycube@6.1.2 (and, with SDK_PACKAGE, 5.0.2 and 4.7.32) against an app in the development stage: POST /session
// with the credentials of a user that does not exist yet creates the user and
// logs it in; the token then works on the proxied backend until
// destroySession() revokes it.
//
// HTTP calls made by the SDK (read in dist/node/index.cjs.map, src/Auth.ts):
//   createSession({login,password}) POST /session.json {application_id, auth_key, user:{login,password}}
//   getSession()                    GET /session.json (CB-Token)
//   destroySession()                DELETE /session.json (CB-Token), body read as text

const { assert, config, step, scenario, whoami, expectOK, expiredSessionBody, sdkError, request } = require('./scenario');
// SDK_PACKAGE picks the published major version (connectycube4, 5 or 6;
// the same calls since 4.x); default connectycube6.
const sdkModule = require(process.env.SDK_PACKAGE || 'connectycube6');
const ConnectyCube = sdkModule.default ?? sdkModule;
// 6.x takes api_url; 4.x and 5.x always build https://{api} (SDK_API_HOST,
// the same server over TLS).
const sdkEndpoints = () => ({ api_url: config.url, ...(process.env.SDK_API_HOST ? { api: process.env.SDK_API_HOST } : {}) });

scenario('v6 development-stage flow', async () => {
  const login = `v6dev${config.suffix}`;
  const password = 'supersecret1';

  ConnectyCube.init(
    { appId: config.appId, authKey: config.authKey },
    { endpoints: sdkEndpoints(), debug: { mode: 0 } },
  );

  const first = await step('createSession for an unknown login creates the user (development stage)', async () => {
    const session = await ConnectyCube.createSession({ login, password });
    assert.equal(typeof session.token, 'string');
    assert.ok(session.token.length >= 32, `token ${JSON.stringify(session.token)} is too short`);
    assert.ok(Number.isInteger(session.user_id) && session.user_id > 0, `user_id ${session.user_id}`);
    assert.equal(session.user?.login, login, `session.user = ${JSON.stringify(session.user)}`);
    assert.equal(session.user?.id, session.user_id);
    assert.equal(session.user.password, undefined, 'the user object must never carry the password');
    assert.equal(Number(session.application_id), config.appId);
    return session;
  });

  const second = await step('a second createSession logs the same user in with a new token', async () => {
    const session = await ConnectyCube.createSession({ login, password });
    assert.equal(session.user_id, first.user_id);
    assert.notEqual(session.token, first.token, 'each login must issue a new token');
    return session;
  });

  await step('createSession with a wrong password is refused with 401', async () => {
    await sdkError(ConnectyCube.createSession({ login, password: 'wrong-password' }), 401, 'wrong password');
    // A failed login must not replace the SDK's current session.
    assert.equal(ConnectyCube.service.getSession().token, second.token);
  });

  await step('the token reaches the backend as identity headers; forged ones are dropped', async () => {
    const forgedId = String(second.user_id === 1 ? 2 : 1);
    const body = expectOK(
      await whoami(second.token, {
        headers: {
          'X-Cube-User-Id': forgedId,
          'X-Cube-App-Id': '999',
          'X-Cube-User-Login': 'admin',
          'X-Cube-Session-Type': 'user',
        },
      }),
      'GET whoami',
    );
    assert.equal(body.user_id, String(second.user_id), `backend saw ${JSON.stringify(body)}`);
    assert.equal(body.app_id, String(config.appId), `backend saw ${JSON.stringify(body)}`);
    assert.equal(body.login, login, `backend saw ${JSON.stringify(body)}`);
    assert.equal(body.session_type, 'user', `backend saw ${JSON.stringify(body)}`);
    assert.equal(body.method, 'GET');
  });

  await step('a forged identity without a token never reaches the backend', async () => {
    const resp = await whoami(undefined, { headers: { 'X-Cube-User-Id': String(second.user_id) } });
    assert.equal(resp.status, 401, `want 401, got ${resp.status} ${resp.text}`);
  });

  await step('getSession returns the current session', async () => {
    const session = await ConnectyCube.getSession();
    assert.equal(session.user_id, second.user_id);
    assert.equal(session.token, second.token);
    assert.equal(session.user?.login, login, `session.user = ${JSON.stringify(session.user)}`);
  });

  await step('destroySession revokes the token', async () => {
    await ConnectyCube.destroySession();
    assert.equal(ConnectyCube.service.getSession(), null);
  });

  await step('the revoked token is refused on the proxied path with the expired-session body', async () => {
    const resp = await whoami(second.token);
    assert.equal(resp.status, 401, `want 401, got ${resp.status} ${resp.text}`);
    assert.deepEqual(resp.body, expiredSessionBody);
  });

  await step('GET /session with the revoked token is refused too', async () => {
    const resp = await request('GET', '/session.json', { token: second.token });
    assert.equal(resp.status, 401, `want 401, got ${resp.status} ${resp.text}`);
  });
});
