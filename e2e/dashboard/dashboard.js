// Drives the cubeauth dashboard in a real headless Chromium, as an operator
// would. Run by e2e/dashboard_test.go, which starts Caddy, creates the
// sessions named below, and afterwards checks through the API that what the
// page did took effect on the very next request.
//
// Environment:
//   DASH_URL, DASH_USER, DASH_PASSWORD  the cubeauth_dashboard site behind basic_auth
//   ADMIN_URL                           Caddy's admin endpoint (serves /cubeauth/ui/ too)
//   APP_ID, AUTH_KEY                    the app to switch to production
//   PINNED_APP_ID                       an app whose stage the config pins
//   REVOKE_FINGERPRINT                  fingerprint of the session to revoke
//   END_SESSIONS_LOGIN, DELETE_LOGIN    users to end the sessions of / to delete
//   CHROMIUM                            the browser (default /usr/bin/chromium)
//   SCREENSHOTS                         a directory: save a PNG of each main page there, desktop and 390 px
//   STORE_LABEL                         the store path the screenshots' header shows
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { env, run, audit, fitsPhone, headersAlign, focusVisible } = require('./browser');

const screenshots = process.env.SCREENSHOTS || '';
const storeLabel = process.env.STORE_LABEL || '';

// shot saves a PNG of the page. The test's store is a temporary directory,
// which would tell a reader of the README nothing: with STORE_LABEL set the
// header names that store path instead, as a deployment would show it.
async function shot(page, name) {
	if (!screenshots) return;
	fs.mkdirSync(screenshots, { recursive: true });
	if (storeLabel) await page.evaluate((l) => { document.getElementById('store').textContent = `store: badger:${l}`; }, storeLabel);
	const file = path.join(screenshots, name);
	await page.screenshot({ path: file, fullPage: true });
	console.log(`screenshot: ${file}`);
}

function step(msg) {
	console.log(`step: ${msg}`);
}

// status waits until the page's live status region says text.
async function status(page, text) {
	await page.locator('#status').getByText(text).waitFor({ timeout: 10_000 });
}

// checkPage holds a main page to the dashboard's standards: headers line up
// with their columns, axe-core finds no accessibility violation, and at
// 390 px nothing overflows and the audit still passes. It saves a desktop
// and a phone screenshot (name.png, name-phone.png) and restores the
// desktop viewport.
async function checkPage(page, where, name) {
	await headersAlign(page, where);
	await audit(page, where);
	if (name) await shot(page, `${name}.png`);
	await fitsPhone(page, where);
	await audit(page, `${where} at 390 px`);
	if (name) await shot(page, `${name}-phone.png`);
	await page.setViewportSize({ width: 1200, height: 800 });
}

// expectFailedLoads is set while a step provokes HTTP errors on purpose:
// Chromium logs each failed load as a console error.
let expectFailedLoads = false;

run('dashboard', { username: env('DASH_USER'), password: env('DASH_PASSWORD') }, async (page, problems, context) => {
	const dashURL = env('DASH_URL');
	const adminURL = env('ADMIN_URL');
	const appID = env('APP_ID');
	const authKey = env('AUTH_KEY');
	const pinnedAppID = env('PINNED_APP_ID');

	page.on('response', (r) => { if (r.status() >= 400) console.log(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`); });
	page.on('dialog', (d) => d.accept()); // the confirm() before destructive actions
	await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: dashURL });

	step('apps list on the dashboard site');
	const res = await page.goto(`${dashURL}/cubeauth/ui/`);
	if (res.status() !== 200) throw new Error(`dashboard page: HTTP ${res.status()}`);
	const appLink = page.getByRole('link', { name: appID, exact: true });
	await appLink.waitFor();
	await page.getByRole('cell', { name: 'Configured production' }).waitFor();
	await checkPage(page, 'the apps list', 'dashboard-apps');

	step(`app ${appID}: credentials`);
	await appLink.click();
	await page.getByRole('heading', { name: 'Credentials' }).waitFor();
	const shownKey = (await page.locator('#auth-key').textContent()).trim();
	if (shownKey !== authKey) throw new Error(`Auth Key shown ${shownKey}, want the app's key`);
	await page.getByRole('button', { name: 'Copy' }).click();
	await status(page, 'copied');
	await page.locator('#creds .confirm').getByText('copied').waitFor();
	const copied = await page.evaluate(() => navigator.clipboard.readText());
	if (copied !== authKey) throw new Error('the Copy button did not copy the Auth Key');

	step(`app ${appID}: switch to production`);
	await page.getByRole('radio', { name: 'Production' }).check();
	await status(page, `App ${appID} is now in Production`);
	// Each change gets its own confirmation, next to its control; the
	// copy's is gone.
	await page.locator('#stage .confirm').getByText(`App ${appID} is now in Production`).waitFor();
	if (await page.locator('.confirm', { hasText: 'copied' }).count() !== 0 || (await page.locator('#status').textContent()).includes('copied')) {
		throw new Error('"Auth Key copied" is still shown after the stage switch');
	}
	const swu = page.locator('fieldset', { hasText: 'Session creation without an existing user entity' });
	const listUsers = page.locator('fieldset', { hasText: 'Allow to retrieve a list of users via API' });
	const guests = page.locator('fieldset', { hasText: 'Guest sessions' });
	if (!(await swu.getByRole('radio', { name: 'Follow the stage (deny)' }).isChecked())) {
		throw new Error('the permission does not follow the stage (deny) after the switch');
	}
	if (!(await listUsers.getByRole('radio', { name: 'Follow the stage (deny)' }).isChecked()) ||
		!(await guests.getByRole('radio', { name: 'Follow session creation without a user (deny)' }).isChecked())) {
		throw new Error('list_users and guest_sessions do not follow their defaults (deny) in production');
	}
	await focusVisible(page, `app ${appID}`, 16);
	await checkPage(page, `app ${appID}`, 'dashboard-app');

	step('production + allow shows the warning; back to the stage default');
	await swu.getByRole('radio', { name: 'Allow', exact: true }).check();
	const saved = 'Saved — Session creation without an existing user entity: Allow';
	await status(page, saved);
	await page.locator('#permissions .confirm').getByText(saved).waitFor();
	// Guests follow it: their default is now allow.
	await guests.getByRole('radio', { name: 'Follow session creation without a user (allow)' }).waitFor();
	if (await page.locator('#stage .confirm').count() !== 0) throw new Error('the stage switch\'s confirmation stays after the permission change');
	await page.getByRole('alert').filter({ hasText: 'deny it in production' }).waitFor();
	await checkPage(page, `app ${appID} with the warning`, 'dashboard-app-warning');
	await page.locator('fieldset', { hasText: 'Session creation without an existing user entity' }).getByRole('radio', { name: 'Follow the stage (deny)' }).check();
	await status(page, 'Saved — Session creation without an existing user entity: Follow the stage (deny)');
	if (await page.getByRole('alert').count() !== 0) throw new Error('the warning stays after denying');

	step('production: allow app sessions to list users, which warns');
	await page.locator('fieldset', { hasText: 'Allow to retrieve a list of users via API' }).getByRole('radio', { name: 'Allow', exact: true }).check();
	await status(page, 'Saved — Allow to retrieve a list of users via API: Allow');
	await page.getByRole('alert').filter({ hasText: 'list users' }).waitFor();
	await page.locator('fieldset', { hasText: 'Allow to retrieve a list of users via API' }).getByRole('radio', { name: 'Follow the stage (deny)' }).check();
	await status(page, 'Saved — Allow to retrieve a list of users via API: Follow the stage (deny)');
	if (await page.getByRole('alert').count() !== 0) throw new Error('the list warning stays after following the stage');

	step(`app ${pinnedAppID}: a stage pinned by the config cannot be switched`);
	await page.goto(`${dashURL}/cubeauth/ui/#/apps/${pinnedAppID}`); // a hash change: same document
	await page.getByRole('heading', { name: `App ${pinnedAppID} · Configured production` }).waitFor();
	if (!(await page.getByRole('radio', { name: 'Development / Testing' }).isDisabled())) {
		throw new Error('the pinned stage can be switched in the page');
	}
	await page.locator('section', { hasText: 'Current stage' }).getByText('set by config').waitFor();

	step('users: search, end sessions, delete');
	await page.goto(`${dashURL}/cubeauth/ui/#/apps/${appID}/users`);
	await page.getByRole('heading', { name: `App ${appID} · Users` }).waitFor();
	const endLogin = env('END_SESSIONS_LOGIN');
	await page.getByRole('searchbox', { name: 'Search users' }).fill(endLogin);
	await page.getByRole('button', { name: 'Search', exact: true }).click();
	await page.getByText(`1 user(s) matching “${endLogin}”`).waitFor();
	if (await page.locator('tbody tr').count() !== 1) throw new Error('search does not narrow the list to one user');
	await page.getByRole('button', { name: `End sessions of ${endLogin}` }).click();
	await status(page, 'session(s) of user');
	const deleteLogin = env('DELETE_LOGIN');
	await page.getByRole('searchbox', { name: 'Search users' }).fill('');
	await page.getByRole('button', { name: 'Search', exact: true }).click();
	await page.getByText(/^\d+ user\(s\)$/).waitFor(); // the whole list again
	await checkPage(page, 'the users', 'dashboard-users');
	await page.getByRole('button', { name: `Delete user ${deleteLogin}` }).click();
	await status(page, 'deleted');
	await page.getByRole('cell', { name: deleteLogin, exact: true }).waitFor({ state: 'detached' });

	step('sessions: revoke one by its fingerprint');
	await page.getByRole('navigation', { name: 'App sections' }).getByRole('link', { name: 'Sessions' }).click();
	const fp = env('REVOKE_FINGERPRINT');
	const row = page.locator('tbody tr', { has: page.locator('code', { hasText: fp }) });
	await row.waitFor();
	await checkPage(page, 'the sessions', 'dashboard-sessions');
	await row.getByRole('button', { name: /^Revoke session/ }).click();
	await status(page, 'revoked');
	await row.waitFor({ state: 'detached' });
	await page.locator('#sessions-list .confirm').getByText('revoked').waitFor();

	step('empty states and errors are shown in the page');
	await page.goto(`${dashURL}/cubeauth/ui/#/apps/${appID}/sessions?user_id=999999`);
	await page.getByText('No active sessions of user 999999.').waitFor();
	await checkPage(page, 'an empty list');
	await page.goto(`${dashURL}/cubeauth/ui/#/apps/${appID}/users?search=nobody-matches-this`);
	await page.getByText('No user matches “nobody-matches-this”.').waitFor();
	expectFailedLoads = true;
	await page.goto(`${dashURL}/cubeauth/ui/#/apps/424242`);
	await page.getByRole('alert').waitFor();
	await page.getByRole('heading', { name: 'Something went wrong' }).waitFor();
	await checkPage(page, 'an error page');
	expectFailedLoads = false;

	step('the same page on Caddy\'s admin endpoint');
	const before = problems.length;
	const bare = await page.goto(`${adminURL}/cubeauth/ui/`);
	console.log(`admin endpoint, typed URL (no Referer): HTTP ${bare.status()}`);
	problems.length = before; // the browser logs that refusal as a console error
	// A navigation from a page of the admin endpoint carries its origin
	// (Referer), which Caddy's origin check needs.
	const admin = await page.goto(`${adminURL}/cubeauth/ui/`, { referer: `${adminURL}/cubeauth/ui/` });
	if (admin.status() !== 200) throw new Error(`admin endpoint page: HTTP ${admin.status()}`);
	await page.getByRole('link', { name: appID, exact: true }).waitFor();
	await page.getByLabel('Name').fill('Created in the admin UI');
	await page.getByRole('button', { name: 'Create app' }).click();
	await page.getByRole('heading', { name: /Created in the admin UI/ }).waitFor();
	const newKey = (await page.locator('#auth-key').textContent()).trim();
	if (!/^[0-9a-f-]{36}$/.test(newKey)) throw new Error(`new app's key ${newKey}`);
	await page.getByRole('radio', { name: 'Production' }).check(); // a write through the admin origin check
	await status(page, 'is now in Production');

}, (m) =>
	// Chromium asks for /favicon.ico after the admin endpoint's 403 page
	// (our page names its own icon), and Caddy answers that no-cors
	// request 400: not a problem of the page.
	m.location().url.endsWith('/favicon.ico') || (expectFailedLoads && m.text().startsWith('Failed to load resource')));
