"""Which metric names a PromQL expression reads.

Debian's promtool (2.42) checks syntax but has no command that prints an
expression's selectors, so this is a small tokenizer that knows the parts of
PromQL that look like names but are not metrics: function and aggregation
names, keywords, label lists after by/without/on/ignoring/group_left/
group_right, label matchers in braces, durations, strings and numbers. A
`{__name__="x"}` matcher counts as metric x. Syntax errors are promtool's job;
this assumes a valid expression.
"""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DURATION = re.compile(r"(?:\d+(?:ms|[smhdwy]))+")
_NAME_MATCHER = re.compile(r"""__name__\s*=\s*(["'`])(.*?)\1""")
_AGGREGATIONS = frozenset({
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio"})
_KEYWORDS = frozenset({"and", "or", "unless", "atan2", "bool", "offset", "start", "end", "inf", "nan"})
_LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})


def _skip_string(text: str, i: int) -> int:
    """Index after the string literal starting at text[i]."""
    quote = text[i]
    i += 1
    while i < len(text) and text[i] != quote:
        i += 2 if text[i] == "\\" and quote != "`" else 1
    return i + 1


def _skip_until(text: str, i: int, closing: str) -> int:
    """Index after the `closing` bracket that ends the group opened at text[i], strings skipped."""
    i += 1
    while i < len(text) and text[i] != closing:
        i = _skip_string(text, i) if text[i] in "\"'`" else i + 1
    return i + 1


def _next_token(text: str, i: int) -> str:
    """The next word, or the next character when no word follows, after whitespace."""
    while i < len(text) and text[i].isspace():
        i += 1
    word = _IDENTIFIER.match(text, i)
    return word.group(0).lower() if word else text[i:i + 1]


def metric_names(expression: str) -> set[str]:
    names: set[str] = set()
    text = expression
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "#":
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
        elif char in "\"'`":
            i = _skip_string(text, i)
        elif char == "{":
            end = _skip_until(text, i, "}")
            names.update(match.group(2) for match in _NAME_MATCHER.finditer(text[i:end]))
            i = end
        elif char == "[":
            i = _skip_until(text, i, "]")
        elif char.isdigit() or (char == "." and i + 1 < len(text) and text[i + 1].isdigit()):
            match = _DURATION.match(text, i) or _NUMBER.match(text, i)
            i = match.end() if match else i + 1
        elif _IDENTIFIER.match(text, i):
            word = _IDENTIFIER.match(text, i).group(0)
            i += len(word)
            following = _next_token(text, i)
            lowered = word.lower()
            if lowered in _LABEL_LIST_KEYWORDS:
                if following == "(":
                    i = _skip_until(text, text.index("(", i), ")")
            elif lowered in _KEYWORDS:
                continue
            elif following == "(" or (word in _AGGREGATIONS and following in ("by", "without")):
                continue  # a function call, or an aggregation with a leading by/without clause
            else:
                names.add(word)
        else:
            i += 1
    return names
