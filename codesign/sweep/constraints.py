"""Declarative constraints between sweep parameters, parsed without ``eval``.

A constraint is a boolean expression over parameter keys, literals, comparisons
(``== != < <= > >= in``), arithmetic (``+ - * / // %``) and ``and / or / not``. It is parsed
with :mod:`ast` and interpreted over a whitelist of node types, so a spec file cannot run
code. Dotted keys are written as they are (``tlb.l1.entries % tlb.l1.ways == 0``); the names
``workload``, ``mechanism`` and ``platform`` stand for the chosen names. A constraint that
mentions a parameter the point does not have (another mechanism's parameter) does not apply
to that point.

>>> c = Constraint.parse("host.levels >= guest.levels or not virtualized")
>>> c.names
('guest.levels', 'host.levels', 'virtualized')
>>> c.holds({"host.levels": 4, "guest.levels": 5, "virtualized": True})
False
>>> c.holds({"guest.levels": 5})
True
>>> Constraint.parse("__import__('os')")
Traceback (most recent call last):
codesign.errors.InputError: constraint "__import__('os')": calls are not allowed

A constraint is at most :data:`MAX_TEXT` characters, :data:`MAX_NODES` syntax-tree nodes and
:data:`MAX_DEPTH` levels of nesting: the checker and the interpreter recurse over the tree,
and a constraint is evaluated once per combination of a sweep, so a hostile one must be
refused before either runs.

>>> Constraint.parse(" or ".join(["guest.levels == 4"] * 1000))  # doctest: +ELLIPSIS
Traceback (most recent call last):
codesign.errors.InputError: constraint 'guest.levels == 4 or guest.levels == 4 or guest.levels...' (20,996 characters): longer than 4,000 characters
"""  # noqa: E501

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from codesign.errors import InputError

_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_ARITH = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_LITERALS = {"true": True, "false": False}
MAX_TEXT = 4_000
"""Longest constraint, in characters (the bundled specs' longest is under 100)."""
MAX_NODES = 1_000
"""Most syntax-tree nodes in one constraint: bounds the work per combination."""
MAX_DEPTH = 50
"""Deepest nesting of the syntax tree: far below Python's recursion limit, which the checker
and the interpreter, both recursive, must stay under."""
_SHOWN = 60


def _quote(text: object) -> str:
    """A constraint as a message shows it: in full when short, else its start and length.

    >>> _quote("a < b"), _quote("x" * 200)[-20:]
    ("'a < b'", "...' (200 characters)")
    """
    if not isinstance(text, str) or len(text) <= 2 * _SHOWN:
        return repr(text)
    return f"{text[:_SHOWN] + '...'!r} ({len(text):,} characters)"


def _measure(tree: ast.AST, text: str) -> None:
    """InputError when the tree has more than MAX_NODES nodes or MAX_DEPTH levels.

    Iterative, so that it is safe on any tree ``ast.parse`` returns.
    """
    stack, nodes = [(tree, 1)], 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise InputError(f"constraint {_quote(text)}: more than {MAX_NODES:,} terms and "
                             "operators; split it into several constraints")
        if depth > MAX_DEPTH:
            raise InputError(f"constraint {_quote(text)}: nested more than {MAX_DEPTH} levels "
                             "deep")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _check(node: ast.AST, text: str, names: set[str]) -> None:
    """Reject every node type outside the whitelist; collect the parameter names."""
    if isinstance(node, ast.Name | ast.Attribute):
        name = _dotted(node)
        if name is None:
            raise InputError(f"constraint {_quote(text)}: only dotted parameter names may have "
                             "dots")
        if name not in _LITERALS:
            names.add(name)
        return
    if isinstance(node, ast.Call):
        raise InputError(f"constraint {_quote(text)}: calls are not allowed")
    allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub,
               ast.UAdd, ast.BinOp, ast.Compare, ast.Constant, ast.List, ast.Tuple, ast.Load,
               *_COMPARE, *_ARITH)
    if not isinstance(node, allowed):
        raise InputError(f"constraint {_quote(text)}: {type(node).__name__} is not allowed")
    if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str | bool):
        raise InputError(f"constraint {_quote(text)}: literal {node.value!r} is not allowed")
    for child in ast.iter_child_nodes(node):
        _check(child, text, names)


@dataclass(frozen=True)
class Constraint:
    """One parsed constraint."""

    text: str
    tree: ast.Expression
    names: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """Parse and whitelist-check one constraint; InputError if it is not one."""
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"constraint {_quote(text)}: expected a non-empty string")
        if len(text) > MAX_TEXT:
            raise InputError(f"constraint {_quote(text)}: longer than {MAX_TEXT:,} characters")
        if "\x00" in text:  # Python's parser reports no position for it
            raise InputError(f"constraint {_quote(text)}: contains a NUL character")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            where = (f"at column {exc.offset}" if exc.offset and exc.offset <= len(text.strip())
                     else "at the end (incomplete expression)")
            raise InputError(f"constraint {_quote(text)}: syntax error {where}") from None
        except (RecursionError, MemoryError):  # the parser's own nesting limit
            raise InputError(f"constraint {_quote(text)}: nested more than {MAX_DEPTH} levels "
                             "deep") from None
        except ValueError as exc:  # an integer of too many digits, for one
            raise InputError(f"constraint {_quote(text)}: {exc}") from None
        _measure(tree, text)
        names: set[str] = set()
        _check(tree, text, names)
        return cls(text, tree, tuple(sorted(names)))

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the point satisfies it (True when it mentions a parameter not present)."""
        names, program = _program(self.text)
        # Decided up front, not while evaluating: `and` / `or` stop early, so a missing
        # parameter met mid-way would make the answer depend on the order of the terms.
        if not names <= values.keys():
            return True
        try:
            return bool(program(values))
        except (TypeError, ZeroDivisionError, OverflowError) as exc:
            raise InputError(f"constraint {_quote(self.text)}: {exc} "
                             f"(values {dict(values)!r})") from None


Program = Callable[[Mapping[str, Any]], Any]


@functools.lru_cache(maxsize=256)
def _program(text: str) -> tuple[frozenset[str], Program]:
    """The parameter names and the compiled form of an already checked constraint: closures
    over its syntax tree, made once, as a sweep evaluates it for every combination (a tree
    walk per combination was most of the time of a constrained survey). Cached by text, so
    a :class:`Constraint` stays plain, picklable data."""
    names: set[str] = set()
    tree = ast.parse(text.strip(), mode="eval")
    _check(tree, text, names)
    return frozenset(names), _compile(tree.body)


def _number(operand: Any) -> Any:
    if isinstance(operand, bool) or not isinstance(operand, int | float):
        # no string or list repetition: 'a' * 10**9
        raise TypeError(f"arithmetic on {operand!r}, which is not a number")
    return operand


def _compile(node: ast.AST) -> Program:
    """A function of the point's values computing ``node`` (whitelisted by :func:`_check`;
    recursion bounded by MAX_DEPTH)."""
    if isinstance(node, ast.Constant):
        constant = node.value
        return lambda values: constant
    if isinstance(node, ast.Name | ast.Attribute):
        name = _dotted(node)
        if name in _LITERALS:
            literal = _LITERALS[name]
            return lambda values: literal
        return lambda values: values[name]
    if isinstance(node, ast.List | ast.Tuple):
        items = [_compile(e) for e in node.elts]
        return lambda values: [f(values) for f in items]
    if isinstance(node, ast.BoolOp):
        terms = [_compile(v) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda values: all(f(values) for f in terms)
        return lambda values: any(f(values) for f in terms)
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda values: not operand(values)
        if isinstance(node.op, ast.USub):
            return lambda values: -operand(values)
        return lambda values: +operand(values)
    if isinstance(node, ast.BinOp):
        left, right, op = _compile(node.left), _compile(node.right), _ARITH[type(node.op)]

        def arithmetic(values: Mapping[str, Any]) -> Any:
            a, b = left(values), right(values)  # both, then the check, as written
            return op(_number(a), _number(b))

        return arithmetic
    assert isinstance(node, ast.Compare)
    first = _compile(node.left)
    chain = [(_COMPARE[type(op)], _compile(c)) for op, c in zip(node.ops, node.comparators,
                                                                   strict=True)]

    def compare(values: Mapping[str, Any]) -> bool:
        left = first(values)
        for test, right_of in chain:
            right = right_of(values)
            if not test(left, right):
                return False
            left = right
        return True

    return compare
