"""JSON Schema validators whose `pattern` means what the schema's other readers take it to mean.

A schema `pattern` is an ECMA-262 regular expression (JSON Schema 2020-12, section 6.4),
where `$` matches only at the very end of the string. jsonschema hands it to Python's
`re.search`, where `$` also matches before a final newline: "subnet-0abc\\n" would pass
"^subnet-[0-9a-f]+$", and a spec string may carry a newline (a YAML block scalar). The
validators here read every unescaped `$` outside a character class as Python's `\\Z`.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Iterator


@functools.lru_cache(maxsize=None)
def ecma_pattern(pattern: str) -> re.Pattern:
    """`pattern` compiled with `$` anchored at the end of the string, as in ECMA-262."""
    translated, in_class, index = [], False, 0
    while index < len(pattern):
        character = pattern[index]
        if character == "\\":
            translated.append(pattern[index:index + 2])
            index += 2
            continue
        if in_class:
            in_class = character != "]"
        elif character == "[":
            in_class = True
            if pattern[index + 1:index + 2] == "]":  # `[]...]`: a leading ] is a member, not the end
                translated.append("[]")
                index += 2
                continue
        elif character == "$":
            character = r"\Z"
        translated.append(character)
        index += 1
    return re.compile("".join(translated))


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict) -> Iterator[Any]:
    from jsonschema import ValidationError

    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.lru_cache(maxsize=1)
def validator_class() -> type:
    """Draft 2020-12, with ECMA-262 `$` in every `pattern` (of values, and of keys under propertyNames)."""
    import jsonschema

    return jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})
