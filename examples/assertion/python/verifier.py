#!/usr/bin/python3
"""A backend that trusts a request only with a valid cubeauth identity
assertion: an ES256 JWT in X-Cube-Assertion, checked with PyJWT against
cubeauth's JWKS (PyJWKClient refetches on an unknown kid, so rotations are
picked up).

    PORT=9000 JWKS_URL=http://127.0.0.1:8080/.well-known/cubeauth/jwks.json \\
    AUDIENCE=api.example.com /usr/bin/python3 verifier.py
"""
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

jwks = jwt.PyJWKClient(os.environ["JWKS_URL"], cache_keys=True)
audience = os.environ["AUDIENCE"]

# The jti of every bound assertion accepted, until it expires, so that a
# bound assertion is good once. (Several replicas of a backend would share
# this, in Redis say, with SET NX and the expiry.)
used_jtis = {}
used_lock = threading.Lock()
swept = [0.0]


def first_use(jti, exp):
    with used_lock:
        now = time.time()
        if now - swept[0] > 1:  # the expired ones, at most once a second
            for k in [k for k, until in used_jtis.items() if until < now]:
                del used_jtis[k]
            swept[0] = now
        if jti in used_jtis:
            return False
        used_jtis[jti] = exp
        return True


class Verifier(BaseHTTPRequestHandler):
    def answer(self):
        try:
            token = self.headers.get("X-Cube-Assertion", "")
            key = jwks.get_signing_key_from_jwt(token).key
            c = jwt.decode(token, key, algorithms=["ES256"], issuer="cubeauth",
                           audience=audience, options={"require": ["exp", "iat", "iss", "aud"]})
            # A bound assertion is good for its own request only, and once.
            path = self.path.split("?", 1)[0]
            if "path" in c and (c.get("method") != self.command or c["path"] != path):
                raise jwt.InvalidTokenError("assertion is bound to another request")
            if "jti" in c and not first_use(c["jti"], c["exp"]):
                raise jwt.InvalidTokenError("assertion replayed")
            status, body = 200, {"verified_by": "python", "sub": c.get("sub"), "app_id": c["app_id"],
                                 "login": c.get("login"), "session_type": c["session_type"], "sid": c["sid"]}
        except (jwt.PyJWTError, jwt.PyJWKClientError) as err:
            status, body = 401, {"error": type(err).__name__}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = answer

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Verifier).serve_forever()
