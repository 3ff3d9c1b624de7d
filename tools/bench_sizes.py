#!/usr/bin/env python3
"""Sizes for `make bench`, one JSON line.

  bench_sizes.py BOOTSTRAP_ZIP...  -> {"zips": {path: {"bootstrap": bytes, "zip": bytes}},
                                      "baseline": {"files": bytes, "zip": bytes}}

The baseline is what seed 000's Python function runs: its handler plus boto3 and the
packages boto3 loads (botocore, s3transfer, jmespath, dateutil, urllib3, six), as
installed here, byte-compiled files left out; zipped with deflate, as Lambda takes it.
Lambda's Python runtime ships boto3 itself, so a real upload is the handler alone.
"""

import importlib.util
import io
import json
import os
import sys
import zipfile

SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
HANDLER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_boto3_lambda.py")


def files():
    yield HANDLER, "lambda_function.py"
    for name in SDK:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        if spec.submodule_search_locations:
            root = os.path.dirname(spec.origin)
            for folder, dirs, names in os.walk(root):
                dirs[:] = [d for d in dirs if d != "__pycache__"]
                for n in names:
                    path = os.path.join(folder, n)
                    yield path, os.path.relpath(path, os.path.dirname(root))
        else:
            yield spec.origin, os.path.basename(spec.origin)


def baseline():
    total = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for path, name in files():
            total += os.path.getsize(path)
            z.write(path, name)
    return {"files": total, "zip": len(buffer.getvalue())}


def main(zips):
    out = {}
    for path in zips:
        with zipfile.ZipFile(path) as z:
            out[path] = {"bootstrap": z.getinfo("bootstrap").file_size, "zip": os.path.getsize(path)}
    print(json.dumps({"zips": out, "baseline": baseline()}))


if __name__ == "__main__":
    main(sys.argv[1:])
