"""The policy evaluation the local stack's roles rest on (reawake_tools.local.iam.allows)."""

from __future__ import annotations

from reawake_tools.local.iam import allows

TABLE = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/reawake-Table"


def test_an_allow_matches_actions_without_case_and_resources_with_wildcards() -> None:
    statements = [{"Effect": "Allow", "Action": ["dynamodb:GetItem", "s3:Get*"],
                   "Resource": [TABLE, "arn:aws:s3:::b/*"]}]
    assert allows(statements, "DynamoDB:getitem", TABLE)
    assert allows(statements, "s3:GetObject", "arn:aws:s3:::b/config/x.yaml")
    assert not allows(statements, "dynamodb:GetItem", TABLE + "/index/leads"), "an index is another resource"
    assert not allows(statements, "dynamodb:PutItem", TABLE)
    assert not allows(statements, "s3:GetObject", "arn:aws:s3:::B/x"), "resources are case-sensitive"


def test_nothing_is_allowed_without_a_statement_and_a_deny_wins() -> None:
    allow = {"Effect": "Allow", "Action": "dynamodb:*", "Resource": TABLE}
    deny = {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"}
    assert not allows([], "dynamodb:GetItem", TABLE)
    assert allows([allow, deny], "dynamodb:GetItem", TABLE)
    assert not allows([allow, deny], "dynamodb:DeleteItem", TABLE)


def test_a_conditional_allow_is_not_taken_for_granted() -> None:
    conditional = {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*",
                   "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}
    assert not allows([conditional], "sns:Publish", "arn:aws:sns:ap-northeast-1:123456789012:t")
