"""Validate OCSF events, one JSON object per line on stdin, against the OCSF schema.

Each event's class (`class_uid`) and version (`metadata.version`) select the schema, made
by the pinned `ocsf-json-schema` package from the OCSF releases it carries (offline),
and checked with `jsonschema` (draft 2020-12). Prints one line per invalid event and a
count; exits 1 if any event is invalid (or none was given), 0 otherwise.
"""

import json
import sys

from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

_validators = {}


def validator(version, class_uid):
    key = (version, class_uid)
    if key not in _validators:
        schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
        name = schema.lookup_class_name_from_uid(class_uid=class_uid)
        _validators[key] = Draft202012Validator(schema.get_class_schema(class_name=name, profiles=[]))
    return _validators[key]


def main():
    seen, bad = 0, 0
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        seen += 1
        try:
            event = json.loads(line)
            errors = list(validator(event["metadata"]["version"], event["class_uid"]).iter_errors(event))
        except (ValueError, KeyError, TypeError) as err:
            errors = [err]
        for e in errors[:3]:
            where = "/".join(str(p) for p in getattr(e, "absolute_path", []))
            print(f"line {n}: {where or '(event)'}: {getattr(e, 'message', e)}")
        bad += bool(errors)
    print(f"check_ocsf: {seen} events, {bad} invalid")
    return 1 if bad or not seen else 0


if __name__ == "__main__":
    sys.exit(main())
