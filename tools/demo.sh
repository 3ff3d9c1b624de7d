#!/usr/bin/env bash
# keyguard's local story, with the real binaries: moto through the project's launcher,
# the deactivate-key binary under the local Lambda runtime emulator (`cargo lambda watch`,
# the same binary that deploys), invoked with events from events/.
#
#   tools/demo.sh            narrate, then check every expected effect (exit 1 if one is missing)
#   tools/demo.sh --quiet    checks only (make test runs this)
#   DRY_RUN=1 tools/demo.sh  the same story with nothing applied
#
# Five acts: createkey-detector (seed 004, then a canary key), guardduty-translator (seed 001), age-rotation
# (seed 002), secrets-rotator (seed 003) and deactivate-key (seed 000); then the last
# containment turns out a false positive, and `keyguard audit` and `keyguard undo` run; between them, a
# member account's key is contained through the member role (organisation mode). The launcher also
# stands in for the Discord and Slack webhooks, and the detector's hand-off reaches
# deactivate-key through the emulator's own Lambda Invoke API.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export PATH="$PWD/.venv/bin:$PATH"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # The functions' own log lines, for make test's secrets sweep (sweep-logs).
  mkdir -p target/test-logs && cat "$work/watch.log" "$work/watch-org.log" > target/test-logs/demo-watch.log 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# moto on a free port; it exits when this script's pipe to it closes.
mkfifo "$work/moto-in"
sleep infinity > "$work/moto-in" & pids+=($!)
# Every request the functions and the runbook make, for make test's check-requests.
mkdir -p target/test-logs
$PY tools/moto_launcher.py --port 0 --exit-on-stdin-eof --request-log "target/test-logs/requests-demo-$$.jsonl" < "$work/moto-in" > "$work/moto.out" 2>"$work/moto.err" & pids+=($!)
for _ in $(seq 100); do grep -q READY "$work/moto.out" 2>/dev/null && break; sleep 0.1; done
quiet=false; [ "${1:-}" = "--quiet" ] && quiet=true
dry_run=false; case "${DRY_RUN:-}" in 1|true|TRUE|yes) dry_run=true;; esac
say() { $quiet || printf '%s\n' "$*"; }

endpoint=$(awk '/KEYGUARD_MOTO_READY/ {print $2}' "$work/moto.out")
[ -n "$endpoint" ] || { echo "demo: moto did not start"; cat "$work/moto.err"; exit 1; }

# The account: alice with two keys (one leaked), bob with a key already Inactive, the role
# app-role, and the ledger table. Made with boto3 (moto's own dependency).
$PY tools/demo_world.py setup "$endpoint" > "$work/world.json"
field() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/world.json" "$1"; }
ci_leaked=$(field ci_leaked); admin_backdoor=$(field admin_backdoor)
alice_leaked=$(field alice_leaked); bob_key=$(field bob_key); carol_leaked=$(field carol_leaked)
dave_secret=$(field dave_secret); topic=$(field topic); handoff_key=$(field handoff_key)
event() { # event FILE KEY USER -> a path with the placeholders replaced
  local out="$work/$(basename "$1" .json)-$2.json"
  sed -e "s/AKIAIOSFODNN7EXAMPLE/$2/" -e "s/\"alice\"/\"$3\"/" -e "s#user/alice#user/$3#" "$1" > "$out"
  echo "$out"
}
$quiet || $PY tools/demo_world.py table "$endpoint" "before"

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
env_vars="AWS_ENDPOINT_URL=$endpoint,AWS_REGION=us-east-1,AWS_ACCESS_KEY_ID=testing,AWS_SECRET_ACCESS_KEY=testing,AWS_EC2_METADATA_DISABLED=true,DRY_RUN=$dry_run,RESPONSE_PLAN_ARN=arn:aws:ssm-incidents::123456789012:response-plan/keyguard-key-compromise,NOTICE_TOPIC_ARN=$topic,SENDER_EMAIL=keyguard@example.com,REPORT_WAIT_SECONDS=10,DISCORD_WEBHOOK_SECRET_ID=keyguard/discord-webhook,SLACK_WEBHOOK_SECRET_ID=keyguard/slack-webhook,DEACTIVATE_FUNCTION_NAME=deactivate-key,HANDOFF_KEY_ID=$handoff_key,LOG_LEVEL=${DEMO_LOG_LEVEL:-trace}"
cargo lambda watch --ignore-changes --invoke-port "$port" \
  --env-var "$env_vars,AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:$port" \
  > "$work/watch.log" 2>&1 & pids+=($!)

act_port=$port; act_log="$work/watch.log"
invoke() { # invoke FUNCTION EVENT_FILE -> the function's JSON result on stdout
  $PY tools/invoke.py "$act_port" "$1" "$2" || { tail -20 "$act_log" >&2; return 1; }
}

# The emulator starts a function's process on its first invocation. The detector's hand-off
# is the one call with a 5 s budget, so deactivate-key is started first, with an event it
# refuses as malformed (400, nothing read or written), rather than on the story's clock.
echo '{}' > "$work/warm-up.json"; invoke deactivate-key "$work/warm-up.json" > /dev/null

results="$work/results.jsonl"
keyguard=target/debug/keyguard
cli() { AWS_ENDPOINT_URL="$endpoint" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  NOTICE_TOPIC_ARN="$topic" "$keyguard" "$@"; }
act() { # act FUNCTION NAME EVENT_FILE NARRATION...
  local function=$1 name=$2 file=$3; shift 3
  say ""; say "== $function: $name"; for line in "$@"; do say "   $line"; done
  local r; r=$(invoke "$function" "$file")
  $PY -c 'import json,sys; print(json.dumps({"act": sys.argv[1], "result": json.loads(sys.argv[2])}))' "$name" "$r" >> "$results"
  $quiet || $PY -c 'import json,sys; r=json.loads(sys.argv[1]); print("   -> statusCode %s, %s%s" % (r["statusCode"], r.get("decision"), "".join(", %s %s" % (x["action"]["type"], x["outcome"]) for x in r.get("steps", []))))' "$r"
}

say ""; say "## Seed 004: ci-deployer's key leaked. The attacker makes a key for admin, then launches GPU instances."
attack() { # attack FILE -> the event with the demo's real key ids
  local out="$work/attack-$(basename "$1")"
  sed -e "s/AKIAIOSFODNN7EXAMPLE/$ci_leaked/" -e "s/AKIAI44QH8DHBEXAMPLE/$admin_backdoor/" "$1" > "$out"; echo "$out"
}
act createkey-detector "backdoor-key" "$(attack events/createkey-detector/backdoor-key.json)" \
  "CloudTrail: ci-deployer called CreateAccessKey for admin. A key made for someone else is a backdoor:" \
  "keyguard hands the new key to deactivate-key (asynchronously, through the Lambda Invoke API)," \
  "then alerts Discord and Slack (webhook URLs read from Secrets Manager) and SNS."
act createkey-detector "gpu-instances" "$(attack events/createkey-detector/gpu-instances.json)" \
  "CloudTrail: the same leaked long-term key runs four p4d.24xlarge instances: the leaked key itself" \
  "is handed off and contained."
act createkey-detector "backdoor-redelivery" "$(attack events/createkey-detector/backdoor-key.json)" \
  "EventBridge delivers the CreateAccessKey again: no second hand-off, no second alert."

say ""; say "## A canary: a decoy key planted in CI variables. Its first use is the alarm; nothing is contained."
say "   keyguard canary create demo-ci --out FILE --profile ci: a user that may do nothing, one key;"
say "   the secret goes to a new file of mode 0600 and nowhere else."
cli canary create demo-ci --out "$work/canary-credentials" --profile ci > "$work/canary.json"
$PY -c 'import json,os,stat,sys
made = json.loads(open(sys.argv[1]).read())
made["file_mode"] = oct(stat.S_IMODE(os.stat(sys.argv[2]).st_mode))
print(json.dumps({"act": "canary-created", "result": made}))' "$work/canary.json" "$work/canary-credentials" >> "$results"
canary_key=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["key_id"])' "$work/canary.json")
canary_call() { # canary_call ID MINUTES -> the sample, signed by the demo's canary, MINUTES from now
  local out="$work/canary-$1.json" at
  at=$($PY -c 'import datetime,sys; print((datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=int(sys.argv[1]))).strftime("%Y-%m-%dT%H:%M:%SZ"))' "$2")
  sed -e "s/AKIAEXAMPLECANARY001/$canary_key/" -e "s/keyguard-canary-ci-vars/keyguard-canary-demo-ci/g" \
      -e "s/2026-11-23T10:00:00Z/$at/" -e "s/0000000000c1/$1/g" events/createkey-detector/canary-key-used.json > "$out"
  echo "$out"
}
act createkey-detector "canary-used" "$(canary_call 0000000000d1 0)" \
  "The CI variables leak. The attacker asks whose key it is (GetCallerIdentity: it needs no permission," \
  "so it works under the canary's deny). keyguard alerts critical on Discord, Slack and SNS; nothing is contained."
act createkey-detector "canary-burst" "$(canary_call 0000000000d2 1)" \
  "A minute later, another call: inside the canary's 15-minute window, remembered in the ledger, not posted."

say ""; say "## Seed 001: a GuardDuty finding on carol's key becomes a runbook and an incident, once."
act guardduty-translator "gd-finding" "$(event events/guardduty-translator/iam-user.json "$carol_leaked" carol)" \
  "GuardDuty reports carol's key calling from a malicious IP. keyguard deactivates that key at once" \
  "(only it), then denies carol's older sessions; the runbook rotates; an Incident Manager incident" \
  "opens; a notice goes out."
act guardduty-translator "gd-redelivery" "$(event events/guardduty-translator/iam-user.json "$carol_leaked" carol)" \
  "The same finding is delivered again: nothing new."
act guardduty-translator "gd-second-finding" "$(event events/guardduty-translator/iam-user-second-finding.json "$carol_leaked" carol)" \
  "A second finding on carol one second later, across :15 (where the seed's rounded token changes):" \
  "the key is Inactive and was last used before the cut-off, and the 15-minute window per user holds:" \
  "nothing new."
act guardduty-translator "gd-custom-source" "$(event events/guardduty-translator/seed-custom-source.json "$carol_leaked" carol)" \
  "The seed's own test event, from the custom source custom.guardduty.simulation: anyone could" \
  "have put it on the bus, so it is refused (403) unless TRUSTED_CUSTOM_SOURCES lists it."

say ""; say "## Seed 002: the daily key-age scan over erin (85 days), frank (95, Inactive), grace (machine, 95),"
say "   heidi (71) and ivan (100, no UserType)."
schedule() { sed -e "s/6f1c2d3e-0000-4000-8000-000000000041/$1/" events/age-rotation/schedule.json > "$work/$1.json"; echo "$work/$1.json"; }
act age-rotation "age-scan" "$(schedule scan-day-1)" \
  "The credential report points at the old keys. erin's key is deactivated, frank's deleted, grace" \
  "(a machine) is only warned, heidi gets a warning; ivan has no UserType and is only listed in the" \
  "administrators' summary. One email per person, each about their own keys."
act age-rotation "age-scan-again" "$(schedule scan-day-1-again)" \
  "The scan runs again the same day: nothing new is sent, nothing changes."

say ""; say "## Seed 003: dave's key is rotated through Secrets Manager, step by step."
rotation() { # rotation FILE -> the step's event for dave's secret
  local out="$work/$(basename "$1")"
  sed -e "s#arn:aws:secretsmanager:[^\"]*#$dave_secret#" "$1" > "$out"; echo "$out"
}
act secrets-rotator "rotate-create" "$(rotation events/secrets-rotator/create-secret.json)" \
  "createSecret: a new key for dave goes straight from IAM into the secret as AWSPENDING."
act secrets-rotator "rotate-set" "$(rotation events/secrets-rotator/set-secret.json)" \
  "setSecret: an IAM key is live once created, nothing to set; the new key is announced on SNS."
act secrets-rotator "rotate-test" "$(rotation events/secrets-rotator/test-secret.json)" \
  "testSecret: sts:GetCallerIdentity signed with the new key must answer as dave."
act secrets-rotator "rotate-finish" "$(rotation events/secrets-rotator/finish-secret.json)" \
  "finishSecret: AWSCURRENT moves to the new key; the old key goes Inactive (deleted after 7 days)."

signed() { # signed FILE -> the hand-off with its MAC, as the detector sends it
  $PY tools/demo_world.py sign "$endpoint" "$handoff_key" "$1"; echo "$1"
}
say ""; say "## Seed 000: direct containment."
act deactivate-key "forged-handoff" "$(event events/deactivate-key/handoff.json "$alice_leaked" alice)" \
  "Anyone in the account allowed to invoke deactivate-key sends a hand-off without a MAC: refused (403)."
act deactivate-key "leaked-key" "$(signed "$(event events/deactivate-key/handoff.json "$alice_leaked" alice)")" \
  "createkey-detector hands off alice's leaked key, signed with the KMS hand-off key. keyguard deactivates that key, and only it," \
  "and denies alice's sessions issued before now: those the key minted outlive its deactivation."
act deactivate-key "redelivery" "$(signed "$(event events/deactivate-key/handoff.json "$alice_leaked" alice)")" \
  "EventBridge delivers at least once: the same hand-off arrives again. Nothing happens twice."
act deactivate-key "already-inactive" "$(event events/deactivate-key/guardduty-iam-user.json "$bob_key" bob)" \
  "GuardDuty names bob's key, which is already Inactive. Nothing to write for the key; the sessions" \
  "it may have minted still end."
act deactivate-key "missing-user" "$(signed "$(event events/deactivate-key/handoff.json AKIAZZZZZZZZZZZZZZZZ ghost)")" \
  "A hand-off names a key no user holds, even on a second read: 404 and a notice, nothing touched."
cp events/deactivate-key/handoff-session-key.json "$work/handoff-session-key.json"
act deactivate-key "session-key" "$(signed "$work/handoff-session-key.json")" \
  "An ASIA session key of app-role leaked. It cannot be deactivated: every older session of the role is denied."
act deactivate-key "root" "events/deactivate-key/root.json" \
  "The root user's key is in use. IAM cannot contain root: a critical notice, no write."

say ""; say "## An organisation: this account is GuardDuty's administrator, and member account B has its own alice."
# deactivate-key as deployed with OrganizationMode=true (the emulator's variables are
# every function's, and age-rotation has an organisation mode of its own): its own emulator.
org_port=$(free_port)
cargo lambda watch --ignore-changes --invoke-port "$org_port" \
  --env-var "$env_vars,ORGANIZATION_MODE=true,SECURITY_HUB=true,LOG_FORMAT=ocsf,AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:$org_port" \
  > "$work/watch-org.log" 2>&1 & pids+=($!)
act_port=$org_port; act_log="$work/watch-org.log"
member=$(field member); member_leaked=$(field member_leaked)
member_finding=$(event events/deactivate-key/guardduty-iam-user.json "$member_leaked" alice)
sed -i -e "s/\"accountId\": \"123456789012\"/\"accountId\": \"$member\"/" "$member_finding"
act deactivate-key "member-finding" "$member_finding" \
  "GuardDuty finds member B's alice's key in use from a malicious address; the finding reaches the home account." \
  "STS says the key is B's, the organisation says B is ACTIVE: keyguard assumes keyguard-member in B and contains" \
  "the key there, and only there. The home account's alice, the same name, is not touched." \
  "This deployment reports to Security Hub (SECURITY_HUB=true): the containment is one finding here," \
  "and logs it as an OCSF Detection Finding too (LOG_FORMAT=ocsf), for a SIEM."
act_port=$port; act_log="$work/watch.log"

say ""; say "## The contained key was a false positive: alice's key is the nightly export's, rotated on schedule."
if $dry_run; then
  say "   (dry run: nothing was contained, so there is nothing to audit or undo)"
else
  say "   keyguard audit --key $alice_leaked: why keyguard touched it, from the ledger."
  if $quiet; then cli audit --key "$alice_leaked" > /dev/null; else cli audit --format table --key "$alice_leaked" | sed 's/^/   /'; fi
  say "   keyguard undo --key $alice_leaked --reason \"nightly export key, rotated on schedule\": the key"
  say "   Active again (nobody changed it since), the revocation taken back (alice had none before)."
  cli undo --key "$alice_leaked" --reason "nightly export key, rotated on schedule" > "$work/undo.jsonl"
  $PY -c 'import json,sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "steps" in r:
        print(json.dumps({"act": "false-positive-undo", "result": r}))' "$work/undo.jsonl" >> "$results"
  say "   The audit now ends with the undo: who, and why."
  if $quiet; then cli audit --key "$alice_leaked" > /dev/null; else cli audit --format table --key "$alice_leaked" | sed 's/^/   /'; fi
fi

$quiet || $PY tools/demo_world.py table "$endpoint" "after"
$PY tools/demo_world.py check "$endpoint" "$work/world.json" "$results" "$dry_run" "$work/watch.log" \
  "$work/watch-org.log"
