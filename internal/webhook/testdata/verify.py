# Verifies a maintpage webhook delivery: the example of docs/operating.md, run by the tests.
# Usage: python3 verify.py SECRET "$MAINTPAGE_SIGNATURE_HEADER" < body
import hashlib, hmac, sys, time

def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> str:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, sig = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or not sig:
        return "malformed"
    if abs(time.time() - int(t)) > tolerance:
        return "too old"
    want = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return "ok" if hmac.compare_digest(want, sig) else "bad signature"

print(verify(sys.argv[1], sys.argv[2], sys.stdin.buffer.read()))
