// cubeauth dashboard: a few hash-routed pages over the operator API that sits
// next to this file (/cubeauth/ on Caddy's admin endpoint, or on a site with
// the cubeauth_dashboard handler). No framework, no build step. Every value
// from the server goes through textContent, never innerHTML.

const here = new URL(location.href);
const apiBase = new URL('../', here); // .../cubeauth/ui/ -> .../cubeauth/
const store = here.searchParams.get('store') || '';

// api calls the operator API. Same-origin fetches pass Caddy's admin origin
// checks: the browser sends Origin on writes and a same-origin Referer on
// reads.
async function api(method, path, body) {
	const url = new URL(path, apiBase);
	if (store) url.searchParams.set('store', store);
	const opts = { method, credentials: 'same-origin', headers: {}, referrerPolicy: 'same-origin' };
	if (body !== undefined) {
		opts.headers['Content-Type'] = 'application/json';
		opts.body = JSON.stringify(body);
	}
	let res;
	try {
		res = await fetch(url, opts);
	} catch {
		throw new Error('cannot reach the server (is Caddy running?)');
	}
	if (res.status === 204) return null;
	let data = null;
	try { data = await res.json(); } catch { /* not JSON */ }
	if (!res.ok) {
		const msg = (data && data.error) || `${res.status} ${res.statusText}`;
		throw new Error(msg);
	}
	return data;
}

// h builds an element: h('a', {href: '#'}, 'text', child, ...).
function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === false || v === null || v === undefined) continue;
		if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
		else if (k === 'class') el.className = v;
		else if (v === true) el.setAttribute(k, '');
		else el.setAttribute(k, String(v));
	}
	for (const c of children.flat()) {
		if (c === null || c === undefined || c === false) continue;
		el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return el;
}

const main = document.getElementById('main');
const statusBox = document.getElementById('status');

// say reports the outcome of the latest change in the page-wide live region
// and, when anchor names a section, inside that section too, next to the
// control that changed. Each change replaces the previous message.
function say(msg, isError, anchor) {
	for (const old of document.querySelectorAll('.confirm')) old.remove();
	const section = anchor && document.getElementById(anchor);
	if (section) section.append(h('p', { class: isError ? 'confirm error' : 'confirm' }, msg));
	// Shown once: next to the control when there is one, at the top
	// otherwise. The live region always carries it, for screen readers.
	const cls = [isError ? 'error' : '', section ? 'echo' : ''].join(' ').trim();
	statusBox.replaceChildren(h('p', { class: cls }, msg));
}

function clearStatus() {
	statusBox.replaceChildren();
	for (const old of document.querySelectorAll('.confirm')) old.remove();
}

function fmtTime(s) {
	if (!s) return '—';
	const d = new Date(s);
	if (isNaN(d) || d.getUTCFullYear() < 1970) return '—';
	return d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

function stageLabel(stage) {
	return stage === 'production' ? 'Production' : 'Development / Testing';
}

function crumbs(...items) {
	const ol = document.getElementById('crumbs');
	ol.replaceChildren(...items.map(([label, href], i) =>
		h('li', {}, href && i < items.length - 1 ? h('a', { href }, label) : h('span', { 'aria-current': 'page' }, label))));
}

function show(title, ...content) {
	document.title = `${title} · cubeauth`;
	main.replaceChildren(h('h1', {}, title), ...content.flat().filter(Boolean));
	main.focus({ preventScroll: true });
}

// act runs an operator action, reports the outcome (done: a message, or a
// function of fn's result) in the page and in the section named anchor, and
// re-renders.
async function act(doing, fn, done, anchor) {
	try {
		say(doing + '…', false, anchor);
		const result = await fn();
		await route(false);
		// Said after the page shows the change, so that "done" means done.
		say(typeof done === 'function' ? done(result) : done, false, anchor);
	} catch (e) {
		say(`${doing} failed: ${e.message}`, true, anchor);
	}
}

// table builds a data table. Each header cell shares its column's class with
// the column's cells, so headers line up with their columns; each cell
// carries its column's label, so that on a phone a row becomes a card of
// "label value" lines (style.css).
function table(caption, columns, rows) {
	return h('table', { class: 'data' },
		h('caption', {}, caption),
		h('thead', {}, h('tr', {}, columns.map(c => h('th', { scope: 'col', class: c.cls }, c.label)))),
		h('tbody', {}, rows.map(r => h('tr', r.attrs || {},
			r.cells.map((cell, i) => h('td', { class: columns[i].cls, 'data-label': columns[i].label }, cell))))));
}

// empty is an empty state: what is missing, and what makes it appear.
function empty(what, hint) {
	return h('div', { class: 'empty' }, h('p', {}, what), hint ? h('p', { class: 'hint' }, hint) : null);
}

// Pages ---------------------------------------------------------------------

async function appsPage() {
	crumbs(['Apps', '#/']);
	const { apps } = await api('GET', 'apps');
	const rows = apps.map(a => ({
		cells: [
			h('a', { href: `#/apps/${a.id}` }, String(a.id)),
			a.name || h('span', { class: 'muted' }, '(no name)'),
			h('span', { class: `badge ${a.stage}` }, stageLabel(a.stage)),
			[a.session_without_user_effective === 'allow' ? 'Allow' : 'Deny',
				a.session_without_user === null ? h('span', { class: 'muted' }, ' (stage default)') : ''],
			a.warnings.length ? h('span', { class: 'badge warn' }, `⚠ ${a.warnings.length} warning${a.warnings.length === 1 ? '' : 's'}`) : h('span', { class: 'muted' }, 'none'),
			h('a', { href: `#/apps/${a.id}`, 'aria-label': `Open app ${a.id}` }, 'Open'),
		],
	}));
	const nameInput = h('input', { type: 'text', id: 'new-app-name', name: 'name', placeholder: 'e.g. Chat (staging)', maxlength: 200 });
	const form = h('form', {
		class: 'row', onsubmit: e => {
			e.preventDefault();
			let created;
			act('Creating the app', async () => {
				created = (await api('POST', 'apps', { name: nameInput.value })).app;
			}, 'App created.', 'new-app').then(() => { if (created) location.hash = `#/apps/${created.id}`; });
		},
	}, h('label', { for: 'new-app-name' }, 'Name'), nameInput, h('button', { class: 'primary', type: 'submit' }, 'Create app'));
	show('Apps',
		h('section', { class: 'card' },
			apps.length ? table(`${apps.length} app${apps.length === 1 ? '' : 's'}`, [
				{ label: 'App ID' }, { label: 'Name' }, { label: 'Stage' }, { label: 'Session without user' },
				{ label: 'Warnings' }, { label: 'Actions', cls: 'actions' },
			], rows) : empty('No apps yet.', 'Create one below, or declare one in the Caddyfile with an app block.')),
		h('section', { class: 'card', id: 'new-app' }, h('h2', {}, 'New app'),
			h('p', { class: 'hint' }, 'A new app gets the next App ID and a random Auth Key, and starts in Development / Testing.'),
			form));
}

function appTabs(id, current) {
	const tab = (label, href, key) => h('a', { href, 'aria-current': current === key ? 'page' : false }, label);
	return h('nav', { class: 'tabs', 'aria-label': 'App sections' },
		tab('Settings', `#/apps/${id}`, 'settings'),
		tab('Users', `#/apps/${id}/users`, 'users'),
		tab('Sessions', `#/apps/${id}/sessions`, 'sessions'));
}

function pinnedNote(app, field) {
	return app.pinned.includes(field)
		? h('span', { class: 'badge', title: 'Set in the Caddyfile/JSON config; change it there' }, 'set by config')
		: null;
}

// radioSwitch is a segmented control of radio buttons in a fieldset.
function radioSwitch(name, legend, options, value, disabled, onchange, extra) {
	return h('fieldset', {},
		h('legend', {}, legend, ' ', extra || ''),
		h('div', { class: 'switch' }, options.map(([v, label]) => h('label', {},
			h('input', {
				type: 'radio', name, value: v, checked: v === value, disabled,
				onchange: e => { if (e.target.checked) onchange(v); },
			}),
			h('span', {}, label)))));
}

async function appPage(id) {
	const { app } = await api('GET', `apps/${id}`);
	crumbs(['Apps', '#/'], [`App ${app.id}`, `#/apps/${app.id}`]);
	const patch = (body, doing, done, anchor) => act(doing, () => api('PATCH', `apps/${app.id}`, body), done, anchor);

	const copyBtn = h('button', {
		type: 'button', id: 'copy-key', onclick: async () => {
			try {
				await navigator.clipboard.writeText(app.auth_key);
				say('Auth Key copied to the clipboard.', false, 'creds');
			} catch {
				const range = document.createRange();
				range.selectNodeContents(document.getElementById('auth-key'));
				getSelection().removeAllRanges();
				getSelection().addRange(range);
				say('Select-all done: press Ctrl+C (or ⌘C) to copy the Auth Key.', false, 'creds');
			}
		},
	}, 'Copy');
	const grace = h('select', { id: 'grace', name: 'grace' },
		h('option', { value: '0' }, 'immediately'),
		h('option', { value: '1h' }, 'after 1 hour'),
		h('option', { value: '24h', selected: true }, 'after 24 hours'),
		h('option', { value: '168h' }, 'after 7 days'));
	const keyPinned = app.pinned.includes('auth_key');
	const rotateBtn = h('button', {
		type: 'button', id: 'rotate-key', disabled: keyPinned, onclick: () => {
			const when = grace.options[grace.selectedIndex].text;
			if (!confirm(`Rotate the Auth Key of app ${app.id}? The current key stops working ${when}.`)) return;
			act('Rotating the Auth Key', () => api('POST', `apps/${app.id}/rotate_key`, { grace: grace.value }),
				'New Auth Key issued. Roll it out to your clients before the old one stops.', 'creds');
		},
	}, 'Rotate key');

	const creds = h('section', { class: 'card', id: 'creds', 'aria-labelledby': 'creds-h' },
		h('h2', { id: 'creds-h' }, 'Credentials'),
		h('dl', { class: 'creds' },
			h('dt', {}, 'App ID'), h('dd', {}, h('code', { id: 'app-id', class: 'key' }, String(app.id))),
			h('dt', {}, 'Auth Key'), h('dd', { class: 'row' }, h('code', { id: 'auth-key', class: 'key' }, app.auth_key), copyBtn, pinnedNote(app, 'auth_key')),
			app.previous_auth_key_expires_at ? [h('dt', {}, 'Previous key'), h('dd', {}, 'still accepted until ' + fmtTime(app.previous_auth_key_expires_at))] : null,
			h('dt', {}, 'Auth Secret'), h('dd', {}, app.auth_secret_set ? 'set (legacy signed sessions)' : h('span', { class: 'muted' }, 'not set'), ' ', pinnedNote(app, 'auth_secret'))),
		h('div', { class: 'row' }, h('label', { for: 'grace' }, 'Old key stops'), grace, rotateBtn),
		keyPinned ? h('p', { class: 'hint' }, 'The Auth Key is set in the server configuration: rotate it there.') : null);

	const stagePinned = app.pinned.includes('stage');
	const stage = h('section', { class: 'card', id: 'stage', 'aria-labelledby': 'stage-h' },
		h('h2', { id: 'stage-h' }, 'Stage'),
		radioSwitch('stage', 'Current stage', [['development', 'Development / Testing'], ['production', 'Production']],
			app.stage, stagePinned,
			v => patch({ stage: v }, 'Switching the stage', `App ${app.id} is now in ${stageLabel(v)}.`, 'stage'),
			pinnedNote(app, 'stage')),
		h('p', { class: 'hint' }, 'Development / Testing: logging in with a new login creates the user. ',
			'Production: users sign up first (POST /users with the Auth Key), then log in. Changes apply to the next request; sessions stay.'));

	// permissionSwitch is an allow/deny/follow-the-default control for one
	// of the app's permissions.
	const permissionSwitch = (field, legend, follows, hint) => {
		const followLabel = `Follow ${follows} (${defaultOf(field)})`;
		return [
			radioSwitch(field, legend, [['allow', 'Allow'], ['deny', 'Deny'], ['', followLabel]],
				app[field] === null ? '' : app[field], app.pinned.includes(field),
				v => patch({ [field]: v === '' ? null : v }, 'Changing the permission',
					`Saved — ${legend}: ${v === '' ? followLabel : v === 'allow' ? 'Allow' : 'Deny'}.`, 'permissions'),
				pinnedNote(app, field)),
			h('p', { class: 'hint' }, ...hint),
		];
	};
	// defaultOf is what a permission is when it follows its default.
	const defaultOf = field => {
		const byStage = app.stage === 'production' ? 'deny' : 'allow';
		if (field !== 'guest_sessions') return byStage;
		return app.session_without_user === null ? byStage : app.session_without_user;
	};
	const permission = h('section', { class: 'card', id: 'permissions', 'aria-labelledby': 'perm-h' },
		h('h2', { id: 'perm-h' }, 'Permissions'),
		permissionSwitch('session_without_user', 'Session creation without an existing user entity', 'the stage',
			['Allow: POST /session with an unknown login creates the user and logs it in. ',
				'Deny: it answers 404 User not found. ', h('strong', {}, 'Recommended: Deny in production.')]),
		permissionSwitch('list_users', 'Allow to retrieve a list of users via API', 'the stage',
			['Whether app sessions (the public Auth Key alone) and guests may list and look up users. ',
				'Signed-in users always may; others never see private fields such as email.']),
		permissionSwitch('guest_sessions', 'Guest sessions', 'session creation without a user',
			['Each guest session creates a user, so by default guests follow the permission above.']),
		app.warnings.map(w => h('p', { class: 'warning', role: 'alert' }, '⚠ ', w)));

	const danger = app.pinned.length ? null : h('section', { class: 'card', id: 'delete', 'aria-labelledby': 'danger-h' },
		h('h2', { id: 'danger-h' }, 'Delete'),
		h('div', { class: 'row' },
			h('span', { class: 'muted' }, 'Deleting the app removes its users and sessions.'),
			h('button', {
				type: 'button', class: 'danger', id: 'delete-app', onclick: () => {
					if (!confirm(`Delete app ${app.id} with all its users and sessions?`)) return;
					act('Deleting the app', () => api('DELETE', `apps/${app.id}`), `App ${app.id} deleted.`, 'delete')
						.then(() => { location.hash = '#/'; });
				},
			}, 'Delete app')));

	show(app.name ? `App ${app.id} · ${app.name}` : `App ${app.id}`, appTabs(app.id, 'settings'), creds, stage, permission, danger);
}

const pageSize = 50;

function pager(offset, total, go) {
	if (total <= pageSize) return null;
	return h('div', { class: 'pager' },
		h('button', { type: 'button', disabled: offset === 0, onclick: () => go(Math.max(0, offset - pageSize)) }, 'Previous'),
		h('span', { class: 'muted' }, `${offset + 1}–${Math.min(offset + pageSize, total)} of ${total}`),
		h('button', { type: 'button', disabled: offset + pageSize >= total, onclick: () => go(offset + pageSize) }, 'Next'));
}

function hashParams() {
	const q = location.hash.indexOf('?');
	return new URLSearchParams(q < 0 ? '' : location.hash.slice(q + 1));
}

function setHashParams(base, params) {
	const s = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v !== 0 && v !== null)).toString();
	location.hash = base + (s ? '?' + s : '');
}

async function usersPage(id) {
	const params = hashParams();
	const search = params.get('search') || '';
	const offset = Number(params.get('offset') || 0);
	const q = new URLSearchParams({ offset, limit: pageSize });
	if (search) q.set('search', search);
	const { users, total } = await api('GET', `apps/${id}/users?${q}`);
	crumbs(['Apps', '#/'], [`App ${id}`, `#/apps/${id}`], ['Users', `#/apps/${id}/users`]);
	const input = h('input', { type: 'search', id: 'user-search', name: 'search', value: search, placeholder: 'login, email or name' });
	const form = h('form', {
		class: 'row', role: 'search', onsubmit: e => {
			e.preventDefault();
			setHashParams(`#/apps/${id}/users`, { search: input.value.trim() });
		},
	}, h('label', { for: 'user-search' }, 'Search users'), input, h('button', { type: 'submit' }, 'Search'));
	const rows = users.map(u => ({
		attrs: { 'data-user-id': u.id },
		cells: [
			String(u.id),
			[u.login || '—', u.is_guest ? h('span', { class: 'badge' }, ' guest') : ''],
			u.email || '—',
			u.full_name || '—',
			fmtTime(u.created_at),
			[h('a', { href: `#/apps/${id}/sessions?user_id=${u.id}`, 'aria-label': `Sessions of ${u.login || u.email || 'user ' + u.id}` }, 'Sessions'), ' ',
			h('button', {
				type: 'button', 'aria-label': `End sessions of ${u.login || u.email || 'user ' + u.id}`, onclick: () => {
					act('Ending sessions', () => api('POST', `apps/${id}/users/${u.id}/end_sessions`),
						r => `${r.ended} session(s) of user ${u.id} ended.`, 'users-list');
				},
			}, 'End sessions'), ' ',
			h('button', {
				type: 'button', class: 'danger', 'aria-label': `Delete user ${u.login || u.email || u.id}`, onclick: () => {
					if (!confirm(`Delete user ${u.login || u.email || u.id}? Their sessions end too.`)) return;
					act('Deleting the user', () => api('DELETE', `apps/${id}/users/${u.id}`), `User ${u.id} deleted.`, 'users-list');
				},
			}, 'Delete')],
		],
	}));
	show(`App ${id} · Users`, appTabs(id, 'users'),
		h('section', { class: 'card' }, form),
		h('section', { class: 'card', id: 'users-list' },
			users.length ? table(search ? `${total} user(s) matching “${search}”` : `${total} user(s)`, [
				{ label: 'ID' }, { label: 'Login' }, { label: 'Email' }, { label: 'Full name' }, { label: 'Created' },
				{ label: 'Actions', cls: 'actions' },
			], rows) : search
				? empty(`No user matches “${search}”.`, 'The search looks at logins, emails and full names.')
				: empty('No users yet.', 'In Development / Testing the first login creates its user; in Production users sign up with POST /users.'),
			pager(offset, total, o => setHashParams(`#/apps/${id}/users`, { search, offset: o }))));
}

async function sessionsPage(id) {
	const params = hashParams();
	const userID = params.get('user_id') || '';
	const offset = Number(params.get('offset') || 0);
	const q = new URLSearchParams({ offset, limit: pageSize });
	if (userID) q.set('user_id', userID);
	const { sessions, total } = await api('GET', `apps/${id}/sessions?${q}`);
	crumbs(['Apps', '#/'], [`App ${id}`, `#/apps/${id}`], ['Sessions', `#/apps/${id}/sessions`]);
	const input = h('input', { type: 'text', id: 'session-user', name: 'user_id', value: userID, inputmode: 'numeric', size: 8 });
	const form = h('form', {
		class: 'row', onsubmit: e => {
			e.preventDefault();
			setHashParams(`#/apps/${id}/sessions`, { user_id: input.value.trim() });
		},
	}, h('label', { for: 'session-user' }, 'User ID'), input, h('button', { type: 'submit' }, 'Filter'),
		userID ? h('a', { href: `#/apps/${id}/sessions` }, 'Show all') : null);
	const rows = sessions.map(s => ({
		attrs: { 'data-session-id': s.id },
		cells: [
			String(s.id),
			s.user_id === null ? h('span', { class: 'muted' }, 'app session') : h('a', { href: `#/apps/${id}/sessions?user_id=${s.user_id}`, title: 'Sessions of this user' }, String(s.user_id)),
			h('code', { title: 'Fingerprint of the token hash; tokens are never shown' }, s.fingerprint),
			fmtTime(s.created_at),
			fmtTime(s.expires_at),
			h('button', {
			type: 'button', class: 'danger', 'aria-label': `Revoke session ${s.id}`, onclick: () => {
				if (!confirm(`Revoke session ${s.id}? Its token is refused from the next request on.`)) return;
				act('Revoking the session', () => api('DELETE', `apps/${id}/sessions/${s.id}`), `Session ${s.id} revoked.`, 'sessions-list');
			},
		}, 'Revoke'),
		],
	}));
	show(`App ${id} · Sessions`, appTabs(id, 'sessions'),
		h('section', { class: 'card' }, form),
		h('section', { class: 'card', id: 'sessions-list' },
			sessions.length ? table(`${total} active session(s)${userID ? ' of user ' + userID : ''}`, [
				{ label: 'ID' }, { label: 'User' }, { label: 'Token fingerprint' }, { label: 'Created' }, { label: 'Idle expiry' },
				{ label: 'Actions', cls: 'actions' },
			], rows) : empty(userID ? `No active sessions of user ${userID}.` : 'No active sessions.',
				'A session appears here when a client logs in (POST /session) and leaves when it logs out, expires or is revoked.'),
			pager(offset, total, o => setHashParams(`#/apps/${id}/sessions`, { user_id: userID, offset: o }))));
}

// Routing -------------------------------------------------------------------

async function route(clear = true) {
	if (clear) clearStatus();
	const path = location.hash.replace(/^#/, '').split('?')[0] || '/';
	const m = path.match(/^\/apps\/(\d+)(?:\/(users|sessions))?\/?$/);
	try {
		if (path === '/' || path === '') await appsPage();
		else if (m && m[2] === 'users') await usersPage(m[1]);
		else if (m && m[2] === 'sessions') await sessionsPage(m[1]);
		else if (m) await appPage(m[1]);
		else show('Not found', h('p', {}, h('a', { href: '#/' }, 'Back to the apps')));
	} catch (e) {
		show('Something went wrong', h('p', { class: 'warning', role: 'alert' }, e.message),
			h('p', {}, h('a', { href: '#/' }, 'Back to the apps')));
	}
	document.body.dataset.ready = 'true';
}

async function showStore() {
	try {
		const { stores } = await api('GET', 'stores');
		const el = document.getElementById('store');
		const current = store || (stores.length === 1 ? stores[0].name : '');
		if (current) el.textContent = 'store: ' + current;
	} catch (e) {
		document.getElementById('store').textContent = `store: unknown (${e.message})`;
	}
}

window.addEventListener('hashchange', () => route());
showStore();
route();
