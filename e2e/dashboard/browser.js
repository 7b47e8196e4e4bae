// What the browser scripts of this directory share: a headless Chromium
// with a fresh profile, console and page errors collected as problems, a
// screenshot when a script fails, and the checks every page must pass.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

// env returns a required environment variable.
function env(name) {
	const v = process.env[name];
	if (!v) throw new Error(`${name} is not set`);
	return v;
}

// launchChromium starts headless Chromium (CHROMIUM, default
// /usr/bin/chromium) in a fresh profile with the flags every browser test
// here uses; options are added to playwright's launchPersistentContext.
// close() ends the browser and removes the profile.
async function launchChromium(options = {}) {
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cubeauth-chromium-'));
	const context = await chromium.launchPersistentContext(userDataDir, {
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
			'--disable-component-update', '--disable-sync', '--no-first-run'],
		...options,
	});
	const close = async () => {
		await context.close();
		fs.rmSync(userDataDir, { recursive: true, force: true });
	};
	return { context, close };
}

// run launches Chromium, logged in to a basic_auth site with credentials,
// calls fn(page, problems), and exits non-zero if fn throws or a console or
// page error was collected; ignore(msg) drops an expected console error.
function run(name, credentials, fn, ignore = () => false) {
	(async () => {
		const { context, close } = await launchChromium({ httpCredentials: credentials, viewport: { width: 1200, height: 800 } });
		const page = context.pages()[0] || await context.newPage();
		const problems = [];
		page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
		page.on('console', (m) => {
			if (m.type() === 'error' && !ignore(m)) problems.push(`console error: ${m.text()}`);
		});
		try {
			await fn(page, problems, context);
			if (problems.length) throw new Error(problems.join('\n'));
			console.log(`${name}: ok`);
		} catch (e) {
			const file = path.join(os.tmpdir(), `cubeauth-${name}-failure-${process.pid}.png`);
			await page.screenshot({ path: file, fullPage: true }).catch(() => {});
			console.error(`failed at ${page.url()} (screenshot: ${file})`);
			throw e;
		} finally {
			await close();
		}
	})().catch((e) => {
		console.error(e.stack || String(e));
		process.exit(1);
	});
}

const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// audit runs axe-core's WCAG 2.1 A and AA rules on the page and fails on
// any violation, naming the elements.
async function audit(page, where) {
	// Evaluated through the DevTools protocol: the page's Content Security
	// Policy (script-src 'self') rightly refuses an injected script tag.
	if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
	const violations = await page.evaluate(async () => {
		const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
		return r.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
	});
	if (violations.length) throw new Error(`axe-core on ${where}:\n${violations.join('\n')}`);
}

// fitsPhone sets a 390 px wide viewport and fails if anything makes the
// page scroll sideways; it leaves the viewport narrow.
async function fitsPhone(page, where) {
	await page.setViewportSize({ width: 390, height: 844 });
	await page.waitForTimeout(100);
	const wide = await page.evaluate(() => {
		const out = [];
		// Visually hidden content (clipped to nothing, for screen readers)
		// takes no room on the screen.
		const clipped = (el) => { for (let e = el; e; e = e.parentElement) if (getComputedStyle(e).clipPath !== 'none') return true; return false; };
		for (const el of document.querySelectorAll('body *')) {
			const r = el.getBoundingClientRect();
			if (clipped(el)) continue;
			if (r.width > 0 && r.right > document.documentElement.clientWidth + 0.5) out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className} right=${Math.round(r.right)}`);
		}
		return { scroll: document.documentElement.scrollWidth, out: out.slice(0, 5) };
	});
	if (wide.scroll > 390 || wide.out.length) throw new Error(`${where} overflows 390 px (scrollWidth ${wide.scroll}): ${wide.out.join('; ')}`);
}

// headersAlign fails unless every table header cell is aligned like the
// cells of its column.
async function headersAlign(page, where) {
	const bad = await page.evaluate(() => {
		const out = [];
		for (const table of document.querySelectorAll('table')) {
			const ths = [...table.querySelectorAll('thead th')];
			for (const tr of table.querySelectorAll('tbody tr')) {
				[...tr.children].forEach((td, i) => {
					const th = ths[i];
					if (!th) return;
					const a = getComputedStyle(th).textAlign, b = getComputedStyle(td).textAlign;
					const dx = Math.abs(th.getBoundingClientRect().left - td.getBoundingClientRect().left);
					if (a !== b || dx > 1) out.push(`${th.textContent}: header ${a}, cell ${b}, ${dx}px apart`);
				});
			}
		}
		return out;
	});
	if (bad.length) throw new Error(`${where}: headers do not line up with their columns: ${bad.join('; ')}`);
}

// focusVisible tabs through the page's first controls and fails unless each
// one, when focused from the keyboard, shows an outline (a radio button's is
// drawn on its label).
async function focusVisible(page, where, count = 12) {
	await page.locator('body').focus();
	for (let i = 0; i < count; i++) {
		await page.keyboard.press('Tab');
		const f = await page.evaluate(() => {
			let el = document.activeElement;
			if (!el || el === document.body) return null;
			const name = `${el.tagName.toLowerCase()} ${el.getAttribute('aria-label') || el.textContent.trim().slice(0, 30) || el.name || ''}`;
			if (el.matches('.switch input')) el = el.closest('label');
			const s = getComputedStyle(el);
			return { name, outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 };
		});
		if (!f) break;
		if (!f.outline) throw new Error(`${where}: keyboard focus on ${f.name} is not visible`);
	}
}

module.exports = { env, run, launchChromium, audit, fitsPhone, headersAlign, focusVisible };
