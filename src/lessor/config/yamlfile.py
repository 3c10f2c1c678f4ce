"""YAML loading that remembers where every key was, so errors can say file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class ConfigError(Exception):
    """A configuration file is wrong; the message names the file, the line and what is wrong."""


@dataclass(frozen=True)
class YamlDoc:
    path: Path
    data: Any
    lines: dict[Path_, int]

    def where(self, loc: Path_) -> str:
        """`file:line` of the deepest known key on `loc` (1-based, as editors count)."""
        for n in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:n]))
            if line is not None:
                return f"{self.path}:{line}"
        return str(self.path)


def load_yaml(path: Path) -> YamlDoc:
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from e
    lines: dict[Path_, int] = {}
    if node is not None:
        _index(node, (), lines)
    return YamlDoc(path, data, lines)


def _index(node: yaml.Node, at: Path_, lines: dict[Path_, int]) -> None:
    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*at, str(key.value))
            lines[sub] = key.start_mark.line + 1
            _index(value, sub, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*at, i), lines)
