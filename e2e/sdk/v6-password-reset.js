'use strict';
// connectycube@6.1.2's password reset, against an app in the production
// stage. Run by e2e/password_reset_test.go in two modes:
//   MODE=request  users.resetPassword(EMAIL) and users.resetPassword(UNKNOWN_EMAIL)
//                 under an app session: both resolve with the same (empty) text
//   MODE=login    createSession({email, password}) works with NEW_PASSWORD
//                 and is refused with OLD_PASSWORD
// The SDK sends POST /users/password/reset.json {"email": …} with CB-Token
// and reads the answer as text (src/Users.ts).

const { assert, config, step, scenario, sdkError } = require('./scenario');
const ConnectyCube = require('connectycube6').default;

const mode = process.env.MODE;

scenario(`v6 password reset (${mode})`, async () => {
  ConnectyCube.init({ appId: config.appId, authKey: config.authKey }, { endpoints: { api_url: config.url }, debug: { mode: 0 } });
  if (mode === 'request') {
    await step('an app session', () => ConnectyCube.createSession());
    const known = await step('users.resetPassword(a known email) resolves', () => ConnectyCube.users.resetPassword(process.env.EMAIL));
    const unknown = await step('users.resetPassword(an unknown email) resolves', () => ConnectyCube.users.resetPassword(process.env.UNKNOWN_EMAIL));
    await step('both answers are the same', () => assert.deepEqual(unknown, known));
    return;
  }
  assert.equal(mode, 'login', 'MODE must be request or login');
  await step('the old password is refused', () =>
    sdkError(ConnectyCube.createSession({ email: process.env.EMAIL, password: process.env.OLD_PASSWORD }), 401, 'old password'));
  const s = await step('the new password logs in', () =>
    ConnectyCube.createSession({ email: process.env.EMAIL, password: process.env.NEW_PASSWORD }));
  await step('as the user', () => assert.ok(s.user_id > 0, `session ${JSON.stringify(s)} has no user`));
});
