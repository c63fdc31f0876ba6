"""One pricing path for the notebook, the CLI and the batch.

``price`` reads claims, encodes them once against the dense tables, runs the kernel and
assembles the result. Everything per line happens in the kernel; this layer is glue.
"""
from __future__ import annotations

from types import SimpleNamespace

import pyarrow as pa

from pricer.benefits import MEDICARE_BY_LOB, cob_methods, ending_balances
from pricer.benefits_nb import accumulate_nb, settle_payers_nb
from pricer.claims import check_columns, encode_claims, read_claims
from pricer.pricing_nb import (allocate_out, multiple_procedures_nb, percent_of_medicare_nb,
                               price_lines_nb)
from pricer.plans import load_plans
from pricer.replacements import read_prior, reversals
from pricer.result import OUTPUT_COLUMNS, PricingResult, adjustments_table, output_columns
from pricer.tables import reference_arrays


def _defaults(contract, schedules):
    if schedules is None:
        from pricer.schedules import load_schedules
        schedules = load_schedules()
    if contract is None:
        from pricer.contract import default_contract
        contract = default_contract()
    return contract, schedules


def run_kernel(enc, arrays, out=None):
    """Price encoded lines; returns the kernel's output arrays.

    ``out`` (from ``allocate_out``) is reused when given: a batch pricing block after block
    saves the first-touch cost of fresh memory.
    """
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
    if enc.benefits is not None:  # cost shares from benefit plans (docs/cost_share.md)
        accumulate(enc, out)
    if enc.other_payer_given.any() or arrays.sequestration.any():
        settle_payers_nb(enc.lob, enc.other_payer_paid, enc.other_payer_given,
                         cob_methods(enc, arrays), arrays.sequestration, out)
    return out


def accumulate(enc, out) -> None:
    """Cost shares of the lines with a plan, on lines already priced into ``out``."""
    b, p = enc.benefits, enc.benefits.plans.arrays
    accumulate_nb(b.fam_starts, b.order, b.member, b.family, enc.plan, b.year, enc.dos,
                  b.claim, enc.category, enc.provider, enc.lob, MEDICARE_BY_LOB, enc.qmb,
                  enc.shares_given, b.start_ded, b.start_oop, b.fstart_ded, b.fstart_oop,
                  p.deductible, p.family_deductible, p.coinsurance, p.oop, p.family_oop,
                  p.preventive_full, p.copay, out, b.ded_after, b.oop_after, b.last)


def price_table(table: pa.Table, contract, schedules, *, source: str = "table",
                is_text: bool = False, prior=None, plans=None,
                accumulators=None) -> PricingResult:
    """Price a pyarrow table of claim lines (already read); the rest as for :func:`price`."""
    check_columns(table, source, is_text)
    prior = read_prior(prior)
    arrays = reference_arrays(schedules, contract)
    enc = encode_claims(table, arrays, contract, prior, load_plans(plans), accumulators)
    out = run_kernel(enc, arrays)
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
    b = enc.benefits
    return PricingResult(inputs, lambda: adjustments_table(claim_id, line_number, amounts, billed),
                         contract=contract, schedules=schedules, links=enc.links,
                         reversals=reversal_lines, reversal_adjustments=reversal_adjustments,
                         accumulators=(lambda: ending_balances(b, enc)) if b is not None
                         else None)


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
