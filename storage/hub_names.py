"""Names of things on the Hugging Face Hub: ``owner/name[@revision]`` and ``…:path/in/repo.safetensors``.

Pure string rules, shared by the loader, the download and the publish side; nothing here imports
``huggingface_hub`` or touches the network. (Which paths inside a repo may be mirrored locally is
``paths.relative_path_problem``'s rule.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..networks.errors import InputError
from .paths import relative_path_problem

_HUB_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
_HUB_RE = re.compile(rf"^(?P<owner>{_HUB_PART})/(?P<name>{_HUB_PART})(?:@(?P<revision>[A-Za-z0-9._/-]{{1,200}}))?$")


@dataclass(frozen=True)
class HubSource:
    owner: str
    name: str
    revision: str | None = None

    @property
    def repo_id(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def folder_name(self) -> str:
        """Local folder name: ``owner--name`` (a pinned revision gets ``@revision`` appended, '/' → '_')."""
        base = f"{self.owner}--{self.name}"
        return base if not self.revision else f"{base}@{self.revision.replace('/', '_')}"

    def __str__(self) -> str:
        return self.repo_id + (f"@{self.revision}" if self.revision else "")


def parse_hub_source(text: str) -> HubSource | None:
    """``owner/name[@revision]`` → HubSource; anything else → None."""
    m = _HUB_RE.match(text.strip())
    if not m or ".." in text or m["owner"].startswith(".") or m["name"].startswith("."):
        return None
    if "--" in m["owner"] or "--" in m["name"]:
        return None  # the Hub forbids '--' in repo ids; allowing it would let two repos share one owner--name folder
    rev = m["revision"]
    if rev and (".." in rev or rev.startswith("/") or rev.endswith("/")):
        return None
    return HubSource(m["owner"], m["name"], rev)


def parse_style_source(text: str) -> tuple[HubSource, str] | None:
    """``owner/name[@revision]:path/in/repo.safetensors`` → (HubSource, path); None if not of that shape.

    A text that names a Hub repo but whose path part is unsafe or not a ``.safetensors`` file raises
    InputError saying why, so a typo does not fall through to "style not found".
    """
    repo_part, sep, path = (text or "").strip().partition(":")
    if not sep:
        return None
    source = parse_hub_source(repo_part)
    if source is None:
        return None
    problem = relative_path_problem(path)
    if problem:
        raise InputError(f"style: the path in {text!r} {problem}; use owner/name[@revision]:path/in/repo.safetensors")
    if not path.lower().endswith(".safetensors"):
        raise InputError(f"style: {text!r} must name a .safetensors file in the repo (style files are safetensors only)")
    return source, path
