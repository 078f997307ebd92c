"""deploy/template.yaml, the web part (issue 25): the HTTP API and its function, CORS, the private site behind
CloudFront, the optional JWT authorizer. Read as CloudFormation resolves it (tests/deploy/cfn.py), and through
SAM's own transform where SAM rewrites what the template says (the API's OpenAPI body)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from lambda_trigger import settings
from tests.deploy.cfn import REQUIRED, Template, as_list, load, statements
from tests.deploy.test_template import references
from web.settings import WEB_VARIABLES, WebSettings

SITE = "https://photos.example.com"
DISTRIBUTION_ORIGIN = "https://{GetAtt:SiteDistribution.DomainName}"
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
AUDIENCE = "4pq1example7clientid"


@pytest.fixture(scope="module")
def template() -> Template:
    return Template()


@pytest.fixture(scope="module")
def locked() -> Template:
    """A deployment with its own domain, tighter throttling and the authorizer on."""
    return Template(
        {
            "SiteOrigin": SITE,
            "ApiThrottlingBurstLimit": 5,
            "ApiThrottlingRateLimit": 2,
            "JwtIssuer": ISSUER,
            "JwtAudience": AUDIENCE,
        }
    )


def route(template: Template) -> dict[str, Any]:
    return template.properties("WebApi")["DefinitionBody"]["paths"]["$default"]["x-amazon-apigateway-any-method"]


def web_statements(template: Template) -> dict[str, dict[str, Any]]:
    (policy,) = template.properties("WebApiRole")["Policies"]
    return {statement["Sid"]: statement for statement in statements(policy["PolicyDocument"])}


# --- the API ------------------------------------------------------------------------------------------------------


def test_the_api_is_an_http_api_whose_one_route_is_the_web_function(template: Template) -> None:
    assert template.resources["WebApi"]["Type"] == "AWS::Serverless::HttpApi"
    body = template.properties("WebApi")["DefinitionBody"]
    assert list(body["paths"]) == ["$default"], "every method and path, one route"
    integration = route(template)["x-amazon-apigateway-integration"]
    assert (integration["type"], integration["payloadFormatVersion"]) == ("aws_proxy", "2.0")
    assert integration["uri"] == (
        "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/{GetAtt:WebApiFunction.Arn}/invocations"
    )
    permission = template.properties("WebApiInvokePermission")
    assert (permission["FunctionName"], permission["Principal"]) == ("{Ref:WebApiFunction}", "apigateway.amazonaws.com")
    assert permission["SourceArn"] == "arn:aws:execute-api:eu-west-1:123456789012:{Ref:WebApi}/*", "this API only"


def test_the_default_route_is_throttled_by_the_parameters(template: Template, locked: Template) -> None:
    assert template.properties("WebApi")["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": template.parameters["ApiThrottlingBurstLimit"],
        "ThrottlingRateLimit": template.parameters["ApiThrottlingRateLimit"],
    }
    assert locked.properties("WebApi")["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 5, "ThrottlingRateLimit": 2}


def test_the_function_is_the_web_image_with_the_mangum_handler(template: Template) -> None:
    function = template.properties("WebApiFunction")
    assert function["PackageType"] == "Image"
    assert function["ImageUri"] == REQUIRED["WebImageUri"] == template.parameters["WebImageUri"]
    assert function["ImageConfig"]["Command"] == ["web.lambda_function.lambda_handler"]
    assert not {"Runtime", "Handler", "CodeUri", "InlineCode", "Events"} & set(function), "routed by the API body"
    assert function["Role"] == "{GetAtt:WebApiRole.Arn}"
    assert function["Timeout"] < 30, "API Gateway's HTTP API gives an integration 30 s"
    assert function["LoggingConfig"] == {"LogGroup": "{Ref:WebLogGroup}"}


@pytest.mark.parametrize("parameters", [{}, {"SiteOrigin": SITE, "MaxDim": "256", "UploadPrefix": "incoming/"}])
def test_the_function_reads_the_triggers_layout_and_web_settings_accepts_them(parameters: dict[str, str]) -> None:
    template = Template(parameters)
    web = template.properties("WebApiFunction")["Environment"]["Variables"]
    trigger = template.properties("TriggerFunction")["Environment"]["Variables"]
    for name in ("NST_UPLOAD_PREFIX", "NST_STYLE_PREFIX", "NST_OUTPUT_PREFIX", "NST_ALLOWED_BUCKETS", "NST_MAX_DIM"):
        assert web.get(name) == trigger.get(name), f"{name}: the API signs the keys the trigger launches"
    known = {variable.name for variable in settings.VARIABLES} | set(WEB_VARIABLES)
    assert set(web) <= known, sorted(set(web) - known)
    environment = {name: str(value) for name, value in web.items()}
    environment["NST_WEB_ORIGIN"] = environment["NST_WEB_ORIGIN"].replace(
        "{GetAtt:SiteDistribution.DomainName}", "d111111abcdef8.cloudfront.net"
    )
    loaded = WebSettings.from_env(environment)
    assert loaded.bucket == template.properties("ImageBucket")["BucketName"]
    assert loaded.trigger.upload_prefix == template.parameters["UploadPrefix"]
    assert loaded.origin == parameters.get("SiteOrigin", "https://d111111abcdef8.cloudfront.net")


# --- CORS: the site's origin only ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("site_origin", "allowed"), [("", DISTRIBUTION_ORIGIN), (SITE, SITE)])
def test_cors_of_the_api_and_the_bucket_allow_the_site_origin_alone(site_origin: str, allowed: str) -> None:
    template = Template({"SiteOrigin": site_origin})
    api_cors = template.properties("WebApi")["CorsConfiguration"]
    assert api_cors["AllowOrigins"] == [allowed]
    assert set(api_cors["AllowMethods"]) <= {"GET", "POST", "OPTIONS"}
    (rule,) = template.properties("ImageBucket")["CorsConfiguration"]["CorsRules"]
    assert (rule["AllowedOrigins"], rule["AllowedMethods"]) == ([allowed], ["POST"]), "the presigned POST, nothing else"
    assert template.properties("WebApiFunction")["Environment"]["Variables"]["NST_WEB_ORIGIN"] == allowed
    assert template.resolve(template.raw["Outputs"]["SiteOriginAllowed"]["Value"]) == allowed
    assert "*" not in json.dumps([api_cors["AllowOrigins"], rule["AllowedOrigins"]])


def test_the_site_origin_parameter_takes_origins_only(template: Template) -> None:
    import re

    pattern = template.raw["Parameters"]["SiteOrigin"]["AllowedPattern"]
    for accepted in ("", SITE, "https://photos.example.com:8443"):
        assert re.fullmatch(pattern, accepted), accepted
    for refused in ("*", "http://photos.example.com", "https://photos.example.com/", "https://a.com/page", "https://"):
        assert not re.fullmatch(pattern, refused), refused


# --- least privilege ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parameters", [{}, {"UploadPrefix": "incoming/photos/", "OutputPrefix": "out/"}])
def test_the_web_role_may_sign_uploads_read_results_and_styles_and_list_two_prefixes(parameters) -> None:
    template = Template(parameters)
    upload, style, output = (template.parameters[name] for name in ("UploadPrefix", "StylePrefix", "OutputPrefix"))
    bucket = template.get_att("ImageBucket", "Arn")
    granted = web_statements(template)
    s3 = {sid: statement for sid, statement in granted.items() if "s3:" in json.dumps(statement["Action"])}
    assert set(s3) == {"SignUploadPosts", "ReadResultsAndStyles", "ListStylesAndUploads"}
    assert (s3["SignUploadPosts"]["Action"], s3["SignUploadPosts"]["Resource"]) == (
        "s3:PutObject",
        f"{bucket}/{upload}*",
    ), "the presigned POST's only authority: the upload prefix"
    assert s3["ReadResultsAndStyles"]["Action"] == "s3:GetObject"
    assert sorted(as_list(s3["ReadResultsAndStyles"]["Resource"])) == sorted(
        [f"{bucket}/{output}*", f"{bucket}/{style}*"]
    )
    listing = s3["ListStylesAndUploads"]
    assert (listing["Action"], listing["Resource"]) == ("s3:ListBucket", bucket)
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{style}*", f"{upload}*"]}}
    assert set(granted) == {"WriteOwnLogs", "SignUploadPosts", "ReadResultsAndStyles", "ListStylesAndUploads"}
    assert granted["WriteOwnLogs"]["Resource"] == "{GetAtt:WebLogGroup.Arn}"
    actions = {action for statement in granted.values() for action in as_list(statement["Action"])}
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents", "s3:PutObject", "s3:GetObject", "s3:ListBucket"}
    (trust,) = statements(template.properties("WebApiRole")["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "ManagedPolicyArns" not in template.properties("WebApiRole")


def test_no_other_resource_grants_the_web_role_anything(template: Template) -> None:
    """Its inline policy is all it holds: no managed policy or other resource attaches to it."""
    others = {name: body for name, body in template.resources.items() if name not in ("WebApiRole", "WebApiFunction")}
    assert [name for name, body in others.items() if "WebApiRole" in references(body)] == []


# --- the site: private, behind CloudFront with origin access control ------------------------------------------------


def test_the_site_bucket_is_private_and_read_by_the_distribution_alone(template: Template) -> None:
    bucket = template.properties("SiteBucket")
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "WebsiteConfiguration" not in bucket, "no S3 website endpoint: CloudFront is the only way in"
    policy = template.properties("SiteBucketPolicy")
    assert policy["Bucket"] == "{Ref:SiteBucket}"
    granted = {statement["Sid"]: statement for statement in statements(policy["PolicyDocument"])}
    tls = granted.pop("DenyRequestsWithoutTls")
    assert (tls["Effect"], tls["Principal"]) == ("Deny", "*")
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(tls["Resource"]) == {"{GetAtt:SiteBucket.Arn}", "{GetAtt:SiteBucket.Arn}/*"}
    (read,) = granted.values()
    assert (read["Effect"], read["Principal"], read["Action"]) == (
        "Allow",
        {"Service": "cloudfront.amazonaws.com"},
        "s3:GetObject",
    )
    assert read["Resource"] == "{GetAtt:SiteBucket.Arn}/*"
    assert read["Condition"] == {
        "StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/{Ref:SiteDistribution}"}
    }, "this stack's distribution, not any CloudFront distribution"


def test_the_distribution_reaches_the_bucket_through_origin_access_control(template: Template) -> None:
    control = template.properties("SiteOriginAccessControl")["OriginAccessControlConfig"]
    assert (control["OriginAccessControlOriginType"], control["SigningBehavior"], control["SigningProtocol"]) == (
        "s3",
        "always",
        "sigv4",
    )
    config = template.properties("SiteDistribution")["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["DomainName"] == "{GetAtt:SiteBucket.RegionalDomainName}"
    assert origin["OriginAccessControlId"] == "{GetAtt:SiteOriginAccessControl.Id}"
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}, "OAC, not the legacy origin access identity"
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["TargetOriginId"] == origin["Id"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert set(behaviour["AllowedMethods"]) == {"GET", "HEAD"}
    assert config["DefaultRootObject"] == "index.html"


# --- the optional JWT authorizer -------------------------------------------------------------------------------------


def test_without_an_issuer_there_is_no_authorizer(template: Template) -> None:
    assert template.condition("HasAuthorizer") is False
    assert "security" not in route(template)
    assert "components" not in template.properties("WebApi")["DefinitionBody"]


def test_with_an_issuer_every_route_requires_its_jwt(locked: Template) -> None:
    assert locked.condition("HasAuthorizer") is True
    assert route(locked)["security"] == [{"JwtAuthorizer": []}]
    scheme = locked.properties("WebApi")["DefinitionBody"]["components"]["securitySchemes"]["JwtAuthorizer"]
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "jwt" and authorizer["identitySource"] == "$request.header.Authorization"
    assert authorizer["jwtConfiguration"] == {"issuer": ISSUER, "audience": [AUDIENCE]}


@pytest.mark.parametrize(
    ("issuer", "audience", "accepted"),
    [("", "", True), (ISSUER, AUDIENCE, True), (ISSUER, "", False), ("", AUDIENCE, False)],
)
def test_an_issuer_and_an_audience_go_together(issuer: str, audience: str, accepted: bool) -> None:
    template = Template({"JwtIssuer": issuer, "JwtAudience": audience})
    (assertion,) = template.raw["Rules"]["AuthorizerIsWhole"]["Assertions"]
    assert template.resolve(assertion["Assert"]) is accepted


@pytest.mark.parametrize("authorizer", [False, True])
def test_sams_transform_keeps_the_conditional_authorizer_and_the_cors_origin(
    authorizer: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SAM rewrites an HttpApi's body (CORS, tags): the route's security and the components must survive it as
    CloudFormation conditions, and the CORS origin must be the site's."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    parameters = {**REQUIRED, "SiteOrigin": SITE}
    if authorizer:
        parameters.update(JwtIssuer=ISSUER, JwtAudience=AUDIENCE)

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    translated = transform(json.loads(json.dumps(load(), default=str)), parameters, NoManagedPolicies())
    body = translated["Resources"]["WebApi"]["Properties"]["Body"]
    assert translated["Resources"]["WebApi"]["Type"] == "AWS::ApiGatewayV2::Api"
    method = body["paths"]["$default"]["x-amazon-apigateway-any-method"]
    assert method["security"] == {"Fn::If": ["HasAuthorizer", [{"JwtAuthorizer": []}], {"Ref": "AWS::NoValue"}]}
    assert body["components"]["Fn::If"][0] == "HasAuthorizer"
    (origin,) = body["x-amazon-apigateway-cors"]["allowOrigins"]
    assert origin["Fn::If"][1] == SITE, "SAM put the site's origin in the body"
    stage = translated["Resources"]["WebApiApiGatewayDefaultStage"]["Properties"]
    assert set(stage["DefaultRouteSettings"]) == {"ThrottlingBurstLimit", "ThrottlingRateLimit"}


# --- outputs ----------------------------------------------------------------------------------------------------------


def test_outputs_give_the_api_url_the_site_url_and_the_site_bucket(template: Template) -> None:
    outputs = {name: template.resolve(output["Value"]) for name, output in template.raw["Outputs"].items()}
    assert outputs["WebApiUrl"] == "https://{Ref:WebApi}.execute-api.eu-west-1.amazonaws.com"
    assert outputs["SiteUrl"] == "https://{GetAtt:SiteDistribution.DomainName}/"
    assert outputs["SiteBucketName"] == "{Ref:SiteBucket}"
    assert outputs["SiteDistributionId"] == "{Ref:SiteDistribution}"
