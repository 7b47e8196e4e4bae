'use strict';
// connectycube@6.1.2 connects to chat on a real ejabberd whose logins are
// checked by cubeauth (examples/xmpp: auth_method external with
// cmd/cubeauth-extauth). The SDK logs in with SASL PLAIN as
// "{userId}-{appId}" and, as password, the session token it got from cubeauth
// or the user's password (checked by cubeauth through chat_password_secret).
// Only a live user session of that very user is let in.
//
// Environment: see chat.js.

const { assert, config, step, scenario } = require('./scenario');
const { newSDK, withTimeout, connect, expectRefused } = require('./chat');

scenario('v6 chat.connect on ejabberd with cubeauth tokens', async () => {
  const password = 'supersecret1';
  const aliceSDK = newSDK();
  const bobSDK = newSDK();

  const alice = await step('createSession through cubeauth creates and logs in alice (development stage)', async () => {
    const session = await aliceSDK.createSession({ login: `chatalice${config.suffix}`, password });
    assert.ok(Number.isInteger(session.user_id) && session.user_id > 0, `user_id ${session.user_id}`);
    return session;
  });
  const bob = await step('and bob', async () => bobSDK.createSession({ login: `chatbob${config.suffix}`, password }));

  await step('chat.connect with user id + session token is accepted by ejabberd', async () => {
    assert.equal(await connect(aliceSDK, alice.user_id, alice.token), true);
    assert.equal(aliceSDK.chat.isConnected, true);
    assert.equal(aliceSDK.chat.currentUserId, alice.user_id, 'bound JID is {userId}-{appId}@domain');
  });

  await step('a second user connects and receives a message from the first, as the first', async () => {
    assert.equal(await connect(bobSDK, bob.user_id, bob.token), true);
    const received = new Promise((resolve) => {
      bobSDK.chat.onMessageListener = (senderId, message) => resolve({ senderId, message });
    });
    aliceSDK.chat.send(bob.user_id, { type: 'chat', body: 'hello bob' });
    const { senderId, message } = await withTimeout(received, 10000, 'bob waiting for the message');
    assert.equal(senderId, alice.user_id);
    assert.equal(message.body, 'hello bob');
  });

  await step('a wrong token is refused', async () => {
    await expectRefused(alice.user_id, 'f'.repeat(alice.token.length), 'wrong token');
  });

  await step("another user's token is refused", async () => {
    await expectRefused(alice.user_id, bob.token, "bob's token for alice");
  });

  await step('an application session token (no user) is refused', async () => {
    const appSDK = newSDK();
    const appSession = await appSDK.createSession();
    assert.equal(appSession.user_id ?? null, null, 'an app session has no user');
    await expectRefused(alice.user_id, appSession.token, 'app session token');
  });

  await step("chat.connect with the user's password is accepted too (as the vendor's videochat sample logs in)", async () => {
    const sdk = newSDK();
    assert.equal(await connect(sdk, alice.user_id, password), true);
    assert.equal(sdk.chat.currentUserId, alice.user_id);
    await sdk.chat.disconnect();
    // Again at once: cubeauth remembers the check, no second hash.
    const again = newSDK();
    assert.equal(await connect(again, alice.user_id, password), true);
    await again.chat.disconnect();
  });

  await step('a wrong password, or a password for an unknown user, is refused', async () => {
    await expectRefused(alice.user_id, 'not-the-password', 'wrong password');
    await expectRefused(bob.user_id + 1000000, password, 'password for an unknown user');
  });

  await step('after a password change the old password no longer opens a chat connection', async () => {
    await aliceSDK.users.update({ password: 'supersecret2', old_password: password });
    await expectRefused(alice.user_id, password, 'the old password');
    const sdk = newSDK();
    assert.equal(await connect(sdk, alice.user_id, 'supersecret2'), true);
    await sdk.chat.disconnect();
  });

  await step('after destroySession the old token no longer opens a chat connection', async () => {
    await aliceSDK.chat.disconnect();
    await aliceSDK.destroySession();
    await expectRefused(alice.user_id, alice.token, 'revoked token');
  });

  await step('bob, still logged in, connects again', async () => {
    await bobSDK.chat.disconnect();
    const again = newSDK();
    assert.equal(await connect(again, bob.user_id, bob.token), true);
    await again.chat.disconnect();
  });
});
