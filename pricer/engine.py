"""One pricing path for the notebook, the CLI and the batch.

``price`` reads claims, encodes them once against the dense tables, runs the kernel and
assembles the result. Everything per line happens in the kernel; this layer is glue.
"""
from __future__ import annotations

import os
from functools import partial
from types import SimpleNamespace

import pyarrow as pa

from pricer.benefits import (accumulate, apply_shares, cob_methods, ending_frame,
                             ending_rows, plan_line_table, walked)
from pricer.benefits_nb import settle_payers_nb
from pricer.claims import check_columns, encode_claims, read_claims
from pricer.pricing_nb import (allocate_out, multiple_procedures_nb, percent_of_medicare_nb,
                               price_lines_nb)
from pricer.plans import load_plans
from pricer.replacements import read_prior, reversals
from pricer.result import OUTPUT_COLUMNS, PricingResult, adjustments_table, output_columns
from pricer.tables import reference_arrays


def _numpy_hugepage_advice_off() -> bool:
    """Turn off numpy's ``madvise(MADV_HUGEPAGE)`` on large arrays unless the user chose.

    Why: where the kernel's transparent-huge-page defrag is ``madvise`` (a common default),
    that advice makes the first touch of every fresh array stall in compaction; a fresh
    process pricing 10 M lines spent 13-16 s instead of 8.5-9.6 s (docs/decisions.md).
    ``NUMPY_MADVISE_HUGEPAGE`` in the environment (numpy's own switch) is left to numpy.
    Returns whether the advice is now off.
    """
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0"
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # numpy < 2 names it numpy.core; newer ones may drop it
        try:
            from numpy.core.multiarray import _set_madvise_hugepage
        except ImportError:
            return False
    _set_madvise_hugepage(False)
    return True


def _arrow_system_pool() -> str:
    """Make the system allocator pyarrow's default pool unless the user chose one.

    Why: pyarrow's default, mimalloc, takes transparent huge pages, whose first touch stalls
    as numpy's advice does (above); a fresh process pricing 10 M lines took 9.8-11.6 s with
    mimalloc against 8.5-9.1 s with the system allocator, and peaked 0.45 GiB higher
    (docs/decisions.md). ``ARROW_DEFAULT_MEMORY_POOL`` in the environment (pyarrow's own
    switch) is left to pyarrow. Returns the default pool's backend now.
    """
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        pa.set_memory_pool(pa.system_memory_pool())
    return pa.default_memory_pool().backend_name


NUMPY_HUGEPAGE_ADVICE_OFF = _numpy_hugepage_advice_off()
ARROW_POOL = _arrow_system_pool()


def _defaults(contract, schedules):
    if schedules is None:
        from pricer.schedules import load_schedules
        schedules = load_schedules()
    if contract is None:
        from pricer.contract import default_contract
        contract = default_contract()
    return contract, schedules


def run_kernel(enc, arrays, out=None, shares=None):
    """Price encoded lines; returns the kernel's output arrays.

    ``out`` (from ``allocate_out``) is reused when given: a batch pricing block after block
    saves the first-touch cost of fresh memory. ``shares`` (the streamed batch's plan cost
    shares accumulated over the whole input: (table, first row)) replace the accumulation.
    """
    if out is not None:  # reused: COB and sequestration start from zero (allocate_out)
        out.cob[:] = 0
        out.seq[:] = 0
    out = price_kernels(enc, arrays, out)
    if shares is not None:
        apply_shares(out, shares[0], shares[1], enc.n)
    elif walked(enc) is not None:  # cost shares from benefit plans (docs/cost_share.md)
        accumulate(enc, out)
    if enc.other_payer_given.any() or arrays.sequestration.any():
        settle_payers_nb(enc.lob, enc.other_payer_paid, enc.other_payer_given,
                         cob_methods(enc, arrays), arrays.sequestration, out)
    return out


def price_kernels(enc, arrays, out=None):
    """The pricing kernels alone: line by line, then claim-level policies (§11) and percent
    of Medicare; cost shares are those given on the lines."""
    out = allocate_out(enc.n) if out is None else out
    price_lines_nb(enc.reason, enc.flags, enc.lob, enc.dos, enc.code, enc.unlisted,
                   enc.modifiers, enc.units, enc.billed, enc.billed_ok, enc.deductible,
                   enc.copay, enc.coinsurance, enc.qmb, enc.facility, enc.locality, enc.ndc_ok,
                   arrays.kernel, out)
    multiple_procedures_nb(enc.claim_order, enc.claim_starts, enc.dos, enc.code, enc.modifiers,
                           enc.units, enc.npi_offsets, enc.npi_data, enc.npi_valid, enc.billed,
                           enc.deductible, enc.copay, enc.coinsurance, enc.qmb, enc.lob, out)
    if arrays.percent_of_medicare:
        percent_of_medicare_nb(enc.billed, enc.deductible, enc.copay, enc.coinsurance, enc.qmb,
                               enc.lob, out)
    return out


def plan_lines(table: pa.Table, contract, schedules, *, plans, source: str = "table",
               is_text: bool = False, prior=None, first_row: int = 0) -> pa.Table:
    """The streamed batch's first pass over a block: its lines that name a plan, priced
    without plan cost shares (``benefits.plan_line_table``), for the accumulation over the
    whole input."""
    check_columns(table, source, is_text)
    arrays = reference_arrays(schedules, contract)
    enc = encode_claims(table, arrays, contract, read_prior(prior), load_plans(plans),
                        accumulate=False)
    return plan_line_table(table, enc, price_kernels(enc, arrays), first_row)


def price_table(table: pa.Table, contract, schedules, *, source: str = "table",
                is_text: bool = False, prior=None, plans=None,
                accumulators=None, shares=None) -> PricingResult:
    """Price a pyarrow table of claim lines (already read); the rest as for :func:`price`.

    ``shares`` (the streamed batch: plan cost shares accumulated over the whole input, as
    (``benefits.accumulate_plan_lines`` table, row of this table's first line)) are applied
    instead of accumulating this table's lines on their own.
    """
    check_columns(table, source, is_text)
    prior = read_prior(prior)
    arrays = reference_arrays(schedules, contract)
    enc = encode_claims(table, arrays, contract, prior, load_plans(plans), accumulators,
                        accumulate=shares is None)
    out = run_kernel(enc, arrays, shares=shares)
    cols = output_columns(out, enc, arrays)
    inputs = table.drop_columns([c for c in OUTPUT_COLUMNS if c in table.column_names])
    inputs = inputs.set_column(inputs.column_names.index("member_id"), "member_id", enc.member_id)
    for name, column in cols.items():
        inputs = inputs.append_column(name, column)
    # adjustments are built on first use from the few arrays they need
    claim_id, line_number = table.column("claim_id"), table.column("line_number")
    amounts = SimpleNamespace(status=out.status, carc=out.carc, allowed=out.allowed,
                              deductible=out.deductible, copay=out.copay,
                              coinsurance=out.coinsurance, fee_full=out.fee_full,
                              fee_cut=out.fee_cut, policy_step=out.policy_step,
                              claim_step=out.claim_step, mue_denied=out.mue_denied,
                              cob=out.cob, seq=out.seq)
    billed = SimpleNamespace(billed=enc.billed, billed_ok=enc.billed_ok)
    reversal_lines, reversal_adjustments = reversals(prior, enc.links)
    b = walked(enc)
    return PricingResult(inputs, lambda: adjustments_table(claim_id, line_number, amounts, billed),
                         contract=contract, schedules=schedules, links=enc.links,
                         reversals=reversal_lines, reversal_adjustments=reversal_adjustments,
                         # the ending balances' few rows now: a lambda over b and enc would
                         # keep every line's walk and encoding as long as the result
                         accumulators=partial(ending_frame, ending_rows(b, enc)) if b is not None
                         else None, plans=enc.plans)


def price(claims, contract=None, schedules=None, prior=None, plans=None,
          accumulators=None) -> PricingResult:
    """Price professional claim lines by the rule book.

    Parameters
    ----------
    claims : polars.DataFrame, pandas.DataFrame, pyarrow.Table, or path to Parquet/CSV
        One row per claim line with the columns of rule book §3.
    contract : Contract, optional
        Defaults to :func:`pricer.default_contract` (illustrative).
    schedules : Schedules, optional
        Defaults to the bundled CMS tables, :func:`pricer.load_schedules`.
    prior : PricingResult or (lines, adjustments), optional
        The priced lines in effect that replacement (``frequency_code`` 7) and void (8)
        claims refer to, with their adjustments: the result of an earlier run, or frames /
        Parquet or CSV paths as ``pricer reprice`` writes them. Without it every 7 and 8
        claim is rejected ``original_claim_not_found``.
    plans : Plans or path, optional
        Benefit plans for lines with a ``plan_id`` (docs/cost_share.md); default: the
        contract's ``plans``, if any. Lines giving deductible, copay or coinsurance keep them.
    accumulators : frame, Arrow table or Parquet/CSV path, optional
        Starting balances (``result.accumulators`` of an earlier run).

    Returns
    -------
    PricingResult
        ``.lines`` (every input row, in order, with the output columns), ``.adjustments``
        and ``.summary()``; ``.accumulators`` (ending balances, with plans); ``.reversals``, ``.reversal_adjustments`` (the originals that
        replacements and voids reverse, amounts negated) and ``.claim_changes`` (net change
        per claim).

    Raises
    ------
    InputError
        When a required column is missing or a column has an impossible type (§4).

    Examples
    --------
    >>> import polars as pl, datetime as dt, pricer
    >>> claims = pl.DataFrame({
    ...     "claim_id": ["C1"], "line_number": [1], "member_id": ["1234"],
    ...     "line_of_business": ["medicare"], "date_of_service": [dt.date(2025, 3, 1)],
    ...     "hcpcs": ["99213"], "units": [1], "billed_charge": ["150.00"],
    ...     "place_of_service": ["11"], "locality": ["02402-02"]})
    >>> r = pricer.price(claims)
    >>> r.lines.select("pricing_method", "allowed_amount").row(0)
    ('rbrvs', Decimal('99.89'))
    """
    contract, schedules = _defaults(contract, schedules)
    table, source, is_text = read_claims(claims)
    return price_table(table, contract, schedules, source=source, is_text=is_text, prior=prior,
                       plans=plans, accumulators=accumulators)
