// A newcomer's first visit to the demo's dashboard, in a real headless
// Chromium: open the URL ./examples/demo.sh printed, log in with the password
// it printed, open app 1 and switch it to production. Run by
// e2e/demo_test.go, which then checks that the next login that would create
// a user is refused.
//
// Environment:
//   DASH_URL, DASH_USER, DASH_PASSWORD  what the demo printed
//   APP_ID                              the app to switch
//   CHROMIUM                            the browser (default /usr/bin/chromium)
'use strict';

const { env, run } = require('./browser');

// The credentials are what a person types into the browser's login prompt.
run('newcomer', { username: env('DASH_USER'), password: env('DASH_PASSWORD') }, async (page) => {
	const appID = env('APP_ID');
	console.log(`step: open ${env('DASH_URL')}`);
	const res = await page.goto(env('DASH_URL'));
	if (res.status() !== 200) throw new Error(`the printed dashboard URL answers HTTP ${res.status()}`);
	console.log(`step: open app ${appID}`);
	await page.getByRole('link', { name: appID, exact: true }).click();
	await page.getByRole('heading', { name: 'Stage' }).waitFor();
	console.log('step: switch to production');
	await page.getByRole('radio', { name: 'Production' }).check();
	await page.locator('#stage').getByText(`App ${appID} is now in Production`).waitFor({ timeout: 10_000 });
});
