// A backend that trusts a request only with a valid cubeauth identity
// assertion: an ES256 JWT in X-Cube-Assertion, checked with jose against
// cubeauth's JWKS (refetched on an unknown kid, so rotations are picked up).
//
//   PORT=9000 JWKS_URL=http://127.0.0.1:8080/.well-known/cubeauth/jwks.json \
//   AUDIENCE=api.example.com node verifier.mjs
import http from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const jwks = createRemoteJWKSet(new URL(process.env.JWKS_URL), { cooldownDuration: 5000 });
const audience = process.env.AUDIENCE;

// The jti of every bound assertion accepted, until it expires, so that a
// bound assertion is good once. (Several replicas of a backend would share
// this, in Redis say, with SET NX and the expiry.)
const usedJTIs = new Map();
let swept = 0;
function firstUse(jti, exp) {
  const now = Date.now();
  if (now - swept > 1000) { // the expired ones, at most once a second
    for (const [k, until] of usedJTIs) if (until < now) usedJTIs.delete(k);
    swept = now;
  }
  if (usedJTIs.has(jti)) return false;
  usedJTIs.set(jti, exp * 1000);
  return true;
}

http.createServer(async (req, res) => {
  res.setHeader('Content-Type', 'application/json');
  try {
    const { payload: c } = await jwtVerify(req.headers['x-cube-assertion'] ?? '', jwks, {
      algorithms: ['ES256'], issuer: 'cubeauth', audience, requiredClaims: ['exp'],
    });
    // A bound assertion is good for its own request only, and once.
    const path = req.url.split('?')[0];
    if (c.path !== undefined && (c.method !== req.method || c.path !== path)) {
      throw new Error('assertion is bound to another request');
    }
    if (c.jti !== undefined && !firstUse(c.jti, c.exp)) {
      throw new Error('assertion replayed');
    }
    res.end(JSON.stringify({ verified_by: 'node', sub: c.sub, app_id: c.app_id, login: c.login, session_type: c.session_type, sid: c.sid }));
  } catch (err) {
    res.statusCode = 401;
    res.end(JSON.stringify({ error: String(err.code ?? err.message) }));
  }
}).listen(Number(process.env.PORT), '127.0.0.1');
