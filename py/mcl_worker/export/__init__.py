"""A run's encoders taken out: weights in the names torchvision, timm and open_clip load, or one
TorchScript module that maps images to the run's integrated embedding; `load_encoder` reads either
back. The `export` job (jobs/export_jobs.py) writes them; docs/usage.md says how to use them."""

from .encoder import ExportedEncoder
from .errors import ExportError
from .files import EXPORT_KEY, FORMAT, ExportPart, InputSpec, load_encoder, write_export
from .layouts import LOAD_ENCODER, OWN_FORMAT, EncoderLayout, Peer, layout_of, weights_of

__all__ = [
    "EXPORT_KEY",
    "FORMAT",
    "LOAD_ENCODER",
    "OWN_FORMAT",
    "EncoderLayout",
    "ExportError",
    "ExportPart",
    "ExportedEncoder",
    "InputSpec",
    "Peer",
    "layout_of",
    "load_encoder",
    "weights_of",
    "write_export",
]
