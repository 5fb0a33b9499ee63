#!/usr/bin/env python3
"""audit_check.py SCHEMA FILE...: every line of each audit file is one record
valid against examples/mtlsd-audit.schema.json (python3-jsonschema, draft
2020-12), with its keys in the schema's order.

The files (gzip-compressed ones too, as logrotate leaves them) are read
as strict UTF-8 and each line as strict JSON (no
duplicate keys).  Prints "FILE:LINE: why" for each bad record and
"records=N files=N" at the end; exits 1 if any record was bad, 2 if the
schema itself is not valid or jsonschema is missing.
"""
import gzip
import json
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("audit_check.py: python3-jsonschema is missing (make deps)")


def no_dups(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key in %r" % keys)
    return dict(pairs)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        print("%s: not a valid schema: %s" % (sys.argv[1], e.message))
        sys.exit(2)
    validator = cls(schema)
    order = list(schema["properties"])
    bad = records = 0
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":     # logrotate's compress: gzip
            data = gzip.decompress(data)
        if data and not data.endswith(b"\n"):
            print("%s: the last line is not terminated" % path)
            bad += 1
        for n, raw in enumerate(data.split(b"\n")[:-1] if data else [], 1):
            records += 1
            try:
                rec = json.loads(raw.decode("utf-8"), object_pairs_hook=no_dups)
            except ValueError as e:
                print("%s:%d: not JSON: %s" % (path, n, e))
                bad += 1
                continue
            errors = sorted(validator.iter_errors(rec), key=lambda e: list(e.path))
            for e in errors:
                where = "/".join(str(p) for p in e.path) or "record"
                print("%s:%d: %s: %s" % (path, n, where, e.message))
            keys = list(rec) if isinstance(rec, dict) else []
            if not errors and keys != sorted(keys, key=order.index):
                print("%s:%d: keys out of order: %s" % (path, n, ",".join(keys)))
                errors = [True]
            bad += 1 if errors else 0
    print("records=%d files=%d bad=%d" % (records, len(sys.argv) - 2, bad))
    sys.exit(1 if bad else 0)


main()
