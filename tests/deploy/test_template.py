"""deploy/template.yaml: cfn-lint finds nothing, and the properties the deployment relies on hold.

The template is read as CloudFormation would resolve it with its defaults (tests/deploy/cfn.py), so numbers are
compared as deployed: the visibility timeout against the function's timeout, the event source's concurrency against
the reserved concurrency, the queue policy's source ARN against the bucket's own ARN.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint, lint_file

from lambda_trigger import rules, settings, status_records
from lambda_trigger.flyte_config import load_flyte_config
from tests.deploy.cfn import REPO, TEMPLATE, Template, as_list, flyte_tasks_policy, policy_documents, statements
from tests.fakes import flytekit_env_names

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


@pytest.fixture(scope="module")
def template() -> Template:
    return Template()


@pytest.fixture(scope="module")
def with_client() -> Template:
    """A deployment against an authenticated flyteadmin, with every optional setting given."""
    return Template(
        {
            "FlyteClientId": "nst-trigger",
            "LaunchPlanVersion": "abc123",
            "DefaultStyleUri": "s3://nst-images-123456789012-eu-west-1/styles/default.jpg",
            "Epochs": "2",
            "StepsPerEpoch": "50",
            "MaxDim": "256",
            "FlyteTaskRoleName": "flyte-workers",
            "AlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:nst-alarms",
        }
    )


def function(template: Template) -> dict:
    return template.properties("TriggerFunction")


def event_source(template: Template) -> dict:
    (event,) = function(template)["Events"].values()
    assert event["Type"] == "SQS"
    return event["Properties"]


# --- cfn-lint ------------------------------------------------------------------------------------------------


def test_cfn_lint_reports_no_error_warning_or_informational_finding() -> None:
    matches = lint_file(TEMPLATE, config=ManualArgs(include_checks=["I"], regions=REGIONS))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


@pytest.mark.parametrize(
    ("original", "broken", "rule"),
    [
        # A misspelt property of the SAM function: caught whether or not cfn-lint transforms SAM first.
        ("      ReservedConcurrentExecutions: !Ref TriggerConcurrency", "      ReservedConcurency: 5", "E3002"),
        ("      VisibilityTimeout: 750", "      VisibilityTimeout: 99999", "E3034"),
    ],
)
def test_cfn_lint_does_catch_a_broken_copy(original: str, broken: str, rule: str) -> None:
    """Guards the test above: a lint run that checked nothing would also report nothing."""
    text = TEMPLATE.read_text()
    assert text.count(original) == 1
    matches = lint(text.replace(original, broken), config=ManualArgs(regions=["us-east-1"]))
    assert rule in {m.rule.id for m in matches}


# --- the bucket and its notifications ----------------------------------------------------------------------------


def test_bucket_is_versioned_encrypted_private_and_owner_enforced(template: Template) -> None:
    bucket = template.properties("ImageBucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    block = bucket["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    noncurrent = [rule for rule in bucket["LifecycleConfiguration"]["Rules"] if "NoncurrentVersionExpiration" in rule]
    assert noncurrent, "a versioned bucket needs old versions expired"


def test_bucket_policy_refuses_plain_http(template: Template) -> None:
    (statement,) = statements(template.properties("ImageBucketPolicy")["PolicyDocument"])
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket"} <= set(statement["Action"])


def test_notifications_cover_the_upload_prefix_and_every_image_suffix_only(template: Template) -> None:
    bucket = template.properties("ImageBucket")
    notifications = bucket["NotificationConfiguration"]
    assert set(notifications) == {"QueueConfigurations"}, "no Lambda or topic destinations: only the queue"
    suffixes = []
    for configuration in notifications["QueueConfigurations"]:
        assert configuration["Event"] == "s3:ObjectCreated:*"
        assert configuration["Queue"] == "{GetAtt:UploadQueue.Arn}"
        filters = {rule["Name"]: rule["Value"] for rule in configuration["Filter"]["S3Key"]["Rules"]}
        assert len(configuration["Filter"]["S3Key"]["Rules"]) == 2
        assert filters["prefix"] == template.parameters["UploadPrefix"]
        suffixes.append(filters["suffix"])
    expected = {case(extension) for extension in rules.IMAGE_EXTENSIONS for case in (str.lower, str.upper)}
    assert sorted(suffixes) == sorted(expected), "one configuration per accepted extension, in both cases"
    # Every configuration's prefix is the parameter itself, never the output or style prefix.
    for configuration in template.raw["Resources"]["ImageBucket"]["Properties"]["NotificationConfiguration"][
        "QueueConfigurations"
    ]:
        assert configuration["Filter"]["S3Key"]["Rules"][0] == {"Name": "prefix", "Value": {"Ref": "UploadPrefix"}}


def test_results_and_style_images_never_match_the_notification_filter(template: Template) -> None:
    upload, style, output = (template.parameters[name] for name in ("UploadPrefix", "StylePrefix", "OutputPrefix"))
    # the trigger accepts the layout
    settings.Settings(upload_prefix=upload, style_prefix=style, output_prefix=output, allowed_buckets=("nst-b",))
    for prefix in (style, output):
        for extension in rules.IMAGE_EXTENSIONS:
            assert not f"{prefix}monet/photo{extension}".startswith(upload)
    # The template refuses equal prefixes before anything is created.
    assertions = template.raw["Rules"]["PrefixesAreDistinct"]["Assertions"]
    compared = {tuple(sorted(ref["Ref"] for ref in a["Assert"]["Fn::Not"][0]["Fn::Equals"])) for a in assertions}
    assert compared == {
        ("OutputPrefix", "UploadPrefix"),
        ("StylePrefix", "UploadPrefix"),
        ("OutputPrefix", "StylePrefix"),
    }


def test_bucket_name_is_deterministic_and_the_queue_policy_names_exactly_this_bucket(template: Template) -> None:
    raw = template.resources
    bucket_arn = template.get_att("ImageBucket", "Arn")
    assert bucket_arn == "arn:aws:s3:::nst-images-123456789012-eu-west-1"
    (statement,) = statements(template.properties("UploadQueuePolicy")["PolicyDocument"])
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == "{GetAtt:UploadQueue.Arn}"
    assert statement["Condition"]["ArnEquals"] == {"aws:SourceArn": bucket_arn}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert template.properties("UploadQueuePolicy")["Queues"] == ["{Ref:UploadQueue}"]
    # S3 validates the destination when the notification is saved: the policy must exist first.
    assert raw["ImageBucket"]["DependsOn"] == "UploadQueuePolicy"
    assert "ImageBucket" not in references(raw["UploadQueuePolicy"]), "naming the bucket resource would be a cycle"


def references(node) -> set[str]:
    """Logical ids ``node`` refers to through Ref, GetAtt or a ${...} in Sub (parameters included)."""
    text = json.dumps(node)
    found = set(re.findall(r'"Ref": "([A-Za-z0-9]+)"', text))
    found |= set(re.findall(r'"Fn::GetAtt": \["([A-Za-z0-9]+)"', text))
    found |= set(re.findall(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}", text))
    return found


def test_resources_form_no_dependency_cycle(template: Template) -> None:
    names = set(template.resources)
    graph = {
        name: (references(body) & names) | set(as_list(body.get("DependsOn", [])))
        for name, body in template.resources.items()
    }
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {name for name, needs in graph.items() if name not in done and needs <= done}
        assert ready, f"cycle among {sorted(set(graph) - done)}"
        done |= ready


# --- the durable event path ----------------------------------------------------------------------------------


def test_dead_letter_queue_receives_what_fails_max_receive_count_times(template: Template) -> None:
    queue = template.properties("UploadQueue")
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == "{GetAtt:DeadLetterQueue.Arn}"
    assert 1 <= int(redrive["maxReceiveCount"]) <= 50
    dead_letter = template.properties("DeadLetterQueue")
    # A message keeps its original enqueue time in the DLQ: it must be allowed to live longer there.
    assert dead_letter["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    assert queue["SqsManagedSseEnabled"] and dead_letter["SqsManagedSseEnabled"]
    alarm = template.properties("DeadLetterAlarm")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "{GetAtt:DeadLetterQueue.QueueName}"}]
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0


def test_visibility_timeout_is_at_least_six_function_timeouts_plus_the_batching_window(template: Template) -> None:
    timeout = function(template)["Timeout"]
    window = event_source(template).get("MaximumBatchingWindowInSeconds", 0)
    visibility = template.properties("UploadQueue")["VisibilityTimeout"]
    assert visibility >= 6 * timeout + window, (visibility, timeout, window)
    assert "Globals" not in template.raw, "a Globals timeout would have to be taken into account here"


def test_sqs_event_source_reports_batch_item_failures_within_the_concurrency_limit(template: Template) -> None:
    source = event_source(template)
    assert source["Queue"] == "{GetAtt:UploadQueue.Arn}"
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 1 <= source["BatchSize"] <= 10
    reserved = function(template)["ReservedConcurrentExecutions"]
    assert reserved >= 2
    assert source["ScalingConfig"]["MaximumConcurrency"] == reserved
    assert reserved == template.parameters["TriggerConcurrency"]


def test_the_trigger_is_a_container_image_function(template: Template) -> None:
    properties = function(template)
    assert properties["PackageType"] == "Image"
    assert properties["ImageUri"] == template.parameters["TriggerImageUri"]
    assert not {"Runtime", "Handler", "CodeUri", "InlineCode"} & set(properties)
    assert properties["Role"] == "{GetAtt:TriggerRole.Arn}", "the function's only permissions are TriggerRole's"
    assert properties["LoggingConfig"] == {"LogGroup": "{Ref:TriggerLogGroup}"}
    assert properties["Architectures"] == [template.parameters["TriggerArchitecture"]]


# --- IAM: explicit actions, least privilege -----------------------------------------------------------------------


def test_no_wildcard_actions_and_no_not_action_anywhere(template: Template) -> None:
    documents = list(policy_documents(template.raw))
    assert len(documents) >= 6
    for where, document in documents:
        for statement in statements(document):
            assert "NotAction" not in statement and "NotResource" not in statement, where
            for action in as_list(statement["Action"]):
                assert isinstance(action, str) and "*" not in action, f"{where}: {action}"


def test_every_allow_names_its_resources(template: Template) -> None:
    for where, document in policy_documents(template.resolve(template.raw["Resources"])):
        for statement in statements(document):
            if statement["Effect"] == "Allow" and "Resource" in statement:
                assert "*" not in as_list(statement["Resource"]), where
                for resource in as_list(statement["Resource"]):
                    assert resource.startswith(("arn:aws:", "{Ref:", "{GetAtt:")), f"{where}: {resource}"


def trigger_statements(template: Template) -> dict[str, dict]:
    (policy,) = template.properties("TriggerRole")["Policies"]
    return {statement["Sid"]: statement for statement in statements(policy["PolicyDocument"])}


def test_trigger_reads_only_style_and_upload_keys_and_lists_only_its_bucket(template: Template) -> None:
    granted = trigger_statements(template)
    bucket = template.get_att("ImageBucket", "Arn")
    s3 = {sid: s for sid, s in granted.items() if any(a.startswith("s3:") for a in as_list(s["Action"]))}
    assert s3["FindStyleImages"]["Action"] == "s3:GetObject"
    assert s3["FindStyleImages"]["Resource"] == f"{bucket}/{template.parameters['StylePrefix']}*"
    # options.py reads each upload's metadata with HeadObject, which s3:GetObject authorises: uploads only
    assert s3["ReadUploadOptions"]["Action"] == "s3:GetObject"
    assert s3["ReadUploadOptions"]["Resource"] == f"{bucket}/{template.parameters['UploadPrefix']}*"
    # styles.py tries .jpg, .jpeg, .png, .webp and stops at a 403: only ListBucket turns a missing key into a 404.
    assert "s3:ListBucket" in (REPO / "lambda_trigger" / "styles.py").read_text()
    listing = s3["TellMissingStylesFromForbidden"]
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", bucket)
    assert set(s3) == {
        "FindStyleImages",
        "ReadUploadOptions",
        "TellMissingStylesFromForbidden",
        "WriteStatusRecords",
    }, "no results"


def test_trigger_writes_the_status_records_and_nothing_else_under_the_output_prefix(template: Template) -> None:
    """status_records.py: a conditional PutObject and a GetObject of <output>.progress.json, and only those keys."""
    granted = trigger_statements(template)["WriteStatusRecords"]
    bucket = template.get_att("ImageBucket", "Arn")
    assert set(as_list(granted["Action"])) == {"s3:PutObject", "s3:GetObject"}
    resource = granted["Resource"]
    assert resource == f"{bucket}/stylized/*.progress.json"
    output_key = rules.output_key_of("stylized/", "monet/photo.jpg")
    assert fnmatch.fnmatchcase(f"{bucket}/{rules.progress_key(output_key)}", resource)
    for key in (output_key, rules.preview_key(output_key), "uploads/monet/photo.jpg", "styles/monet.jpg"):
        assert not fnmatch.fnmatchcase(f"{bucket}/{key}", resource), key
    assert rules.progress_key(output_key).endswith(status_records.PROGRESS_SUFFIX)


def test_trigger_consumes_only_its_queue_and_writes_only_its_log_group(template: Template) -> None:
    granted = trigger_statements(template)
    assert set(as_list(granted["ConsumeUploadQueue"]["Action"])) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert granted["ConsumeUploadQueue"]["Resource"] == "{GetAtt:UploadQueue.Arn}"
    assert set(as_list(granted["WriteOwnLogs"]["Action"])) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert granted["WriteOwnLogs"]["Resource"] == "{GetAtt:TriggerLogGroup.Arn}"
    (trust,) = statements(template.properties("TriggerRole")["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"


def test_secret_is_readable_only_by_the_trigger(with_client: Template) -> None:
    template = with_client
    # The function's role may read exactly this secret ...
    read = trigger_statements(template)["ReadFlyteClientSecret"]
    assert (read["Effect"], read["Action"], read["Resource"]) == (
        "Allow",
        "secretsmanager:GetSecretValue",
        "{Ref:FlyteClientSecret}",
    )
    # ... no other policy in the stack lets anyone read any secret ...
    readers = [
        where
        for where, document in policy_documents(template.resolve(template.raw["Resources"]))
        for statement in statements(document)
        if statement["Effect"] == "Allow"
        and any(action.lower() == "secretsmanager:getsecretvalue" for action in as_list(statement["Action"]))
    ]
    assert readers == ["/TriggerRole/Properties/Policies/0/PolicyDocument"]
    # ... and the secret's own policy denies every other principal, whatever their identity policies say.
    policy = template.properties("FlyteClientSecretPolicy")
    assert policy["SecretId"] == "{Ref:FlyteClientSecret}" and policy["BlockPublicPolicy"] is True
    (deny,) = statements(policy["ResourcePolicy"])
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "secretsmanager:GetSecretValue")
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": "{GetAtt:TriggerRole.Arn}"}}
    # The function is told where the secret is, and the secret starts as a placeholder, not a real value.
    assert function(template)["Environment"]["Variables"]["NST_FLYTE_CLIENT_SECRET_ARN"] == "{Ref:FlyteClientSecret}"
    assert json.loads(template.properties("FlyteClientSecret")["SecretString"]) == {"client_secret": ""}
    assert not [p for p in template.raw["Parameters"].values() if p.get("NoEcho")], (
        "no secret passes through a parameter"
    )


def test_without_a_client_id_the_trigger_reads_no_secret(template: Template) -> None:
    variables = function(template)["Environment"]["Variables"]
    assert "NST_FLYTE_CLIENT_SECRET_ARN" not in variables and "FLYTE_CREDENTIALS_CLIENT_ID" not in variables


def test_flyte_tasks_policy_reads_inputs_and_writes_results_only(with_client: Template) -> None:
    template = with_client
    policy = template.properties("FlyteTasksPolicy")
    assert template.resources["FlyteTasksPolicy"]["Type"] == "AWS::IAM::ManagedPolicy"
    assert policy["Roles"] == ["flyte-workers"]
    assert "Roles" not in Template().properties("FlyteTasksPolicy"), "attached by hand when no role name is given"
    bucket = template.get_att("ImageBucket", "Arn")
    granted = {s["Sid"]: s for s in statements(policy["PolicyDocument"])}
    assert granted["ReadUploadsAndStyles"]["Action"] == "s3:GetObject"
    assert sorted(granted["ReadUploadsAndStyles"]["Resource"]) == [f"{bucket}/styles/*", f"{bucket}/uploads/*"]
    assert set(as_list(granted["WriteStylizedResults"]["Action"])) == {"s3:PutObject", "s3:AbortMultipartUpload"}
    assert granted["WriteStylizedResults"]["Resource"] == f"{bucket}/stylized/*"
    assert (
        granted["TellMissingInputsFromForbidden"]["Action"],
        granted["TellMissingInputsFromForbidden"]["Resource"],
    ) == ("s3:ListBucket", bucket)
    assert set(granted) == {"ReadUploadsAndStyles", "WriteStylizedResults", "TellMissingInputsFromForbidden"}


def test_the_runbook_quotes_the_flyte_tasks_policy_from_the_template() -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    block = re.search(
        r"<!-- flyte-tasks-policy:begin -->\s*```json\n(.*?)```\s*<!-- flyte-tasks-policy:end -->", text, re.S
    )
    assert block, "docs/deploy.md lost its quoted policy block"
    assert json.loads(block.group(1)) == flyte_tasks_policy(), (
        "regenerate: python -m tests.deploy.cfn flyte-tasks-policy"
    )


# --- the function's settings -----------------------------------------------------------------------------------


def test_every_variable_the_template_sets_is_one_the_trigger_reads(with_client: Template) -> None:
    variables = with_client.resources["TriggerFunction"]["Properties"]["Environment"]["Variables"]
    read_by_trigger = {variable.name for variable in settings.VARIABLES}  # test_settings: exactly what it reads
    read_by_flytekit = flytekit_env_names()
    assert {"FLYTE_PLATFORM_URL", "FLYTE_CREDENTIALS_CLIENT_ID"} <= read_by_flytekit
    unknown = {name for name in variables if name not in read_by_trigger | read_by_flytekit}
    assert not unknown, f"set by the template but read by nobody (a typo?): {sorted(unknown)}"
    deployed = {variable.name for variable in settings.VARIABLES if variable.deployed}
    assert {name for name in variables if name in read_by_trigger} == deployed, (
        "the template sets every trigger setting marked deployed in settings.VARIABLES, and no other"
    )


@pytest.mark.parametrize("client_id", ["", "nst-trigger"])
def test_the_deployed_environment_is_accepted_by_the_trigger(client_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the function will see at init: Settings.from_env and flytekit's configuration both accept it."""
    template = Template({"FlyteClientId": client_id, "DefaultStyleUri": "s3://b/styles/default.jpg", "MaxDim": "256"})
    variables = {name: str(value) for name, value in function(template)["Environment"]["Variables"].items()}
    variables["NST_FLYTE_CLIENT_SECRET_ARN"] = variables.get("NST_FLYTE_CLIENT_SECRET_ARN", "").replace(
        "{Ref:FlyteClientSecret}", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nst-AbCdEf"
    )
    for name in list(flytekit_env_names()) + ["FLYTECTL_CONFIG"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    loaded = settings.Settings.from_env(variables)
    assert loaded.launch_plan == settings.DEFAULT_LAUNCH_PLAN
    assert (loaded.upload_prefix, loaded.style_prefix, loaded.output_prefix) == ("uploads/", "styles/", "stylized/")
    assert loaded.workflow_overrides() == {"max_dim": 256}
    assert loaded.rpc_timeout_s == 10.0 and loaded.style_uri == "s3://b/styles/default.jpg"
    # the stack's own bucket, and only it, may start executions (not the style URI's bucket)
    assert loaded.allowed_buckets == (function(template)["Environment"]["Variables"]["NST_ALLOWED_BUCKETS"],)
    assert loaded.allowed_buckets == (template.properties("ImageBucket")["BucketName"],)
    assert (loaded.client_secret_arn is not None) == bool(client_id)
    config = load_flyte_config(loaded, "the-secret" if client_id else None)
    assert config.platform.endpoint == "flyte.example.com"
    assert config.platform.insecure is False
    if client_id:
        assert config.platform.client_id == client_id
        # flytekit's client-credentials flow, with the trigger's deadlines on the token request
        assert config.platform.auth_mode == "nst-trigger-client-credentials"


# --- parameters and outputs --------------------------------------------------------------------------------------


def test_every_default_satisfies_its_own_constraints(template: Template) -> None:
    for name, spec in template.raw["Parameters"].items():
        value = template.parameters[name]
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], str(value)), name
        if "AllowedValues" in spec:
            assert value in spec["AllowedValues"], name
        if "MinValue" in spec:
            assert spec["MinValue"] <= value <= spec["MaxValue"], name


@pytest.mark.parametrize(
    ("parameter", "value", "accepted"),
    [
        ("TriggerImageUri", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nst-trigger:3be871919c66", True),
        ("TriggerImageUri", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/nst-trigger@sha256:" + "a" * 64, True),
        ("TriggerImageUri", "nst-trigger:latest", False),
        ("TriggerImageUri", "public.ecr.aws/acme/nst-trigger:1", False),
        ("TriggerImageUri", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nst-trigger", False),
        ("UploadPrefix", "incoming/photos/", True),
        ("UploadPrefix", "uploads", False),
        ("UploadPrefix", "/uploads/", False),
        ("UploadPrefix", "", False),
        ("LaunchPlan", "neural_style_transfer_gpu", True),
        ("LaunchPlan", "workflows.neural_style_transfer.neural_style_transfer_wf", True),
        ("FlytePlatformUrl", "flyte.example.com:443", True),
        ("FlytePlatformUrl", "https://flyte.example.com", False),
        ("BucketNamePrefix", "Nst_Images", False),
        ("DefaultStyleUri", "s3://bucket/styles/x.jpg", True),
        ("DefaultStyleUri", "styles/x.jpg", False),
        ("MaxDim", "4096", True),
        ("MaxDim", "0", False),
    ],
)
def test_parameter_constraints(template: Template, parameter: str, value: str, accepted: bool) -> None:
    assert bool(re.fullmatch(template.raw["Parameters"][parameter]["AllowedPattern"], value)) is accepted


def test_bucket_name_stays_a_valid_s3_name_for_the_longest_prefix_and_region() -> None:
    longest = Template({"BucketNamePrefix": "a" * 30}, pseudo={"AWS::Region": "ap-southeast-4"})
    name = longest.ref("ImageBucket")
    assert len(name) <= 63 and re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", name)


def test_outputs_name_everything_the_runbook_uses(template: Template) -> None:
    outputs = template.raw["Outputs"]
    expected = {
        "BucketName",
        "UploadUri",
        "StyleUri",
        "OutputUri",
        "UploadQueueUrl",
        "UploadQueueArn",
        "DeadLetterQueueUrl",
        "DeadLetterQueueArn",
        "TriggerFunctionName",
        "TriggerLogGroupName",
        "FlyteClientSecretArn",
        "FlyteTasksPolicyArn",
        "WebApiUrl",
        "SiteUrl",
        "SiteBucketName",
        "SiteDistributionId",
    }
    assert expected <= set(outputs)
    runbook = (REPO / "docs" / "deploy.md").read_text()
    used = set(re.findall(r"\$\(out ([A-Za-z]+)\)", runbook))
    assert used, "the runbook reads the stack's outputs"
    assert used <= set(outputs), sorted(used - set(outputs))
    assert template.resolve(outputs["FlyteTasksPolicyArn"]["Value"]) == "{Ref:FlyteTasksPolicy}"
    assert template.resolve(outputs["UploadUri"]["Value"]) == "s3://nst-images-123456789012-eu-west-1/uploads/"


def test_template_lives_where_the_makefile_deploys_it(tmp_path: Path) -> None:
    """``make deploy`` with a recording ``sam`` on PATH: ``sam build`` runs where it finds this template (its
    default, ``template.yaml`` in the working folder), and every later sam call runs there too."""
    from tests.deploy.test_runbook import ECR_IMAGE, ECR_WEB_IMAGE, make

    calls = tmp_path / "calls"
    fake_sam = tmp_path / "sam"
    fake_sam.write_text(f'#!/bin/sh\necho "$PWD|$*" >> {calls}\n')
    fake_sam.chmod(0o755)
    result = make("deploy", f"LAMBDA_IMAGE={ECR_IMAGE}", f"WEB_IMAGE={ECR_WEB_IMAGE}", path=f"{tmp_path}:/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    recorded = [line.split("|", 1) for line in calls.read_text().splitlines()]
    assert recorded[0][1] == "build"
    assert {Path(folder) / "template.yaml" for folder, _ in recorded} == {Path(TEMPLATE).resolve()}
