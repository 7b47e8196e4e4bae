// Follows a password reset link in a real headless Chromium, as a user
// would: the page shows a form, refuses two different passwords, sets the
// new one, and the same link then says it has expired. Run by
// e2e/password_reset_test.go, which reads the link from the mail its SMTP
// server received and afterwards logs in with the new password.
//
// Environment:
//   RESET_LINK    the link from the mail
//   NEW_PASSWORD  the password to set
//   CHROMIUM      the browser (default /usr/bin/chromium)
'use strict';

const { launchChromium } = require('./browser');

const env = (name) => {
	const v = process.env[name];
	if (!v) throw new Error(`${name} is not set`);
	return v;
};

function check(ok, msg) {
	if (!ok) throw new Error(msg);
	console.log(`ok: ${msg}`);
}

(async () => {
	const link = env('RESET_LINK');
	const password = env('NEW_PASSWORD');
	const { context, close } = await launchChromium();
	try {
		const page = context.pages()[0] || await context.newPage();
		const posts = [];
		page.on('request', (r) => { if (r.method() === 'POST') posts.push(r.url()); });

		let resp = await page.goto(link);
		const h = resp.headers();
		check(resp.status() === 200, `the link opens the page (status ${resp.status()})`);
		check(h['cache-control'] === 'no-store', `the page is not cached (Cache-Control: ${h['cache-control']})`);
		check(h['referrer-policy'] === 'no-referrer', `the page sends no Referer (Referrer-Policy: ${h['referrer-policy']})`);
		check((h['content-security-policy'] || '').includes("form-action 'self'"), 'the page posts only to itself');
		check(await page.locator('#password').isVisible(), 'the page shows a password form');

		await page.fill('#password', password);
		await page.fill('#password_confirmation', password + 'x');
		resp = await Promise.all([page.waitForNavigation(), page.click('#submit')]).then(([r]) => r);
		const mismatch = await page.textContent('body');
		check(mismatch.includes('differ'), `two different passwords are refused (${resp.status()}: ${mismatch.trim().slice(0, 200)})`);

		await page.fill('#password', password);
		await page.fill('#password_confirmation', password);
		resp = await Promise.all([page.waitForNavigation(), page.click('#submit')]).then(([r]) => r);
		check(resp.status() === 200, `the form sets the password (status ${resp.status()})`);
		check((await page.textContent('h1')).includes('Password changed'), 'the page says the password changed');
		check(posts.length === 2 && posts.every((u) => new URL(u).search === ''), `the form posts without the token in the URL (${posts.map((u) => new URL(u).pathname + new URL(u).search)})`);

		resp = await page.goto(link);
		check(resp.status() === 404, `the link a second time is refused (status ${resp.status()})`);
		check((await page.textContent('h1')).includes('Link expired'), 'the page says the link is used up');
	} finally {
		await close();
	}
})().catch((err) => {
	console.error(`FAIL: ${err.stack || err}`);
	process.exit(1);
});
