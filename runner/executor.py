"""Run a workflow graph headlessly with the same node classes ComfyUI loads.

    result = run_workflow("example_workflows/style_transfer.json", output_dir="out")
    result.files          # PNGs written by SaveImage / PreviewImage

What runs: the pack's ``NODE_CLASS_MAPPINGS`` (read at call time) plus the core-compatible nodes of
:mod:`.core_nodes`. Like ComfyUI's executor, only nodes some output node (``OUTPUT_NODE = True``)
depends on are validated and run, each once, in dependency order. Validation happens before anything
runs: every link must point at an existing output of a matching type, every required input must be
present, and every widget value must fit its INPUT_TYPES (combo choices, min/max) — a node's
``VALIDATE_INPUTS`` replaces the standard check for the inputs it names, as in ComfyUI. Nodes run
under ``torch.inference_mode()`` and get their hidden inputs (PROMPT, EXTRA_PNGINFO, UNIQUE_ID).
Every failure is a :class:`~.errors.WorkflowError` whose one-line message starts with the node.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from .core_nodes import NODE_CLASS_MAPPINGS as CORE_NODES
from .core_nodes import RunContext, use_context
from .errors import (BadValueError, BrokenLinkError, NodeExecutionError, UnknownNodeError, WorkflowError,
                     WorkflowInvalidError)
from .spec import NodeSpec, check_value, node_spec, types_match
from .workflow import Link, Workflow, node_id_order, parse_workflow, read_workflow_file, unknown_node_message

LOAD_NODES = ("LoadImage", "LoadImageMask")


def node_class_mappings() -> dict[str, type]:
    """Core-compatible nodes plus the pack's nodes, as registered right now."""
    try:
        from .. import nodes as pack_nodes
    except Exception as exc:  # a broken pack import must not surface as a traceback
        raise WorkflowError(f"cannot import StyleFusion's nodes: {type(exc).__name__}: {exc}") from exc
    return {**CORE_NODES, **getattr(pack_nodes, "NODE_CLASS_MAPPINGS", {})}


@dataclass
class RunResult:
    workflow: Workflow
    files: list[str] = field(default_factory=list)          # every image file written, in order
    ui: dict[str, dict] = field(default_factory=dict)       # node id → the node's "ui" result
    outputs: dict[str, tuple] = field(default_factory=dict)  # node id → its output tuple
    executed: list[str] = field(default_factory=list)       # node ids in execution order
    messages: list[str] = field(default_factory=list)       # texts nodes show in ComfyUI ("ui": {"text": …})
    seconds: float = 0.0


class Executor:
    def __init__(self, workflow: Workflow, classes: Mapping[str, type], context: RunContext,
                 log: Callable[[str], None] | None = None):
        self.workflow = workflow
        self.classes = classes
        self.context = context
        self.log = log
        self._specs: dict[str, NodeSpec] = {}

    def spec(self, class_type: str) -> NodeSpec:
        if class_type not in self._specs:
            self._specs[class_type] = node_spec(self.classes[class_type], class_type)
        return self._specs[class_type]

    # -- validation ----------------------------------------------------------------------------------
    def output_nodes(self) -> list[str]:
        outs = [nid for nid, node in self.workflow.nodes.items()
                if getattr(self.classes[node.class_type], "OUTPUT_NODE", False)]
        return sorted(outs, key=node_id_order)

    def plan(self) -> tuple[list[str], dict[str, dict[str, Any]]]:
        """Validate what the output nodes need → (execution order, node id → checked inputs)."""
        nodes = self.workflow.nodes
        for nid, node in nodes.items():
            if node.class_type not in self.classes:
                raise UnknownNodeError(unknown_node_message(nid, node.class_type))
        outputs = self.output_nodes()
        if not outputs:
            raise WorkflowInvalidError(
                "the workflow has no output node (SaveImage, PreviewImage, StyleFusionSaveStyle…), so nothing would be "
                "saved; add a SaveImage node")
        order: list[str] = []
        state: dict[str, str] = {}
        # Depth-first with an explicit stack (not recursion): a chain of thousands of nodes is valid.
        for root in outputs:
            if state.get(root) == "done":
                continue
            stack: list[tuple[str, list[str]]] = [(root, self._upstream(root))]
            state[root] = "active"
            while stack:
                nid, pending = stack[-1]
                if not pending:
                    stack.pop()
                    state[nid] = "done"
                    order.append(nid)
                    continue
                child = pending.pop(0)
                if state.get(child) == "done":
                    continue
                if state.get(child) == "active":
                    path = [n for n, _ in stack]
                    loop = " → ".join([*path[path.index(child):], child])
                    raise BrokenLinkError(f"the workflow has a cycle: nodes {loop}")
                state[child] = "active"
                stack.append((child, self._upstream(child)))
        checked = {nid: self._check_inputs(nodes[nid]) for nid in order}
        return order, checked

    def _upstream(self, nid: str) -> list[str]:
        """The nodes ``nid``'s declared inputs are linked to (each link checked), in input order."""
        node = self.workflow.nodes[nid]
        cls = self.classes[node.class_type]
        if getattr(cls, "INPUT_IS_LIST", False) or any(getattr(cls, "OUTPUT_IS_LIST", ()) or ()):
            raise WorkflowInvalidError(f"{node.label}: this node takes or returns lists (INPUT_IS_LIST / "
                                       "OUTPUT_IS_LIST), which the headless runner does not support; run it in ComfyUI")
        spec = self.spec(node.class_type)
        upstream = []
        for name, value in node.inputs.items():
            if isinstance(value, Link) and name in spec.inputs:
                self._check_link(node, name, value, spec)
                upstream.append(value.node)
        return upstream

    def _check_link(self, node, name: str, link: Link, spec: NodeSpec) -> None:
        where = f"{node.label}: input '{name}'"
        source = self.workflow.nodes.get(link.node)
        if source is None:
            raise BrokenLinkError(f"{where} is linked to node {link.node}, which is not in the workflow")
        returns = tuple(getattr(self.classes[source.class_type], "RETURN_TYPES", ()))
        if not 0 <= link.slot < len(returns):
            raise BrokenLinkError(f"{where} is linked to output {link.slot} of {source.label}, which has "
                                  f"{len(returns)} output{'s' if len(returns) != 1 else ''}")
        wanted = spec.inputs[name]
        if not wanted.is_combo and not types_match(str(returns[link.slot]), str(wanted.type)):
            raise BrokenLinkError(f"{where} expects {wanted.type} but is linked to the {returns[link.slot]} output "
                                  f"of {source.label}")

    def _check_inputs(self, node) -> dict[str, Any]:
        cls = self.classes[node.class_type]
        spec = self.spec(node.class_type)
        validate = getattr(cls, "VALIDATE_INPUTS", None)
        custom = set(inspect.signature(validate).parameters) if validate is not None else set()
        checked: dict[str, Any] = {}
        for name, input_spec in spec.inputs.items():
            if name not in node.inputs:
                if input_spec.required:
                    what = (f"has no value (expected {input_spec.type_name})" if input_spec.is_widget
                            else f"is not connected (connect a {input_spec.type_name} output)")
                    raise WorkflowInvalidError(f"{node.label}: required input '{name}' {what}")
                continue
            value = node.inputs[name]
            if isinstance(value, Link) or name in custom:
                checked[name] = value
            else:
                checked[name] = check_value(input_spec, value, node.id, node.class_type)
        if validate is not None:
            wanted = {k: v for k, v in checked.items() if k in custom}
            if not any(isinstance(v, Link) for v in wanted.values()):  # linked values are checked by the node
                try:
                    verdict = validate(**wanted)
                except WorkflowError as exc:
                    raise type(exc)(f"{node.label}: {exc}") from None
                except Exception as exc:
                    raise BadValueError(f"{node.label}: {exc}") from None
                if verdict is not True:
                    raise BadValueError(f"{node.label}: {verdict}")
        return checked

    # -- execution -----------------------------------------------------------------------------------
    def run(self) -> RunResult:
        import torch

        started = time.perf_counter()
        result = RunResult(self.workflow)
        with use_context(self.context):
            order, checked = self.plan()
            prompt = self.workflow.to_prompt()
            extra = {"workflow": self.workflow.ui} if self.workflow.ui is not None else None
            with torch.inference_mode():
                for step, nid in enumerate(order, start=1):
                    node = self.workflow.nodes[nid]
                    t0 = time.perf_counter()
                    kwargs = {name: result.outputs[v.node][v.slot] if isinstance(v, Link) else v
                              for name, v in checked[nid].items()}
                    for name, kind in self.spec(node.class_type).hidden.items():
                        kwargs[name] = {"PROMPT": prompt, "EXTRA_PNGINFO": extra, "UNIQUE_ID": nid}.get(kind)
                    outputs, ui = self._call(node, kwargs)
                    result.outputs[nid] = outputs
                    result.executed.append(nid)
                    if ui:
                        result.ui[nid] = ui
                        result.files += self._files_of(ui)
                        result.messages += [f"{node.label}: {text}" for text in ui.get("text") or []
                                            if isinstance(text, str)]
                    if self.log:
                        self.log(f"[{step}/{len(order)}] {node.label} {time.perf_counter() - t0:.2f} s")
        result.seconds = time.perf_counter() - started
        return result

    def _call(self, node, kwargs: dict) -> tuple[tuple, dict | None]:
        cls = self.classes[node.class_type]
        try:
            function = getattr(cls(), cls.FUNCTION)
            returned = function(**kwargs)
        except KeyboardInterrupt:
            raise
        except WorkflowError as exc:
            raise type(exc)(f"{node.label}: {exc}") from exc
        except Exception as exc:
            from ..networks.errors import StyleFusionError

            # A user-facing error speaks for itself; anything else is a bug, so name its kind.
            text = str(exc) if isinstance(exc, StyleFusionError) else f"{type(exc).__name__}: {exc}"
            raise NodeExecutionError(f"{node.label}: {text}") from exc
        ui = None
        if isinstance(returned, dict):
            ui = returned.get("ui")
            returned = returned.get("result", ())
        if returned is None:
            returned = ()
        if not isinstance(returned, (tuple, list)):
            raise NodeExecutionError(f"{node.label}: returned {type(returned).__name__}, expected a tuple of outputs")
        expected = len(getattr(cls, "RETURN_TYPES", ()))
        if len(returned) < expected:
            raise NodeExecutionError(f"{node.label}: returned {len(returned)} outputs, its RETURN_TYPES declare {expected}")
        return tuple(returned), ui

    def _files_of(self, ui: dict) -> list[str]:
        files = []
        for item in ui.get("images") or []:
            if isinstance(item, dict) and "filename" in item:
                files.append(os.path.join(self.context.folder_of(item.get("type")), item.get("subfolder") or "",
                                          item["filename"]))
        return files


# -- overrides -------------------------------------------------------------------------------------------
def apply_inputs(workflow: Workflow, inputs: Mapping[str, str]) -> None:
    """``--input NAME=PATH``: point each LoadImage/LoadImageMask whose file is NAME (or whose id is NAME) at PATH."""
    loaders = [n for n in workflow.nodes.values() if n.class_type in LOAD_NODES]
    for name, path in inputs.items():
        hits = [n for n in loaders if n.id == str(name) or n.inputs.get("image") == name
                or os.path.basename(str(n.inputs.get("image", ""))) == name]
        if not hits:
            known = ", ".join(f"{n.inputs.get('image')!r} (node {n.id})" for n in loaders) or "no images"
            raise WorkflowInvalidError(f"--input {name}: no LoadImage or LoadImageMask node loads {name!r} or has that "
                                       f"id; this workflow loads {known}")
        for node in hits:
            workflow.set_input(node.id, "image", os.path.abspath(os.path.expanduser(str(path))))


def apply_settings(workflow: Workflow, settings: Iterable[tuple[str, str, Any]],
                   classes: Mapping[str, type] | None = None) -> None:
    """``--set TARGET.INPUT=VALUE``: TARGET is a node id, a node type (every node of it) or a node title.

    With ``classes``, an INPUT the node's type does not declare is refused, naming the inputs it has:
    a misspelt name must not be silently ignored.
    """
    for target, name, value in settings:
        hits = [n for n in workflow.nodes.values() if target in (n.id, n.class_type, n.title)]
        if not hits:
            raise WorkflowInvalidError(f"--set {target}.{name}: no node has the id, type or title {target!r}")
        for node in hits:
            cls = (classes or {}).get(node.class_type)
            if cls is not None:
                known = node_spec(cls, node.class_type).inputs
                if name not in known:
                    widgets = [n for n, spec in known.items() if spec.is_widget] or list(known)
                    raise WorkflowInvalidError(f"--set {target}.{name}: {node.label} has no input '{name}'; its "
                                               f"settable inputs are {', '.join(widgets) or 'none'}")
            if isinstance(node.inputs.get(name), Link):
                raise WorkflowInvalidError(f"--set {target}.{name}: input '{name}' of {node.label} is connected to "
                                           "another node, not a widget")
            workflow.set_input(node.id, name, value)


def parse_setting(text: str) -> tuple[str, str, Any]:
    """``"5.seed=3"`` → ("5", "seed", 3); values are JSON when they parse as JSON, else text."""
    key, sep, raw = text.partition("=")
    target, dot, name = key.rpartition(".")
    if not sep or not dot or not target or not name:
        raise WorkflowInvalidError(f"--set {text}: expected TARGET.INPUT=VALUE, e.g. 5.seed=3 or "
                                   "StyleFusionModelLoader.model=my-model")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return target, name, value


# -- one call --------------------------------------------------------------------------------------------
def load_workflow(workflow: str | os.PathLike | Mapping, classes: Mapping[str, type] | None = None) -> Workflow:
    """A :class:`Workflow` from a file (JSON, or a PNG saved by ComfyUI/SaveImage) or already-parsed JSON."""
    classes = node_class_mappings() if classes is None else classes
    if isinstance(workflow, Mapping):
        return parse_workflow(dict(workflow), classes)
    path = os.fspath(workflow)
    return parse_workflow(read_workflow_file(path), classes, os.path.abspath(path))


def default_input_dirs(workflow: Workflow) -> list[str]:
    """The workflow's folder and its ``inputs/`` sub-folder (where the pack's sample inputs live)."""
    base = os.path.dirname(workflow.source) if workflow.source else os.getcwd()
    return [base, os.path.join(base, "inputs")]


def run_workflow(
    workflow: str | os.PathLike | Mapping,
    *,
    inputs: Mapping[str, str] | None = None,
    settings: Iterable[tuple[str, str, Any]] = (),
    input_dir: str | None = None,
    output_dir: str = "output",
    preview_dir: str | None = None,
    metadata: bool = True,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Load, validate and run a workflow; see the module docstring. Raises WorkflowError on any failure."""
    classes = node_class_mappings()
    context = RunContext(output_dir=os.path.abspath(output_dir), metadata=metadata,
                         preview_dir=os.path.abspath(preview_dir) if preview_dir else None)
    with use_context(context):  # LoadImage's INPUT_TYPES lists the input folder while the UI format is read
        graph = load_workflow(workflow, classes)
        context.input_dirs = [os.path.abspath(input_dir)] if input_dir else default_input_dirs(graph)
        apply_inputs(graph, inputs or {})
        apply_settings(graph, settings, classes)
        return Executor(graph, classes, context, log).run()
