"""Errors of the headless runner. Each message is one line that names the node, its type and the input.

Every error carries the exit code the ``stylefusion`` command returns for it, so scripts can tell a
missing input picture from a broken workflow or a node that failed:

==== =============================================================================
code meaning
==== =============================================================================
1    a node failed while running (bad image, model error…); the message starts with the node
2    the command line itself is wrong (argparse)
3    the workflow file is missing, is not valid JSON, or is not a ComfyUI workflow
4    the workflow is invalid: unknown node type, broken link, missing input, bad widget value
5    an input file (image, mask) is missing or unreadable
==== =============================================================================
"""

from __future__ import annotations


class WorkflowError(Exception):
    """Base class: the message is shown to the user as is (one line)."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split("\n")))


class WorkflowFileError(WorkflowError):
    """The workflow file is missing, unreadable, not JSON, or in no ComfyUI format."""

    exit_code = 3


class WorkflowInvalidError(WorkflowError):
    """The graph cannot run: unknown node type, broken link, missing or bad input value."""

    exit_code = 4


class UnknownNodeError(WorkflowInvalidError):
    pass


class BrokenLinkError(WorkflowInvalidError):
    pass


class BadValueError(WorkflowInvalidError):
    pass


class InputFileError(WorkflowError):
    """An input image or mask file is missing or cannot be decoded."""

    exit_code = 5


class NodeExecutionError(WorkflowError):
    """A node raised while running; the message is prefixed with the node id and type."""

    exit_code = 1


def node_label(node_id: str, class_type: str) -> str:
    """``node 5 (StyleFusionGenerate)`` — the prefix of every message about one node."""
    return f"node {node_id} ({class_type})"
