"""moto's per-request overheads the local stack cuts (reawake_tools.local.moto_overheads) give moto's own
answers, and each patch still fits the moto internal it replaces: these fail loudly when moto changes one."""

from __future__ import annotations

import inspect
import random
import string
from typing import Any

import pytest

from reawake_tools.local import inprocess, moto_overheads


@pytest.fixture(autouse=True)
def applied() -> None:
    moto_overheads.apply()


def items() -> list[dict[str, Any]]:
    rng = random.Random(7)

    def value(depth: int) -> dict[str, Any]:
        kind = rng.choice(["S", "N", "B", "BOOL", "NULL", "SS", "NS", "L", "M"] if depth < 3 else ["S", "N"])
        if kind == "L":
            return {"L": [value(depth + 1) for _ in range(3)]}
        if kind == "M":
            return {"M": {f"k{i}": value(depth + 1) for i in range(4)}}
        return {"S": {"S": "佐藤" * rng.randint(0, 5)}, "N": {"N": str(rng.randint(-10**6, 10**6))},
                "B": {"B": b"\x00\x01"}, "BOOL": {"BOOL": True}, "NULL": {"NULL": True},
                "SS": {"SS": ["a", "bb"]}, "NS": {"NS": ["1", "2.5"]}}[kind]

    return [{"pk": {"S": f"lead#{n}"}, **{f"a{i}": value(0) for i in range(rng.randint(1, 30))}} for n in range(40)]


def test_items_are_built_and_sized_as_moto_builds_them() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    for attrs in items():
        ours = Item(DynamoType(attrs["pk"]), None, attrs)
        with moto_overheads.stock():
            theirs = Item(DynamoType(attrs["pk"]), None, attrs)
            their_size = theirs.size()
            their_json = theirs.to_json()
        assert ours.to_json() == their_json
        assert ours.size() == their_size > 0
        assert type(ours.attrs) is type(theirs.attrs)


def test_an_item_too_large_is_refused_as_moto_refuses_it() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    near = {"pk": {"S": "x"}, "a": {"S": "y" * 200_000}, "b": {"S": "z" * 204_990}}  # 405,000 bytes less a few
    for attrs, too_large in ((near, False), ({**near, "c": {"S": "w" * 20}}, True)):
        for route in (moto_overheads.stock, _ours):
            with route():
                if too_large:
                    with pytest.raises(ItemSizeTooLarge):
                        Item(DynamoType(attrs["pk"]), None, attrs)
                else:
                    Item(DynamoType(attrs["pk"]), None, attrs)  # the control: fits, on both


def _ours() -> Any:
    from contextlib import nullcontext

    return nullcontext()


def test_an_update_expression_kept_parsed_updates_as_moto_does() -> None:
    """The same expression text applied again and again (the kept tree must not carry one update's
    names, values or item into the next), to items old and new, and an expression that does not parse."""
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    def run() -> list[Any]:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="ap-northeast-1", aws_access_key_id="testing",
                               aws_secret_access_key="testing")
            ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
            out: list[Any] = []
            expression = "SET #a = if_not_exists(#a, :zero) + :n, tags = list_append(if_not_exists(tags, :e), :t)"
            for n in range(4):
                for pk in ("a", "b"):
                    out.append(ddb.update_item(
                        TableName="t", Key={"pk": {"S": pk}}, UpdateExpression=expression,
                        ExpressionAttributeNames={"#a": "count" if pk == "a" else "other"},
                        ExpressionAttributeValues={":zero": {"N": "0"}, ":n": {"N": str(n)}, ":e": {"L": []},
                                                   ":t": {"L": [{"S": f"{pk}{n}"}]}},
                        ReturnValues="ALL_NEW")["Attributes"])
            try:
                ddb.update_item(TableName="t", Key={"pk": {"S": "a"}}, UpdateExpression="SET = :x",
                                ExpressionAttributeValues={":x": {"N": "1"}})
            except ClientError as exc:
                out.append(exc.response["Error"])
            return out

    ours = run()
    with moto_overheads.stock():
        theirs = run()
    assert ours == theirs
    assert ours[-2]["other"] == {"N": "6"} and len(ours[-2]["tags"]["L"]) == 4  # the control: each update applied
    assert ours[-1]["Code"] == "ValidationException"


def test_the_moto_internals_the_patches_replace_are_still_there() -> None:
    """Each patch rests on one internal; if moto renames or reshapes one, this names it."""
    from moto.core import responses, utils
    from moto.core.request import Request
    from moto.core.utils import convert_to_flask_response
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict
    from moto.moto_api._internal.moto_random import MotoRandom
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    # call_action looks the action up in method_names_from_class(...), by the module's global name.
    assert "method_names_from_class(self.__class__)" in inspect.getsource(responses.BaseResponse.call_action)
    assert responses.method_names_from_class is not utils.method_names_from_class  # ours (cached) is in place
    # Item sizing: LimitedSizeDict's limit and test (what Item.__init__ repeats as it sums).
    assert "405000" in inspect.getsource(LimitedSizeDict.__setitem__)
    # The request id: get_random_string's signature.
    def shape(fn: Any) -> list[tuple[str, Any]]:
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    with moto_overheads.stock():
        stock_shape = shape(MotoRandom.get_random_string)
    assert shape(MotoRandom.get_random_string) == stock_shape
    # The in-process route: the server's dispatcher, the view wrapper's callback, moto's request.
    assert callable(DomainDispatcherApplication.get_application)
    assert callable(DomainDispatcherApplication.get_backend_for_host)
    assert "self.callback(request, request.raw_url, dict(request.headers))" in inspect.getsource(
        convert_to_flask_response.__call__)
    assert callable(Request.from_primitives)
    assert inprocess._request_class().from_wsgi_server is True
    # Update expressions: the validator works on its own copy of the parsed tree.
    from moto.dynamodb.parsing.validators import Validator

    assert "deepcopy(expression)" in inspect.getsource(Validator.__init__)


def test_request_ids_keep_their_shape() -> None:
    from moto.moto_api._internal import mock_random

    ids = {mock_random.get_random_string(length=52) for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 52 and set(i) <= set(string.ascii_letters + string.digits) for i in ids)
    lower = mock_random.get_random_string(length=8, include_digits=False, lower_case=True)
    assert len(lower) == 8 and set(lower) <= set(string.ascii_lowercase)


def test_an_item_still_shares_its_key_values_with_the_patches_of_moto_patches() -> None:
    """moto_patches shares an attribute equal to a scalar key with the key object (memory); this
    module's Item.__init__ replaces that one and must keep it."""
    from moto.dynamodb.models import dynamo_type

    from reawake_tools.local import moto_patches

    moto_patches.apply()
    DynamoType = dynamo_type.DynamoType  # the class moto_patches may have swapped in
    hash_key, range_key = DynamoType({"S": "lead#1"}), DynamoType({"S": "profile"})
    item = dynamo_type.Item(hash_key, range_key, {"pk": {"S": "lead#1"}, "sk": {"S": "profile"}, "n": {"N": "1"}})
    assert item.attrs["pk"] is hash_key and item.attrs["sk"] is range_key
    assert type(item.attrs["n"]) is DynamoType and item.size() == 2 + 6 + 2 + 7 + 1 + 1  # the control
