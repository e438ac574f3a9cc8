"""Figures drawn from stored surfaces only; each module returns a matplotlib Figure.

Figures are built with `matplotlib.figure.Figure` directly, not pyplot: no global
state, no GUI backend, nothing left open.
"""

from .steps import steps_sweep
from .wide import wide_panels
from .zoom import figure6_zoom

RENDERERS = {
    "figure6_zoom": figure6_zoom,
    "wide_panels": wide_panels,
    "steps_sweep": steps_sweep,
}
