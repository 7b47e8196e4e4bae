'use strict';
// What the chat scripts share: SDK instances that connect to ejabberd through
// cubeauth's logins, with timeouts that fail a step instead of hanging it.
//
// Environment (set by e2e/xmpp_test.go), besides scenario.js's:
//   CHAT_URL      ejabberd's WebSocket endpoint, e.g. ws://localhost:5280/ws
//   CHAT_DOMAIN   the XMPP virtual host, equal to CHAT_URL's host (localhost)

const { assert, config } = require('./scenario');
const ConnectyCube = require('connectycube6').default;

const chatURL = process.env.CHAT_URL;
const chatDomain = process.env.CHAT_DOMAIN || 'localhost';
if (!chatURL) {
  throw new Error('environment variable CHAT_URL is required');
}

// Every connect attempt gets this long before the step fails.
const connectTimeoutMs = 15000;

// newSDK returns a fresh SDK instance with its own session and chat
// connection. The endpoints are process-wide, and the same for all of them.
function newSDK() {
  const sdk = new ConnectyCube.ConnectyCube();
  sdk.init(
    { appId: config.appId, authKey: config.authKey },
    {
      endpoints: { api_url: config.url, chat: chatDomain, chat_url: chatURL },
      // A refused login must fail the connect, not retry in the background.
      chat: { reconnect: { enable: false } },
      debug: { mode: 0 },
    },
  );
  return sdk;
}

// withTimeout rejects if promise does not settle in time.
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// connect resolves when ejabberd accepted the login.
function connect(sdk, userId, password) {
  return withTimeout(sdk.chat.connect({ userId, password }), connectTimeoutMs, `chat.connect as ${userId}`);
}

// expectRefused fails unless the login is refused with SASL not-authorized.
async function expectRefused(userId, password, why) {
  const sdk = newSDK();
  let connected = false;
  try {
    connected = await connect(sdk, userId, password);
  } catch (err) {
    const condition = typeof err === 'string' ? err : err?.condition ?? err?.message ?? String(err);
    assert.equal(condition, 'not-authorized', `${why}: refused, but with ${JSON.stringify(condition)}`);
    return;
  } finally {
    await sdk.chat.disconnect().catch(() => {});
  }
  assert.fail(`${why}: chat.connect resolved ${connected}, want a refusal`);
}

module.exports = { newSDK, withTimeout, connect, expectRefused };
