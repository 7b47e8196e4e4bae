// The legacy SDK, connectycube 3.x, with its signed session flow (nonce,
// timestamp, HMAC signature with the app's auth secret), against
// ./examples/demo.sh. v3 always builds https:// URLs, so it talks to the
// demo's HTTPS port, whose certificate comes from Caddy's internal CA: Node
// trusts it through NODE_EXTRA_CA_CERTS.
//
//   source .demo/env
//   (cd examples/sdk-v3 && npm ci)
//   NODE_EXTRA_CA_CERTS=$CUBEAUTH_CA_ROOT node examples/sdk-v3/signed.mjs
import ConnectyCube from 'connectycube'; // connectycube@3.35.3 (examples/sdk-v3/package.json)

ConnectyCube.init({ appId: 1, authKey: process.env.CUBEAUTH_APP1_KEY, authSecret: process.env.CUBEAUTH_APP1_SECRET },
                  { endpoints: { api: 'localhost:8443', chat: 'localhost' }, debug: { mode: 0 } });
const app = await ConnectyCube.createSession(); // signed: an app session
console.log(`signed app session, user_id ${app.user_id}`);

const login = `dave${Date.now()}`;
await ConnectyCube.users.signup({ login, password: 'supersecret' }); // under the app session
const session = await ConnectyCube.createSession({ login, password: 'supersecret' }); // signed
console.log(`signed user session for user ${session.user_id} (${session.user.login})`);

await ConnectyCube.destroySession();
console.log('logged out');
