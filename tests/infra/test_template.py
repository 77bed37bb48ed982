"""The project's own checks of infra/: what cfn-lint does not catch on AWS::Serverless resources.

Each check is a function returning a list of problems, so that the tests can also show each check
failing on a template broken on purpose.
"""

import copy
import json
import re
import zoneinfo
from pathlib import Path

import cfnlint.decode.cfn_yaml as cfn_yaml
import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
STATE_MACHINE = ROOT / "infra" / "statemachine.asl.json"
STATE_TYPES = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}


def load():
    return cfn_yaml.load(str(TEMPLATE)), json.loads(STATE_MACHINE.read_text())


def resources(t, kind):
    return {k: v for k, v in t["Resources"].items() if isinstance(v, dict) and v.get("Type") == kind}


def statements(policy_docs):
    for doc in policy_docs:
        if isinstance(doc, dict):
            for s in doc.get("Statement", []):
                yield s


def all_policy_statements(t):
    """(where, statement) for every IAM statement of functions, the state machine and roles."""
    for name, r in t["Resources"].items():
        if name.startswith("Fn::ForEach::"):
            body = next(iter(r[2].values()))
            name, r = f"{name} ({r[0]})", body
        props = r.get("Properties", {})
        if r.get("Type") in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            for s in statements(props.get("Policies", [])):
                yield name, s
        if r.get("Type") == "AWS::IAM::Role":
            for p in props.get("Policies", []):
                for s in statements([p["PolicyDocument"]]):
                    yield name, s


def check_no_wildcard_actions(t):
    problems = []
    for where, s in all_policy_statements(t):
        if s.get("Effect") != "Allow":
            continue
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        for a in actions:
            if not isinstance(a, str) or "*" in a:
                problems.append(f"{where}: wildcard or non-literal action {a!r}")
        res = s.get("Resource")
        if res == "*" or (isinstance(res, list) and "*" in res):
            problems.append(f"{where}: resource '*'")
    return problems


def check_buckets(t):
    problems = []
    tls = set()
    for name, r in t["Resources"].items():
        if name.startswith("Fn::ForEach::") and "Policy" in next(iter(r[2].keys())):
            tls.update(r[1])
    for name, b in resources(t, "AWS::S3::Bucket").items():
        p = b.get("Properties", {})
        rules = p.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        if not any(r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules):
            problems.append(f"{name}: no default encryption")
        block = p.get("PublicAccessBlockConfiguration", {})
        for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            if block.get(k) is not True:
                problems.append(f"{name}: {k} is not true")
        if name not in tls:
            problems.append(f"{name}: no TLS-only bucket policy")
    return problems


def check_functions(t):
    problems = []
    glob = t.get("Globals", {}).get("Function", {})
    for name, f in resources(t, "AWS::Serverless::Function").items():
        p = f.get("Properties", {})
        runtime = p.get("Runtime", glob.get("Runtime"))
        if runtime != "provided.al2023":
            problems.append(f"{name}: runtime {runtime!r}")
        arch = p.get("Architectures", glob.get("Architectures"))
        if arch != ["arm64"]:
            problems.append(f"{name}: architectures {arch!r}")
        meta = f.get("Metadata", {})
        if meta.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"{name}: not built with cargo-lambda")
        binary = meta.get("BuildProperties", {}).get("Binary")
        if not binary or not (ROOT / "functions" / binary / "Cargo.toml").is_file():
            problems.append(f"{name}: binary {binary!r} is not a function crate")
        if not 128 <= p.get("MemorySize", 0) <= 10240 or not 1 <= p.get("Timeout", 0) <= 900:
            problems.append(f"{name}: memory or timeout out of Lambda's range")
    return problems


CRON = re.compile(r"^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$")


def check_schedule(t):
    problems = []
    for name, s in resources(t, "AWS::Scheduler::Schedule").items():
        p = s["Properties"]
        try:
            zoneinfo.ZoneInfo(p.get("ScheduleExpressionTimezone", ""))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(f"{name}: unknown time zone {p.get('ScheduleExpressionTimezone')!r}")
        expr = p["ScheduleExpression"]
        if isinstance(expr, dict) and "Ref" in expr:
            param = t["Parameters"][expr["Ref"]]
            expr = param["Default"]
            if not re.match(param["AllowedPattern"], expr):
                problems.append(f"{name}: default {expr!r} does not match its own AllowedPattern")
        m = CRON.match(expr)
        if not m:
            problems.append(f"{name}: {expr!r} is not a six-field cron expression")
            continue
        minute, hour, dom, _month, dow, _year = m.groups()
        if not (minute.isdigit() and int(minute) < 60 and hour.isdigit() and int(hour) < 8):
            problems.append(f"{name}: {expr!r}: the run must start at a fixed time between 00:00 and 07:59")
        if (dom == "?") == (dow == "?"):
            problems.append(f"{name}: {expr!r}: exactly one of day-of-month and day-of-week must be '?'")
        target = p["Target"]["Arn"]
        if target.get("Ref") not in resources(t, "AWS::Serverless::StateMachine"):
            problems.append(f"{name}: target is not a state machine of the template")
    return problems


def walk_states(states, problems, path="States"):
    names = set(states)
    for name, st in states.items():
        kind = st.get("Type")
        if kind not in STATE_TYPES:
            problems.append(f"{path}.{name}: unknown state type {kind!r}")
        nexts = [st.get("Next"), st.get("Default")] + [c.get("Next") for c in st.get("Choices", [])]
        for n in filter(None, nexts):
            if n not in names:
                problems.append(f"{path}.{name}: next state {n!r} does not exist")
        if kind not in ("Choice", "Succeed", "Fail") and not st.get("End") and not st.get("Next"):
            problems.append(f"{path}.{name}: neither Next nor End")
        for i, b in enumerate(st.get("Branches", [])):
            if b["StartAt"] not in b["States"]:
                problems.append(f"{path}.{name}.Branches[{i}]: StartAt {b['StartAt']!r} missing")
            walk_states(b["States"], problems, f"{path}.{name}.Branches[{i}]")
        proc = st.get("ItemProcessor") or st.get("Iterator")
        if proc:
            if proc["StartAt"] not in proc["States"]:
                problems.append(f"{path}.{name}: StartAt {proc['StartAt']!r} missing")
            walk_states(proc["States"], problems, f"{path}.{name}.ItemProcessor")


def check_state_machine(t, asl):
    problems = []
    machines = resources(t, "AWS::Serverless::StateMachine")
    if not machines:
        return ["no state machine"]
    (name, sm), = machines.items()
    subs = sm["Properties"].get("DefinitionSubstitutions", {})
    functions = resources(t, "AWS::Serverless::Function")
    for key, value in subs.items():
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"][0]
            if target not in t["Resources"]:
                problems.append(f"{name}: substitution {key} names {target!r}, which the template does not define")
    text = STATE_MACHINE.read_text() if asl is None else json.dumps(asl)
    for var in set(re.findall(r"\$\{(\w+)\}", text)):
        if var not in subs:
            problems.append(f"{name}: ${{{var}}} has no substitution")
    used = {m for m in re.findall(r"\$\{(\w+FunctionArn)\}", text)}
    for var in used:
        target = subs.get(var, {}).get("Fn::GetAtt", [None])[0] if isinstance(subs.get(var), dict) else None
        if target not in functions:
            problems.append(f"{name}: {var} is not a function of the template")
    definition = json.loads(text)
    if definition["StartAt"] not in definition["States"]:
        problems.append("StartAt names no state")
    walk_states(definition["States"], problems)
    return problems


@pytest.fixture(scope="module")
def template():
    return load()


def test_no_function_or_role_has_a_wildcard_action(template):
    assert check_no_wildcard_actions(template[0]) == []


def test_buckets_are_encrypted_private_and_tls_only(template):
    assert check_buckets(template[0]) == []


def test_functions_are_rust_on_al2023_arm64(template):
    assert check_functions(template[0]) == []


def test_the_schedule_is_valid_in_shanghai(template):
    assert check_schedule(template[0]) == []


def test_the_state_machine_names_only_what_the_template_defines(template):
    assert check_state_machine(template[0], template[1]) == []


def test_statements_are_published_then_each_brands_to_date_report(template):
    states = template[1]["States"]
    selected = states["Match"]["ResultSelector"]
    assert selected["changed_key.$"] == "$.Payload.changed_key"
    assert selected["to_date_changed_key.$"] == "$.Payload.to_date_changed_key"
    assert states["Publish"]["Next"] == "PublishToDate"
    assert states["Publish"]["ItemReader"]["Parameters"]["Key.$"] == "$.match.changed_key"
    to_date = states["PublishToDate"]
    assert to_date["ItemReader"]["Parameters"]["Key.$"] == "$.match.to_date_changed_key"
    assert to_date["End"] is True
    task = to_date["ItemProcessor"]["States"][to_date["ItemProcessor"]["StartAt"]]
    assert task["Parameters"]["FunctionName"] == "${PublishFunctionArn}"


def test_storage_settings(template):
    t = template[0]
    staging = t["Resources"]["StagingBucket"]["Properties"]
    assert staging["LifecycleConfiguration"]["Rules"][0]["Status"] == "Enabled"
    assert t["Resources"]["ReportsBucket"]["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"
    table = t["Resources"]["CampaignsTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"


def test_each_brand_role_reads_only_its_own_prefix(template):
    t = template[0]
    loop = t["Resources"]["Fn::ForEach::BrandReaders"]
    role = loop[2]["BrandReader&{BrandId}"]
    stmts = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    get = next(s for s in stmts if s["Action"] == "s3:GetObject")
    assert get["Resource"] == {"Fn::Sub": "${ReportsBucket.Arn}/reports/${BrandId}/*"}
    lst = next(s for s in stmts if s["Action"] == "s3:ListBucket")
    assert lst["Condition"]["StringLike"]["s3:prefix"] == [{"Fn::Sub": "reports/${BrandId}/*"}]
    # Statements and the to-date report (reports/{brand}/to-date/) both sit under that prefix.


# The checks fail on templates broken the ways cfn-lint lets through.

def broken(template, edit):
    t, asl = copy.deepcopy(template[0]), copy.deepcopy(template[1])
    edit(t, asl)
    return t, asl


def test_checks_catch_a_wildcard_action(template):
    def edit(t, _):
        t["Resources"]["MatchOrdersFunction"]["Properties"]["Policies"][0]["Statement"][0]["Action"] = "s3:*"
    assert check_no_wildcard_actions(broken(template, edit)[0])


def test_checks_catch_an_unencrypted_or_public_bucket(template):
    def edit(t, _):
        del t["Resources"]["ReportsBucket"]["Properties"]["BucketEncryption"]
        t["Resources"]["ExportsBucket"]["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicAcls"] = False
    problems = check_buckets(broken(template, edit)[0])
    assert any("ReportsBucket: no default encryption" in p for p in problems)
    assert any("ExportsBucket: BlockPublicAcls" in p for p in problems)


def test_checks_catch_a_bad_runtime_architecture_zone_and_cron(template):
    def edit(t, _):
        t["Globals"]["Function"]["Runtime"] = "provided.al2"
        t["Resources"]["PublishReportsFunction"]["Properties"]["Architectures"] = ["x86_64"]
        t["Resources"]["NightlySchedule"]["Properties"]["ScheduleExpressionTimezone"] = "Asia/Shangahi"
        t["Parameters"]["ScheduleExpression"]["Default"] = "cron(0 2 * * *)"
    t, _ = broken(template, edit)
    assert any("runtime" in p for p in check_functions(t))
    assert any("architectures" in p for p in check_functions(t))
    problems = check_schedule(t)
    assert any("time zone" in p for p in problems)
    assert any("cron" in p for p in problems)


def test_checks_catch_a_misspelt_state_and_a_missing_function(template):
    def edit(t, asl):
        asl["States"]["Match"]["Type"] = "Taks"
        subs = t["Resources"]["NightlyStateMachine"]["Properties"]["DefinitionSubstitutions"]
        subs["MatchFunctionArn"] = {"Fn::GetAtt": ["MatchOrderFunction", "Arn"]}
        asl["States"]["Publish"]["ItemProcessor"]["States"]["PublishBatch"]["Next"] = "Nowhere"
        del asl["States"]["Publish"]["ItemProcessor"]["States"]["PublishBatch"]["End"]
    t, asl = broken(template, edit)
    problems = check_state_machine(t, asl)
    assert any("unknown state type 'Taks'" in p for p in problems)
    assert any("'MatchOrderFunction', which the template does not define" in p for p in problems)
    assert any("'Nowhere' does not exist" in p for p in problems)


def tasks(states, in_map=False):
    """(name, task, inside a Map's item processor) of every Task state, nested ones too."""
    for name, st in states.items():
        if st["Type"] == "Task":
            yield name, st, in_map
        for key in ("ItemProcessor", "Iterator"):
            if key in st:
                yield from tasks(st[key]["States"], True)
        for b in st.get("Branches", []):
            yield from tasks(b["States"], in_map)


def check_retries(asl):
    """Only what may succeed the next time is retried: the functions report `Seedline.Retryable` or
    `Seedline.NotRetryable`; one item's bad input is caught and the rest of the Map goes on."""
    problems = []
    for name, st, in_map in tasks(asl["States"]):
        retried = {e for r in st.get("Retry", []) for e in r["ErrorEquals"]}
        for never in ("States.ALL", "States.TaskFailed", "Seedline.NotRetryable"):
            if never in retried:
                problems.append(f"{name} retries {never}")
        if "Seedline.Retryable" not in retried:
            problems.append(f"{name} does not retry Seedline.Retryable")
        caught = {e for c in st.get("Catch", []) for e in c["ErrorEquals"]}
        if in_map and "Seedline.NotRetryable" not in caught:
            problems.append(f"{name}: one item's bad input would fail the whole Map")
    return problems


def test_only_retryable_failures_are_retried_and_bad_input_fails_once(template):
    assert check_retries(template[1]) == []


def test_checks_catch_a_retry_of_bad_input(template):
    asl = copy.deepcopy(template[1])
    asl["States"]["Match"]["Retry"][1]["ErrorEquals"] = ["States.TaskFailed"]
    item = asl["States"]["Publish"]["ItemProcessor"]
    item["States"][item["StartAt"]].pop("Catch")
    assert check_retries(asl) == [
        "Match retries States.TaskFailed",
        "Match does not retry Seedline.Retryable",
        "PublishBatch: one item's bad input would fail the whole Map",
    ]
