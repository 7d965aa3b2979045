"""linnet_lib: the shared library of the linnet book on linear neural networks.

Notebooks write ``import linnet_lib as ll`` and use the names re-exported here.
"""

from . import (
    ch1,
    ch2,
    ch3,
    ch4,
    ch5,
    ch6,
    landscape,
    mlp,
    nonlocal_rates,
    norms,
    interactive,
    optimizers,
    population_logistic,
    sensing,
    stable_set,
    stats,
    svd_dynamics,
    tensor,
    whitened,
    width,
)
from .checks import (
    CheckFailed,
    check,
    check_at_least,
    check_between,
    fingerprint,
    relative_difference,
)
from .dynamics import end_to_end_velocity, preconditioner, preconditioner_eigen
from .linalg import gram_power, psd_power, random_orthogonal, svd_with_rank, unvec, vec
from .losses import Loss, LpLoss, SquareLoss
from .networks import (
    balance_gaps,
    balanced_init,
    end_to_end,
    gaussian_init,
    layer_gradients,
    partial_products,
    unbalancedness,
)
from .plotting import depth_color, use_style
from .population_logistic import PopulationLogisticLoss
from .training import IntegrationError, TrainingResult, gradient_descent, gradient_flow

__all__ = [
    "CheckFailed",
    "IntegrationError",
    "Loss",
    "LpLoss",
    "PopulationLogisticLoss",
    "SquareLoss",
    "TrainingResult",
    "balance_gaps",
    "balanced_init",
    "ch1",
    "ch2",
    "ch3",
    "ch4",
    "ch5",
    "ch6",
    "check",
    "check_at_least",
    "check_between",
    "depth_color",
    "end_to_end",
    "end_to_end_velocity",
    "fingerprint",
    "gaussian_init",
    "gradient_descent",
    "gradient_flow",
    "gram_power",
    "landscape",
    "layer_gradients",
    "mlp",
    "nonlocal_rates",
    "norms",
    "optimizers",
    "partial_products",
    "population_logistic",
    "preconditioner",
    "preconditioner_eigen",
    "psd_power",
    "random_orthogonal",
    "relative_difference",
    "sensing",
    "stable_set",
    "stats",
    "svd_dynamics",
    "svd_with_rank",
    "tensor",
    "unbalancedness",
    "unvec",
    "use_style",
    "vec",
    "whitened",
    "width",
]
