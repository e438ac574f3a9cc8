"""Loss landscapes of the one-neuron RNN of Pascanu, Mikolov & Bengio (2013)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rnn-landscape")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
