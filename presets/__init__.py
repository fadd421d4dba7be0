"""The bundled style presets: their recipes (``manifest.json``), source pictures (``sources/``, credited in
``CREDITS.md``) and :mod:`.build`, which encodes them with a model into a preset folder."""
