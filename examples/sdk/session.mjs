// The README's example with the official SDK, connectycube 6.x, as an ES
// module (top-level await), against ./examples/demo.sh: app 1 is in
// development, so the first login creates the user.
//
//   source .demo/env
//   (cd examples/sdk && npm ci)
//   node examples/sdk/session.mjs
import ConnectyCube from 'connectycube'; // connectycube@6.1.2 (examples/sdk/package.json)

ConnectyCube.init({ appId: 1, authKey: process.env.CUBEAUTH_APP1_KEY },
                  { endpoints: { api_url: 'http://localhost:8080' }, debug: { mode: 0 } });
const session = await ConnectyCube.createSession({ login: 'carol', password: 'supersecret' });
console.log(`user ${session.user_id} (${session.user.login}) has a session`);

const { user } = await ConnectyCube.users.update({ full_name: 'Carol Example' });
console.log(`full name now ${user.full_name}`);

await ConnectyCube.destroySession();
console.log('logged out');
