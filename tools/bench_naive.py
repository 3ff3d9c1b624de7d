#!/usr/bin/env python3
"""The naive key-age scan, the seed's strategy made correct: every user (all pages), then
every user's keys and tags, whether or not any key is old. For `make bench` only.

  bench_naive.py ENDPOINT WARN_DAYS  -> one JSON line: {"users", "old_keys", "seconds"}
"""

import json
import sys
import time
from datetime import datetime, timezone

import boto3


def main(endpoint, warn_days):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    iam = boto3.client("iam", **kw)
    started = time.monotonic()
    now = datetime.now(timezone.utc)
    users = old = 0
    for page in iam.get_paginator("list_users").paginate():
        for user in page["Users"]:
            users += 1
            name = user["UserName"]
            keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
            iam.list_user_tags(UserName=name)
            old += sum(1 for k in keys if (now - k["CreateDate"]).days >= int(warn_days))
    print(json.dumps({"users": users, "old_keys": old, "seconds": time.monotonic() - started}))


if __name__ == "__main__":
    main(*sys.argv[1:])
