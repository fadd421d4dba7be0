"""Read a ComfyUI workflow in either format into one graph: the API "prompt" form.

* **API format** (ComfyUI's "Export (API)", the body of ``POST /prompt``)::

      {"3": {"class_type": "StyleFusionGenerate", "inputs": {"strength": 0.8, "model": ["1", 0]}}}

  an input is a value or a link ``[source node id, output slot]``.

* **UI format** (what the editor saves and ComfyUI serves as templates): ``nodes`` with ``id``,
  ``type``, ``mode``, ``inputs`` (``{"name", "type", "link"}``, plus ``"widget": {"name"}`` for a widget
  turned into an input), ``widgets_values``; and ``links`` ``[id, from_node, from_slot, to_node,
  to_slot, type]`` (or the same as objects). Converting it is what the frontend's ``graphToPrompt``
  does:

  - ``widgets_values`` lists one value per *widget*, in the order of the node class's INPUT_TYPES
    (required, then optional), skipping link-only inputs (IMAGE, SF_MODEL…). The frontend inserts
    extra values that are not inputs: a "control_after_generate" value (fixed / increment /
    decrement / randomize) after an INT named ``seed`` or ``noise_seed`` (or any widget declaring
    ``control_after_generate``; a combo's is followed by a "control_filter_list" text), and an
    upload button's value ("image") after the *required* widgets when a required combo has
    ``image_upload`` (LoadImage ``[image, "image"]``, LoadImageMask ``[image, channel, "image"]``:
    ComfyUI's upload extension appends an ``upload`` input to the required ones). A widget turned into a linked input keeps its slot in ``widgets_values`` (older
    files written without those slots are recognised too); the link wins.
  - ``Note`` / ``MarkdownNote`` are ignored; ``Reroute`` nodes are followed to their source;
    a ``PrimitiveNode``'s value is forwarded to the inputs it feeds; muted nodes (mode 2) are
    dropped and bypassed nodes (mode 4) pass their first input of the matching type through.

The UI JSON is kept as loaded (plus any overrides), so a saved PNG can embed it for ComfyUI.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import (BrokenLinkError, UnknownNodeError, WorkflowError, WorkflowFileError, WorkflowInvalidError,
                     node_label)
from .spec import NodeSpec, node_spec, plausible

NOTE_TYPES = {"Note", "MarkdownNote", "PrimitiveNode", "Reroute"}  # frontend-only ("virtual") nodes
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize", "increment-wrap", "decrement-wrap"}
UPLOAD_VALUES = {"image", "video", "audio", "file", "upload"}
MODE_MUTED, MODE_BYPASSED = 2, 4

#: ComfyUI core nodes a StyleFusion workflow may plausibly contain; named as such in errors.
CORE_NODE_HINTS = {
    "ImageScale", "ImageScaleBy", "ImageScaleToTotalPixels", "ImageInvert", "ImageBatch", "EmptyImage",
    "ImagePadForOutpaint", "ImageCompositeMasked", "ImageCrop", "ImageBlur", "ImageSharpen", "ImageBlend",
    "ImageToMask", "MaskToImage", "SolidMask", "InvertMask", "GrowMask", "FeatherMask", "ThresholdMask",
    "CropMask", "MaskComposite", "LoadImageOutput", "SaveAnimatedWEBP", "SaveAnimatedPNG", "ImageFromBatch",
    "RepeatImageBatch", "RebatchImages", "ImageStitch", "ImageFlip", "ImageRotate", "PrimitiveInt",
    "PrimitiveFloat", "PrimitiveString", "PrimitiveStringMultiline", "PrimitiveBoolean", "KSampler",
    "CheckpointLoaderSimple", "CLIPTextEncode", "VAEDecode", "VAEEncode", "UpscaleModelLoader",
    "ImageUpscaleWithModel",
}
RUNNER_NODES = "StyleFusion's nodes and LoadImage, LoadImageMask, SaveImage, PreviewImage"


@dataclass(frozen=True)
class Link:
    """An input fed by output ``slot`` of node ``node``."""

    node: str
    slot: int


@dataclass
class PromptNode:
    id: str
    class_type: str
    inputs: dict[str, Any] = field(default_factory=dict)  # name → value | Link
    title: str | None = None

    @property
    def label(self) -> str:
        return node_label(self.id, self.class_type)


@dataclass
class Workflow:
    """One graph in API form, plus the UI JSON it came from (if any) for embedding in saved PNGs."""

    nodes: dict[str, PromptNode]
    format: str  # "ui" or "api"
    ui: dict | None = None
    source: str | None = None
    #: UI format: node id → input name → index (or key) of its value in ``widgets_values``
    widget_slots: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_prompt(self) -> dict:
        """The API-format JSON ComfyUI would run (and embeds as the PNG chunk "prompt")."""
        prompt = {}
        for node in sorted(self.nodes.values(), key=lambda n: node_id_order(n.id)):
            inputs = {k: [v.node, v.slot] if isinstance(v, Link) else v for k, v in node.inputs.items()}
            prompt[node.id] = {"inputs": inputs, "class_type": node.class_type,
                               "_meta": {"title": node.title or node.class_type}}
        return prompt

    def set_input(self, node_id: str, name: str, value) -> None:
        """Change a widget value (and the UI JSON's copy of it, so the embedded workflow matches the run)."""
        self.nodes[node_id].inputs[name] = value
        slot = self.widget_slots.get(node_id, {}).get(name)
        if self.ui is not None and slot is not None:
            for node in self.ui.get("nodes", []):
                if str(node.get("id")) == node_id:
                    node["widgets_values"][slot] = value


def node_id_order(node_id: str):
    """Sort key of node ids: numbers in numeric order (ComfyUI's), then any other text (API files may use it)."""
    return (0, int(node_id), "") if str(node_id).isdigit() else (1, 0, str(node_id))


# -- reading files ------------------------------------------------------------------------------------
def read_workflow_file(path: str) -> Any:
    """The JSON of a workflow file, or of the "workflow"/"prompt" text chunk of a ComfyUI PNG."""
    if not os.path.exists(path):
        raise WorkflowFileError(f"workflow file not found: {path}")
    if os.path.isdir(path):
        raise WorkflowFileError(f"{path} is a folder; give a workflow .json file")
    if path.lower().endswith(".png"):
        from .images import read_png_texts
        from .errors import InputFileError

        try:
            texts = read_png_texts(path)
        except InputFileError as exc:
            raise WorkflowFileError(str(exc)) from None
        text = texts.get("workflow") or texts.get("prompt")
        if not text:
            raise WorkflowFileError(f"{path}: this PNG holds no ComfyUI workflow (no 'workflow' or 'prompt' text chunk)")
        where = f"{path} (embedded workflow)"
    else:
        from ..storage.weights import MAX_JSON_BYTES, read_capped

        # Regular files only, read with a cap: a FIFO would hang, /dev/zero would fill the memory.
        data = read_capped(path, MAX_JSON_BYTES, "workflow file", WorkflowFileError)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise WorkflowFileError(f"cannot read workflow file {path}: not UTF-8 text ({exc.reason})") from None
        where = path
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowFileError(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise WorkflowFileError(f"{where} is nested too deeply to be a ComfyUI workflow") from None


def detect_format(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        return "ui"
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict):
        return "api-wrapped"
    if isinstance(data, dict) and data and all(isinstance(v, dict) and "class_type" in v for v in data.values()):
        return "api"
    raise WorkflowFileError(
        "not a ComfyUI workflow: expected the UI format (an object with 'nodes' and 'links') or the API "
        "format ({node id: {'class_type': …, 'inputs': {…}}})"
    )


def parse_workflow(data: Any, classes: Mapping[str, type], source: str | None = None) -> Workflow:
    """Turn workflow JSON (either format) into a :class:`Workflow`. ``classes`` maps node types to classes.

    Whatever shape the JSON has, the result is a Workflow or a one-line WorkflowError naming the file.
    """
    try:
        return _parse(data, classes, source)
    except WorkflowError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        # A value of the wrong JSON type somewhere the checks above did not foresee.
        raise WorkflowFileError(f"{source or 'workflow'}: malformed workflow ({type(exc).__name__}: "
                                f"{str(exc)[:200]})") from None


def _parse(data: Any, classes: Mapping[str, type], source: str | None) -> Workflow:
    kind = detect_format(data)
    if kind == "ui":
        return _parse_ui(data, classes, source)
    ui = None
    if kind == "api-wrapped":
        extra = data.get("extra_data") or {}
        ui = ((extra.get("extra_pnginfo") or {}).get("workflow")) if isinstance(extra, dict) else None
        data = data["prompt"]
        detect_format(data)
    return _parse_api(data, source, ui if isinstance(ui, dict) else None)


def _is_link(value) -> bool:
    """ComfyUI's test: a 2-list [node id, output slot]."""
    return (isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int))
            and not isinstance(value[0], bool) and isinstance(value[1], int) and not isinstance(value[1], bool))


def _parse_api(data: dict, source: str | None, ui: dict | None) -> Workflow:
    nodes: dict[str, PromptNode] = {}
    for node_id, entry in data.items():
        node_id = str(node_id)
        class_type = entry.get("class_type")
        if not isinstance(class_type, str) or not class_type:
            raise WorkflowFileError(f"node {node_id}: has no class_type")
        raw_inputs = entry.get("inputs") or {}
        if not isinstance(raw_inputs, dict):
            raise WorkflowFileError(f"{node_label(node_id, class_type)}: 'inputs' must be an object")
        inputs = {name: Link(str(v[0]), int(v[1])) if _is_link(v) else v for name, v in raw_inputs.items()}
        title = (entry.get("_meta") or {}).get("title") if isinstance(entry.get("_meta"), dict) else None
        nodes[node_id] = PromptNode(node_id, class_type, inputs, title)
    return Workflow(nodes, "api", copy.deepcopy(ui), source)


# -- UI format ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _UILink:
    origin: str
    origin_slot: int
    target: str
    target_slot: int


@dataclass(frozen=True)
class _Value:
    """A constant forwarded from a PrimitiveNode."""

    value: Any


def _read_links(ui: dict) -> dict[Any, _UILink]:
    links = {}
    for raw in ui.get("links") or []:
        try:
            if isinstance(raw, dict):
                link_id, origin, oslot, target, tslot = (raw["id"], raw["origin_id"], raw["origin_slot"],
                                                         raw["target_id"], raw["target_slot"])
            else:
                link_id, origin, oslot, target, tslot = raw[:5]
            links[link_id] = _UILink(str(origin), int(oslot), str(target), int(tslot))
        except (KeyError, TypeError, ValueError, IndexError):
            raise WorkflowFileError(f"malformed link in the workflow's 'links': {raw!r}") from None
    return links


def unknown_node_message(node_id: str, class_type: str, properties: Mapping | None = None) -> str:
    """Name the node type and who may provide it (the UI format records the pack as ``cnr_id``)."""
    pack = (properties or {}).get("cnr_id") or (properties or {}).get("aux_id")
    head = f"node {node_id}: unknown node type '{class_type}'"
    if class_type.startswith(("workflow>", "workflow/")):
        return (f"{head}; it is a group node, which the headless runner does not run — convert it back to nodes in "
                "ComfyUI (right-click → Convert to nodes) and save the workflow again")
    if pack == "comfy-core" or (not pack and class_type in CORE_NODE_HINTS):
        why = "it is a ComfyUI core node that the headless runner does not provide"
    elif pack:
        why = f"it comes from the custom-node pack '{pack}'"
    elif class_type.startswith("StyleFusion"):
        why = "this version of StyleFusion has no such node (update comfyui-stylefusion)"
    else:
        why = "it comes from ComfyUI or another custom-node pack"
    return f"{head}; {why}. The runner knows {RUNNER_NODES}; run this workflow in ComfyUI instead"


def _parse_ui(ui: dict, classes: Mapping[str, type], source: str | None) -> Workflow:
    ui = copy.deepcopy(ui)
    raw_nodes = ui["nodes"]
    by_id: dict[str, dict] = {}
    for raw in raw_nodes:
        if not isinstance(raw, dict) or "id" not in raw or not isinstance(raw.get("type"), str):
            raise WorkflowFileError(f"malformed node in the workflow's 'nodes': {str(raw)[:120]}")
        by_id[str(raw["id"])] = raw
    links = _read_links(ui)
    subgraphs = {g.get("id"): g.get("name") for g in ((ui.get("definitions") or {}).get("subgraphs") or [])
                 if isinstance(g, dict)}

    specs: dict[str, NodeSpec] = {}
    for node_id, raw in by_id.items():
        kind = raw["type"]
        if kind in NOTE_TYPES or raw.get("mode") in (MODE_MUTED, MODE_BYPASSED):
            continue  # a bypassed node only passes inputs through: its class is not needed
        if kind in subgraphs:
            raise WorkflowInvalidError(
                f"node {node_id}: is a subgraph ('{subgraphs[kind]}'); the headless runner does not run subgraphs — "
                "unpack it in ComfyUI (right-click → Unpack Subgraph) and save the workflow again")
        if kind not in classes:
            raise UnknownNodeError(unknown_node_message(node_id, kind, raw.get("properties")))
        if kind not in specs:
            specs[kind] = node_spec(classes[kind], kind)

    def follow(link_id, target_label: str, input_name: str, input_type):
        """The real source of a link: a Link, a forwarded _Value, or None (nothing connected).

        A loop, not recursion: a chain of thousands of reroutes must not hit Python's recursion limit.
        """
        seen = set()
        while True:
            if not isinstance(link_id, (int, str)) or isinstance(link_id, bool):
                raise BrokenLinkError(f"{target_label}: input '{input_name}' has link {str(link_id)[:40]}, "
                                      "which is not a link id (a number)")
            if link_id in seen:
                raise BrokenLinkError(f"{target_label}: input '{input_name}' is fed by a loop of reroute/bypassed nodes")
            link = links.get(link_id)
            if link is None:
                raise BrokenLinkError(f"{target_label}: input '{input_name}' refers to link {link_id}, which is not in the workflow's links")
            origin = by_id.get(link.origin)
            if origin is None:
                raise BrokenLinkError(f"{target_label}: input '{input_name}' is linked to node {link.origin}, which is not in the workflow")
            seen.add(link_id)
            kind, mode = origin["type"], origin.get("mode", 0)
            if kind == "PrimitiveNode":
                values = _widget_list(origin)
                return _Value(values[0]) if values else None
            if kind == "Reroute":
                upstream = (_entries(origin) or [{}])[0].get("link")
                if upstream is None:
                    return None
                link_id = upstream
                continue
            if kind in NOTE_TYPES:
                raise BrokenLinkError(f"{target_label}: input '{input_name}' is linked to a {kind} node, which has no outputs")
            if mode == MODE_MUTED:
                return None
            if mode == MODE_BYPASSED:
                inputs = _entries(origin)
                for slot in [link.origin_slot, *range(len(inputs))]:
                    if 0 <= slot < len(inputs) and inputs[slot].get("type") == input_type and inputs[slot].get("link") is not None:
                        link_id = inputs[slot]["link"]
                        break
                else:
                    return None
                continue
            return Link(link.origin, link.origin_slot)

    nodes: dict[str, PromptNode] = {}
    widget_slots: dict[str, dict[str, Any]] = {}
    for node_id, raw in by_id.items():
        kind = raw["type"]
        if kind in NOTE_TYPES or raw.get("mode") in (MODE_MUTED, MODE_BYPASSED):
            continue
        spec = specs[kind]
        label = node_label(node_id, kind)
        linked: dict[str, Any] = {}
        for entry in _entries(raw):
            name = (entry.get("widget") or {}).get("name") or entry.get("name")
            if entry.get("link") is None or name is None:
                continue
            source_ = follow(entry["link"], label, name, entry.get("type"))
            if source_ is not None:
                linked[name] = source_
        values, slots = map_widgets(spec, _widget_values(raw, label), set(linked))
        inputs: dict[str, Any] = {}
        for name, spec_in in spec.inputs.items():
            if name in linked:
                src = linked[name]
                inputs[name] = src.value if isinstance(src, _Value) else src
            elif name in values:
                inputs[name] = values[name]
            elif spec_in.is_widget and (spec_in.required or "default" in spec_in.options):
                inputs[name] = spec_in.default()  # a widget the file predates: the frontend shows its default
        for name, src in linked.items():  # links to inputs this version does not declare: keep, like the frontend
            if name not in inputs:
                inputs[name] = src.value if isinstance(src, _Value) else src
        nodes[node_id] = PromptNode(node_id, kind, inputs, raw.get("title"))
        widget_slots[node_id] = slots
    return Workflow(nodes, "ui", ui, source, widget_slots)


def _entries(raw: dict) -> list[dict]:
    """A UI node's ``inputs``: the entries that are objects (anything else in the list is ignored)."""
    entries = raw.get("inputs") or []
    if not isinstance(entries, list):
        raise WorkflowFileError(f"node {raw.get('id')}: 'inputs' must be a list, got {type(entries).__name__}")
    return [e for e in entries if isinstance(e, dict)]


def _widget_values(raw: dict, label: str):
    values = raw.get("widgets_values")
    if values is not None and not isinstance(values, (list, dict)):
        raise WorkflowFileError(f"{label}: 'widgets_values' must be a list (or an object), got {json.dumps(values)[:60]}")
    return values


def _widget_list(raw: dict) -> list:
    values = raw.get("widgets_values") or []
    return values if isinstance(values, list) else list(values.values()) if isinstance(values, dict) else []


_UPLOAD = "upload"  # the frontend's upload button: a widget (value "image") after the required inputs


def widget_layout(spec: NodeSpec, skip: set[str] = frozenset()) -> list:
    """The frontend's widgets of a node in order: required widgets, the upload button if a required combo
    has ``image_upload`` (ComfyUI's upload extension appends an ``upload`` input to *required*), then
    optional widgets. Inputs named in ``skip`` are left out."""
    required = [s for s in spec.widgets if s.required and s.name not in skip]
    optional = [s for s in spec.widgets if not s.required and s.name not in skip]
    upload = [_UPLOAD] if any(s.has_upload for s in spec.inputs.values() if s.required) else []
    return [*required, *upload, *optional]


def map_widgets(spec: NodeSpec, values, linked: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Assign ``widgets_values`` to the node's widget inputs → ({name: value}, {name: index or key}).

    Tries the layouts frontends have written — every widget (current frontends; linked widgets keep
    their slot), then without ``forceInput`` widgets, then also without linked widgets (older files) —
    and takes the first whose values fit exactly; if none does, the first layout, leniently (values a
    file lacks are then filled with defaults by the caller, extra trailing values are ignored).
    """
    if isinstance(values, dict):  # some frontends/extensions save {name: value}
        hits = {s.name: s.name for s in spec.widgets if s.name in values}
        return {name: values[name] for name in hits}, hits
    values = list(values or [])
    forced = {s.name for s in spec.widgets if s.force_input}
    layouts = []
    for skip in (set(), forced, forced | set(linked)):
        layout = widget_layout(spec, skip)
        if layout not in layouts:
            layouts.append(layout)
    first = None
    for layout in layouts:
        assigned, slots, used, fits = _consume(layout, values)
        if fits and used == len(values) and len(assigned) == sum(item is not _UPLOAD for item in layout):
            return assigned, slots
        if first is None:
            first = (assigned, slots)
    return first


def _consume(layout: list, values: list) -> tuple[dict, dict, int, bool]:
    assigned, slots, i, fits = {}, {}, 0, True
    for item in layout:
        if i >= len(values):
            break
        if item is _UPLOAD:
            if isinstance(values[i], str) and values[i] in UPLOAD_VALUES:
                i += 1
            continue
        assigned[item.name], slots[item.name] = values[i], i
        fits = fits and plausible(item, values[i])
        i += 1
        if item.has_control and i < len(values) and isinstance(values[i], str) and values[i] in CONTROL_VALUES:
            i += 1
            if item.is_combo and i < len(values) and values[i] == "":
                i += 1  # a combo's control also has a "control_filter_list" text widget
    return assigned, slots, i, fits
