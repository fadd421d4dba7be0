"""Helpers (no tests here) for the runner and CLI tests: build UI-format workflows in code, write pictures."""

from __future__ import annotations

import json
import os

import numpy as np
import torch
from PIL import Image

from conftest import make_image


def write_picture(path, height: int = 72, width: int = 96, seed: int = 0, mode: str = "RGB", **save_kwargs) -> str:
    """A structured test picture (see conftest.make_image) saved as ``path``; returns the path."""
    array = (make_image(1, height, width, seed)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    img = Image.fromarray(array)
    if mode == "RGBA":
        alpha = np.tile(np.linspace(0, 255, width, dtype=np.uint8), (height, 1))
        img = Image.fromarray(np.dstack([array, alpha]), "RGBA")
    elif mode != "RGB":
        img = img.convert(mode)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    img.save(path, **save_kwargs)
    return str(path)


def png_as_tensor(path) -> torch.Tensor:
    """[H,W,3] float in 0..1."""
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0)


class UIWorkflow:
    """A UI-format ("workflow") graph written the way ComfyUI's frontend saves it.

    ``node`` adds a node with its ``widgets_values``; ``link`` connects an output slot to a named input,
    filling the ``links`` table and both nodes' ``inputs``/``outputs`` like the frontend does.
    """

    def __init__(self):
        self.nodes: list[dict] = []
        self.links: list[list] = []

    def node(self, node_id: int, kind: str, widgets=None, inputs=(), outputs=(), mode: int = 0, **extra) -> dict:
        node = {"id": node_id, "type": kind, "pos": [0, 0], "size": [200, 100], "flags": {}, "order": len(self.nodes),
                "mode": mode, "inputs": [{"name": n, "type": t, "link": None, **({"widget": {"name": n}} if w else {})}
                                         for n, t, w in (i if len(i) == 3 else (*i, False) for i in inputs)],
                "outputs": [{"name": t, "type": t, "links": []} for t in outputs],
                "properties": {"Node name for S&R": kind}, **extra}
        if widgets is not None:
            node["widgets_values"] = list(widgets) if not isinstance(widgets, dict) else widgets
        self.nodes.append(node)
        return node

    def _get(self, node_id: int) -> dict:
        return next(n for n in self.nodes if n["id"] == node_id)

    def link(self, source: int, slot: int, target: int, input_name: str) -> int:
        link_id = len(self.links) + 1
        src, dst = self._get(source), self._get(target)
        entry = next(i for i in dst["inputs"] if i["name"] == input_name)
        kind = src["outputs"][slot]["type"] if slot < len(src["outputs"]) else entry["type"]
        entry["link"] = link_id
        if slot < len(src["outputs"]):
            src["outputs"][slot]["links"].append(link_id)
        self.links.append([link_id, source, slot, target, dst["inputs"].index(entry), kind])
        return link_id

    def to_json(self) -> dict:
        return {"last_node_id": max((n["id"] for n in self.nodes), default=0), "last_link_id": len(self.links),
                "nodes": self.nodes, "links": self.links, "groups": [], "config": {}, "extra": {}, "version": 0.4}

    def save(self, path) -> str:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh)
        return str(path)
