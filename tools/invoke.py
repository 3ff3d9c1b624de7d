#!/usr/bin/env python3
"""Invoke a function on the local Lambda emulator through the Lambda Invoke API.

  invoke.py PORT FUNCTION EVENT_FILE   -> the result JSON on stdout, exit 0

Unlike `cargo lambda invoke`, a function error comes back as data: its `errorMessage`
(keyguard's report, for a rotation step that must fail) is printed with
"invocation_failed": true. Retries while the emulator is still starting or compiling
the function on its first invocation; exits 1 if it never answers.
"""

import json
import sys
import time
import urllib.error
import urllib.request


def is_function_error(payload):
    try:
        return "errorMessage" in json.loads(payload)
    except (json.JSONDecodeError, TypeError):
        return False


def function_error(payload):
    error = json.loads(payload)
    try:
        result = json.loads(error.get("errorMessage", ""))
    except json.JSONDecodeError:
        result = {"errorMessage": error.get("errorMessage")}
    if not isinstance(result, dict):
        result = {"errorMessage": result}
    result["invocation_failed"] = True
    print(json.dumps(result))
    return 0


def main(port, function, event_file):
    body = open(event_file, "rb").read()
    url = f"http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations"
    last = None
    for _ in range(150):
        try:
            request = urllib.request.Request(url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=600) as reply:
                payload = reply.read()
                if reply.headers.get("X-Amz-Function-Error"):
                    return function_error(payload)
                print(payload.decode())
                return 0
        except urllib.error.HTTPError as err:
            # The emulator answers a function error with 500 and the error as JSON.
            payload = err.read()
            if is_function_error(payload):
                return function_error(payload)
            last = err
            time.sleep(2)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            last = err
            time.sleep(2)
    print(f"demo: no answer from the emulator: {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
