// launchChromium starts headless Chromium (CHROMIUM, default
// /usr/bin/chromium) in a fresh profile with the flags every browser test
// here uses; options are added to playwright's launchPersistentContext.
// close() ends the browser and removes the profile.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

async function launchChromium(options = {}) {
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cubeauth-chromium-'));
	const context = await chromium.launchPersistentContext(userDataDir, {
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: [
			'--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
			'--disable-component-update', '--disable-sync', '--no-first-run',
		],
		...options,
	});
	const close = async () => {
		await context.close();
		fs.rmSync(userDataDir, { recursive: true, force: true });
	};
	return { context, close };
}

module.exports = { launchChromium };
