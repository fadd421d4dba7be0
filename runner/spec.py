"""A node class's INPUT_TYPES read the way ComfyUI reads them: widgets, links, defaults and value checks.

ComfyUI's V1 node API declares inputs as ``{"required": {name: (TYPE, options)}, "optional": {...},
"hidden": {...}}``. TYPE is a list of choices (a combo), one of the widget types INT, FLOAT, STRING,
BOOLEAN (or "COMBO" with ``options``), or any other name, which is a link type (IMAGE, SF_MODEL…).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .errors import BadValueError, WorkflowInvalidError, node_label

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
SEED_NAMES = ("seed", "noise_seed")  # the frontend adds a "control_after_generate" widget after these


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: Any
    options: dict = field(default_factory=dict)
    required: bool = True

    @property
    def is_combo(self) -> bool:
        return isinstance(self.type, (list, tuple)) or self.type == "COMBO"

    @property
    def choices(self) -> list:
        if isinstance(self.type, (list, tuple)):
            return list(self.type)
        return list(self.options.get("options") or [])

    @property
    def is_widget(self) -> bool:
        return self.is_combo or self.type in WIDGET_TYPES

    @property
    def force_input(self) -> bool:
        return bool(self.options.get("forceInput"))

    @property
    def has_control(self) -> bool:
        """The frontend stores a "control_after_generate" value (fixed/randomize…) right after this widget."""
        if self.type == "INT" and self.name in SEED_NAMES:
            return True
        return bool(self.options.get("control_after_generate")) and (self.type in ("INT", "FLOAT") or self.is_combo)

    @property
    def has_upload(self) -> bool:
        """The frontend stores an upload button's value ("image") right after this combo."""
        return any(self.options.get(k) for k in ("image_upload", "video_upload", "audio_upload", "file_upload"))

    def default(self):
        """What a newly created widget shows: the declared default, else the first choice, min, 0, "" or False."""
        if "default" in self.options:
            return self.options["default"]
        if self.is_combo:
            return self.choices[0] if self.choices else None
        if self.type in ("INT", "FLOAT"):
            low = self.options.get("min", 0)
            return max(low, 0) if self.type == "INT" else float(max(low, 0))
        return {"STRING": "", "BOOLEAN": False}.get(self.type)

    @property
    def type_name(self) -> str:
        return "COMBO" if self.is_combo else str(self.type)


@dataclass(frozen=True)
class NodeSpec:
    inputs: dict[str, InputSpec]  # required then optional, in declaration order
    hidden: dict[str, str]

    @property
    def widgets(self) -> list[InputSpec]:
        return [s for s in self.inputs.values() if s.is_widget]


def node_spec(cls, class_type: str) -> NodeSpec:
    """Read ``cls.INPUT_TYPES()``; a node whose INPUT_TYPES fails or is malformed is reported by type."""
    try:
        declared = cls.INPUT_TYPES()
    except Exception as exc:  # a node's INPUT_TYPES may list folders etc.
        raise WorkflowInvalidError(f"node type {class_type}: INPUT_TYPES() failed: {exc}") from exc
    if not isinstance(declared, dict):
        raise WorkflowInvalidError(f"node type {class_type}: INPUT_TYPES() must return a dict")
    inputs: dict[str, InputSpec] = {}
    for section in ("required", "optional"):
        for name, entry in (declared.get(section) or {}).items():
            if not isinstance(entry, (tuple, list)) or not entry:
                raise WorkflowInvalidError(f"node type {class_type}: input {name!r} has no type")
            options = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
            inputs[name] = InputSpec(name, entry[0], options, section == "required")
    hidden = {k: v for k, v in (declared.get("hidden") or {}).items()}
    return NodeSpec(inputs, hidden)


def types_match(output_type: str, input_type: str) -> bool:
    """ComfyUI's rule: equal, ``*`` matches anything, comma-separated lists match any member."""
    if "*" in (output_type, input_type) or output_type == input_type:
        return True
    outs = {t.strip() for t in str(output_type).split(",")}
    ins = {t.strip() for t in str(input_type).split(",")}
    return bool(outs & ins)


def _short_list(values: list, limit: int = 12) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f", … ({len(values)} in all)" if len(values) > limit else "") if values else "(none)"


def _range_text(spec: InputSpec) -> str:
    low, high = spec.options.get("min"), spec.options.get("max")
    if low is not None and high is not None:
        return f"between {low} and {high}"
    if low is not None:
        return f"at least {low}"
    if high is not None:
        return f"at most {high}"
    return "a number"


def check_value(spec: InputSpec, value, node_id: str, class_type: str):
    """Coerce a widget value as ComfyUI does (``int()``, ``float()``…) and check it against the spec.

    Returns the value to pass to the node; raises BadValueError naming node, type, input and what is allowed.
    """
    where = f"{node_label(node_id, class_type)}: input '{spec.name}'"
    if spec.is_combo:
        choices = spec.choices
        if value not in choices:
            raise BadValueError(f"{where}: {value!r} is not one of the allowed values: {_short_list(choices)}")
        return value
    kind = spec.type
    if kind in ("INT", "FLOAT"):
        number = value
        if isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                number = None
            try:
                number = float(value.strip()) if number is None else number
            except ValueError:
                raise BadValueError(f"{where}: {value!r} is not a number; use {_range_text(spec)}") from None
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise BadValueError(f"{where}: expected a number ({_range_text(spec)}), got {value!r}")
        if math.isnan(number) or math.isinf(number):
            raise BadValueError(f"{where}: {value!r} is not a finite number; use {_range_text(spec)}")
        if kind == "INT":
            if number != int(number):
                raise BadValueError(f"{where}: {value!r} is not a whole number; use {_range_text(spec)}")
            number = int(number)
        else:
            number = float(number)
        low, high = spec.options.get("min"), spec.options.get("max")
        if (low is not None and number < low) or (high is not None and number > high):
            raise BadValueError(f"{where}: {number} is out of range; use a value {_range_text(spec)}")
        return number
    if kind == "BOOLEAN":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise BadValueError(f"{where}: expected true or false, got {value!r}")
    if kind == "STRING":
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise BadValueError(f"{where}: expected text, got {value!r}")
    raise BadValueError(f"{where}: expects a connection from a {spec.type_name} output, got the value {value!r}")


def plausible(spec: InputSpec, value) -> bool:
    """Could ``value`` (from widgets_values) belong to this widget? Used to align widgets_values."""
    if spec.is_combo:
        return value is None or isinstance(value, (str, int, float))
    if spec.type == "INT":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
    if spec.type == "FLOAT":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if spec.type == "BOOLEAN":
        return isinstance(value, bool)
    if spec.type == "STRING":
        return isinstance(value, str)
    return False
