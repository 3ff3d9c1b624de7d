# keyguard: the two commands a new machine needs are `make demo` and `make test`.
# Both install what they need (pinned, from tools/requirements.txt) into .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
STAMP := $(VENV)/.installed-$(shell sha256sum tools/requirements.txt | cut -c1-12)

FUNCTIONS := deactivate-key guardduty-translator age-rotation createkey-detector secrets-rotator
# cfn-lint (+ the SAM translator) and checkov each in their own venv: checkov pins a boto3
# that moto's cannot share.
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed-$(shell sha256sum tools/infra-requirements.txt | cut -c1-12)
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell sha256sum tools/checkov-requirements.txt | cut -c1-12)
# make bench's baselines that would clash with moto's pins (DuckDB), in their own venv.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-$(shell sha256sum tools/bench-requirements.txt | cut -c1-12)
STACK_PREFIX ?= keyguard
SAM_BUCKET ?= SET-SAM_BUCKET
SCANNER_ACCOUNT_ID ?= SET-SCANNER_ACCOUNT_ID
ORG_ROOT_OU ?= SET-ORG_ROOT_OU
# The Regions the regional forwarder goes to: every enabled one but HOME_REGION (in the
# home Region of the home account it makes nothing).
HOME_REGION ?= us-east-1
FORWARD_REGIONS ?= SET-FORWARD_REGIONS
# Every enabled Region of the members, us-east-1 included.
MEMBER_REGIONS ?= SET-MEMBER_REGIONS
HOME_ACCOUNT_ID ?=
ORGANIZATION_ID ?= SET-ORGANIZATION_ID
# The shared stack's outputs NoticeTopicArn and NoticeKeyArn: the members' runbooks tell there.
NOTICE_TOPIC_ARN ?= SET-NOTICE_TOPIC_ARN
NOTICE_KEY_ARN ?= SET-NOTICE_KEY_ARN
# DRY_RUN=1 prints the deploy commands instead of running them.
RUN := $(if $(filter 1 true yes,$(DRY_RUN)),@echo,)

.PHONY: help venv test lint unit demo bench fuzz clean infra package deploy deploy-shared \
	deploy-age-rotation-members deploy-members deploy-regional deploy-regional-members $(addprefix build-,$(FUNCTIONS)) $(addprefix deploy-,$(FUNCTIONS))

help:
	@echo "make demo   run keyguard's story locally (moto + the real binaries under the Lambda emulator)"
	@echo "make test   fmt, clippy, every unit and integration test, the demo's checks, the log sweep and the request check"
	@echo "make bench  keyguard's figures beside a baseline's, one markdown table (several minutes)"
	@echo "make fuzz   libFuzzer over the event intake, credential report and CloudTrail log reader (FUZZ_SECONDS=60 each)"
	@echo "make infra  cfn-lint, checkov, parliament and the EventBridge pattern check on infra/ (part of make test)"
	@echo "make build-<function>, make package, make deploy-<function> [DRY_RUN=1], make deploy"

$(STAMP): tools/requirements.txt
	rm -f $(VENV)/.installed-*
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r tools/requirements.txt
	touch $@

venv: $(STAMP)

$(INFRA_STAMP): tools/infra-requirements.txt
	rm -rf $(INFRA_VENV)
	python3 -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/pip install --disable-pip-version-check -q -r tools/infra-requirements.txt
	touch $@

$(BENCH_STAMP): tools/bench-requirements.txt
	rm -rf $(BENCH_VENV)
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --disable-pip-version-check -q -r tools/bench-requirements.txt
	touch $@

$(CHECKOV_STAMP): tools/checkov-requirements.txt
	rm -rf $(CHECKOV_VENV)
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --disable-pip-version-check -q -r tools/checkov-requirements.txt
	touch $@

# All offline: the templates linted, checkov's findings (each skip carries its reason in
# the template), every EventBridge pattern run against events/ by moto's matcher, and
# parliament over every role's inline policies.
infra: venv $(INFRA_STAMP) $(CHECKOV_STAMP)
	$(INFRA_VENV)/bin/cfn-lint infra/*/template.yaml infra/age-rotation/member-role.yaml
	mkdir -p target
	$(VENV)/bin/python tools/inline_include.py infra/member/template.yaml > target/member-inline.yaml
	$(INFRA_VENV)/bin/cfn-lint target/member-inline.yaml
	$(CHECKOV_VENV)/bin/checkov -d infra --framework cloudformation --skip-download --quiet --compact
	$(VENV)/bin/python tools/check_patterns.py --launch
	$(INFRA_VENV)/bin/python tools/lint_policies.py

lint: venv
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check tools/
	$(VENV)/bin/python -m unittest discover -s tools -p 'test_*.py'

# One workspace build; tests share target/ with clippy and the demo.
unit: venv
	rm -rf target/test-logs
	cargo test --workspace

test: venv lint infra unit
	tools/demo.sh --quiet
	cargo run --quiet --bin sweep-logs
	cargo run --quiet --bin check-requests

demo: venv
	cargo build --workspace
	tools/demo.sh

# Figures, never assertions: printed as one markdown table. The functions are measured as
# cargo lambda builds them for release, for this machine's architecture (x86_64), into
# target/lambda-bench (make package's arm64 zips stay where SAM expects them).
bench: venv $(BENCH_STAMP)
	@command -v jq >/dev/null || { echo "make bench: jq is the replay baseline; install it (apt-get install jq)"; exit 1; }
	cargo build --workspace
	cargo build --release -p keyguard-cli --no-default-features --features s3
	PATH="$$PWD/$(VENV)/bin:$$PATH" cargo lambda build --release --x86-64 --output-format zip \
	  --lambda-dir target/lambda-bench $(addprefix --bin ,$(FUNCTIONS))
	@for f in $(FUNCTIONS); do $(VENV)/bin/python -m zipfile -e target/lambda-bench/$$f/bootstrap.zip target/lambda-bench/$$f/ \
	  && chmod +x target/lambda-bench/$$f/bootstrap; done
	target/debug/keyguard-bench

# libFuzzer over the parsers of untrusted bytes (not part of make test): FUZZ_SECONDS each.
# cargo-fuzz is pinned and installed into .tools; RUSTC_BOOTSTRAP lets the machine's stable
# toolchain take the sanitizer flags (no nightly can be fetched here). Seeds: events/,
# fuzz/seeds, and the shared corpus read-only where it is present.
FUZZ_SECONDS ?= 60
CARGO_FUZZ_VERSION := 0.13.1
FUZZ_TARGETS := event_intake credential_report cloudtrail_log
KEYGUARD_CORPUS ?= ../shared/corpus
fuzz:
	@test -x .tools/bin/cargo-fuzz || cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root .tools
	@mkdir -p target/fuzz-logs
	@for t in $(FUZZ_TARGETS); do mkdir -p fuzz/corpus/$$t; cp -n fuzz/seeds/$$t/* fuzz/corpus/$$t/ 2>/dev/null || true; done
	@find events -name '*.json' -exec cp -n {} fuzz/corpus/event_intake/ \;
	@for t in $(FUZZ_TARGETS); do \
	  extra=; [ -d "$(KEYGUARD_CORPUS)" ] && [ $$t != credential_report ] && extra="$(KEYGUARD_CORPUS)"; \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	  PATH="$$PWD/.tools/bin:$$PATH" RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz $$t fuzz/corpus/$$t $$extra -- \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 > target/fuzz-logs/$$t.log 2>&1; rc=$$?; \
	  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' target/fuzz-logs/$$t.log; \
	  [ $$rc -eq 0 ] || { tail -40 target/fuzz-logs/$$t.log; echo "make fuzz: $$t found a crash (fuzz/artifacts/$$t)"; exit 1; }; \
	done

# Release builds for Lambda (arm64, provided.al2023), zipped as SAM's CodeUri expects:
# target/lambda/<function>/bootstrap.zip. cargo-lambda cross-compiles through zig (PyPI).
$(addprefix build-,$(FUNCTIONS)): build-%: venv
	PATH="$$PWD/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 --output-format zip --bin $*

package: $(addprefix build-,$(FUNCTIONS))
	@for f in $(FUNCTIONS); do $(VENV)/bin/python -c 'import sys, zipfile; z = sys.argv[2]; \
	  print("%-22s bootstrap %10d bytes  zip %10d bytes" % (sys.argv[1], zipfile.ZipFile(z).getinfo("bootstrap").file_size, __import__("os").path.getsize(z)))' \
	  $$f target/lambda/$$f/bootstrap.zip; done

# SAM deploys (they need AWS credentials and the SAM CLI, neither of which is here).
deploy-shared:
	$(RUN) aws cloudformation package --template-file infra/shared/template.yaml --s3-bucket $(SAM_BUCKET) --output-template-file target/shared-packaged.yaml
	$(RUN) aws cloudformation deploy --template-file target/shared-packaged.yaml --stack-name $(STACK_PREFIX)-shared --capabilities CAPABILITY_NAMED_IAM

$(addprefix deploy-,$(FUNCTIONS)): deploy-%: $(if $(filter 1 true yes,$(DRY_RUN)),,build-%)
	$(RUN) sam deploy --template-file infra/$*/template.yaml --config-file ../samconfig.toml --config-env $* --stack-name $(STACK_PREFIX)-$* --capabilities CAPABILITY_NAMED_IAM --resolve-s3

deploy: deploy-shared $(addprefix deploy-,$(FUNCTIONS))

# Organisation mode: the member role in every account, as a service-managed StackSet.
deploy-age-rotation-members:
	$(RUN) aws cloudformation create-stack-set --stack-set-name $(STACK_PREFIX)-age-rotation-members --template-body file://infra/age-rotation/member-role.yaml --permission-model SERVICE_MANAGED --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false --capabilities CAPABILITY_NAMED_IAM --parameters ParameterKey=ScannerAccountId,ParameterValue=$(SCANNER_ACCOUNT_ID)
	$(RUN) aws cloudformation create-stack-instances --stack-set-name $(STACK_PREFIX)-age-rotation-members --deployment-targets OrganizationalUnitIds=$(ORG_ROOT_OU) --regions us-east-1

# Organisation mode for containment: keyguard-member in every member account (IAM is
# global: one Region). Its trust policy names the home account, narrowed to keyguard's
# containing roles by aws:PrincipalArn, so it deploys in any order.
# A StackSet takes no transform: the runbook the home stack includes is written in. One
# Region, the home one: the translator starts a member's runbook where it runs itself
# (IAM is global, so the roles serve every Region).
deploy-members: venv
	mkdir -p target
	$(VENV)/bin/python tools/inline_include.py infra/member/template.yaml > target/member-inline.yaml
	$(RUN) aws cloudformation create-stack-set --stack-set-name $(STACK_PREFIX)-members --template-body file://target/member-inline.yaml --permission-model SERVICE_MANAGED --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false --capabilities CAPABILITY_NAMED_IAM --parameters ParameterKey=HomeAccountId,ParameterValue=$(HOME_ACCOUNT_ID) ParameterKey=OrganizationId,ParameterValue=$(ORGANIZATION_ID) ParameterKey=NoticeTopicArn,ParameterValue=$(NOTICE_TOPIC_ARN) ParameterKey=NoticeKeyArn,ParameterValue=$(NOTICE_KEY_ARN)
	$(RUN) aws cloudformation create-stack-instances --stack-set-name $(STACK_PREFIX)-members --deployment-targets OrganizationalUnitIds=$(ORG_ROOT_OU) --regions $(HOME_REGION)

# The regional forwarder in every other Region of this account (a self-managed StackSet;
# an organisation deploys it service-managed with HOME_ACCOUNT_ID set, see docs/organisation.md).
deploy-regional:
	$(RUN) aws cloudformation create-stack-set --stack-set-name $(STACK_PREFIX)-regional --template-body file://infra/regional/template.yaml --capabilities CAPABILITY_IAM --parameters ParameterKey=HomeRegion,ParameterValue=$(HOME_REGION) ParameterKey=HomeAccountId,ParameterValue=$(HOME_ACCOUNT_ID)
	$(RUN) aws cloudformation create-stack-instances --stack-set-name $(STACK_PREFIX)-regional --accounts $(SCANNER_ACCOUNT_ID) --regions $(FORWARD_REGIONS)

# The same forwarder in every member account of the organisation, every Region named
# (include us-east-1: a member's IAM calls and Health events are forwarded from there).
deploy-regional-members:
	$(RUN) aws cloudformation create-stack-set --stack-set-name $(STACK_PREFIX)-regional-members --template-body file://infra/regional/template.yaml --permission-model SERVICE_MANAGED --auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false --capabilities CAPABILITY_IAM --parameters ParameterKey=HomeRegion,ParameterValue=$(HOME_REGION) ParameterKey=HomeAccountId,ParameterValue=$(HOME_ACCOUNT_ID)
	$(RUN) aws cloudformation create-stack-instances --stack-set-name $(STACK_PREFIX)-regional-members --deployment-targets OrganizationalUnitIds=$(ORG_ROOT_OU) --regions $(MEMBER_REGIONS)

clean:
	rm -rf $(VENV) $(INFRA_VENV) $(CHECKOV_VENV) $(BENCH_VENV) target
