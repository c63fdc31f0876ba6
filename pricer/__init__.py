"""pricer: professional claim-line reimbursement pricing on CMS schedules.

>>> import pricer
>>> result = pricer.price("claims.parquet")          # doctest: +SKIP
>>> result.lines, result.adjustments, result.summary()  # doctest: +SKIP
"""
import importlib

__version__ = "0.1.0"

# Public names and the module each lives in; imported on first use so that `import pricer`
# stays cheap (numba compiles nothing until a price is asked for).
_EXPORTS = {
    "price": "pricer.engine",
    "PricingResult": "pricer.result",
    "InputError": "pricer.claims",
    "Contract": "pricer.contract",
    "ContractError": "pricer.contract",
    "default_contract": "pricer.contract",
    "Schedules": "pricer.schedules",
    "load_schedules": "pricer.schedules",
    "run_batch": "pricer.batch",
    "compare": "pricer.whatif",
    "sweep": "pricer.whatif",
    "percent_of_medicare": "pricer.whatif",
    "service_category": "pricer.whatif",
    "Plans": "pricer.plans",
    "PlanError": "pricer.plans",
}
__all__ = [*_EXPORTS, "plots", "__version__"]


_SUBMODULES = ("plots", "plans")  # `pricer.plots.plot_compare(...)` without importing it first


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"pricer.{name}")
    raise AttributeError(f"module 'pricer' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
