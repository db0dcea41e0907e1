#!/usr/bin/env python3
"""Messages a lenient server reads differently from warden, end to end (issue 11, class 1).

Raw requests go through build/warden to a recording upstream that reads bodies
as the most lenient servers do: Go's encoding/json (keys matched under Unicode
simple case folding, the last match wins) and a generic JSON-RPC dispatcher
(a message without an id runs its method all the same). Each case must be
refused with a JSON-RPC error, or decided by the policy as that server reads
it; afterwards no forbidden call may have reached the upstream as it reads it.

Usage: lenient_readers.py WARDEN_BIN   (prints "N passed, N failed")
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FORBIDDEN_TOOLS, PROTECTED_ALIASES, Recorder, Tally, check_answer, exchange,  # noqa: E402
                     policy_warden, post)

# Simple case folding for the characters these cases use beyond ASCII (Go's unicode.SimpleFold orbits).
SPECIAL_FOLDS = {"\u017f": "s", "\u212a": "k", "\u212b": "\u00e5"}


def fold(s):
    return "".join(SPECIAL_FOLDS.get(c, c.lower() if len(c.lower()) == 1 else c) for c in s)


def go_get(obj, key):
    """The member Go's encoding/json binds to the field `key`: the last key that folds to it."""
    found = None
    if isinstance(obj, dict):
        for k, v in obj.items():
            if fold(k) == fold(key):
                found = v
    return found


def go_pairs(pairs):
    """Keeps every member in order, duplicates included, for go_get."""
    return _Members(pairs)


class _Members(dict):
    def __init__(self, pairs):
        super().__init__()
        self.pairs = pairs

    def items(self):
        return iter(self.pairs)


def forbidden(body):
    """True when a Go server with a generic dispatcher would run a call warden must stop."""
    try:
        msg = json.loads(body, object_pairs_hook=go_pairs)
    except ValueError:
        return False
    if go_get(msg, "method") != "tools/call":
        return False
    params = go_get(msg, "params")
    name = go_get(params, "name")
    args = go_get(params, "arguments")
    if name in FORBIDDEN_TOOLS:
        return True
    alias = go_get(args, "alias")
    return name == "delete_model_alias" and alias in PROTECTED_ALIASES


def body(text):
    return post(text)


CALL = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":%s}'

# (name, raw request, expected first status, a substring the answer must contain)
CASES = [
    # keys that fold together: Go keeps the last
    ("Name after name", body(CALL % '{"name":"echo","Name":"delete_registered_model","arguments":{}}'), 400, b"-32600"),
    ("NAME before name", body(CALL % '{"NAME":"get_env","name":"echo"}'), 400, b"-32600"),
    ("long s in arguments", body(CALL % '{"name":"delete_model_alias","arguments":{"alias":"x","alia\\u017f":"champion"}}'), 400, b"-32600"),
    ("Kelvin sign", body(CALL % '{"name":"echo","arguments":{"k":1,"\\u212a":2}}'), 400, b"-32600"),
    ("fold in a nested object", body(CALL % '{"name":"echo","arguments":{"a":[{"x":1,"X":2}]}}'), 400, b"-32600"),
    # case variants of the keys warden reads, alone
    ("Params", body('{"jsonrpc":"2.0","id":1,"method":"ping","Params":{"name":"get_env"}}'), 400, b"-32600"),
    ("Method", body('{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call","params":{"name":"get_env"}}'), 400, b"-32600"),
    ("Name alone", body(CALL % '{"Name":"get_env","arguments":{}}'), 400, b"-32600"),
    ("arguments with long s", body(CALL % '{"name":"delete_model_alias","argument\\u017f":{"alias":"champion"}}'), 400, b"-32600"),
    ("ID", body('{"jsonrpc":"2.0","ID":1,"method":"tools/call","params":{"name":"get_env"}}'), 400, b"-32600"),
    ("dotless i id (I to .NET)", body('{"jsonrpc":"2.0","\\u0131d":1,"method":"tools/call","params":{"name":"get_env"}}'), 400, b"-32600"),
    # request methods without an id
    ("tools/call as a notification", body('{"jsonrpc":"2.0","method":"tools/call","params":{"name":"get_env","arguments":{}}}'), 400, b"a request method sent as a notification"),
    ("denied call as a notification", body('{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_registered_model"}}'), 400, b"-32600"),
    ("$/ method as a notification", body('{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}'), 400, b"-32600"),
    # request and response fields together
    ("response with params", body('{"jsonrpc":"2.0","id":1,"result":{},"params":{"name":"get_env"}}'), 400, b"-32600"),
    ("response with method", body('{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"},"method":"tools/call","params":{"name":"get_env"}}'), 400, b"-32600"),
    # an argument spelled as Go binds it meets the condition on it
    ("Alias", body(CALL % '{"name":"delete_model_alias","arguments":{"Alias":"champion"}}'), 200, b"protected alias"),
    ("ALIAS with long s", body(CALL % '{"name":"delete_model_alias","arguments":{"ALIA\\u017f":"production"}}'), 200, b"protected alias"),
    # what stays allowed
    ("plain call", body(CALL % '{"name":"echo","arguments":{"Alias":"x"}}'), 200, b"ok"),
    ("notification", body('{"jsonrpc":"2.0","method":"notifications/initialized"}'), 200, b"ok"),  # forwarded: the fixture answers it
]


def main():
    tally = Tally()
    with Recorder() as up, policy_warden(sys.argv[1], up.port, tally) as port:
        for name, raw, want_status, want_text in CASES:
            check_answer(tally, name, exchange(port, raw, quiet=0.6), want_status, want_text)
        leaked = [b for b in up.bodies() if forbidden(b)]
        tally.check("no forbidden call reached the upstream", not leaked, repr(leaked[:3]))
    return tally.summary()


if __name__ == "__main__":
    sys.exit(main())
