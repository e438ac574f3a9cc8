"""Names of the variables a store holds, for each setting of `derivatives`.

Kept apart from `quantities` so that the store and the workflow's light jobs know
the names without importing the kernel (and numba).
"""

# Stored variables for each setting of a surface's `derivatives`, in order.
VARIABLES = {
    "none": ("state", "loss"),
    "first": ("state", "loss", "grad_w", "grad_b", "grad_norm"),
    "second": (
        *("state", "loss", "grad_w", "grad_b", "grad_norm"),
        *("hess_ww", "hess_wb", "hess_bb", "curvature", "alignment"),
    ),
}
ORDER = {"none": 0, "first": 1, "second": 2}

LONG_NAMES = {
    "state": "final state x_T",
    "loss": "loss E_T = (readout(x_T) - target)^2",
    "grad_w": "dE_T/dw",
    "grad_b": "dE_T/db",
    "grad_norm": "gradient norm |(dE_T/dw, dE_T/db)|",
    "hess_ww": "d2E_T/dw2",
    "hess_wb": "d2E_T/dwdb",
    "hess_bb": "d2E_T/db2",
    "curvature": "largest eigenvalue of the Hessian of E_T",
    "alignment": "|cosine| between the gradient and the Hessian's leading eigenvector",
}
