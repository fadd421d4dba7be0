"""Property-based tests (Hypothesis): whatever the input, the result is correct or a one-line
StyleFusion/workflow error naming the input — never a traceback of another kind, a hang or a crash.

Generated: workflows (UI and API format, well-formed and mangled), configs, safetensors headers,
style files and images. Bounded for CI: a fixed number of examples per property, no deadline
flakiness, the whole file well under a minute on two CPU cores.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stylefusion import nodes as pack_nodes
from stylefusion.models import InputError, ModelFormatError, StyleFusionConfig, StyleVector, TINY_CONFIG, api
from stylefusion.networks.model import StyleFusionModel, expected_shapes
from stylefusion.networks.config import MAX_COUNT, MAX_SIZE
from stylefusion.storage.style_file import STYLE_KEY, load_style
from stylefusion.storage.weights import read_safetensors, write_safetensors
from stylefusion.runner.core_nodes import RunContext, use_context
from stylefusion.runner.errors import WorkflowError
from stylefusion.runner.executor import Executor, parse_setting
from stylefusion.runner.workflow import parse_workflow
from stylefusion.runner.images import read_image
from test_runner import FAKES

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_leaf = st.none() | st.booleans() | st.integers(-10, 10**12) | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
one_line = lambda exc: "\n" not in str(exc) and str(exc).strip()  # noqa: E731


@pytest.fixture(autouse=True)
def fake_nodes(monkeypatch):
    for name, cls in FAKES.items():
        monkeypatch.setitem(pack_nodes.NODE_CLASS_MAPPINGS, name, cls)


def classes():
    from stylefusion.runner.core_nodes import NODE_CLASS_MAPPINGS as core

    return {**core, **FAKES}


# -- workflows ---------------------------------------------------------------------------------------------
node_types = st.sampled_from(["LoadImage", "FakeInvert", "SaveImage", "PreviewImage", "Reroute", "PrimitiveNode",
                              "Note", "NoSuchNode"])


@st.composite
def ui_workflows(draw):
    """UI-format graphs: plausible nodes and links, with any field sometimes replaced by junk."""
    n = draw(st.integers(1, 6))
    ids = list(range(1, n + 1))
    nodes, links = [], []
    for nid in ids:
        node = {"id": nid, "type": draw(node_types), "mode": draw(st.sampled_from([0, 0, 0, 2, 4])),
                "inputs": [], "widgets_values": draw(st.lists(json_leaf, max_size=6))}
        for name, kind in draw(st.lists(st.sampled_from([("image", "IMAGE"), ("images", "IMAGE"), ("mask", "MASK"),
                                                         ("amount", "FLOAT")]), max_size=2, unique=True)):
            link_id = len(links) + 1
            links.append([link_id, draw(st.sampled_from(ids + [99])), draw(st.integers(0, 2)), nid, 0, kind])
            node["inputs"].append({"name": name, "type": kind, "link": link_id})
        if draw(st.integers(0, 5)) == 0:  # mangle one field
            node[draw(st.sampled_from(["inputs", "widgets_values", "mode", "type"]))] = draw(json_values)
        nodes.append(node)
    ui = {"nodes": nodes, "links": links}
    if draw(st.integers(0, 5)) == 0:
        ui["links"] = draw(json_values)
    return ui


@st.composite
def api_workflows(draw):
    n = draw(st.integers(1, 6))
    prompt = {}
    for nid in range(1, n + 1):
        inputs = draw(st.dictionaries(st.sampled_from(["image", "images", "amount", "seed", "mode", "filename_prefix"]),
                                      json_leaf | st.tuples(st.sampled_from([str(i) for i in range(1, n + 2)]),
                                                            st.integers(-1, 2)).map(list), max_size=5))
        prompt[str(nid)] = {"class_type": draw(node_types), "inputs": inputs}
    return prompt


@FUZZ
@given(workflow=st.one_of(ui_workflows(), api_workflows(), json_values))
def test_any_workflow_json_parses_and_validates_or_fails_in_one_line(workflow):
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext(input_dirs=[tmp], output_dir=os.path.join(tmp, "out"))
        with use_context(ctx):
            try:
                graph = parse_workflow(workflow, classes())
                Executor(graph, classes(), ctx).plan()
            except WorkflowError as exc:
                assert one_line(exc)


@FUZZ
@given(text=st.text(max_size=40))
def test_any_set_option_parses_or_fails_in_one_line(text):
    try:
        target, name, _ = parse_setting(text)
        assert target and name
    except WorkflowError as exc:
        assert one_line(exc)


# -- configs -------------------------------------------------------------------------------------------------
config_fields = [f for f in TINY_CONFIG.to_dict() if f != "format_version"]
config_values = (st.integers(-5, 10**9) | st.lists(st.integers(-5, 10**6), max_size=20) | json_leaf)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(config_fields + ["bogus"]), config_values, max_size=4))
def test_any_config_is_accepted_within_caps_or_refused(changes):
    data = {**TINY_CONFIG.to_dict(), **changes}
    try:
        config = StyleFusionConfig.from_dict(data, source="fuzz.json")
    except ModelFormatError as exc:
        assert one_line(exc) and "fuzz.json" in str(exc)
        return
    for name, value in config.to_dict().items():
        if isinstance(value, (int, list)) and name != "format_version":
            values = value if isinstance(value, list) else [value]
            assert all(0 < v <= max(MAX_COUNT, MAX_SIZE) for v in values)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(field=st.sampled_from(["generator_res_blocks", "mapping_layers", "generator_modulated_convs", "content_width"]),
       value=st.integers(1, 10**9))
def test_a_config_beyond_the_file_is_refused_before_building(field, value, tmp_path_factory):
    folder = tmp_path_factory.mktemp("m")
    model_dir = StyleFusionModel(TINY_CONFIG).save_pretrained(folder / "m")
    path = os.path.join(model_dir, "config.json")
    data = json.load(open(path))
    same = data[field] == value
    data[field] = value
    json.dump(data, open(path, "w"))
    try:
        StyleFusionModel.from_pretrained(model_dir)
        assert same
    except ModelFormatError as exc:
        assert one_line(exc)


# -- safetensors headers and style files -------------------------------------------------------------------
tensor_entries = st.fixed_dictionaries({
    "dtype": st.sampled_from(["F32", "F16", "I64", "U8", "X9"]) | json_leaf,
    "shape": st.lists(st.integers(-2, 5), max_size=3) | json_leaf,
    "data_offsets": st.tuples(st.integers(-4, 300), st.integers(-4, 300)).map(list) | json_leaf,
})
headers = st.one_of(json_values, st.dictionaries(st.text(max_size=6) | st.just("__metadata__"),
                                                 tensor_entries | json_values, max_size=4))


@FUZZ
@given(header=headers, payload=st.binary(max_size=300), claimed=st.none() | st.integers(0, 2**64 - 1))
def test_any_safetensors_header_reads_or_is_refused(header, payload, claimed, tmp_path_factory):
    path = tmp_path_factory.mktemp("st") / "x.safetensors"
    blob = json.dumps(header).encode()
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob) if claimed is None else claimed) + blob + payload)
    for reader in (read_safetensors, load_style, StyleFusionModel.from_pretrained):
        try:
            reader(str(path))
        except ModelFormatError as exc:
            assert one_line(exc)


@FUZZ
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=3),
       fill=st.floats(allow_nan=True, allow_infinity=True, width=32),
       meta=st.dictionaries(st.sampled_from(["stylefusion_style", "name", "model_fingerprint"]), st.text(max_size=6)))
def test_any_style_file_loads_finite_vectors_or_is_refused(shape, fill, meta, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("style") / "s.safetensors")
    write_safetensors(path, {STYLE_KEY: torch.full(shape, fill)}, meta)
    try:
        style = load_style(path)
    except ModelFormatError as exc:
        assert one_line(exc)
        return
    assert style.tensor.dim() == 2 and bool(torch.isfinite(style.tensor).all())


# -- images --------------------------------------------------------------------------------------------------
@st.composite
def image_tensors(draw):
    shape = draw(st.sampled_from([(1, 3, 64, 64), (2, 3, 64, 72), (1, 3, 8, 64), (1, 4, 64, 64), (3, 64, 64), (0, 3, 64, 64)]))
    dtype = draw(st.sampled_from([torch.float32, torch.float16, torch.uint8, torch.int32, torch.int64, torch.bool]))
    low, high = draw(st.sampled_from([(0, 1), (0, 255), (-3, 300)]))
    x = torch.empty(shape).uniform_(low, high) if shape[0] else torch.empty(shape)
    if draw(st.booleans()) and x.numel():
        x.view(-1)[0] = draw(st.sampled_from([math.nan, math.inf, 0.5]))
    return x if dtype.is_floating_point else torch.nan_to_num(x).round().clamp(-2**31, 2**31 - 1).to(dtype)


@FUZZ
@given(image=image_tensors() | json_leaf)
def test_any_image_tensor_is_checked_into_0_1_or_refused(image):
    try:
        checked = api.check_image(image)
    except InputError as exc:
        assert one_line(exc) and str(exc).startswith("image:")
        return
    assert checked.is_floating_point() and bool(torch.isfinite(checked).all())
    if not image.is_floating_point():
        assert 0 <= float(checked.min()) and float(checked.max()) <= 1


@FUZZ
@given(data=st.binary(max_size=200), prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a"]))
def test_any_image_file_decodes_or_fails_in_one_line(data, prefix, tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "x.png"
    path.write_bytes(prefix + data)
    try:
        image, mask = read_image(str(path))
        assert image.dim() == 4 and image.shape[-1] == 3
    except WorkflowError as exc:
        assert one_line(exc) and str(path) in str(exc)


@FUZZ
@given(weights=st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-3, 3), min_size=1, max_size=4))
def test_any_mix_weights_give_a_finite_style_or_are_refused(weights):
    styles = [StyleVector(torch.randn(1, 8, generator=torch.Generator().manual_seed(i)), "f" * 16, "tiny")
              for i in range(len(weights))]
    try:
        mixed = api.mix_styles(styles, weights)
    except InputError as exc:
        assert one_line(exc) and str(exc).startswith("weights")
        return
    assert bool(torch.isfinite(mixed.tensor).all())
