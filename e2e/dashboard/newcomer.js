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

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const env = (name) => {
	const v = process.env[name];
	if (!v) throw new Error(`${name} is not set`);
	return v;
};

async function main() {
	const appID = env('APP_ID');
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cubeauth-chromium-'));
	const context = await chromium.launchPersistentContext(userDataDir, {
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
			'--disable-component-update', '--disable-sync', '--no-first-run'],
		// What a person types into the browser's login prompt.
		httpCredentials: { username: env('DASH_USER'), password: env('DASH_PASSWORD') },
		viewport: { width: 1200, height: 800 },
	});
	const page = context.pages()[0] || await context.newPage();
	const problems = [];
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
	try {
		console.log(`step: open ${env('DASH_URL')}`);
		const res = await page.goto(env('DASH_URL'));
		if (res.status() !== 200) throw new Error(`the printed dashboard URL answers HTTP ${res.status()}`);
		console.log(`step: open app ${appID}`);
		await page.getByRole('link', { name: appID, exact: true }).click();
		await page.getByRole('heading', { name: 'Stage' }).waitFor();
		console.log('step: switch to production');
		await page.getByRole('radio', { name: 'Production' }).check();
		await page.locator('#status').getByText(`App ${appID} is now in Production`).waitFor({ timeout: 10_000 });
		if (problems.length) throw new Error(problems.join('\n'));
		console.log('newcomer: ok');
	} catch (e) {
		const file = path.join(os.tmpdir(), `cubeauth-newcomer-failure-${process.pid}.png`);
		await page.screenshot({ path: file, fullPage: true }).catch(() => {});
		console.error(`failed at ${page.url()} (screenshot: ${file})`);
		throw e;
	} finally {
		await context.close();
		fs.rmSync(userDataDir, { recursive: true, force: true });
	}
}

main().catch((e) => {
	console.error(e.stack || String(e));
	process.exit(1);
});
