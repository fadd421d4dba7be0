"""Storage and transport: where models and styles live (paths), reading and writing their files
(weights, style files, presets), resolving a model source to a loaded model (loading), and the
Hugging Face Hub (hub_names, hub_client, hub_download, hub_publish). The networks themselves are in
``networks/``, the public API in ``models/``."""
