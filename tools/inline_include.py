"""Writes a template with each local `AWS::Include` of a whole value replaced by the file it
names, so that a StackSet (which takes no transform) deploys the same runbook the home
account's stack includes. `make deploy-members` deploys the result; `make infra` lints it.

    python tools/inline_include.py infra/member/template.yaml > target/member-inline.yaml

Only the block form keyguard's templates use is recognised:

    KEY:
      Fn::Transform:
        Name: AWS::Include
        Parameters:
          Location: RELATIVE/PATH.yaml
"""

import os
import re
import sys

BLOCK = re.compile(
    r"^(?P<indent> *)(?P<key>[A-Za-z0-9_]+):\n"
    r"(?P=indent)  Fn::Transform:\n"
    r"(?P=indent)    Name: AWS::Include\n"
    r"(?P=indent)    Parameters:\n"
    r"(?P=indent)      Location: (?P<location>[^\s:]+)\n",
    re.MULTILINE,
)


def inline(path):
    with open(path, encoding="utf-8") as f:
        template = f.read()
    base = os.path.dirname(os.path.abspath(path))

    def replace(match):
        included = os.path.join(base, match.group("location"))
        with open(included, encoding="utf-8") as f:
            lines = f.read().splitlines()
        pad = match.group("indent") + "  "
        body = "\n".join(pad + line if line.strip() else "" for line in lines)
        return f"{match.group('indent')}{match.group('key')}:\n{body}\n"

    rendered, count = BLOCK.subn(replace, template)
    if "Name: AWS::Include" in rendered:
        raise SystemExit(f"{path}: an AWS::Include this tool does not recognise is left")
    return rendered, count


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: inline_include.py TEMPLATE")
    out, n = inline(sys.argv[1])
    if n == 0:
        raise SystemExit(f"{sys.argv[1]}: nothing to inline")
    sys.stdout.write(out)
