'use strict';
// What every flow script shares: its configuration from the environment, a
// step runner that names the failing step, raw HTTP calls for what the SDKs
// do not do (the proxied backend, replays), and rejection checks.
//
// Environment (set by e2e/sdk_test.go):
//   CUBEAUTH_URL   origin of Caddy with cubeauth, e.g. http://127.0.0.1:8080
//   WHOAMI_PATH    proxied path whose backend echoes the identity headers (/whoami)
//   APP_ID, AUTH_KEY, AUTH_SECRET   the app the flow runs against
//   LOGIN_SUFFIX   makes this run's logins unique

const assert = require('node:assert/strict');

function env(name, fallback) {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    throw new Error(`environment variable ${name} is required`);
  }
  return value;
}

const config = {
  url: env('CUBEAUTH_URL').replace(/\/+$/, ''),
  whoamiPath: env('WHOAMI_PATH', '/whoami'),
  appId: Number(env('APP_ID')),
  authKey: env('AUTH_KEY'),
  authSecret: process.env.AUTH_SECRET || '',
  suffix: env('LOGIN_SUFFIX'),
};

let stepNumber = 0;

// step runs one named part of a flow and prints "ok N - name", so the output
// of a failed run shows how far the flow got.
async function step(name, fn) {
  stepNumber += 1;
  try {
    const result = await fn();
    console.log(`ok ${stepNumber} - ${name}`);
    return result;
  } catch (err) {
    console.log(`not ok ${stepNumber} - ${name}`);
    err.step = name;
    throw err;
  }
}

// scenario runs a whole flow and sets the exit code: 0 only if every step
// passed. The process exits explicitly so that no SDK timer keeps it alive.
function scenario(name, fn) {
  console.log(`# ${name} against ${config.url} (app ${config.appId})`);
  fn()
    .then(() => {
      console.log(`# ${name}: all ${stepNumber} steps passed`);
      process.exit(0);
    })
    .catch((err) => {
      console.error(`\nFAIL ${name}: step "${err.step ?? '?'}"`);
      console.error(describe(err));
      process.exit(1);
    });
}

// describe renders anything thrown, including the SDKs' {code, info} rejections.
function describe(err) {
  if (err instanceof Error) {
    return err.stack || String(err);
  }
  try {
    return `rejected with ${JSON.stringify(err, (key, value) => (key === 'step' ? undefined : value))}`;
  } catch {
    return `rejected with ${String(err)}`;
  }
}

// request sends a raw HTTP request to cubeauth and returns status, headers,
// the raw text and the parsed JSON body (null when the body is not JSON).
async function request(method, path, { token, bearer, headers = {}, json, body } = {}) {
  const h = { ...headers };
  if (token) h['CB-Token'] = token;
  if (bearer) h.Authorization = `Bearer ${bearer}`;
  let payload = body;
  if (json !== undefined) {
    h['Content-Type'] = 'application/json;charset=utf-8';
    payload = JSON.stringify(json);
  }
  const resp = await fetch(config.url + path, { method, headers: h, body: payload });
  const text = await resp.text();
  let parsed = null;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    parsed = null;
  }
  return { status: resp.status, headers: resp.headers, text, body: parsed };
}

// whoami calls the proxied backend, which answers with the identity headers it
// received: {user_id, app_id, login, session_type, method}.
async function whoami(token, { method = 'GET', headers } = {}) {
  return request(method, config.whoamiPath, { token, headers });
}

// expectOK asserts a 2xx answer from the backend and returns its JSON.
function expectOK(resp, what) {
  assert.ok(resp.status >= 200 && resp.status < 300, `${what}: want 2xx, got ${resp.status} ${resp.text}`);
  assert.ok(resp.body !== null, `${what}: want a JSON body, got ${JSON.stringify(resp.text)}`);
  return resp.body;
}

// The body every SDK treats as "expired session" (docs/wire-format.md §6).
const expiredSessionBody = { errors: { base: ['Required session does not exist'] } };

// rejection awaits a promise that must reject and returns the reason.
async function rejection(promise, what) {
  let result;
  try {
    result = await promise;
  } catch (err) {
    return err;
  }
  assert.fail(`${what}: want a rejection, got success ${JSON.stringify(result)}`);
}

// sdkError awaits an SDK call that must fail with HTTP status code and
// returns the parsed error body (the SDKs reject with {code, info}).
async function sdkError(promise, code, what) {
  const err = await rejection(promise, what);
  assert.equal(err?.code, code, `${what}: want code ${code}, got ${describe(err)}`);
  return err.info;
}

// hasErrors asserts the ConnectyCube error shape {"errors": [...] | {...}}.
function assertErrorShape(body, what) {
  assert.ok(body && typeof body === 'object' && body.errors, `${what}: want {"errors": ...}, got ${JSON.stringify(body)}`);
  const e = body.errors;
  assert.ok(Array.isArray(e) || (typeof e === 'object' && e !== null), `${what}: "errors" must be an array or object`);
}

module.exports = {
  assert,
  config,
  step,
  scenario,
  request,
  whoami,
  expectOK,
  expiredSessionBody,
  rejection,
  sdkError,
  assertErrorShape,
  describe,
};
