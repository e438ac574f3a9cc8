"""Figures drawn from stored data only; each module returns a matplotlib Figure.

Figures are built with `matplotlib.figure.Figure` directly, not pyplot: no global
state, no GUI backend, nothing left open.
"""

from .bifurcation import bifurcation
from .derivatives import alignment, curvature, gradient_norm
from .steps import steps_sweep
from .trajectories import trajectories
from .walls import walls
from .wide import wide_panels
from .zoom import figure6_zoom

RENDERERS = {
    "figure6_zoom": figure6_zoom,
    "wide_panels": wide_panels,
    "steps_sweep": steps_sweep,
    "bifurcation": bifurcation,
    "walls": walls,
    "gradient_norm": gradient_norm,
    "curvature": curvature,
    "alignment": alignment,
    "trajectories": trajectories,
}
