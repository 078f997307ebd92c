"""Read deploy/template.yaml as CloudFormation would see it, with the parameters' defaults (or chosen values).

``cfnlint.decode`` parses the short tags (``!Ref``, ``!Sub``, ``!GetAtt``, ``!If``...) into their long forms;
:meth:`Template.resolve` then evaluates the intrinsic functions the template uses. Whatever only exists after
deployment is a readable token: ``{Ref:UploadQueue}``, ``{GetAtt:TriggerRole.Arn}``. The bucket is the exception:
its name is deterministic (that is how the template avoids the bucket / queue policy cycle), so its Ref and Arn
resolve to real strings (the site bucket's name is CloudFormation's choice: a token), and a policy naming the bucket by hand can be compared with the bucket itself.

Run as a module to print the Flyte tasks' IAM policy that docs/deploy.md quotes::

    .venv/bin/python -m tests.deploy.cfn flyte-tasks-policy
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "template.yaml"
PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "eu-west-1",
    "AWS::Partition": "aws",
    "AWS::StackName": "nst",
    "AWS::URLSuffix": "amazonaws.com",
}
#: Values for the parameters without a default, as a deployment would give them.
REQUIRED = {
    "TriggerImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nst-trigger:v1",
    "FlytePlatformUrl": "dns:///flyte.example.com",
    "WebImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nst-web:v1",
}
NO_VALUE = object()
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


def load() -> dict[str, Any]:
    template, matches = decode(str(TEMPLATE))
    if matches:
        raise AssertionError(f"{TEMPLATE} does not parse: {matches}")
    return template


class Template:
    """The template and a resolver for its intrinsic functions under one set of parameter values."""

    def __init__(self, parameters: dict[str, Any] | None = None, pseudo: dict[str, str] | None = None) -> None:
        self.raw = load()
        self.pseudo = {**PSEUDO, **(pseudo or {})}
        declared = self.raw["Parameters"]
        self.parameters = {name: spec["Default"] for name, spec in declared.items() if "Default" in spec}
        self.parameters.update(REQUIRED)
        self.parameters.update(parameters or {})
        missing = set(declared) - set(self.parameters)
        if missing:
            raise AssertionError(f"no value for parameters {sorted(missing)}")

    @property
    def resources(self) -> dict[str, Any]:
        return self.raw["Resources"]

    def of_type(self, kind: str) -> dict[str, Any]:
        return {name: body for name, body in self.resources.items() if body["Type"] == kind}

    def properties(self, name: str) -> dict[str, Any]:
        """A resource's properties, resolved."""
        return self.resolve(self.resources[name].get("Properties", {}))

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.raw["Conditions"][name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(self, argument)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.resources[name]
        if resource["Type"] == "AWS::S3::Bucket" and "BucketName" in resource.get("Properties", {}):
            return self.resolve(resource["Properties"]["BucketName"])
        return f"{{Ref:{name}}}"

    def get_att(self, name: str, attribute: str) -> Any:
        named = "BucketName" in self.resources[name].get("Properties", {})
        if self.resources[name]["Type"] == "AWS::S3::Bucket" and attribute == "Arn" and named:
            return f"arn:{self.pseudo['AWS::Partition']}:s3:::{self.ref(name)}"
        return f"{{GetAtt:{name}.{attribute}}}"

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {key: self.resolve(v) for key, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token in variables:
                return str(variables[token])
            if "." in token and not token.startswith("AWS::"):
                return str(self.get_att(*token.split(".", 1)))
            return str(self.ref(token))

        return _SUB.sub(replace, text)


_FUNCTIONS = {
    "Ref": lambda t, a: t.ref(a),
    "Fn::GetAtt": lambda t, a: t.get_att(*(a.split(".", 1) if isinstance(a, str) else a)),
    "Fn::Sub": lambda t, a: t.sub(a),
    "Fn::If": lambda t, a: t.resolve(a[1] if t.condition(a[0]) else a[2]),
    "Fn::Equals": lambda t, a: str(t.resolve(a[0])) == str(t.resolve(a[1])),
    "Fn::Not": lambda t, a: not t.resolve(a[0]),
    "Fn::And": lambda t, a: all(t.resolve(v) for v in a),
    "Fn::Or": lambda t, a: any(t.resolve(v) for v in a),
    "Condition": lambda t, a: t.condition(a),
}


def statements(document: Any) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_documents(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM policy document anywhere in ``node`` (identity, resource and trust policies), with where it is."""
    if isinstance(node, dict):
        if "Statement" in node:
            yield path, node
        for key, value in node.items():
            yield from policy_documents(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from policy_documents(value, f"{path}/{index}")


def flyte_tasks_policy() -> dict[str, Any]:
    """The Flyte tasks' policy for the default layout, with the account and region left as placeholders."""
    template = Template(pseudo={"AWS::AccountId": "ACCOUNT_ID", "AWS::Region": "REGION"})
    return template.properties("FlyteTasksPolicy")["PolicyDocument"]


if __name__ == "__main__":
    if sys.argv[1:] != ["flyte-tasks-policy"]:
        sys.exit("usage: python -m tests.deploy.cfn flyte-tasks-policy")
    print(json.dumps(flyte_tasks_policy(), indent=2))
