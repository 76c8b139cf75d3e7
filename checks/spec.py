"""Suite files: YAML -> a typed, validated `SuiteSpec`, with its version hash.

A suite file names one table and a list of expectations, each a one-key mapping
`expectation_name: {arguments}`. Everything that can be checked without data is checked here, so a
bad file fails at load time with the file, the key path, the line and the offending value.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from checks import catalog
from core.errors import ConfigError

TOP_LEVEL_KEYS = {"table", "description", "expectations"}


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation as declared: its name, its arguments and where it was declared."""

    name: str
    kwargs: dict[str, Any]
    index: int
    line: int | None = None

    @property
    def key(self) -> str:
        return f"expectations[{self.index}].{self.name}"

    @property
    def column(self) -> str | None:
        column = self.kwargs.get("column")
        return column if isinstance(column, str) else None


@dataclass(frozen=True)
class SuiteSpec:
    """A loaded suite: `version_hash` is the sha256 of its canonical content (see `canonical_json`)."""

    table: str
    expectations: tuple[ExpectationSpec, ...]
    version_hash: str
    path: str
    description: str | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return Path(self.path).stem if self.path else self.table


def canonical_json(content: dict[str, Any]) -> str:
    """Key order, YAML layout and comments do not change the hash; any value that does is a new version."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def suite_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def load_suite(path: str | Path) -> SuiteSpec:
    """Read and validate a suite file. Raises `ConfigError(path, key, message, value)`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "<file>", f"cannot read suite file: {exc.strerror or exc}") from None
    # Every run reads each table's suite (the validate stage, the controls registry); checking its
    # arguments builds GX's models, so the parse of a file's content is kept (the file is still read
    # each time: an edited suite is parsed anew). A copy: callers never share one spec's arguments.
    return copy.deepcopy(_parse_cached(text, str(path)))


@functools.lru_cache(maxsize=64)
def _parse_cached(text: str, path: str) -> SuiteSpec:
    return parse_suite(text, path)


def parse_suite(text: str, path: str | Path = "<string>") -> SuiteSpec:
    """Validate suite YAML given as text; `path` is only used to name the source in errors."""
    try:
        root_node = yaml.compose(text, Loader=yaml.SafeLoader)
        content = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<yaml>"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, where, f"malformed YAML: {problem}") from None
    if not isinstance(content, dict):
        raise ConfigError(path, "<root>", "a suite file must be a mapping with `table` and `expectations`",
                          type(content).__name__)
    unknown = sorted(set(content) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(path, str(unknown[0]), f"unknown key; allowed: {sorted(TOP_LEVEL_KEYS)}")
    table = content.get("table")
    if not isinstance(table, str) or not table.strip():
        raise ConfigError(path, "table", "must be a non-empty string", table)
    description = content.get("description")
    if description is not None and not isinstance(description, str):
        raise ConfigError(path, "description", "must be a string", description)
    items = content.get("expectations")
    if not isinstance(items, list) or not items:
        raise ConfigError(path, "expectations", "must be a non-empty list of `- expectation_name: {...}`",
                          items)
    lines = _item_lines(root_node)
    expectations = tuple(_parse_item(path, i, item, lines.get(i)) for i, item in enumerate(items))
    return SuiteSpec(table=table, expectations=expectations, version_hash=suite_hash(content),
                     path=str(path), description=description)


def _parse_item(path, index: int, item: Any, line: int | None) -> ExpectationSpec:
    at = f" (line {line})" if line else ""
    key = f"expectations[{index}]"
    if not isinstance(item, dict) or len(item) != 1:
        raise ConfigError(path, key, f"each entry is a one-key mapping `expectation_name: {{arguments}}`{at}",
                          item)
    (name, kwargs), = item.items()
    if not isinstance(name, str) or not catalog.is_known(name):
        close = catalog.closest_names(str(name))
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ConfigError(path, f"{key}.{name}", f"unknown expectation{at}{hint}")
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, dict):
        raise ConfigError(path, f"{key}.{name}", f"arguments must be a mapping{at}", kwargs)
    if not all(isinstance(k, str) for k in kwargs):
        raise ConfigError(path, f"{key}.{name}", f"argument names must be strings{at}", list(kwargs))
    try:
        catalog.check_arguments(name, kwargs)
    except catalog.ArgumentError as exc:
        arg = f".{exc.field}" if exc.field else ""
        raise ConfigError(path, f"{key}.{name}{arg}", f"{exc}{at}", exc.value) from None
    return ExpectationSpec(name=name, kwargs=kwargs, index=index, line=line)


def _item_lines(root_node) -> dict[int, int]:
    """1-based line of each item of the `expectations` list, for error messages."""
    if not isinstance(root_node, yaml.MappingNode):
        return {}
    for key_node, value_node in root_node.value:
        if key_node.value == "expectations" and isinstance(value_node, yaml.SequenceNode):
            return {i: node.start_mark.line + 1 for i, node in enumerate(value_node.value)}
    return {}
