'use strict';
// A page on another origin (PAGE_URL, a second 127.0.0.1 port) loads the
// official SDK's browser bundle (connectycube@6 dist/connectycube.min.js)
// and, against cubeauth at CUBEAUTH_URL: signs up, logs in, calls the
// backend through cubeauth with fetch as the SDK sends requests (CB-Token
// header), logs out, and reads the expired-session 401 (status, body and
// exposed headers readable from JS only when CORS works); then the SDK's
// sessionExpired hook fires for a token revoked elsewhere, and its retry
// succeeds. Run by
// e2e/cors_test.go.
const assert = require('node:assert/strict');
const { run } = require('./browser');

const cfg = {
	api: process.env.CUBEAUTH_URL,
	appId: Number(process.env.APP_ID),
	authKey: process.env.AUTH_KEY,
	login: `cors${process.env.LOGIN_SUFFIX}`,
};

// Chromium logs each non-2xx fetch as a console error; the 401 is expected.
const expected401 = (m) => /status of 401/.test(m.text());

run('cors', undefined, async (page) => {
	await page.goto(process.env.PAGE_URL);
	const got = await page.evaluate(async (cfg) => {
		const CC = window.ConnectyCube;
		CC.init({ appId: cfg.appId, authKey: cfg.authKey }, { endpoints: { api_url: cfg.api }, debug: { mode: 0 } });
		await CC.createSession();
		const user = await CC.users.signup({ login: cfg.login, password: 'supersecret1' });
		const session = await CC.createSession({ login: cfg.login, password: 'supersecret1' });
		const call = async (method) => {
			const r = await fetch(cfg.api + '/whoami', { method, headers: { 'CB-Token': session.token, 'Content-Type': 'application/json' } });
			return { status: r.status, body: await r.text(), expires: r.headers.get('CB-Token-ExpirationDate') };
		};
		const get = await call('GET');
		const put = await call('PUT'); // preflighted: cubeauth answers it
		await CC.destroySession();
		const after = await call('GET');
		// The SDK's own session-expired hook: another device revokes the
		// token, and the SDK's next call reads the 401 and fires the hook,
		// which signs in again and retries.
		const again = await CC.createSession({ login: cfg.login, password: 'supersecret1' });
		await fetch(cfg.api + '/session.json', { method: 'DELETE', headers: { 'CB-Token': again.token } });
		const hook = [];
		CC.service.sdkInstance.config.on.sessionExpired = (handleResponse, retry) => {
			hook.push('expired');
			CC.createSession({ login: cfg.login, password: 'supersecret1' }).then(retry).catch(() => handleResponse());
		};
		const retried = await CC.users.get((user.user ?? user).id);
		return { userId: (user.user ?? user).id, sessionUser: session.user_id, get, put, after, hook, retriedId: retried?.user?.id, origin: location.origin };
	}, cfg);
	assert.notEqual(got.origin, new URL(cfg.api).origin, 'the page must be on another origin');
	assert.equal(got.sessionUser, got.userId);
	for (const [name, r] of [['GET', got.get], ['PUT', got.put]]) {
		assert.equal(r.status, 200, `${name} /whoami: ${JSON.stringify(r)}`);
		assert.equal(JSON.parse(r.body).user_id, String(got.userId), `${name} /whoami: ${r.body}`);
		assert.match(r.expires || '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, `${name} CB-Token-ExpirationDate`);
	}
	assert.equal(got.after.status, 401, `after logout: ${JSON.stringify(got.after)}`);
	assert.deepEqual(JSON.parse(got.after.body), { errors: { base: ['Required session does not exist'] } });
	assert.deepEqual(got.hook, ['expired'], 'the SDK\'s sessionExpired hook must fire once for the revoked token');
	assert.equal(got.retriedId, got.userId, 'the retried users.get');
}, expected401);
