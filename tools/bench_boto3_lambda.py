#!/usr/bin/env python3
"""The containment baseline for `make bench`: seed 000's handler (one boto3
`update_access_key` on the key and user the event names), served through the Lambda
Runtime API at $AWS_LAMBDA_RUNTIME_API the way Lambda's Python runtime serves it: the
module (and its boto3 client) is loaded once, then one event at a time. boto3 reaches moto
through $AWS_ENDPOINT_URL, as keyguard's functions do.
"""

import http.client
import json
import os

import boto3

iam = boto3.client("iam")


def handler(event):
    identity = event.get("detail", event)["userIdentity"]
    try:
        iam.update_access_key(UserName=identity["userName"], AccessKeyId=identity["accessKeyId"],
                              Status="Inactive")
        return {"statusCode": 200}
    except iam.exceptions.NoSuchEntityException:
        return {"statusCode": 404}


def main():
    api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
    while True:
        api.request("GET", "/2018-06-01/runtime/invocation/next")
        reply = api.getresponse()
        event = json.loads(reply.read())
        request_id = reply.getheader("Lambda-Runtime-Aws-Request-Id")
        result = json.dumps(handler(event))
        api.request("POST", "/2018-06-01/runtime/invocation/%s/response" % request_id, result,
                    {"Content-Type": "application/json"})
        api.getresponse().read()


if __name__ == "__main__":
    main()
