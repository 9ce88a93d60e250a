#!/usr/bin/env python3
"""Independent reimplementation of the Ward safety-number algorithm
(docs/protocol/identity.md, "Safety numbers"), used once to produce
safety_numbers.json. The Go tests check the package against that file, so a
change of the algorithm is caught. Needs the `cryptography` package only to
derive Ed25519 public keys from the seeds.

    python3 gen_safety_numbers.py > safety_numbers.json
"""
import hashlib
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

VERSION = 1
ITERATIONS = 5200


def aik(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def fingerprint(account_id: bytes, key: bytes) -> bytes:
    h = VERSION.to_bytes(2, "big") + key + account_id
    for _ in range(ITERATIONS):
        h = hashlib.sha512(h + key).digest()
    return h[:32]


def digits(fp: bytes) -> str:
    return "".join("%05d" % (int.from_bytes(fp[i:i + 5], "big") % 100000)
                   for i in range(0, 30, 5))


def vector(name, laid, lseed, raid, rseed):
    lkey, rkey = aik(lseed), aik(rseed)
    a, b = fingerprint(laid, lkey), fingerprint(raid, rkey)
    if a > b:
        a, b = b, a
    d = digits(a) + digits(b)
    return {
        "name": name,
        "local_account_id": laid.hex(),
        "local_aik_seed": lseed.hex(),
        "local_aik": lkey.hex(),
        "remote_account_id": raid.hex(),
        "remote_aik_seed": rseed.hex(),
        "remote_aik": rkey.hex(),
        "digits": d,
        "display": " ".join(d[i:i + 5] for i in range(0, 60, 5)),
        "qr_payload": (bytes([VERSION]) + a + b).hex(),
    }


seed = lambda start: bytes(range(start, start + 32))
aid = lambda start: bytes(range(start, start + 16))

vectors = [
    vector("distinct accounts", aid(0x10), seed(0x00), aid(0xa0), seed(0x40)),
    vector("same key, different account IDs", aid(0x10), seed(0x00), aid(0x11), seed(0x00)),
    vector("same account ID, different keys", aid(0x10), seed(0x00), aid(0x10), seed(0x01)),
    vector("one bit of the remote account ID", aid(0x10), seed(0x00), aid(0xa0)[:15] + b"\xae", seed(0x40)),
    vector("talking to oneself", aid(0x20), seed(0x80), aid(0x20), seed(0x80)),
]
print(json.dumps(vectors, indent=2))
