'use strict';
// connectycube@6.1.2 signing in through a provider, as an app does: 
//   createSession({provider: 'firebase_phone', firebase_phone: {project_id, access_token}})
//     POST /session.json {application_id, auth_key, provider, firebase_phone: {...}}
//   createSession({login: idpToken, password: 'x'}) for a custom identity provider
//     POST /session.json {application_id, auth_key, user: {login, password}}
// Reads CASES (a JSON list of {name, params}) and prints one JSON line per
// case: {name, ok, user_id, login, phone, token, status, errors}.
const ConnectyCube = require('connectycube6').default;

const cases = JSON.parse(process.env.CASES);
(async () => {
  for (const c of cases) {
    ConnectyCube.init({ appId: Number(process.env.APP_ID), authKey: process.env.AUTH_KEY }, {
      endpoints: { api_url: process.env.CUBEAUTH_URL }, debug: { mode: 0 },
    });
    try {
      const s = await ConnectyCube.createSession(c.params);
      console.log(JSON.stringify({ name: c.name, ok: true, user_id: s.user_id, login: s.user && s.user.login,
        phone: s.user && s.user.phone, token: s.token }));
    } catch (e) {
      console.log(JSON.stringify({ name: c.name, ok: false, status: e.code || e.status, errors: e.info || e.message }));
    }
    await ConnectyCube.destroySession().catch(() => {});
  }
})();
