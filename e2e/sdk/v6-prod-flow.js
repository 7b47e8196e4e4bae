'use strict';
// connectycube@6.1.2 (and, with SDK_PACKAGE, 5.0.2 and 4.7.32) against an app in the production stage: no user is
// created on the fly; users sign up with the auth key, then log in. Also the
// app-session lifecycle (read-only token, upgraded by login, downgraded by
// logout), the users API, and the SDK's sessionExpired hook.
//
// HTTP calls made by the SDK (read in dist/node/index.cjs.map: src/Auth.ts,
// src/Users.ts, src/Proxy.ts):
//   createSession(params?)  POST /session.json {application_id, auth_key[, user]}; CB-Token if it holds one
//   users.signup(user)      POST /users.json {user}; CB-AuthKey only when it holds no token, else CB-Token
//   auth.login(params)      POST /login.json {login, password} (CB-Token), reads {user}
//   auth.logout()           DELETE /login.json (CB-Token), body read as text
//   getSession()            GET /session.json
//   users.update(user)      PUT /users/{current user id}.json {user}
//   users.get(id)           GET /users/{id}.json
//   users.get({login})      GET /users/by_login.json?login=...
// The sessionExpired hook fires when a response is 401 with
// {"errors":{"base":["Required session does not exist"]}} and the response
// URL does not contain "session".

const {
  assert,
  config,
  step,
  scenario,
  whoami,
  expectOK,
  sdkError,
  request,
  assertErrorShape,
} = require('./scenario');
// SDK_PACKAGE picks the published major version (connectycube4, 5 or 6;
// the same calls since 4.x); default connectycube6.
const sdkModule = require(process.env.SDK_PACKAGE || 'connectycube6');
const ConnectyCube = sdkModule.default ?? sdkModule;
// 6.x takes api_url; 4.x and 5.x always build https://{api} (SDK_API_HOST,
// the same server over TLS).
const sdkEndpoints = () => ({ api_url: config.url, ...(process.env.SDK_API_HOST ? { api: process.env.SDK_API_HOST } : {}) });

const initOptions = () => ({ endpoints: sdkEndpoints(), debug: { mode: 0 } });

scenario('v6 production-stage flow', async () => {
  const login = `v6prod${config.suffix}`;
  const password = 'supersecret1';

  ConnectyCube.init({ appId: config.appId, authKey: config.authKey }, initOptions());

  await step('createSession for an unknown login is refused with 404 "User not found" (production stage)', async () => {
    const info = await sdkError(ConnectyCube.createSession({ login, password }), 404, 'unknown user');
    assert.deepEqual(info, { errors: ['User not found'] });
    assert.equal(ConnectyCube.service.getSession(), null);
  });

  const user = await step('users.signup with the auth key and no token creates the user', async () => {
    const resp = await ConnectyCube.users.signup({ login, password, email: `${login}@example.test` });
    assert.ok(resp && resp.user, `want {user:{...}}, got ${JSON.stringify(resp)}`);
    assert.ok(Number.isInteger(resp.user.id) && resp.user.id > 0, `user.id ${resp.user.id}`);
    assert.equal(resp.user.login, login);
    assert.equal(resp.user.password, undefined, 'the user object must never carry the password');
    return resp.user;
  });

  const userSession = await step('createSession with the new credentials logs that user in', async () => {
    const session = await ConnectyCube.createSession({ login, password });
    assert.equal(session.user_id, user.id);
    assert.equal(session.user?.login, login);
    return session;
  });

  await step('signing up the same login again is refused with 422 naming the login', async () => {
    // A second SDK instance holds no token, so it signs up with CB-AuthKey
    // like a fresh install would.
    const other = new ConnectyCube.ConnectyCube();
    other.init({ appId: config.appId, authKey: config.authKey }, initOptions());
    const info = await sdkError(other.users.signup({ login, password: 'another-password' }), 422, 'duplicate signup');
    assertErrorShape(info, 'duplicate signup');
    assert.ok(info.errors.login, `want errors.login, got ${JSON.stringify(info)}`);
  });

  await step('the user token may read and write through the proxy', async () => {
    const got = expectOK(await whoami(userSession.token), 'GET whoami');
    assert.deepEqual(
      { user_id: got.user_id, app_id: got.app_id, login: got.login, session_type: got.session_type },
      { user_id: String(user.id), app_id: String(config.appId), login, session_type: 'user' },
    );
    const posted = expectOK(await whoami(userSession.token, { method: 'POST' }), 'POST whoami');
    assert.equal(posted.method, 'POST');
    assert.equal(posted.user_id, String(user.id));
  });

  const appSession = await step('createSession() without a user gives an app session', async () => {
    const session = await ConnectyCube.createSession();
    assert.equal(typeof session.token, 'string');
    assert.notEqual(session.token, userSession.token);
    assert.equal(session.user_id, null, `want user_id null, got ${JSON.stringify(session)}`);
    assert.equal(session.user ?? null, null, 'an app session carries no user');
    return session;
  });

  await step('the app token may read through the proxy as an app session, forged identity dropped', async () => {
    const got = expectOK(
      await whoami(appSession.token, { headers: { 'X-Cube-User-Id': '1', 'X-Cube-Session-Type': 'user' } }),
      'GET whoami with the app token',
    );
    assert.deepEqual(
      { user_id: got.user_id, app_id: got.app_id, login: got.login, session_type: got.session_type },
      { user_id: '', app_id: String(config.appId), login: '', session_type: 'app' },
    );
  });

  await step('the app token may not write through the proxy (403)', async () => {
    const resp = await whoami(appSession.token, { method: 'POST' });
    assert.equal(resp.status, 403, `want 403, got ${resp.status} ${resp.text}`);
    assertErrorShape(resp.body, 'POST whoami with the app token');
  });

  await step('auth.login binds the user to the same token', async () => {
    const loggedIn = await ConnectyCube.auth.login({ login, password });
    assert.equal(loggedIn.id, user.id);
    assert.equal(loggedIn.login, login);
    const session = await ConnectyCube.getSession();
    assert.equal(session.token, appSession.token, 'login must keep the token');
    assert.equal(session.user_id, user.id);
  });

  await step('after login the same token may write through the proxy', async () => {
    const got = expectOK(await whoami(appSession.token, { method: 'POST' }), 'POST whoami after login');
    assert.equal(got.user_id, String(user.id));
    assert.equal(got.session_type, 'user');
  });

  await step('auth.logout unbinds the user and the token is read-only again', async () => {
    await ConnectyCube.auth.logout();
    const session = await ConnectyCube.getSession();
    assert.equal(session.token, appSession.token);
    assert.equal(session.user_id ?? null, null, `want no user after logout, got ${JSON.stringify(session)}`);
    const post = await whoami(appSession.token, { method: 'POST' });
    assert.equal(post.status, 403, `POST after logout: want 403, got ${post.status} ${post.text}`);
    const got = expectOK(await whoami(appSession.token), 'GET whoami after logout');
    assert.equal(got.session_type, 'app');
    assert.equal(got.user_id, '');
  });

  await step('an app session (the public auth key alone) may not look users up in production (403)', async () => {
    const info = await sdkError(ConnectyCube.users.get(user.id), 403, 'users.get with an app session');
    assertErrorShape(info, 'users.get with an app session');
    await sdkError(ConnectyCube.users.get({ login }), 403, 'users.get({login}) with an app session');
  });

  const loggedIn = await step('createSession logs the user in again for the users API', async () => {
    const session = await ConnectyCube.createSession({ login, password });
    assert.equal(session.user_id, user.id);
    return session;
  });

  await step('users.update changes the current user', async () => {
    const resp = await ConnectyCube.users.update({ full_name: 'Prod User', custom_data: '{"plan":"pro"}' });
    assert.equal(resp?.user?.id, user.id, `got ${JSON.stringify(resp)}`);
    assert.equal(resp.user.full_name, 'Prod User');
    assert.equal(resp.user.custom_data, '{"plan":"pro"}');
  });

  await step('users.get by id and by login return that user', async () => {
    const byId = await ConnectyCube.users.get(user.id);
    assert.equal(byId?.user?.id, user.id, `by id: ${JSON.stringify(byId)}`);
    assert.equal(byId.user.login, login);
    assert.equal(byId.user.full_name, 'Prod User');
    const byLogin = await ConnectyCube.users.get({ login });
    assert.equal(byLogin?.user?.id, user.id, `by login: ${JSON.stringify(byLogin)}`);
    assert.equal(byId.user.email, `${login}@example.test`, 'a user sees its own email');
  });

  await step('another user sees the profile but not the email, and cannot look users up by email', async () => {
    const other = new ConnectyCube.ConnectyCube();
    other.init({ appId: config.appId, authKey: config.authKey }, initOptions());
    const otherLogin = `${login}b`;
    await other.users.signup({ login: otherLogin, password });
    await other.createSession({ login: otherLogin, password });
    const seen = await other.users.get(user.id);
    assert.equal(seen?.user?.full_name, 'Prod User', `the public profile: ${JSON.stringify(seen)}`);
    assert.equal(seen.user.email ?? null, null, `another user's email must not show: ${JSON.stringify(seen)}`);
    const info = await sdkError(other.users.get({ email: `${login}@example.test` }), 403, 'users.get({email}) by another user');
    assertErrorShape(info, 'lookup by a private email');
  });

  await step('a token revoked elsewhere fires sessionExpired on the next non-session call, and retry works', async () => {
    const events = [];
    ConnectyCube.service.sdkInstance.config.on.sessionExpired = (handleResponse, retry) => {
      events.push('expired');
      ConnectyCube.createSession({ login, password })
        .then((session) => retry(session))
        .catch(() => handleResponse());
    };
    try {
      // Another device (or an admin) revokes the token.
      const revoke = await request('DELETE', '/session.json', { token: loggedIn.token });
      assert.ok(revoke.status >= 200 && revoke.status < 300, `DELETE /session: ${revoke.status} ${revoke.text}`);

      // /session URLs never fire the hook: the SDK just rejects.
      await sdkError(ConnectyCube.getSession(), 401, 'getSession with a revoked token');
      assert.deepEqual(events, [], 'the hook must not fire for a /session URL');

      const resp = await ConnectyCube.users.get(user.id);
      assert.deepEqual(events, ['expired'], 'the hook must fire exactly once');
      assert.equal(resp?.user?.id, user.id, `retried request: ${JSON.stringify(resp)}`);
      assert.notEqual(ConnectyCube.service.getSession().token, loggedIn.token, 'retry must use the new token');
    } finally {
      ConnectyCube.service.sdkInstance.config.on.sessionExpired = undefined;
    }
  });
});
