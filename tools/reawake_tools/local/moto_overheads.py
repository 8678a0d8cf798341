"""moto's per-request overheads the local stack does not need, cut (moto 5.2.5; installed with the
in-process route, ``reawake_tools.local.inprocess.install``). Each patch keeps moto's answers and
errors; ``tests/component/test_moto_overheads.py`` checks each against the moto internal it replaces
and fails loudly if moto changes it. Measured per call: ``python -m bench.emulator_calls``.

- ``BaseResponse.call_action`` listed the handler class's methods (``inspect.getmembers``: every
  attribute of a class with hundreds) on every request to see whether the action is one of them:
  the list is kept per class.
- Every answer gets a 52-character request id, drawn one ``random.choice`` at a time (52 calls, twice
  for DynamoDB): drawn with one ``choices`` call, same alphabet and length, from moto's own
  (seedable) random source.
- ``Item.__init__`` put each attribute into a ``LimitedSizeDict`` that sums the sizes of all the
  attributes already there before each insert (quadratic in the attributes: a lead item has dozens,
  and every put, update and stream record builds items). Here it sums as it goes and refuses at the
  same attribute, with the same ``ItemSizeTooLarge``.
- ``DynamoType.size`` of a map wrapped every value in a new ``DynamoType`` before sizing it, and
  wrapping a map copies its whole subtree: sizing a lead (put, update, query and batch-get page
  limits, stream records) rebuilt its nested maps once per level. The values already are
  ``DynamoType``: sized as they are, in one walk, the same number.
- An ``UpdateExpression`` was tokenized and parsed twice per update (the handler reads its
  placeholders, the backend validates it), and again for every update of a transaction: the parse is
  kept per expression text. Every consumer of the tree reads it (``find_clauses``) or works on its own
  deep copy (``UpdateExpressionValidator`` copies it before resolving names and values); an
  expression that does not parse raises each time, as before (nothing is kept for it).
- The server's lookup of the service for a host runs moto's list of URL patterns (hundreds of
  regexes) for every request: kept per host (``cache_backend_lookup``).
- A ``ConditionExpression`` (or filter) was lexed and parsed by regexes each time, three times per
  item of a transaction (the handler's check of the names used, the condition's evaluation, and
  moto's own for a single write). Its syntax tree depends on the text, the names and which value
  placeholders exist; the values only fill the leaves. The tree is kept per (text, names, value
  placeholders) and each parse builds moto's operators from it again with this request's values
  (moto's own ``_make_op_condition``, so a ``BETWEEN`` on a NULL bound is refused as before). What
  fails to parse is not kept and fails each time as moto's.
- The update validator deep-copied the parsed update expression (a tree of dozens of nodes with
  parent links) for every update: the tree as parsed is kept pickled and each copy is loaded from
  those bytes (a copy of the same tree, made by C code).
- moto parsed a JSON request body (every DynamoDB call) by walking its botocore shape, and for each
  structure it asked every member of the shape whether the value has it: ten tests and a dict lookup
  of the member's serialization per ``AttributeValue`` (one key), three times an item a transaction
  holds. The walk is planned once per shape (member names, JSON names, what each kind becomes), and a
  structure value of one key looks that key up; the same dicts, keys in moto's order, the same
  values. Anything but a plain structure, list, map or scalar left as is (blobs, timestamps,
  numbers, documents, a value that is not what its shape says) goes to moto's own handler.
- ``DynamoType.__init__`` (every attribute value of every request, nested ones too) read its first
  key and value through two lists and two method calls: read once, the same fields.
- Of the ten validators of an update, three look only at the expression, its names and the table's
  key attributes (``ActionCountValidator``, ``OverlappingPathsValidator``,
  ``UpdateHashRangeKeyValidator``: they raise or hand the tree back untouched). Once they passed an
  expression text with those names on a table with those keys, they are not run again for it; the
  seven that read the values and the item run every time.
- A plain update — top-level ``SET a = :v`` and ``REMOVE a`` actions only, as a segment run's
  membership update is — whose expression, names and table keys passed the structural validators
  before, with every name and value given and no target that is a key of the table or an index or has
  a defined type: the seven remaining validators would hand its actions through unchanged (no path to
  resolve, no function, no arithmetic, no key target), so its validation is the value of each SET
  (``DynamoType`` of the placeholder's value, as moto's value processor makes it) and its execution
  moto's own ``item.attrs[name] = value`` (the item's size check) and ``pop``, in the text's order.
  Anything else goes through moto's validators and executor, tree copy included.
- A stream record's ``SizeBytes`` (moto: the length of the record's JSON, both images, made at every
  write) is computed when the record is first read (``StreamRecord.to_json``, which every moto reader
  calls: ``get_records``, its own event source mappings), by moto's formula, so every reader gets the
  same number. The local stack's poller reads the records unsized (``unsized_reads``), decides its
  filter, and sizes only the records it hands to a function (``size``): a segment run's writes are
  all dropped by the revisit filter and then trimmed, never sized.
- A stream record's time: moto's ``utcnow`` imports ``datetime.UTC`` on every call; the table
  module's is the same expression with the name bound once.
- ``DynamoType.to_regular_json`` (an item's map and list attributes, in every stream image and
  answer) deep-copied the whole value, nested ``DynamoType`` objects included, and then replaced each
  nested one by its own ``to_regular_json`` (which copied its subtree again): here each level is
  built once, with the same values (plain members deep-copied as before).
- moto's tree walk (``DepthFirstTraverser``) rebuilt its processor's node map twice for every node of
  the tree, for each of the ten validators of an update: kept per processor (each maps fixed node
  classes to its own bound methods).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_applied = False
_replaced: list[tuple[Any, str, Any, Any]] = []  # (owner, attribute, moto's, ours)


def _replace(owner: Any, name: str, ours: Any) -> None:
    _replaced.append((owner, name, getattr(owner, name), ours))
    setattr(owner, name, ours)


def apply() -> None:
    """Install the patches (idempotent), after ``moto_patches``'s: this ``Item.__init__`` replaces (and
    keeps the key sharing of) theirs, and their slim ``DynamoType`` must be in place first."""
    global _applied
    if _applied:
        return
    from reawake_tools.local import moto_patches

    moto_patches.apply()
    _method_names_per_class()
    _request_ids_in_one_draw()
    _items_sized_once()
    _maps_sized_in_place()
    _update_expressions_parsed_once()
    _conditions_parsed_once()
    _update_trees_copied_from_bytes()
    _processing_maps_kept()
    _json_requests_parsed_by_plan()
    _values_read_once()
    _structural_validators_once()
    _simple_updates()
    _stream_records_sized_when_read()
    _stream_times_without_import()
    _regular_json_built_once()
    _applied = True


@contextmanager
def originals_of(replaced: list[tuple[Any, str, Any, Any]]) -> Iterator[None]:
    """The original of each replaced (owner, attribute, original, ours) for the duration."""
    for owner, name, original, _ in replaced:
        setattr(owner, name, original)
    try:
        yield
    finally:
        for owner, name, _, ours in replaced:
            setattr(owner, name, ours)


def stock() -> contextlib.AbstractContextManager[None]:
    """moto's own code for the duration (the benchmark's baseline, the tests' reference)."""
    return originals_of(_replaced)


def _method_names_per_class() -> None:
    from moto.core import responses, utils

    # Our own patches replace methods of handler classes (never add or remove one), so a class's
    # method names do not change once it has served.
    _replace(responses, "method_names_from_class", functools.cache(utils.method_names_from_class))


def _request_ids_in_one_draw() -> None:
    import string

    from moto.moto_api._internal.moto_random import MotoRandom

    def get_random_string(self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False) -> str:
        pool = string.ascii_letters + (string.digits if include_digits else "")
        random_str = "".join(self.choices(pool, k=length))
        return random_str.lower() if lower_case else random_str

    _replace(MotoRandom, "get_random_string", get_random_string)


def _items_sized_once() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.dynamo_type import Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    from reawake_tools.local.moto_patches import SCALARS, shared_value

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        DynamoType = dynamo_type.DynamoType  # at call time: moto_patches may swap the class
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        # moto_patches._shared_key_values' memory saving, kept (this replaces the same __init__): an
        # attribute equal to a scalar key value, or to a value items repeat, is that same object.
        keys = [k for k in (hash_key, range_key) if type(k) is DynamoType and k.type in SCALARS]
        size = 0
        for key, value in attrs.items():
            typed = shared_value(key, DynamoType(value), keys)
            # LimitedSizeDict.__setitem__'s test, with the sum of the attributes before kept.
            size += bytesize(key) + typed.size()
            if size > 405000:
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, key, typed)

    _replace(Item, "__init__", __init__)


def _maps_sized_in_place() -> None:
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.utilities import bytesize

    original = dynamo_type.DynamoType.size

    def sized(value: Any) -> int:
        # DynamoType.size's rules in one walk, without a method call per test: N by its digits, L and
        # M by their members (M's keys too), BOOL and NULL 1, S and B their bytes; sets as moto does.
        kind, inner = value.type, value.value
        if kind == "N":
            return len(str(inner))
        if kind == "M":
            DynamoType = dynamo_type.DynamoType  # at call time: moto_patches may swap the class
            return sum(bytesize(k) + sized(v if type(v) is DynamoType else DynamoType(v)) for k, v in inner.items())
        if kind == "L":
            return sum(sized(v) for v in inner)
        if kind in ("SS", "NS", "BS"):
            return int(original(value))
        if isinstance(inner, bool):
            return 1
        return bytesize(inner)

    def size(self: Any) -> int:
        return sized(self)

    _replace(dynamo_type.DynamoType, "size", size)


# id(tree) -> (tree, its pickle): the update expression trees as parsed, never changed after (every
# consumer reads them or copies them first); the tree is held so its id is not reused.
_pristine_trees: dict[int, tuple[Any, bytes]] = {}
KEPT = 1024  # expressions kept (update and condition trees): what the app writes has a few dozen


def _update_expressions_parsed_once() -> None:
    import pickle

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    make = UpdateExpressionParser.make

    @functools.lru_cache(maxsize=KEPT)
    def parse(expression: str) -> Any:
        tree = make(expression)
        try:
            data = pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # not picklable: the validator deep-copies it as moto does
            return tree
        if len(_pristine_trees) >= KEPT:
            _pristine_trees.clear()
        _pristine_trees[id(tree)] = (tree, data)
        return tree

    _replace(UpdateExpressionParser, "make", staticmethod(parse))


def _update_trees_copied_from_bytes() -> None:
    """``Validator.__init__`` as moto's, with the copy of a kept tree loaded from its pickle."""
    import copy
    import pickle

    from moto.dynamodb.parsing.validators import Validator

    def __init__(self: Any, expression: Any, expression_attribute_names: Any, expression_attribute_values: Any,
                 item: Any, table: Any) -> None:
        self.expression_attribute_names = expression_attribute_names
        self.expression_attribute_values = expression_attribute_values
        self.item = item
        self.table = table
        self._reawake_tree = expression  # for get_ast_processors: which parsed tree this validates
        self.processors = self.get_ast_processors()
        if self.__dict__.get("_reawake_passed"):
            self._reawake_simple = _simple_actions(self)
            if self._reawake_simple is not None:
                self.node_to_validate = None  # validate() builds the plain sets and removes (_SimpleUpdate)
                return
        kept = _pristine_trees.get(id(expression))
        # the bytes are this process's own pickle of a tree it parsed
        self.node_to_validate = (pickle.loads(kept[1]) if kept is not None and kept[0] is expression  # noqa: S301
                                 else copy.deepcopy(expression))

    _replace(Validator, "__init__", __init__)


def _processing_maps_kept() -> None:
    """moto's tree walk and clause search, with each ``isinstance`` test on the ABC node classes
    (a Python-level ``ABCMeta.__instancecheck__`` per node and processor) answered once per class:
    no node class is registered as a virtual subclass, and each processor's map has fixed keys."""
    from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
        DepthFirstTraverser,
        Expression,
        Node,
        UpdateExpressionFunction,
    )

    def processing_map(self: Any) -> Any:
        try:
            return self.__dict__["_reawake_map"]
        except KeyError:
            kept = self.__dict__["_reawake_map"] = self._processing_map()
            return kept

    def nodes_to_be_processed(self: Any) -> tuple[Any, ...]:
        try:
            return self.__dict__["_reawake_kinds"]  # type: ignore[no-any-return]
        except KeyError:
            kinds = self.__dict__["_reawake_kinds"] = tuple(processing_map(self))
            return kinds

    missing = object()
    chosen: dict[tuple[type, type], Any] = {}  # (processor class, node class) -> its map's key, or None

    def process(self: Any, node: Any) -> Any:
        mapping = processing_map(self)
        key = (type(self), type(node))
        found = chosen.get(key, missing)
        if found is missing:
            found = chosen[key] = next((k for k in mapping if isinstance(node, k)), None)
        return None if found is None else mapping[found](node)

    is_node: dict[type, bool] = {}
    handled: dict[tuple[type, type], bool] = {}

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        kind = type(node)
        node_like = is_node.get(kind)
        if node_like is None:
            node_like = is_node[kind] = isinstance(node, Node)
        if node_like:
            parent_node = node.parent
            if node.children is not None:
                for i, child_node in enumerate(node.children):
                    self.pre_processing_of_child(node, i)
                    self.traverse_node_recursively(child_node, i)
            key = (type(self), kind)
            wanted = handled.get(key)
            if wanted is None:
                wanted = handled[key] = isinstance(node, self.nodes_to_be_processed())
            if wanted:
                node = self.process(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    searched: dict[type, tuple[bool, bool]] = {}

    def find_clauses(self: Any, clause_types: Any) -> list[Any]:
        clauses = []
        for child in self.children or []:
            kind = type(child)
            if kind in clause_types:
                clauses.append(child)
                continue
            deeper = searched.get(kind)
            if deeper is None:
                deeper = searched[kind] = (isinstance(child, Expression), isinstance(child, UpdateExpressionFunction))
            if deeper[0] or deeper[1]:
                clauses.extend(child.find_clauses(clause_types))
        return clauses

    _replace(DepthFirstTraverser, "nodes_to_be_processed", nodes_to_be_processed)
    _replace(DepthFirstTraverser, "process", process)
    _replace(DepthFirstTraverser, "traverse_node_recursively", traverse_node_recursively)
    _replace(Node, "find_clauses", find_clauses)


Convert = Callable[[Any, Any], Any] | None  # (parser, JSON value) -> parsed; None: the value as it is


def _json_requests_parsed_by_plan() -> None:
    from moto.core.parse import BaseJSONParser, JSONParser, RequestParser

    parse_as_moto: Callable[[Any, Any, Any], Any] = RequestParser._parse_shape
    structure, listing, mapping = BaseJSONParser._parse_structure, RequestParser._parse_list, RequestParser._parse_map
    # id(shape) -> (shape, how JSONParser parses it); the shapes live as long as moto's service model
    kept: dict[int, tuple[Any, Convert]] = {}

    def converter(shape: Any) -> Convert:
        found = kept.get(id(shape))
        if found is not None and found[0] is shape:
            return found[1]
        handler = getattr(JSONParser, f"_parse_{shape.type_name}", None)
        convert: Convert = functools.partial(as_moto, shape)
        if handler is None or (handler is structure and shape.is_document_type):
            convert = None  # moto's _default_handle, or a document: the value as it is
        elif handler is structure:
            convert = structure_of(shape) or convert
        elif handler is listing:
            convert = list_of(shape)
        elif handler is mapping:
            convert = map_of(shape)
        if len(kept) >= 4 * KEPT:
            kept.clear()
        kept[id(shape)] = (shape, convert)
        return convert

    def as_moto(shape: Any, parser: Any, node: Any) -> Any:
        return parse_as_moto(parser, shape, node)

    def structure_of(shape: Any) -> Convert:
        members = [(name, member.serialization.get("name", name), member) for name, member in shape.members.items()]
        index = {json_name: position for position, (_, json_name, _) in enumerate(members)}
        if len(index) != len(members):
            return None  # two members read one key: moto's walk
        table: list[tuple[str, str, Convert]] = []  # the members' converters, at first use (shapes nest)

        def convert(parser: Any, node: Any) -> Any:
            if type(node) is not dict:
                return parse_as_moto(parser, shape, node)
            rows = table or _fill(table, [(name, json_name, converter(m)) for name, json_name, m in members])
            parsed = {}
            if len(node) == 1:
                ((key, raw),) = node.items()
                position = index.get(key)
                if position is not None and raw is not None:
                    name, _, inner = rows[position]
                    parsed[name] = raw if inner is None else inner(parser, raw)
                return parsed
            for name, json_name, inner in rows:
                raw = node.get(json_name)
                if raw is not None:
                    parsed[name] = raw if inner is None else inner(parser, raw)
            return parsed

        return convert

    def list_of(shape: Any) -> Convert:
        def convert(parser: Any, node: Any) -> Any:
            if type(node) is not list:
                return parse_as_moto(parser, shape, node)
            inner = converter(shape.member)
            return list(node) if inner is None else [inner(parser, item) for item in node]

        return convert

    def map_of(shape: Any) -> Convert:
        def convert(parser: Any, node: Any) -> Any:
            if type(node) is not dict:
                return parse_as_moto(parser, shape, node)
            keys, values = converter(shape.key), converter(shape.value)
            return {(k if keys is None else keys(parser, k)): (v if values is None else values(parser, v))
                    for k, v in node.items()}

        return convert

    def _parse_shape(self: Any, shape: Any, node: Any) -> Any:
        if type(self) is JSONParser and self.MAP_TYPE is dict:
            convert = converter(shape)
            return node if convert is None else convert(self, node)
        return parse_as_moto(self, shape, node)

    _replace(JSONParser, "_parse_shape", _parse_shape)


def _values_read_once() -> None:
    from moto.dynamodb.models import dynamo_type

    cls = dynamo_type.DynamoType  # moto_patches' slim class, installed first
    moto_init = cls.__init__

    def __init__(self: Any, type_as_dict: Any) -> None:
        if type(type_as_dict) is cls:
            kind, value = type_as_dict.type, type_as_dict.value
        elif type(type_as_dict) is dict and type_as_dict:
            kind, value = next(iter(type_as_dict.items()))
        else:
            moto_init(self, type_as_dict)  # moto's reading and its error for anything else
            return
        if kind == "L":
            value = [cls(v) for v in value]
        elif kind == "M":
            value = {k: cls(v) for k, v in value.items()}
        self.type = kind
        self.value = value

    _replace(cls, "__init__", __init__)


STRUCTURAL = ("ActionCountValidator", "OverlappingPathsValidator", "UpdateHashRangeKeyValidator")


def _structural_validators_once() -> None:
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    moto_processors = UpdateExpressionValidator.get_ast_processors
    passed: set[tuple[Any, ...]] = set()  # (tree id, names, key attributes) whose structural checks passed
    lock = threading.Lock()

    def get_ast_processors(self: Any) -> list[Any]:
        processors: list[Any] = moto_processors(self)
        kept = _pristine_trees.get(id(self._reawake_tree))
        if kept is None or kept[0] is not self._reawake_tree:
            return processors  # not a kept tree: moto's ten, every time
        try:
            key = (id(kept[0]), tuple(sorted((self.expression_attribute_names or {}).items())),
                   tuple(self.table.table_key_attrs))
        except TypeError:
            return processors
        if key in passed:
            self._reawake_passed = True  # the structural checks passed this tree, names and keys before
            return [p for p in processors if type(p).__name__ not in STRUCTURAL]
        return [_Structural(p, passed, key, lock) if type(p).__name__ in STRUCTURAL else p for p in processors]

    _replace(UpdateExpressionValidator, "get_ast_processors", get_ast_processors)


SET, REMOVE = "set", "remove"
# id(tree) -> (tree, its actions): ((SET or REMOVE, the path as written, is it a #name, the value's placeholder), ...)
# for a tree of plain top-level SET a = :v and REMOVE a actions only; None for any other tree
_plans: dict[int, tuple[Any, tuple[tuple[str, str, bool, str | None], ...] | None]] = {}


def _plan_of(tree: Any) -> tuple[tuple[str, str, bool, str | None], ...] | None:
    found = _plans.get(id(tree))
    if found is not None and found[0] is tree:
        return found[1]
    from moto.dynamodb.parsing import ast_nodes

    n: Any = ast_nodes  # moto's AST module is untyped
    containers = (n.UpdateExpression, n.UpdateExpressionSetClause, n.UpdateExpressionSetActions,
                  n.UpdateExpressionRemoveClause, n.UpdateExpressionRemoveActions)
    actions: list[tuple[str, str, bool, str | None]] = []

    def target(path: Any) -> tuple[str, bool] | None:
        if type(path) is not n.UpdateExpressionPath or len(path.children) != 1:
            return None
        (element,) = path.children
        if type(element) not in (n.ExpressionAttribute, n.ExpressionAttributeName) or len(element.children) != 1:
            return None
        raw = element.children[0]
        return (raw, type(element) is n.ExpressionAttributeName) if type(raw) is str else None

    def walk(node: Any) -> bool:
        kind = type(node)
        if kind in containers:
            return all(walk(child) for child in node.children)
        if kind is n.UpdateExpressionSetAction and len(node.children) == 2:
            path, value = target(node.children[0]), node.children[1]
            if (path is None or type(value) is not n.UpdateExpressionValue or len(value.children) != 1
                    or type(value.children[0]) is not n.ExpressionAttributeValue):
                return False
            placeholder = value.children[0].children[0]
            actions.append((SET, path[0], path[1], placeholder))
            return type(placeholder) is str
        if kind is n.UpdateExpressionRemoveAction and len(node.children) == 1:
            path = target(node.children[0])
            if path is None:
                return False
            actions.append((REMOVE, path[0], path[1], None))
            return True
        return False

    plan = tuple(actions) if walk(tree) and actions else None
    if len(_plans) >= KEPT:
        _plans.clear()
    _plans[id(tree)] = (tree, plan)
    return plan


def _simple_actions(validator: Any) -> tuple[tuple[str, str, str | None], ...] | None:
    """(SET or REMOVE, attribute, value placeholder) of a plain update the validators would pass: a kept
    tree of top-level SETs from placeholders and REMOVEs, whose structural checks passed before, every
    name and value given, and no target that is a key of the table or an index, or has a defined type
    (the empty-string and type checks, by its raw text as moto compares it, or by its name)."""
    tree = validator._reawake_tree
    kept = _pristine_trees.get(id(tree))
    if kept is None or kept[0] is not tree:
        return None
    plan = _plan_of(tree)
    if plan is None:
        return None
    names = validator.expression_attribute_names or {}
    values = validator.expression_attribute_values or {}
    table = validator.table
    guarded = set(table.attribute_keys) | {d["AttributeName"] for d in table.attr}
    out = []
    for kind, raw, is_name, placeholder in plan:
        name = names.get(raw) if is_name else raw
        if name is None or raw in guarded or name in guarded or (kind == SET and placeholder not in values):
            return None
        out.append((kind, name, placeholder))
    return tuple(out)


class Stats:
    simple_updates = 0  # plain updates validated and applied the short way (the tests' control)


class _SimpleUpdate:
    """What the validator hands the executor for a plain update: (SET or REMOVE, attribute, value)."""

    def __init__(self, actions: list[tuple[str, str, Any]]) -> None:
        self.actions = actions

    def normalize(self) -> None:
        """moto's normalize() puts REMOVE actions in reverse order: for distinct top-level attributes
        (overlapping paths are refused) the item comes out the same."""


def _simple_updates() -> None:
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
    from moto.dynamodb.parsing.validators import Validator

    moto_validate, moto_execute = Validator.validate, UpdateExpressionExecutor.execute

    def validate(self: Any) -> Any:
        simple = self.__dict__.get("_reawake_simple")
        if simple is None:
            return moto_validate(self)
        DynamoType = dynamo_type.DynamoType
        values = self.expression_attribute_values
        # ExpressionAttributeValueProcessor's value for each SET (the other validators pass these
        # actions unchanged: no paths to resolve, no functions, no arithmetic, no key targets)
        return _SimpleUpdate([(kind, name, DynamoType(values[placeholder]) if kind == SET else None)
                              for kind, name, placeholder in simple])

    def execute(self: Any, node: Any = None) -> None:
        if node is None and type(self.update_ast) is _SimpleUpdate:
            Stats.simple_updates += 1
            attrs = self.item.attrs  # SetExecutor and RemoveExecutor on the item's top level, as moto's
            for kind, name, value in self.update_ast.actions:
                if kind == SET:
                    attrs[name] = value  # LimitedSizeDict: moto's size check, ItemSizeTooLarge
                else:
                    attrs.pop(name, None)
            return
        moto_execute(self, node)

    _replace(Validator, "validate", validate)
    _replace(UpdateExpressionExecutor, "execute", execute)


class _Structural:
    """A structural validator that records, once the last of the three passed, that the tree passed."""

    def __init__(self, processor: Any, passed: set[tuple[Any, ...]], key: tuple[Any, ...], lock: Any) -> None:
        self.processor, self.passed, self.key, self.lock = processor, passed, key, lock

    def traverse(self, node: Any) -> Any:
        result = self.processor.traverse(node)  # raises when the expression is refused
        if type(self.processor).__name__ == STRUCTURAL[-1]:
            with self.lock:
                if len(self.passed) >= KEPT:
                    self.passed.clear()
                self.passed.add(self.key)
        return result


_reads = threading.local()  # .unsized: this thread's reads of stream records leave SizeBytes to ``size``


@contextmanager
def unsized_reads() -> Iterator[None]:
    """Stream records read in this thread meanwhile come without ``SizeBytes`` (None) until ``size``."""
    before = getattr(_reads, "unsized", False)
    _reads.unsized = True
    try:
        yield
    finally:
        _reads.unsized = before


def size(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` (a stream record as moto's ``StreamRecord.to_json`` gives it) with its ``SizeBytes``,
    computed now by moto's formula if it was left for later; the same dict."""
    body = record.get("dynamodb")
    if isinstance(body, dict) and body.get("SizeBytes", 0) is None:
        from moto.dynamodb.models.utilities import dynamo_json_dump

        body["SizeBytes"] = 1  # what the record held when moto measured it
        body["SizeBytes"] = len(dynamo_json_dump(body))
    return record


def _stream_records_sized_when_read() -> None:
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.table import StreamRecord

    moto_init, moto_to_json = StreamRecord.__init__, StreamRecord.to_json
    _replace(table_module, "dynamo_json_dump", _no_dump)  # StreamRecord.__init__ is its only user

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        moto_init(self, *args, **kwargs)  # measures nothing: _no_dump
        self.record["dynamodb"]["SizeBytes"] = None  # sized when read

    def to_json(self: Any) -> dict[str, Any]:
        record: dict[str, Any] = moto_to_json(self)
        return record if getattr(_reads, "unsized", False) else size(record)

    _replace(StreamRecord, "__init__", __init__)
    _replace(StreamRecord, "to_json", to_json)


def _stream_times_without_import() -> None:
    import datetime

    from moto.dynamodb.models import table as table_module

    utc = datetime.UTC

    def utcnow() -> datetime.datetime:
        return datetime.datetime.now(utc).replace(tzinfo=None)

    _replace(table_module, "utcnow", utcnow)


def _regular_json_built_once() -> None:
    import base64
    import copy

    from moto.dynamodb.models import dynamo_type

    cls = dynamo_type.DynamoType  # moto_patches' slim class, installed first

    def to_regular_json(self: Any) -> dict[str, Any]:
        value = self.value
        if isinstance(value, dict):
            value = {k: v.to_regular_json() if isinstance(v, cls) else copy.deepcopy(v) for k, v in value.items()}
        elif isinstance(value, list):
            value = [v.to_regular_json() if isinstance(v, cls) else copy.deepcopy(v) for v in value]
        else:
            value = copy.deepcopy(value)
        if self.is_binary() and isinstance(value, str):
            value = base64.b64decode(value)
        return {self.type: value}

    _replace(cls, "to_regular_json", to_regular_json)


def _no_dump(value: Any) -> str:
    return ""


def _fill(table: list[Any], rows: list[Any]) -> list[Any]:
    table[:] = rows  # one assignment: a thread reading meanwhile sees the empty list or every row
    return rows


def _conditions_parsed_once() -> None:
    from moto.dynamodb.comparisons import AttributeValue, ConditionExpressionParser

    parse_as_moto = ConditionExpressionParser.parse
    make_op_condition = ConditionExpressionParser._make_op_condition
    make_operand = ConditionExpressionParser._make_operand
    value_kind = ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE
    # (text, names, value placeholders) -> (syntax tree, names found, values found)
    kept: dict[tuple[Any, ...], tuple[Any, list[str], list[str]]] = {}

    def parse(self: Any) -> Any:
        text, names, values = (self.condition_expression, self.expression_attribute_names,
                               self.expression_attribute_values)
        if not text:
            return parse_as_moto(self)
        try:
            key = (text, None if names is None else tuple(sorted(names.items())),
                   None if values is None else tuple(sorted(values)))
            hit = kept.get(key)
        except TypeError:  # names or values of a shape moto will refuse: moto's parse says how
            return parse_as_moto(self)
        if hit is None:
            roots: list[Any] = []

            def first_condition(node: Any) -> Any:
                if not roots:
                    roots.append(node)  # parse() hands the whole tree over once, at its end
                return make_op_condition(self, node)

            self._make_op_condition = first_condition
            try:
                op = parse_as_moto(self)
            finally:
                del self._make_op_condition
            if roots:
                if len(kept) >= KEPT:
                    kept.clear()
                kept[key] = (roots[0], list(self.expr_attr_names_found), list(self.expr_attr_values_found))
            return op
        root, names_found, values_found = hit
        self.expr_attr_names_found.extend(names_found)
        self.expr_attr_values_found.extend(values_found)

        def operand(node: Any) -> Any:
            if node.kind == value_kind:
                return AttributeValue(values[node.text])
            return make_operand(self, node)

        self._make_operand = operand
        try:
            return make_op_condition(self, root)
        finally:
            del self._make_operand

    _replace(ConditionExpressionParser, "parse", parse)


def cache_backend_lookup(app: Any) -> None:
    """The server's host -> service lookup, kept per host (a pure function of the host: moto's
    module list and URL patterns are fixed for the process)."""
    lookup = getattr(app, "get_backend_for_host", None)
    if lookup is not None and not hasattr(lookup, "cache_info"):
        app.get_backend_for_host = functools.lru_cache(maxsize=512)(lookup)
