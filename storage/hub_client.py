"""How StyleFusion talks to the Hugging Face Hub: which endpoint, whether it may, the client, and
which exceptions mean "the network failed". Shared by ``hub_download`` and ``hub_publish``."""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version

from huggingface_hub import HfApi, constants
from huggingface_hub.utils import OfflineModeIsEnabled

LIBRARY_NAME = "comfyui-stylefusion"

_TRUE = {"1", "ON", "YES", "TRUE"}


def hub_endpoint() -> str:
    """The Hub URL: ``HF_ENDPOINT`` as set now, else huggingface_hub's own (read when it was imported)."""
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set now or was set when huggingface_hub was imported."""
    return (os.environ.get("HF_HUB_OFFLINE") or "").strip().upper() in _TRUE or constants.is_offline_mode()


def library_version() -> str:
    """Our version for the Hub's user agent (``unknown`` when ComfyUI loads the folder without pip)."""
    try:
        return version(LIBRARY_NAME)
    except PackageNotFoundError:
        return "unknown"


def hub_api(token: str | bool | None) -> HfApi:
    return HfApi(endpoint=hub_endpoint(), token=token, library_name=LIBRARY_NAME, library_version=library_version())


def transport_errors() -> tuple[type[BaseException], ...]:
    """Connection-level exceptions of whichever HTTP library this huggingface_hub version uses."""
    errors: list[type[BaseException]] = [OfflineModeIsEnabled, ConnectionError, TimeoutError]
    for module, names in (("httpx2", ("TransportError",)), ("httpx", ("TransportError",)),
                          ("requests", ("ConnectionError", "Timeout"))):
        loaded = sys.modules.get(module)  # only libraries already in use can have raised
        errors += [getattr(loaded, n) for n in names if loaded is not None and hasattr(loaded, n)]
    return tuple(errors)
