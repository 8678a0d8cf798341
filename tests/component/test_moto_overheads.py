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


CONDITIONS: list[tuple[str, dict[str, str] | None, dict[str, Any] | None]] = [
    ("#version = :read AND (attribute_not_exists(consent.marketing_email) OR consent.marketing_email <> :no)",
     {"#version": "version"}, {":read": {"N": "3"}, ":no": {"BOOL": False}}),
    ("#version = :read AND (attribute_not_exists(consent.marketing_email) OR consent.marketing_email <> :no)",
     {"#version": "version"}, {":read": {"N": "4"}, ":no": {"BOOL": False}}),  # same text, another value
    ("attribute_not_exists(mail_log) OR size(mail_log) = :zero", None, {":zero": {"N": "0"}}),
    ("attribute_not_exists(mail_log) OR size(mail_log) = :zero", None, {":zero": {"N": "1"}}),
    ("version BETWEEN :low AND :high", None, {":low": {"N": "1"}, ":high": {"N": "5"}}),
    ("version BETWEEN :low AND :high", None, {":low": {"NULL": True}, ":high": {"N": "5"}}),  # refused by value
    ("version IN (:a, :b, :c)", None, {":a": {"N": "1"}, ":b": {"N": "9"}, ":c": {"N": "3"}}),
    ("version IN (:a, :b, :c)", None, {":a": {"N": "1"}, ":b": {"N": "9"}, ":c": {"N": "2"}}),
    ("begins_with(pk, :p) AND contains(tags, :t) AND attribute_type(m, :type)", None,
     {":p": {"S": "lead#"}, ":t": {"S": "b"}, ":type": {"S": "M"}}),
    ("begins_with(pk, :p) AND contains(tags, :t) AND attribute_type(m, :type)", None,
     {":p": {"S": "x"}, ":t": {"S": "b"}, ":type": {"S": "M"}}),
    ("m.kid = :v AND NOT (l[0] = :w)", None, {":v": {"M": {"a": {"L": [{"N": "1"}]}}}, ":w": {"S": "q"}}),
    ("#version = :missing", {"#version": "version"}, {":read": {"N": "4"}}),  # a placeholder without value
    ("#version = :read", {"#version": "version"}, {":read": {"N": "3"}}),  # the control: parses
    ("#nope = :read", {"#version": "version"}, {":read": {"N": "4"}}),
    ("((version = :a))", None, {":a": {"N": "3"}}),
    ("version = :a", None, None),
    ("attribute_not_exists(pk)", None, None),
]


def test_conditions_kept_parsed_answer_as_moto_does() -> None:
    """Each expression twice in a row and with other values (the kept tree must take this request's
    values, and what fails to parse must fail again the same way), on items with and without the paths."""
    from moto.dynamodb.comparisons import create_condition_expression_parser
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    targets = [None, Item(DynamoType({"S": "lead#1"}), None, {
        "pk": {"S": "lead#1"}, "version": {"N": "3"}, "tags": {"SS": ["a", "b"]}, "l": {"L": [{"S": "q"}]},
        "m": {"M": {"kid": {"M": {"a": {"L": [{"N": "1"}]}}}}}, "mail_log": {"L": []}})]

    def run() -> list[Any]:
        out: list[Any] = []
        for _ in range(2):
            for text, names, values in CONDITIONS:
                parser = create_condition_expression_parser(text, names, values)
                try:
                    op = parser.parse()
                except Exception as exc:  # the error is the answer compared
                    out.append((type(exc).__name__, str(exc)))
                    continue
                try:
                    shown = repr(op)
                except TypeError:  # moto's repr of a path with a list index
                    shown = type(op).__name__
                out.append((shown, [op.expr(item) for item in targets],
                            parser.expr_attr_names_found, parser.expr_attr_values_found))
        return out

    ours = run()
    with moto_overheads.stock():
        theirs = run()
    assert ours == theirs
    answers = [entry[1] for entry in ours[:len(CONDITIONS)]]
    assert answers[0] == [False, True] and answers[1] == [False, False]  # the control: values differ, so do answers
    assert ours[5][0] == "IncorrectOperandType" and ours[11][0] == "KeyError" and ours[12][1] == [False, True]


def test_conditional_writes_kept_parsed_answer_as_moto_does() -> None:
    """The conditions of puts, updates, deletes and transactions over the API: refusals (with the
    old item, and a cancelled transaction's reasons) and writes are moto's."""
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    from reawake_tools.local import moto_patches

    def run() -> list[Any]:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="ap-northeast-1", aws_access_key_id="testing",
                               aws_secret_access_key="testing")
            ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
            out: list[Any] = []

            def call(name: str, **kwargs: Any) -> None:
                try:
                    answer = getattr(ddb, name)(**kwargs)
                    out.append({k: v for k, v in answer.items() if k != "ResponseMetadata"})
                except ClientError as exc:
                    out.append((exc.response["Error"], exc.response.get("CancellationReasons"),
                                exc.response.get("Item")))

            guard = "attribute_not_exists(pk) OR #v = :read"
            for n in range(3):
                for read in (n, n + 5):  # the second is refused
                    call("put_item", TableName="t", Item={"pk": {"S": "a"}, "v": {"N": str(n + 1)}},
                         ConditionExpression=guard, ExpressionAttributeNames={"#v": "v"},
                         ExpressionAttributeValues={":read": {"N": str(read)}},
                         ReturnValuesOnConditionCheckFailure="ALL_OLD")
            for read in ("3", "9"):
                call("update_item", TableName="t", Key={"pk": {"S": "a"}}, UpdateExpression="SET #v = :next",
                     ConditionExpression="#v = :read", ExpressionAttributeNames={"#v": "v"},
                     ExpressionAttributeValues={":read": {"N": read}, ":next": {"N": "4"}}, ReturnValues="ALL_NEW")
            for read in ("9", "4"):
                items = [{"Update": {"TableName": "t", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET #v = :next",
                                     "ConditionExpression": "#v = :read", "ExpressionAttributeNames": {"#v": "v"},
                                     "ExpressionAttributeValues": {":read": {"N": read}, ":next": {"N": "5"}}}},
                         {"Put": {"TableName": "t", "Item": {"pk": {"S": f"b{read}"}},
                                  "ConditionExpression": "attribute_not_exists(pk)"}}]
                call("transact_write_items", TransactItems=items)
            call("put_item", TableName="t", Item={"pk": {"S": "c"}}, ConditionExpression="#v = :read",
                 ExpressionAttributeNames={"#v": "v", "#unused": "x"}, ExpressionAttributeValues={":read": {"N": "1"}})
            for read in ("1", "5"):
                call("delete_item", TableName="t", Key={"pk": {"S": "a"}}, ConditionExpression="v = :read",
                     ExpressionAttributeValues={":read": {"N": read}}, ReturnValues="ALL_OLD")
            out.append(sorted(str(i) for i in ddb.scan(TableName="t")["Items"]))
            return out

    ours = run()
    with moto_overheads.stock(), moto_patches.stock():
        theirs = run()
    assert ours == theirs
    refused = [entry for entry in ours if isinstance(entry, tuple)]
    assert [e[0]["Code"] for e in refused] == ["ConditionalCheckFailedException"] * 4 + [
        "TransactionCanceledException", "ValidationException", "ConditionalCheckFailedException"]
    assert refused[4][1][0]["Code"] == "ConditionalCheckFailed"  # the control: a reason per item
    assert ours[-1] == sorted([str({"pk": {"S": "b4"}})])  # the second transaction and the last delete wrote


def _tree(node: Any, parent: Any = None) -> Any:
    """An update expression tree as plain data: classes, leaves, and each node's parent link checked."""
    from moto.dynamodb.parsing.ast_nodes import Node

    if not isinstance(node, Node):
        return repr(node)
    assert node.parent is parent or parent is None
    return (type(node).__name__, [_tree(child, node) for child in node.children or []])


def test_an_update_tree_copy_is_the_tree_as_parsed() -> None:
    """The validator's copy of a kept tree (loaded from its pickle) is moto's deep copy: same classes,
    leaves and parent links, and no node shared with the kept tree."""
    import copy
    from types import SimpleNamespace

    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    table = SimpleNamespace(table_key_attrs=["pk"], attr=[], attribute_keys=["pk"])

    text = "SET #s = :s, #v = #v + :one, tags = list_append(if_not_exists(tags, :e), :t) REMOVE #p, a.b[1] ADD n :one"
    tree = UpdateExpressionParser.make(text)
    item = Item(DynamoType({"S": "x"}), None, {"pk": {"S": "x"}})
    validator = UpdateExpressionValidator(tree, {"#s": "s", "#v": "v", "#p": "p"}, {}, item, table)
    assert validator.node_to_validate is not tree
    assert _tree(validator.node_to_validate) == _tree(copy.deepcopy(tree)) == _tree(tree)
    kept = {id(n) for n in _nodes(tree)}
    assert not kept & {id(n) for n in _nodes(validator.node_to_validate)}
    assert len(kept) > 10  # the control: a tree with its nodes


def _nodes(node: Any) -> list[Any]:
    from moto.dynamodb.parsing.ast_nodes import Node

    if not isinstance(node, Node):
        return []
    return [node, *(n for child in node.children or [] for n in _nodes(child))]


def test_the_moto_internals_the_expression_patches_rest_on() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator, Validator

    with moto_overheads.stock():
        parse = inspect.getsource(ConditionExpressionParser.parse)
        make_operand = inspect.getsource(ConditionExpressionParser._make_operand)
        process = inspect.getsource(DepthFirstTraverser.process)
        kinds = inspect.getsource(DepthFirstTraverser.nodes_to_be_processed)
        init = inspect.getsource(Validator.__init__)
    # parse() builds the operators from the finished tree once, at its end; values reach them only as
    # AttributeValue(node.value) of a value node, looked up by its placeholder (the node's text).
    assert parse.count("self._make_op_condition(") == 1 and parse.rstrip().endswith("return op")
    assert "return AttributeValue(node.value)" in make_operand
    assert "text=name,\n                value=self._lookup_expression_attribute_value(name)" in inspect.getsource(
        ConditionExpressionParser._parse_path_element)
    # The tree walk asks the processor's map per node; every validator's map is fixed.
    assert "self._processing_map()" in process and "self._processing_map()" in kinds
    with moto_overheads.stock():
        walk = inspect.getsource(DepthFirstTraverser.traverse_node_recursively)
        clauses = inspect.getsource(Node.find_clauses)
    for line in ("if isinstance(node, Node):", "self.pre_processing_of_child(node, i)",
                 "self.traverse_node_recursively(child_node, i)",
                 "if isinstance(node, self.nodes_to_be_processed()):", "node = self.process(node)",
                 "node.parent = parent_node", "parent_node.children[child_id] = node", "return node"):
        assert line in walk
    for line in ("if type(child) in clause_types:", "elif isinstance(child, Expression):",
                 "elif isinstance(child, UpdateExpressionFunction):"):
        assert line in clauses
    assert not any(vars(cls).get("_abc_registry") for cls in _subclasses(Node))  # no virtual subclass
    for cls in DepthFirstTraverser.__subclasses__():
        assert "process" not in vars(cls) and "nodes_to_be_processed" not in vars(cls), cls
    # Validator.__init__ sets these and copies the tree; ours sets the same.
    for line in ("self.expression_attribute_names = expression_attribute_names",
                 "self.expression_attribute_values = expression_attribute_values", "self.item = item",
                 "self.table = table", "self.processors = self.get_ast_processors()",
                 "self.node_to_validate = deepcopy(expression)"):
        assert line in init
    assert init.count("\n        self.") == 6  # no other attribute set
    # The three structural validators come first, in this order, and neither read values nor the item.
    with moto_overheads.stock():
        from types import SimpleNamespace

        table = SimpleNamespace(table_key_attrs=["pk"], attr=[], attribute_keys=["pk"])
        names = [type(p).__name__ for p in UpdateExpressionValidator(
            __import__("moto.dynamodb.parsing.expressions", fromlist=["x"]).UpdateExpressionParser.make("SET a = :v"),
            {}, {}, None, table).processors]
    assert names[:3] == list(moto_overheads.STRUCTURAL)
    from moto.dynamodb.parsing import validators

    for name in moto_overheads.STRUCTURAL:
        source = inspect.getsource(getattr(validators, name))
        assert "expression_attribute_values" not in source and "item" not in source.replace("items", "")
        assert source.rstrip().endswith("return node")
    assert UpdateExpressionValidator.__init__ is Validator.__init__


def _subclasses(cls: type) -> list[type]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))]


UPDATES: list[tuple[str, dict[str, str] | None, dict[str, Any] | None]] = [
    ("SET #s = :s, #v = :v, #d = :d, #r = :r REMOVE #p", {"#s": "segments", "#v": "version", "#d": "dormant",
     "#r": "report", "#p": "pending"}, {":s": {"M": {"a": {"N": "1"}}}, ":v": {"N": "2"}, ":d": {"N": "5"},
                                         ":r": {"M": {"s": {"M": {"a": {"M": {"e": {"N": "1"}}}}}}}}),
    ("SET m.kid.deep = :x, l[1] = :y, n = n + :one ADD c :one, ss :ss DELETE ds :d", None,
     {":x": {"S": "佐藤"}, ":y": {"N": "7"}, ":one": {"N": "1"}, ":ss": {"SS": ["z"]}, ":d": {"SS": ["a"]}}),
    ("SET l = list_append(:front, if_not_exists(l, :e)) REMOVE l[0], m.kid", None,
     {":front": {"L": [{"S": "f"}]}, ":e": {"L": []}}),
    ("SET pk = :k", None, {":k": {"S": "other"}}),  # a key attribute: refused
    ("SET a = :a, a = :b", None, {":a": {"N": "1"}, ":b": {"N": "2"}}),  # overlapping paths: refused
    ("SET a = :a SET b = :a", None, {":a": {"N": "1"}}),  # two SET clauses: refused
    ("SET nope.deeper = :a", None, {":a": {"N": "1"}}),  # a path that does not exist: refused
    ("SET a = :missing", None, {":a": {"N": "1"}}),  # a value placeholder without value: refused
    ("SET a = b - :one", None, {":one": {"N": "1"}}),  # b does not exist: refused
    ("ADD ss :n", None, {":n": {"N": "1"}}),  # a number added to a string set: refused
    ("SET e = :empty", None, {":empty": {"S": ""}}),
    # The same texts with other names: passing once must not pass them again when the names change.
    ("SET #a = :a, #b = :b", {"#a": "x", "#b": "y"}, {":a": {"N": "1"}, ":b": {"N": "2"}}),
    ("SET #a = :a, #b = :b", {"#a": "x", "#b": "x"}, {":a": {"N": "1"}, ":b": {"N": "2"}}),  # overlapping
    ("SET #k = :a", {"#k": "other"}, {":a": {"N": "1"}}),
    ("SET #k = :a", {"#k": "pk"}, {":a": {"N": "1"}}),  # a key attribute
    # Plain SETs and REMOVEs (the second round takes the short way): new attributes in order, an
    # existing one replaced, a REMOVE of what is not there, a value missing, an index key.
    ("SET newa = :a, #nb = :b REMOVE gone, #p", {"#nb": "newb", "#p": "pending"}, {":a": {"S": "1"}, ":b": {"N": "2"}}),
    ("SET newa = :a, #nb = :b REMOVE gone, #p", {"#nb": "newb", "#p": "pending"}, {":a": {"M": {"x": {"L": []}}}}),
    ("REMOVE newb, newa", None, None),
    ("SET #g = :e", {"#g": "g"}, {":e": {"S": ""}}),  # an index key, empty: moto compares the raw text
    ("SET g = :e", None, {":e": {"S": ""}}),  # refused: an index key set to an empty string
    ("SET g = :n", None, {":n": {"N": "1"}}),  # refused: not the index key's type
    ("SET big1 = :big", None, {":big": {"S": "x" * 250_000}}),
    ("SET big2 = :big", None, {":big": {"S": "y" * 250_000}}),  # refused: the item would pass 400 KB
    ("REMOVE big1", None, None),
]


def test_updates_walked_by_type_answer_as_moto_does() -> None:
    """Update expressions of every action and the validators' refusals, on the same item, through
    moto's update_item: the same item after each, the same error for each refusal."""
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    def run() -> list[Any]:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name="ap-northeast-1", aws_access_key_id="testing",
                               aws_secret_access_key="testing")
            ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                   {"AttributeName": "g", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [
                                 {"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}])
            ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "m": {"M": {"kid": {"M": {}}}}, "n": {"N": "1"},
                                              "l": {"L": [{"S": "x"}, {"S": "y"}]}, "ss": {"SS": ["q"]},
                                              "ds": {"SS": ["a", "b"]}})
            out: list[Any] = []
            for _ in range(2):
                for text, names, values in UPDATES:
                    kwargs: dict[str, Any] = {"TableName": "t", "Key": {"pk": {"S": "a"}}, "UpdateExpression": text,
                                              "ReturnValues": "ALL_NEW"}
                    if names:
                        kwargs["ExpressionAttributeNames"] = names
                    if values:
                        kwargs["ExpressionAttributeValues"] = values
                    try:
                        out.append(ddb.update_item(**kwargs)["Attributes"])
                    except ClientError as exc:
                        out.append(exc.response["Error"])
            return out

    before = moto_overheads.Stats.simple_updates
    ours = run()
    assert moto_overheads.Stats.simple_updates - before >= 4  # the control: the short way was taken
    with moto_overheads.stock():
        theirs = run()
    assert _with_key_order(ours) == _with_key_order(theirs)  # attributes in moto's order too
    refused = [entry for entry in ours[:len(UPDATES)] if "Code" in entry]
    assert len(refused) == 13 and all(e["Code"] == "ValidationException" for e in refused)
    plain = ours[len(UPDATES) + UPDATES.index(next(u for u in UPDATES if u[0].startswith("SET newa")))]
    assert list(plain)[-2:] == ["newa", "newb"] and "pending" not in plain  # the control: applied, in order
    assert ours[1]["m"] == {"M": {"kid": {"M": {"deep": {"S": "佐藤"}}}}}  # the control: updates applied


def _with_key_order(value: Any) -> Any:
    if isinstance(value, dict):
        return [(k, _with_key_order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_with_key_order(v) for v in value]
    return (type(value).__name__, value)


def test_json_requests_are_parsed_as_moto_parses_them() -> None:
    """DynamoDB requests as botocore serializes them (every attribute value type, blobs, numbers,
    nested maps and lists, Japanese text) and bodies that do not fit their shape, parsed by moto's
    JSON parser: the same values, types and key order as moto's own walk, or the same error."""
    import json

    import botocore.session
    from moto.core.parse import JSONParser

    model = botocore.session.get_session().get_service_model("dynamodb")
    serializer = __import__("botocore.serialize", fromlist=["create_serializer"]).create_serializer("json")
    every_type = {"s": {"S": "佐藤"}, "n": {"N": "-1.5"}, "b": {"B": b"\x00\xff"}, "ss": {"SS": ["a", "b"]},
                  "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"\x01", b"\x02"]}, "t": {"BOOL": True}, "z": {"NULL": True},
                  "l": {"L": [{"S": "x"}, {"M": {"k": {"N": "1"}, "e": {"L": []}}}]}, "m": {"M": {}}}
    calls = [
        ("TransactWriteItems", {"TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, **every_type}, "ConditionExpression": "c",
                     "ExpressionAttributeValues": {":v": {"N": "1"}}}},
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET a = :v",
                        "ExpressionAttributeNames": {"#a": "a"}, "ExpressionAttributeValues": {":v": {"B": b"q"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {"Delete": {"TableName": "t", "Key": {"pk": {"S": "b"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "c"}}, "ConditionExpression": "x"}}],
            "ClientRequestToken": "tok", "ReturnConsumedCapacity": "TOTAL"}),
        ("Query", {"TableName": "t", "IndexName": "due", "KeyConditionExpression": "pk = :p", "Limit": 25,
                   "ScanIndexForward": False, "ExclusiveStartKey": {"pk": {"S": "a"}, "n": {"N": "3"}},
                   "ExpressionAttributeValues": {":p": {"S": "a"}}, "ConsistentRead": True}),
        ("Scan", {"TableName": "t", "Segment": 1, "TotalSegments": 4, "ProjectionExpression": "a, b"}),
        ("BatchWriteItem", {"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "a"}, **every_type}}},
                                                  {"DeleteRequest": {"Key": {"pk": {"S": "b"}}}}]}}),
        ("BatchGetItem", {"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}], "ProjectionExpression": "pk"}}}),
        ("CreateTable", {"TableName": "t", "BillingMode": "PAY_PER_REQUEST",
                         "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                         "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                         "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}}),
    ]
    bodies = [(name, serializer.serialize_to_request(params, model.operation_model(name))["body"])
              for name, params in calls]
    odd = [("PutItem", json.dumps({"TableName": "t", "Item": {"pk": "not a structure", "a": {"S": None},
                                                               "b": {"S": "x", "N": "1", "Unknown": 1}},
                                   "Expected": [], "ReturnValues": None}).encode()),
           ("Query", json.dumps({"TableName": "t", "Limit": "7", "ExclusiveStartKey": ["pk"],
                                 "KeyConditions": {"pk": {"AttributeValueList": {"S": "a"}}}}).encode()),
           ("GetItem", json.dumps({"TableName": "t", "Key": {"pk": {"B": "bm90IGJhc2U2NA=="}}}).encode()),
           ("UpdateItem", b"not json at all")]

    def parse_all() -> list[Any]:
        out = []
        for name, body in bodies + odd:
            parser = JSONParser(model.operation_model(name))
            try:
                out.append(_with_key_order(parser.parse({"body": body, "headers": {}, "method": "POST",
                                                         "url_path": "/", "url_params": {}, "values": {}})))
            except Exception as exc:  # the error is the answer compared
                out.append((type(exc).__name__, str(exc)))
        return out

    ours = parse_all()
    with moto_overheads.stock():
        theirs = parse_all()
    assert ours == theirs
    first = dict(ours[0])["TransactItems"][0][0][1]  # the Put's members, in moto's order
    assert [k for k, _ in first] == ["Item", "TableName", "ConditionExpression", "ExpressionAttributeValues"]
    assert ("bytes", b"\x00\xff") in [v for k, v in dict(dict(first)["Item"])["b"]]  # the control: a blob decoded


def test_stream_records_read_have_the_size_moto_gives_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records of inserts, updates (both images) and deletes, read by get_records: the same records as
    moto's, SizeBytes included (moto's clock held still; the event ids are random draws, left out);
    read unsized, a record has no size until ``size`` gives it moto's."""
    import datetime

    import boto3
    from moto import mock_aws
    from moto.dynamodb.models import table as table_module

    from reawake_tools.local import moto_patches

    moment = datetime.datetime(2026, 11, 24, 1, 2, 3, 456789)

    def run(unsized: bool = False) -> list[Any]:
        with monkeypatch.context() as patch, mock_aws():
            patch.setattr(table_module, "utcnow", lambda: moment)  # inside: stock() swaps the module's own
            ddb = boto3.client("dynamodb", region_name="ap-northeast-1", aws_access_key_id="testing",
                               aws_secret_access_key="testing")
            arn = ddb.create_table(
                TableName="t", BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )["TableDescription"]["LatestStreamArn"]
            ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "name": {"S": "佐藤 太郎"}, "b": {"B": b"\x00"},
                                              "m": {"M": {"x": {"L": [{"N": "1"}, {"SS": ["s"]}]}}}})
            ddb.update_item(TableName="t", Key={"pk": {"S": "a"}}, UpdateExpression="SET m.y = :v",
                            ExpressionAttributeValues={":v": {"N": "2.5"}})
            for n in range(2):  # a plain update, the second time the short way
                ddb.update_item(TableName="t", Key={"pk": {"S": "a"}}, UpdateExpression="SET #n = :v, w = :w REMOVE b",
                                ExpressionAttributeNames={"#n": "name"},
                                ExpressionAttributeValues={":v": {"S": f"鈴木 {n}"}, ":w": {"L": [{"N": str(n)}]}})
            ddb.delete_item(TableName="t", Key={"pk": {"S": "a"}})
            from moto.dynamodbstreams.models import dynamodbstreams_backends

            backend = dynamodbstreams_backends["123456789012"]["ap-northeast-1"]
            streams = boto3.client("dynamodbstreams", region_name="ap-northeast-1", aws_access_key_id="testing",
                                   aws_secret_access_key="testing")
            shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id,
                                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            if unsized:
                with moto_overheads.unsized_reads():
                    records = backend.get_records(iterator, 100)["Records"]
                assert all(r["dynamodb"]["SizeBytes"] is None for r in records)
                records = [moto_overheads.size(r) for r in records]
            else:
                records = backend.get_records(iterator, 100)["Records"]
            return [{k: v for k, v in r.items() if k != "eventID"} for r in records]

    ours, unsized = run(), run(unsized=True)
    with moto_overheads.stock(), moto_patches.stock():
        theirs = run()
    assert ours == theirs == unsized
    assert [r["eventName"] for r in ours] == ["INSERT", "MODIFY", "MODIFY", "MODIFY", "REMOVE"]
    assert _with_key_order(ours) == _with_key_order(theirs)
    assert all(r["dynamodb"]["SizeBytes"] > 100 for r in ours)  # the control: sized
    # The module's dump is used by StreamRecord.__init__ alone (what _no_dump stands in for).
    with moto_overheads.stock():
        source = inspect.getsource(table_module)
    assert source.count("dynamo_json_dump(") == 1
    assert 'len(\n            dynamo_json_dump(self.record["dynamodb"])' in source


def test_regular_json_is_mottos() -> None:
    """Every kind of value, nested, a binary kept as text, a map holding a plain value: the same
    JSON as moto's deep-copying walk, and nothing shared with the item."""
    from moto.dynamodb.models import dynamo_type

    DynamoType = dynamo_type.DynamoType
    values = [{"M": {"a": {"L": [{"N": "1"}, {"M": {"b": {"SS": ["x"]}, "c": {"B": "AAE="}}}]}, "d": {"NULL": True}}},
              {"L": [{"BS": [b"\x01"]}, {"BOOL": False}, {"S": "佐藤"}]}, {"B": "AAE="}, {"B": b"\x00"}, {"N": "2.50"},
              {"SS": ["a", "b"]}]
    for raw in values:
        typed = DynamoType(raw)
        typed_with_plain = DynamoType({"M": {}})
        typed_with_plain.value = {"plain": ["kept", {"as": "is"}], "typed": DynamoType({"N": "1"})}
        for value in (typed, typed_with_plain):
            ours = value.to_regular_json()
            with moto_overheads.stock():
                theirs = value.to_regular_json()
            assert ours == theirs
            assert _with_key_order(ours) == _with_key_order(theirs)
    plain = typed_with_plain.to_regular_json()["M"]["plain"]
    assert plain == ["kept", {"as": "is"}] and plain is not typed_with_plain.value["plain"]  # the control: a copy
