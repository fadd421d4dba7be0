"""Exceptions StyleFusion raises. Every message names the input and says what to do."""


class StyleFusionError(Exception):
    """Base class: a problem the user can fix (bad input, bad file, missing model)."""


class InputError(StyleFusionError, ValueError):
    """An argument (image, mask, strength, style…) is unusable; the message names it."""


class ModelFormatError(StyleFusionError):
    """A model or style file is not a valid StyleFusion file; the message names the file."""


class ModelMismatchError(StyleFusionError, ValueError):
    """Features or styles made by one model were given to another; the message names both."""


class ModelNotFoundError(StyleFusionError, FileNotFoundError):
    """A model source could not be resolved locally or on the Hub."""
