"""``$project``, ``$addFields``/``$set`` and ``$unset``: document reshaping.

A projection spec is parsed once into a tree (dotted keys and nested objects alike) of
``Include``, ``Exclude``, ``Compute(expression)`` leaves. MongoDB's rules:
- inclusion mode (any ``1``/``true`` or computed field) keeps ``_id`` unless ``_id: 0``,
  keeps the included fields in the input's order, then adds computed fields in spec
  order; through an array, an inclusion keeps only the elements that are documents;
- exclusion mode (only ``0``/``false``) drops the named fields and keeps the rest;
- mixing the two modes (other than ``_id: 0``) is refused;
- a computed value that is missing (``$$REMOVE``, an absent field) leaves the field out.
Inputs are never modified: changed documents are copies along the changed paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boom_flow.filters.mql.errors import PipelineError
from boom_flow.filters.mql.expressions import compile_expression, root_scope
from boom_flow.filters.mql.scope import Evaluator, fail
from boom_flow.filters.mql.values import MISSING, is_number

Stage = Callable[[dict[str, Any]], "dict[str, Any] | None"]
INCLUDE, EXCLUDE = "include", "exclude"
Node = dict[str, Any]  # field -> INCLUDE | EXCLUDE | Evaluator | Node


def _classify(value: Any, path: str) -> Any:
    """One projection value -> INCLUDE, EXCLUDE, a sub-tree (dict), or an expression."""
    if isinstance(value, bool) or (is_number(value) and not isinstance(value, dict)):
        return INCLUDE if value else EXCLUDE
    if isinstance(value, dict):
        if not value:
            raise PipelineError("an empty object is not a valid value in a projection",
                                path=path)
        if next(iter(value)).startswith("$"):
            return compile_expression(value, root_scope(path))
        return parse_tree(value, path)
    return compile_expression(value, root_scope(path))


def parse_tree(spec: dict[str, Any], path: str, leaf: Callable[[Any, str], Any] = _classify,
               ) -> Node:
    """Flatten dotted keys and nested objects into one tree; refuse path collisions."""
    tree: Node = {}
    for key, value in spec.items():
        where = f"{path}.{key}"
        parts = key.split(".")
        if any(not part or part.startswith("$") for part in parts):
            raise PipelineError(f"invalid field path '{key}' in a projection", path=where)
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise PipelineError(f"path collision at {key}", path=where)
            node = child
        item = leaf(value, where)
        last = parts[-1]
        if last in node:
            if isinstance(node[last], dict) and isinstance(item, dict):
                _merge(node[last], item, where)
                continue
            raise PipelineError(f"path collision at {key}", path=where)
        node[last] = item
    return tree


def _merge(target: Node, source: Node, path: str) -> None:
    for key, value in source.items():
        if key in target:
            if isinstance(target[key], dict) and isinstance(value, dict):
                _merge(target[key], value, f"{path}.{key}")
                continue
            raise PipelineError(f"path collision at {path}.{key}", path=path)
        target[key] = value


def _leaves(tree: Node, top: bool = True) -> list[tuple[bool, Any]]:
    found = []
    for key, value in tree.items():
        if isinstance(value, dict):
            found.extend(_leaves(value, False))
        else:
            found.append((top and key == "_id", value))
    return found


def compile_project(spec: Any, path: str) -> Stage:
    if not isinstance(spec, dict) or not spec:
        raise PipelineError("$project specification must be a non-empty object", path=path)
    tree = parse_tree(spec, path)
    leaves = _leaves(tree)
    excluding = any(value is EXCLUDE for is_id, value in leaves if not is_id)
    including = any(value is not EXCLUDE for is_id, value in leaves if not is_id) or any(
        value is not EXCLUDE for is_id, value in leaves if is_id)
    if excluding and including:
        raise PipelineError("cannot mix inclusion and exclusion in a $project (other than "
                            "_id: 0)", operator="$project", path=path)
    if not including:
        return lambda doc: _exclude(tree, doc)
    if "_id" not in tree:
        tree = {"_id": INCLUDE, **tree}
    elif tree["_id"] is EXCLUDE:
        tree = {key: value for key, value in tree.items() if key != "_id"}
    inclusion = _Inclusion(tree)
    return lambda doc: inclusion.apply(doc, {"CURRENT": doc, "ROOT": doc})


def _has_computed(node: Node) -> bool:
    return any((isinstance(value, dict) and _has_computed(value)) or callable(value)
               for value in node.values())


class _Inclusion:
    """One level of an inclusion projection, prepared once.

    ``kept``: field -> INCLUDE or the sub-level; ``computed``: (field, expression or
    sub-level that creates fields) in spec order. ``_plans`` remembers, per order of a
    document's field names (documents of one schema share it), which of its fields
    this level keeps: a 100-field ``candidate`` is then not walked field by field.
    """

    __slots__ = ("_plans", "computed", "has_computed", "kept")

    def __init__(self, node: Node) -> None:
        self.kept: dict[str, Any] = {}
        self.computed: list[tuple[str, Any]] = []
        for key, spec in node.items():
            if callable(spec):
                self.computed.append((key, spec))
            elif isinstance(spec, dict):
                child = _Inclusion(spec)
                self.kept[key] = child
                if child.has_computed:
                    self.computed.append((key, child))
            else:
                self.kept[key] = spec
        self.has_computed = bool(self.computed)
        self._plans: dict[tuple[str, ...], tuple[str, ...]] = {}

    def _plan(self, doc: dict[str, Any]) -> Any:
        if len(doc) <= 8:
            return doc
        names = tuple(doc)
        plan = self._plans.get(names)
        if plan is None:
            if len(self._plans) > 256:
                self._plans.clear()
            plan = self._plans[names] = tuple(k for k in names if k in self.kept)
        return plan

    def apply(self, doc: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        kept = self.kept
        for key in self._plan(doc):
            spec = kept.get(key)
            if spec is INCLUDE:
                result[key] = doc[key]
            elif spec is not None:
                projected = spec.apply_value(doc[key], variables)
                if projected is not MISSING:
                    result[key] = projected
        for key, spec in self.computed:
            if isinstance(spec, _Inclusion):
                if key not in result:
                    result[key] = spec.apply({}, variables)
                continue
            value = spec(variables)
            if value is MISSING:
                result.pop(key, None)
            else:
                result[key] = value
        return result

    def apply_value(self, value: Any, variables: dict[str, Any]) -> Any:
        if isinstance(value, dict):
            return self.apply(value, variables)
        if type(value) is list:
            kept = []
            for element in value:
                if isinstance(element, dict) or type(element) is list:
                    kept.append(self.apply_value(element, variables))
                elif self.has_computed:
                    kept.append(self.apply({}, variables))
            return kept
        return MISSING  # a scalar: dropped here, rebuilt from computed fields in `apply`


def _exclude(node: Node, doc: dict[str, Any]) -> dict[str, Any]:
    result = {}
    for key, value in doc.items():
        spec = node.get(key)
        if spec is EXCLUDE:
            continue
        result[key] = _exclude_value(spec, value) if isinstance(spec, dict) else value
    return result


def _exclude_value(node: Node, value: Any) -> Any:
    if isinstance(value, dict):
        return _exclude(node, value)
    if type(value) is list:
        return [_exclude_value(node, element) for element in value]
    return value


def compile_unset(spec: Any, path: str) -> Stage:
    fields = [spec] if isinstance(spec, str) else spec
    if not isinstance(fields, list) or not fields or not all(
            isinstance(field, str) and field for field in fields):
        raise PipelineError("$unset takes a field path or a non-empty array of them",
                            operator="$unset", path=path)
    tree = parse_tree({field: 0 for field in fields}, path)
    return lambda doc: _exclude(tree, doc)


def _computed_leaf(value: Any, path: str) -> Any:
    """In ``$addFields`` every value is an expression, except a plain nested object."""
    if isinstance(value, dict) and value and not next(iter(value)).startswith("$"):
        return parse_tree(value, path, _computed_leaf)
    return compile_expression(value, root_scope(path))


def compile_add_fields(spec: Any, path: str) -> Stage:
    if not isinstance(spec, dict) or not spec:
        raise PipelineError("$addFields/$set specification must be a non-empty object",
                            path=path)
    tree = parse_tree(spec, path, _computed_leaf)
    return lambda doc: _add(tree, doc, {"CURRENT": doc, "ROOT": doc})


def _add(node: Node, doc: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    result = dict(doc)
    for key, spec in node.items():
        if isinstance(spec, dict):
            result[key] = _add_value(spec, result.get(key, MISSING), variables)
            continue
        value = spec(variables)
        if value is MISSING:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def _add_value(node: Node, value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return _add(node, value, variables)
    if type(value) is list:
        return [_add_value(node, element, variables) for element in value]
    return _add(node, {}, variables)


def compile_replace_root(expression: Any, path: str) -> Stage:
    evaluate: Evaluator = compile_expression(expression, root_scope(path))

    def replace(doc: dict[str, Any]) -> dict[str, Any]:
        value = evaluate({"CURRENT": doc, "ROOT": doc})
        if not isinstance(value, dict):
            raise fail("$replaceRoot", "'newRoot' must evaluate to an object")
        return value
    return replace
