"""calculator: arithmetic for an agent, with no capabilities at all.

``"schema"`` answers the tool's JSON schema (the shape LLM function calling
expects); ``{"expression": "2 * (3 + 4)"}`` answers ``{"ok": 14}``. The
expression is parsed with ``ast`` and only numbers and + - * / // % ** and
parentheses are evaluated: nothing the agent sends is executed as code.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

import hostkit_guest
from hostkit_guest import From, GenServer

SCHEMA = {
    "name": "calculator",
    "description": "Evaluate an arithmetic expression (numbers, + - * / // % ** and parentheses).",
    "parameters": {
        "type": "object",
        "properties": {"expression": {"type": "string", "description": "e.g. 2 * (3 + 4)"}},
        "required": ["expression"],
        "additionalProperties": False,
    },
}

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def evaluate(node: ast.AST) -> float | int:
    if isinstance(node, ast.Expression):
        return evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = evaluate(node.left), evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ValueError("exponent too large (limit 100)")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](evaluate(node.operand))
    raise ValueError(f"not allowed in an expression: {type(node).__name__}")


class Calculator(GenServer):
    def handle_call(self, msg: Any, from_: From) -> Any:
        if msg == "schema":
            return SCHEMA
        expression = msg.get("expression") if isinstance(msg, dict) else None
        if not isinstance(expression, str) or len(expression) > 200:
            return {"error": "invalid", "detail": "expression: a string of at most 200 characters"}
        try:
            return {"ok": evaluate(ast.parse(expression, mode="eval"))}
        except (ValueError, SyntaxError, ZeroDivisionError, OverflowError) as exc:
            return {"error": "invalid", "detail": f"{type(exc).__name__}: {exc}"}


Actor = hostkit_guest.export(Calculator)
