"""YAML loading that remembers where every key was, so errors can say file and line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

Path_ = tuple[str | int, ...]


class ConfigError(Exception):
    """A configuration file is wrong; each line of the message names the file, the line and
    what is wrong."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Duplicate:
    """A key written more than once in one mapping; PyYAML silently keeps the last one."""

    at: Path_
    lines: tuple[int, ...]


@dataclass(frozen=True)
class YamlDoc:
    path: Path
    data: Any
    lines: dict[Path_, int]
    duplicates: tuple[Duplicate, ...] = ()

    def where(self, loc: Path_) -> str:
        """`file:line` of the deepest known key on `loc` (1-based, as editors count)."""
        for n in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:n]))
            if line is not None:
                return f"{self.path}:{line}"
        return str(self.path)


def problems(
    doc: YamlDoc, error: ValidationError, at: Path_ = (), what: str = "", *, unknown: bool = False
) -> list[str]:
    """pydantic's complaints about the mapping at `at` of `doc`, one line each naming file,
    line and key: `FILE:LINE: [what]key.path: message`. `unknown`: a key the model forbids
    is said as "unknown key 'k'" rather than in pydantic's words."""
    found = []
    for err in error.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc)
        msg = err["msg"].removeprefix("Value error, ")
        if unknown and err["type"] == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}"
        found.append(f"{doc.where((*at, *loc))}: {what}{key}: {msg}")
    return found


def load_yaml(path: Path) -> YamlDoc:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Path_, int] = {}
        duplicates: list[Duplicate] = []
        if node is not None:
            # Before constructing: the constructor folds merge keys (<<) into the node.
            _index(node, (), lines, duplicates)
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from e
    finally:
        loader.dispose()
    return YamlDoc(path, data, lines, tuple(duplicates))


def _index(
    node: yaml.Node, at: Path_, lines: dict[Path_, int], duplicates: list[Duplicate]
) -> None:
    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, list[int]] = {}
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                continue
            sub = (*at, str(key.value))
            line = key.start_mark.line + 1
            seen.setdefault(str(key.value), []).append(line)
            lines[sub] = line  # the last one written is the one PyYAML keeps
            _index(value, sub, lines, duplicates)
        duplicates.extend(
            Duplicate((*at, key), tuple(where)) for key, where in seen.items() if len(where) > 1
        )
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*at, i), lines, duplicates)


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """' (did you mean cmd_new?)' for a key close to a known one (a typo, `-` for `_`), else ''."""
    known = list(known)
    close = difflib.get_close_matches(key.replace("-", "_").lower(), known, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""
