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
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping
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
            raise InputError(f"constraint {text!r}: only dotted parameter names may have dots")
        if name not in _LITERALS:
            names.add(name)
        return
    if isinstance(node, ast.Call):
        raise InputError(f"constraint {text!r}: calls are not allowed")
    allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub,
               ast.UAdd, ast.BinOp, ast.Compare, ast.Constant, ast.List, ast.Tuple, ast.Load,
               *_COMPARE, *_ARITH)
    if not isinstance(node, allowed):
        raise InputError(f"constraint {text!r}: {type(node).__name__} is not allowed")
    if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str | bool):
        raise InputError(f"constraint {text!r}: literal {node.value!r} is not allowed")
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
            raise InputError(f"constraint {text!r}: expected a non-empty string")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            where = (f"at column {exc.offset}" if exc.offset and exc.offset <= len(text.strip())
                     else "at the end (incomplete expression)")
            raise InputError(f"constraint {text!r}: syntax error {where}") from None
        names: set[str] = set()
        _check(tree, text, names)
        return cls(text, tree, tuple(sorted(names)))

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether the point satisfies it (True when it mentions a parameter not present)."""
        # Decided up front, not while evaluating: `and` / `or` stop early, so a missing
        # parameter met mid-way would make the answer depend on the order of the terms.
        if any(name not in values for name in self.names):
            return True
        try:
            return bool(self._eval(self.tree.body, values))
        except (TypeError, ZeroDivisionError) as exc:
            raise InputError(f"constraint {self.text!r}: {exc} (values {dict(values)!r})") from None

    def _eval(self, node: ast.AST, values: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name | ast.Attribute):
            name = _dotted(node)
            if name in _LITERALS:
                return _LITERALS[name]
            return values[name]
        if isinstance(node, ast.List | ast.Tuple):
            return [self._eval(e, values) for e in node.elts]
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self._eval(v, values) for v in node.values)
            return any(self._eval(v, values) for v in node.values)
        if isinstance(node, ast.UnaryOp):
            operand = self._eval(node.operand, values)
            if isinstance(node.op, ast.Not):
                return not operand
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left, values), self._eval(node.right, values)
            for operand in (left, right):  # no string or list repetition: 'a' * 10**9
                if isinstance(operand, bool) or not isinstance(operand, int | float):
                    raise TypeError(f"arithmetic on {operand!r}, which is not a number")
            return _ARITH[type(node.op)](left, right)
        assert isinstance(node, ast.Compare)
        left = self._eval(node.left, values)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self._eval(right_node, values)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
