"""The architecture: the networks E_c (``feature_extractor``), E_s (``style_encoder``), fusion, G
(``generator``) and D (``discriminator``), their layers and config, the model that holds them
(``model``), the values that flow between them (``values``) and the errors every layer raises.
No file I/O beyond a model's own folder, no ComfyUI; the public API is ``stylefusion.models``."""
