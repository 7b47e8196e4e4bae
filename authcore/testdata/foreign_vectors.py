#!/usr/bin/python3
"""Prints password hash test vectors made by the reference implementations
(Debian's python3-bcrypt, python3-argon2, python3-django and the stdlib's
hashlib.scrypt), one JSON object a line: {"format", "password", "hash"}.
authcore's TestForeignHashVectors runs this at test time."""
import base64, hashlib, json, os, sys

import argon2
import bcrypt
from django.conf import settings

settings.configure()
from django.contrib.auth.hashers import PBKDF2PasswordHasher

def out(fmt, password, h):
    print(json.dumps({"format": fmt, "password": password, "hash": h}))

passwords = ["correct horse battery staple", "pässwörd ✓", "x"]
for pw in passwords:
    for prefix in (b"2a", b"2b"):
        out("bcrypt-" + prefix.decode(), pw, bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4, prefix=prefix)).decode())
    # bcrypt's $2y$ is PHP's name for $2b$; python-bcrypt verifies but does not make it.
    out("bcrypt-2y", pw, "$2y$" + bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4))[4:].decode())
    out("argon2id", pw, argon2.PasswordHasher(time_cost=2, memory_cost=8192, parallelism=2).hash(pw))
    out("argon2i", pw, argon2.PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1, type=argon2.Type.I).hash(pw))
    salt = os.urandom(16)
    key = hashlib.scrypt(pw.encode(), salt=salt, n=1 << 14, r=8, p=1, dklen=32)
    b = lambda x: base64.b64encode(x).decode().rstrip("=")
    out("scrypt", pw, "$scrypt$ln=14,r=8,p=1$%s$%s" % (b(salt), b(key)))
    out("django-pbkdf2_sha256", pw, PBKDF2PasswordHasher().encode(pw, PBKDF2PasswordHasher().salt(), iterations=10000))
