"""Loss landscapes of the one-neuron RNN of Pascanu, Mikolov & Bengio (2013).

The functions of `rnn_landscape.api` (`open_surface`, `loss_slice`, `slice_at`,
`find_walls`, `predicted_walls`, `list_surfaces`, `describe_store`) are
importable from here too. They are loaded on first use, so that importing the
package, as every workflow job does, stays free of xarray, zarr and numba.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rnn-landscape")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

_API = (
    *("open_surface", "loss_slice", "slice_at", "find_walls", "predicted_walls"),
    *("list_surfaces", "describe_store", "surface_path", "StoreSummary"),
)
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    # PEP 562: called only for names the module does not define.
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
