// The README's chat example: the official SDK's chat.connect on ejabberd
// configured as in examples/xmpp (auth_method external with
// cmd/cubeauth-extauth), with a session from ./examples/demo.sh. The XMPP
// password is the session token; ejabberd asks cubeauth whether it is a live
// session of that user. Needs ejabberd running as examples/xmpp/README.md
// describes (e2e/xmpp_test.go tests the same flow with e2e/sdk/chat-connect.js).
//
//   source .demo/env
//   (cd examples/sdk && npm ci)
//   node examples/sdk/chat.mjs
//
// Tested by e2e/demo_test.go (with ejabberd on port 5280, as the README shows).
import ConnectyCube from 'connectycube'; // connectycube@6.1.2 (examples/sdk/package.json)

ConnectyCube.init({ appId: 1, authKey: process.env.CUBEAUTH_APP1_KEY }, {
  endpoints: { api_url: 'http://localhost:8080', chat: 'localhost', chat_url: 'ws://localhost:5280/ws' },
  debug: { mode: 0 },
});
const session = await ConnectyCube.createSession({ login: 'alice', password: 'supersecret' });
await ConnectyCube.chat.connect({ userId: session.user_id, password: session.token });
console.log(`user ${session.user_id} is connected to chat`);
await ConnectyCube.chat.disconnect();
process.exit(0); // the SDK's timers would keep Node running
