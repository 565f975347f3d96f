"""schemathesis hooks of tests/faults/test_schemathesis.py (loaded with SCHEMATHESIS_HOOKS=<this file>).

One hook only: a generated order's ``client_order_id``, when it is a valid id, gets a unique suffix
(still valid: same alphabet, at most 64 characters), so generated orders are not all refused as
duplicates (409) of the few ids hypothesis favours, and the stateful phase has orders of its own to
read and cancel. Invalid ids (negative cases) are left exactly as generated.
"""

import itertools
import re

import schemathesis

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,63}$")
_n = itertools.count()


@schemathesis.hook("map_body").apply_to(path="/api/v1/orders", method="POST")
def unique_client_order_id(context, body):
    if isinstance(body, dict) and isinstance(body.get("client_order_id"), str) and _ID.fullmatch(body["client_order_id"]):
        suffix = f".{next(_n)}"
        body = {**body, "client_order_id": body["client_order_id"][: 64 - len(suffix)] + suffix}
    return body
