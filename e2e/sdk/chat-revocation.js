'use strict';
// With xmpp_kick, ending a session closes the XMPP streams that logged in
// with it: connectycube@6.1.2 connects to chat on a real ejabberd with its
// session token, the session ends (logout, a password change on another
// device, deleting the user, an operator's revoke), and the SDK's
// onDisconnectedListener fires within a second of cubeauth's answer. A
// session that never logged in to chat ends without touching the stream.
//
// Environment: see chat.js; besides,
//   ADMIN_URL    Caddy's admin endpoint, e.g. http://127.0.0.1:2019
//   RESTART_URL  optional: a POST there kills Caddy and starts it again,
//                answering 200 once it serves (the test's own endpoint)

const http = require('node:http');
const { assert, config, step, scenario } = require('./scenario');
const { newSDK, withTimeout, connect, expectRefused } = require('./chat');

const adminURL = process.env.ADMIN_URL;
if (!adminURL) {
  throw new Error('environment variable ADMIN_URL is required');
}

// The promise: the stream closes within a second.
const closeWithinMs = 1000;

const password = 'supersecret1';

// chatUser logs a new user in and connects its SDK to chat with the token.
async function chatUser(name) {
  const sdk = newSDK();
  const session = await sdk.createSession({ login: `${name}${config.suffix}`, password });
  assert.equal(await connect(sdk, session.user_id, session.token), true);
  return { sdk, session };
}

// closedBy runs end and resolves once sdk's stream has closed, failing
// unless it closes within closeWithinMs of end's answer. It prints how long
// that took.
async function closedBy(sdk, what, end) {
  let closedAt;
  const closed = new Promise((resolve) => {
    sdk.chat.onDisconnectedListener = () => {
      closedAt = performance.now();
      resolve();
    };
  });
  await end();
  const answeredAt = performance.now();
  await withTimeout(closed, closeWithinMs, `${what}: the stream is still open`);
  const ms = Math.max(0, closedAt - answeredAt);
  console.log(`# ${what}: stream closed ${ms.toFixed(0)} ms after cubeauth's answer`);
  assert.equal(sdk.chat.isConnected, false, `${what}: the SDK still says connected`);
}

// stillOpen fails if sdk's stream closes within twice the close bound.
async function stillOpen(sdk, what) {
  let closed = false;
  sdk.chat.onDisconnectedListener = () => {
    closed = true;
  };
  await new Promise((resolve) => setTimeout(resolve, 2 * closeWithinMs));
  assert.equal(closed, false, `${what}: the stream closed`);
  assert.equal(sdk.chat.isConnected, true, `${what}: the SDK says disconnected`);
}

// post sends an empty POST as curl would: node:http, not fetch, whose
// Sec-Fetch-Mode: cors Caddy's admin endpoint refuses without an Origin.
function post(url) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const adminPost = (path) => post(adminURL + path);

scenario('v6 chat streams end with their sessions (xmpp_kick)', async () => {
  const bob = await step('bob logs in and connects to chat; he stays connected throughout', async () => chatUser('kickbob'));

  await step('alice connects to chat; her logout on that session closes the stream', async () => {
    const alice = await chatUser('kickalice');
    // Another session of alice's that never logged in to chat.
    const web = newSDK();
    await web.createSession({ login: `kickalice${config.suffix}`, password });
    await web.destroySession();
    await stillOpen(alice.sdk, "logging out alice's other session, which never logged in to chat");
    await closedBy(alice.sdk, 'logout (destroySession)', () => alice.sdk.destroySession());
    await expectRefused(alice.session.user_id, alice.session.token, 'the token after logout');
  });

  await step("a password change on another device closes the stream of the first device's session", async () => {
    const phone = await chatUser('kickcarol');
    const laptop = newSDK();
    await laptop.createSession({ login: `kickcarol${config.suffix}`, password });
    await closedBy(phone.sdk, 'password change', () =>
      laptop.users.update({ password: 'supersecret2', old_password: password }),
    );
    await expectRefused(phone.session.user_id, phone.session.token, 'the revoked token');
  });

  await step("a password change closes the stream that logged in with the user's password", async () => {
    const web = newSDK();
    const session = await web.createSession({ login: `kickfrank${config.suffix}`, password });
    const chat = newSDK();
    assert.equal(await connect(chat, session.user_id, password), true);
    await closedBy(chat, 'password change (password login)', () =>
      web.users.update({ password: 'supersecret2', old_password: password }),
    );
    await expectRefused(session.user_id, password, 'the old password');
  });

  await step('deleting the user closes its stream', async () => {
    const dave = await chatUser('kickdave');
    await closedBy(dave.sdk, 'user deletion', () => dave.sdk.users.delete(dave.session.user_id));
  });

  await step("an operator's revoke of every session of the user closes its stream", async () => {
    const erin = await chatUser('kickerin');
    await closedBy(erin.sdk, 'operator revoke', async () => {
      const { status, body } = await adminPost(`/cubeauth/apps/${config.appId}/users/${erin.session.user_id}/end_sessions`);
      assert.equal(status, 200, `end_sessions: ${status} ${body}`);
    });
  });

  if (process.env.RESTART_URL) {
    await step('after cubeauth crashes and restarts, a logout or a password change still closes a stream that logged in before', async () => {
      const gina = await chatUser('kickgina');
      const web = newSDK();
      const hank = await web.createSession({ login: `kickhank${config.suffix}`, password });
      const chat = newSDK();
      assert.equal(await connect(chat, hank.user_id, password), true);
      const { status, body } = await post(process.env.RESTART_URL);
      assert.equal(status, 200, `restart: ${status} ${body}`);
      await closedBy(gina.sdk, 'logout after a restart', () => gina.sdk.destroySession());
      await closedBy(chat, 'password change after a restart (password login)', () =>
        web.users.update({ password: 'supersecret2', old_password: password }),
      );
    });
  }

  await step('bob was never disconnected', async () => {
    assert.equal(bob.sdk.chat.isConnected, true);
    await bob.sdk.chat.disconnect();
  });
});
