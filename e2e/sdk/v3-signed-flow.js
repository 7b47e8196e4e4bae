'use strict';
// connectycube@3.35.3, the legacy flow: every POST /session is signed with
// the app's auth secret (nonce, timestamp, HMAC signature over the sorted
// params). v3 always builds https:// URLs, so its URL builder is replaced to
// reach plain HTTP (docs/wire-format.md §8).
//
// HTTP calls made by the SDK (read in lib/cubeAuth.js, lib/cubeUsers.js,
// lib/cubeProxy.js, lib/cubeInternalUtils.js):
//   createSession(params?) POST /session.json {application_id, auth_key, nonce, timestamp[, user], signature}
//                          signature = hex HMAC-SHA1 (config.hash 'sha256': HMAC-SHA256) of the raw
//                          sorted "k=v&user[k]=v" string; nonce is 0-9999; CB-Token sent if one is held
//   users.signup(user)     POST /users.json {user} with CB-Token (v3 never sends CB-AuthKey)

const path = require('node:path');
const {
  assert,
  config,
  step,
  scenario,
  whoami,
  expectOK,
  sdkError,
  rejection,
  request,
  assertErrorShape,
  describe,
} = require('./scenario');

// Record what the SDK puts on the wire, to replay a signed request byte for
// byte. v3 picks up node-fetch's `default` export when it loads, so wrap it
// first (node-fetch@2 exports itself as `default`).
const sent = [];
const nodeFetch = require(
  require.resolve('node-fetch', { paths: [path.dirname(require.resolve('connectycube3'))] }),
);
const realFetch = nodeFetch.default;
nodeFetch.default = (url, init = {}) => {
  sent.push({ url: String(url), method: init.method, headers: { ...init.headers }, body: init.body });
  return realFetch(url, init);
};
const ConnectyCube = require('connectycube3');

// lastSessionRequest returns the last POST /session.json the SDK sent.
function lastSessionRequest() {
  const req = [...sent].reverse().find((r) => r.method === 'POST' && /\/session\.json$/.test(r.url));
  assert.ok(req, 'the SDK sent no POST /session.json');
  return req;
}

scenario('v3 signed-session flow', async () => {
  assert.ok(config.authSecret, 'AUTH_SECRET is required for the signed flow');
  const login = `v3signed${config.suffix}`;
  const password = 'supersecret1';
  const host = new URL(config.url).host;

  ConnectyCube.init(
    { appId: config.appId, authKey: config.authKey, authSecret: config.authSecret },
    { endpoints: { api: host, chat: '127.0.0.1' }, debug: { mode: 0 } },
  );
  ConnectyCube.utils.getUrl = (base, id, extension) =>
    `${config.url}/${base}${id ? '/' + id : ''}${extension ? '/' + extension : ''}.json`;
  const sdkConfig = ConnectyCube.service.sdkInstance.config;

  const appSession = await step('a signed createSession() gives an app session', async () => {
    const session = await ConnectyCube.createSession();
    const sentBody = JSON.parse(lastSessionRequest().body);
    assert.match(String(sentBody.signature), /^[0-9a-f]{40}$/, 'the SDK signs with HMAC-SHA1');
    assert.ok('nonce' in sentBody && 'timestamp' in sentBody, 'the SDK sends nonce and timestamp');
    assert.equal(typeof session.token, 'string');
    assert.ok(!session.user_id, `want no user_id, got ${JSON.stringify(session)}`);
    return session;
  });

  const user = await step('users.signup under the app token creates a user', async () => {
    const resp = await ConnectyCube.users.signup({ login, password, full_name: 'Signed User' });
    const req = sent[sent.length - 1];
    assert.equal(req.headers['CB-Token'], appSession.token, 'v3 signs up with the app token');
    assert.ok(resp && resp.user, `want {user:{...}}, got ${JSON.stringify(resp)}`);
    assert.ok(Number.isInteger(resp.user.id) && resp.user.id > 0, `user.id ${resp.user.id}`);
    assert.equal(resp.user.login, login);
    assert.equal(resp.user.full_name, 'Signed User');
    assert.equal(resp.user.password, undefined, 'the user object must never carry the password');
    return resp.user;
  });

  const userSession = await step('a signed createSession with login and password gives a user session', async () => {
    const session = await ConnectyCube.createSession({ login, password });
    assert.equal(session.user_id, user.id);
    assert.equal(session.user?.login, login);
    return session;
  });
  const signedUserRequest = lastSessionRequest();

  await step('the signed user token works on the proxied backend', async () => {
    const got = expectOK(await whoami(userSession.token), 'GET whoami');
    assert.equal(got.user_id, String(user.id));
    assert.equal(got.app_id, String(config.appId));
    assert.equal(got.login, login);
    assert.equal(got.session_type, 'user');
  });

  await step('a signed guest session creates a guest user', async () => {
    const session = await ConnectyCube.createSession({ guest: '1', full_name: 'Guest G' });
    assert.ok(Number.isInteger(session.user_id) && session.user_id > 0, `guest user_id ${session.user_id}`);
    assert.notEqual(session.user_id, user.id);
    assert.equal(session.user?.full_name, 'Guest G', `guest user ${JSON.stringify(session.user)}`);
    assert.equal(session.user?.is_guest, true, `guest user ${JSON.stringify(session.user)}`);
    const got = expectOK(await whoami(session.token), 'GET whoami as the guest');
    assert.equal(got.user_id, String(session.user_id));
  });

  await step('a replayed signed body (same nonce and timestamp) is refused', async () => {
    const resp = await request('POST', '/session.json', {
      headers: { 'Content-Type': signedUserRequest.headers['Content-Type'] },
      body: signedUserRequest.body,
    });
    assert.ok(resp.status >= 400, `replay: want a refusal, got ${resp.status} ${resp.text}`);
    assertErrorShape(resp.body, 'replay');
  });

  await step('a signature made with the wrong secret is refused with 422 "Unexpected signature"', async () => {
    sdkConfig.creds.authSecret = 'not-the-secret';
    try {
      const info = await sdkError(ConnectyCube.createSession({ login, password }), 422, 'bad signature');
      assert.deepEqual(info, { errors: ['Unexpected signature'] });
    } finally {
      sdkConfig.creds.authSecret = config.authSecret;
    }
  });

  await step('a correctly signed request with a timestamp a day old is refused', async () => {
    const dayAgo = Math.floor(Date.now() / 1000) - 24 * 3600;
    const err = await rejection(ConnectyCube.createSession({ timestamp: dayAgo }), 'stale timestamp');
    assert.equal(JSON.parse(lastSessionRequest().body).timestamp, dayAgo, 'the SDK sent the old timestamp');
    assert.ok(err?.code >= 400 && err.code < 500, `stale timestamp: want a 4xx, got ${describe(err)}`);
    assertErrorShape(err.info, 'stale timestamp');
  });

  await step('an HMAC-SHA256 signature is accepted too', async () => {
    sdkConfig.hash = 'sha256';
    try {
      const session = await ConnectyCube.createSession({ login, password });
      assert.match(String(JSON.parse(lastSessionRequest().body).signature), /^[0-9a-f]{64}$/);
      assert.equal(session.user_id, user.id);
    } finally {
      sdkConfig.hash = 'sha1';
    }
  });

  await step('users.get with a v1 filter, by login and by full name (the v3 users API)', async () => {
    await ConnectyCube.createSession({ login, password });
    const list = await ConnectyCube.users.get({ filter: { field: 'login', param: 'eq', value: login }, per_page: 5 });
    assert.equal(list.total_entries, 1);
    assert.equal(list.per_page, 5);
    assert.equal(list.items[0].user.id, user.id);
    const byLogin = await ConnectyCube.users.get({ login });
    assert.equal(byLogin.user.id, user.id);
    const byName = await ConnectyCube.users.get({ full_name: 'Signed User' });
    assert.ok(byName.items.some((it) => it.user.id === user.id), JSON.stringify(byName));
  });
});
