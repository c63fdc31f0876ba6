"""Explain a claim's price, line by line, as a provider-relations analyst reads it out.

For each line: what was billed, how it was priced and from which table values (RVUs, GPCIs,
conversion factor; base and time units; ASP limit; gap-fill source; percentage of charges),
each adjustment step with its amount, where the cost shares came from (the benefit system,
or the line's plan and copay rule; coordination of benefits), the payment and the flags. The
table values are looked up again in the schedules the result was priced with, for the few
lines asked about.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from pricer.money import ASP_SCALE, GPCI_SCALE, RVU_SCALE, from_scaled
from pricer.vocabulary import FACILITY_POS

_PCTC_ROWS = ("26", "TC", "53")


def _num(value, scale: int, places: int) -> str:
    return f"{from_scaled(value, scale):.{places}f}"


def _money(d) -> str:
    return "-" if d is None else f"{Decimal(d):,.2f}"


def _mods(row: dict) -> list[str]:
    return [str(row[c]).strip().upper() for c in ("modifier_1", "modifier_2", "modifier_3",
                                                  "modifier_4")
            if row.get(c) is not None and str(row[c]).strip()]


def _pos(row: dict) -> int | None:
    try:
        return int(float(str(row["place_of_service"]).strip()))
    except (TypeError, ValueError):
        return None


def _dos(row: dict) -> dt.date | None:
    d = row.get("date_of_service")
    if isinstance(d, dt.date):
        return d
    try:
        return dt.date.fromisoformat(str(d).strip())
    except (TypeError, ValueError):
        return None


# §11 what the multiple-procedure reduction of a line was, by its RVU row's MULT PROC
MULT_PROC_RULES = {
    2: "50 % of every procedure but the highest of the day and surgeon",
    3: "endoscopy family: less the base endoscopy; the family 50 % when not the highest",
    4: "diagnostic imaging: 50 % of the technical and 5 % of the professional component",
    5: "therapy: 50 % of the practice expense of every unit but the first",
    6: "diagnostic cardiovascular: 25 % of the technical component",
    7: "diagnostic ophthalmology: 20 % of the technical component",
}


def _rvu_row(row: dict, schedules) -> dict | None:
    """The RVU file row an RBRVS line was priced on (26/TC/53 as the modifiers select)."""
    v = schedules.vintage(row["schedule_version"]) if row.get("schedule_version") else None
    if v is None or v.kind != "rvu":
        return None
    rows = v.table.filter(pl.col("hcpcs") == str(row["hcpcs"]).strip().upper())
    if not rows.height:
        return None
    mods = _mods(row)
    want = next((m for m in _PCTC_ROWS if m in mods and m in rows["modifier"].to_list()), "")
    hit = rows.filter(pl.col("modifier") == want)
    return hit.row(0, named=True) if hit.height else None


def _rbrvs_values(row: dict, schedules, gap_fill: bool, rounding: str) -> list[str]:
    """The RVUs, GPCIs and CF of an RBRVS line (RVU row selected as the engine does)."""
    out = []
    dos, pos = _dos(row), _pos(row)
    facility = pos in FACILITY_POS
    site = "facility" if facility else "non-facility"
    r = None if gap_fill else _rvu_row(row, schedules)
    if r is not None:  # the RVU row priced
        pe = r["pe_facility_rvu"] if facility else r["pe_nonfacility_rvu"]
        out.append(
            f"RVUs ({row['schedule_version']}, row {r['modifier'] or 'blank'}): work "
            f"{_num(r['work_rvu'], RVU_SCALE, 2)}"
            f", PE {site} {_num(pe, RVU_SCALE, 2)}, MP {_num(r['mp_rvu'], RVU_SCALE, 2)}"
            f"; indicators MULT PROC {r['mult_proc']}, BILAT {r['bilat_surg']}, "
            f"ASST {r['asst_surg']}, CO-SURG {r['co_surg']}, TEAM {r['team_surg']}")
    g = schedules.covering("gpci", dos) if dos else None
    if g is not None and row.get("locality"):
        gr = g.table.filter(pl.col("locality") == str(row["locality"]))
        if gr.height:
            gr = gr.row(0, named=True)
            floor = g.work_floor_through is None or dos <= g.work_floor_through
            work = gr["work_gpci"] if floor or gr["work_gpci_no_floor"] is None \
                else gr["work_gpci_no_floor"]
            out.append(f"GPCIs ({g.release}, {row['locality']}): work "
                       f"{_num(work, GPCI_SCALE, 3)}{' (with the 1.0 floor)' if floor else ''}, "
                       f"PE {_num(gr['pe_gpci'], GPCI_SCALE, 3)}, "
                       f"MP {_num(gr['mp_gpci'], GPCI_SCALE, 3)}")
    how = ("per unit = round(GPCI-adjusted RVU x CF, 2)" if rounding == "cms"
           else "per unit = round(total RVU x CF, 2)")
    out.append(f"total RVU {row['total_rvu']} x conversion factor {row['conversion_factor']} "
               f"({how})")
    return out


def _line_values(row: dict, result) -> list[str]:
    method = row["pricing_method"]
    schedules, contract = result.schedules, result.contract
    terms = contract.terms(str(row["line_of_business"]).strip().lower())
    dos = _dos(row)
    rates = terms.rates_at(dos) if dos else terms.rate_periods()[0][1]
    carve = terms.carve_out(str(row["hcpcs"]).strip().upper(), _mods(row), dos) if dos else None
    if method == "percent_of_medicare" or (
            method == "carve_out" and carve is not None and carve.percent_of_medicare):
        pct = rates.percent_of_medicare if method == "percent_of_medicare" \
            else carve.percent_of_medicare
        head = ("contract carve-out " + _carve_text(carve).rsplit(":", 1)[0] + ": "
                if method == "carve_out" else "")
        medicare = contract.terms("medicare")
        inner = dict(row, pricing_method=_medicare_method(row))
        return [f"{head}{pct * 100:.2f} % of what the Medicare LOB pays for the line "
                f"(fee schedule amount x {pct}, rounded to the cent); the Medicare pricing:",
                *("  " + v for v in _method_values(inner, schedules, medicare,
                                                   medicare.rates_at(dos) if dos else rates))]
    if method == "carve_out":
        return [f"contract carve-out {_carve_text(carve)}" if carve is not None
                else "contract carve-out for this code"]
    return _method_values(row, schedules, terms, rates)


def _medicare_method(row: dict) -> str:
    """The Medicare method behind a percent-of-Medicare line, from the values it reports."""
    if row.get("anesthesia_base_units") is not None:
        return "anesthesia"
    if row.get("drug_coinsurance_pct") is not None:
        return "drug"
    if row.get("gap_fill_source") is not None:
        return "gap_fill"
    if row.get("total_rvu") is not None:
        return "rbrvs"
    return "percent_of_charges"


def _carve_text(c) -> str:
    what = (c.hcpcs if c.hcpcs else f"{c.hcpcs_range[0]}-{c.hcpcs_range[1]}"
            if c.hcpcs_range else "every code")
    if c.modifier:
        what += f" with modifier {c.modifier}"
    if c.effective_from or c.effective_to:
        what += f" ({c.effective_from or '...'} to {c.effective_to or '...'})"
    if c.fee is not None:
        amount = f"{c.fee} per unit"
    elif c.percent_of_charges is not None:
        amount = f"{c.percent_of_charges * 100:.2f} % of billed charges"
    else:
        amount = f"{c.percent_of_medicare * 100:.2f} % of Medicare"
    return f"for {what}: {amount}"


def _method_values(row: dict, schedules, terms, rates) -> list[str]:
    method = row["pricing_method"]
    if method == "rbrvs":
        return _rbrvs_values(row, schedules, False, rates.rounding)
    if method == "gap_fill":
        values = [f"gap-fill value from {row['gap_fill_source']}"]
        if row.get("total_rvu") is not None:
            values += _rbrvs_values(row, schedules, True, rates.rounding)
        return values
    if method == "anesthesia":
        return [f"anesthesia: {row['anesthesia_base_units']} base units + "
                f"{row['anesthesia_time_units']} time units ({row['units']} minutes) x "
                f"conversion factor {row['conversion_factor']} ({row['schedule_version'] or 'contract'})"]
    if method == "drug":
        v = schedules.vintage(row["schedule_version"])
        limit = None
        if v is not None:
            hit = v.table.filter(pl.col("hcpcs") == str(row["hcpcs"]).strip().upper())
            if hit.height:
                limit = hit["payment_limit"][0]
        pct = rates.drug_percent_of_asp_limit
        return [f"Part B drug ({row['schedule_version']}): payment limit "
                f"{_num(limit, ASP_SCALE, 3) if limit is not None else '?'} per dosage unit x "
                f"{row['units']} units x {Decimal(str(pct)) * 100:.2f} % of the limit; "
                f"co-insurance {row['drug_coinsurance_pct']} %"]
    if method == "percent_of_charges":
        pct = rates.percent_of_charges
        why = ("the contract pays this line of business as a percentage of charges"
               if rates.method == "percent_of_charges" else "no fee schedule value")
        return [f"{why}: {Decimal(str(pct)) * 100:.2f} % of billed charges"]
    return []


def explain(result, claim_id) -> str:
    """Text explaining every line of one claim of a :class:`~pricer.result.PricingResult`.

    Raises
    ------
    KeyError
        When no line of the result has this ``claim_id``.
    """
    lines = result.lines.with_row_index("line_index").filter(
        pl.col("claim_id").cast(pl.String) == str(claim_id))
    if lines.height == 0:
        raise KeyError(f"claim {claim_id!r} is not among the priced lines")
    adj = result.adjustments.filter(pl.col("line_index").is_in(lines["line_index"].implode()))
    total = lambda c: sum((v for v in lines[c].to_list() if v is not None), Decimal(0))  # noqa: E731
    billed = sum((Decimal(str(v)) for v in lines["billed_charge"].to_list() if v is not None),
                 Decimal(0))
    out = [f"Claim {claim_id}: {lines.height} line(s), billed {_money(billed)}, allowed "
           f"{_money(total('allowed_amount'))}, paid {_money(total('paid_amount'))}, member "
           f"{_money(total('member_liability'))}"]
    for row in lines.iter_rows(named=True):
        mods = _mods(row)
        pos = _pos(row)
        out.append("")
        out.append(
            f"Line {row['line_number']}: {row['hcpcs']}{' ' + ' '.join(mods) if mods else ''} x "
            f"{row['units']}, DOS {row['date_of_service']}, POS {row['place_of_service']} "
            f"({'facility' if pos in FACILITY_POS else 'non-facility'}), {row['line_of_business']}, "
            f"locality {row['locality'] or '-'}")
        out.append(f"  {row['line_status']}: {row['pricing_method']}"
                   f"{' (' + row['reason'] + ')' if row['reason'] else ''}"
                   f"{', ' + row['schedule_version'] if row['schedule_version'] else ''}")
        out += [f"  {v}" for v in _line_values(row, result)]
        out.append(f"  billed {_money(row['billed_charge'])}, fee schedule amount "
                   f"{_money(row['fee_schedule_amount'])}, allowed {_money(row['allowed_amount'])}")
        for a in adj.filter(pl.col("line_index") == row["line_index"]).iter_rows(named=True):
            why = ""
            if a["step"] == "multiple_procedure":
                r = _rvu_row(row, result.schedules)
                if r is not None and r["mult_proc"] in MULT_PROC_RULES:
                    why = f" (MULT PROC {r['mult_proc']}, {MULT_PROC_RULES[r['mult_proc']]})"
            out.append(f"  {a['group_code']}-{a['carc']} {a['step']}: {_money(a['amount'])}{why}")
        out += [f"  {v}" for v in _cost_share_text(row, result)]
        out.append(f"  paid {_money(row['paid_amount'])}, member liability "
                   f"{_money(row['member_liability'])}")
        if row["flags"]:
            out.append(f"  flags: {', '.join(row['flags'])}")
    out += _reversal_text(result, claim_id)
    return "\n".join(out)


def _percent(fraction) -> str:
    return f"{Decimal(fraction) * 100:.2f}".rstrip("0").rstrip(".") + " %"


def _cost_share_text(row: dict, result) -> list[str]:
    """Where the line's cost shares came from: the benefit system (given on the line) or its
    plan's terms, the copay category that applies (docs/cost_share.md); what the primary
    payer paid. The balances met before the line are not kept: see ``result.accumulators``."""
    from pricer.plans import COPAY_CATEGORIES, PROVIDER_ALIASES, copay_category
    out = []
    if row["line_status"] != "priced":  # denied and rejected lines take no cost share
        return out
    given = any(row.get(c) is not None for c in ("deductible", "copay", "coinsurance"))
    plans = getattr(result, "plans", None)
    plan = plans.lookup(row["plan_id"]) if plans is not None and row.get("plan_id") else None
    if given:
        out.append("cost shares given on the line by the benefit system")
    elif plan is not None:
        p = plans[plan]
        terms = [f"deductible {_money(p.deductible)}"]
        if p.family_deductible is not None:
            terms.append(f"family {_money(p.family_deductible)}")
        terms.append(f"coinsurance {_percent(p.coinsurance)}")
        if p.out_of_pocket_max is not None:
            terms.append(f"out-of-pocket maximum {_money(p.out_of_pocket_max)}")
        if p.family_out_of_pocket_max is not None:
            terms.append(f"family {_money(p.family_out_of_pocket_max)}")
        year = "%02d-%02d" % p.plan_year_start
        out.append(f"plan {plan} (year from {year}): {', '.join(terms)}")
        cat = copay_category(str(row["hcpcs"]).strip().upper())
        ptype = str(row.get("rendering_provider_type") or "").strip().casefold()
        who = PROVIDER_ALIASES.get(ptype, 0) if ptype else 0
        name = COPAY_CATEGORIES[cat] if cat >= 0 else None
        why = ""
        if name == "office_visit" and who == PROVIDER_ALIASES["specialist"]:
            name = "specialist_office_visit"
        elif name == "office_visit" and who in (PROVIDER_ALIASES["lab_technician"],
                                                  PROVIDER_ALIASES["other"]):
            why = f" (an office visit with a {ptype.replace('_', ' ')})"
            name = None
        if name == "preventive" and p.preventive_covered_in_full:
            out.append("  preventive care: covered in full")
        elif name is not None and name in p.copays:
            out.append(f"  copay category {name}: {_money(p.copays[name])} once per visit, "
                       "no deductible or coinsurance")
        else:
            out.append(f"  no copay for this service{why}: deductible, then coinsurance")
    if row.get("other_payer_paid") is not None:
        method = plans[plan].coordination_of_benefits if plan is not None else None
        if method is None:
            lob = str(row["line_of_business"]).strip().lower()
            method = result.contract.terms(lob).coordination_of_benefits
        rule = ("the plan pays the lesser of its normal payment and allowed less the other "
                "payer's payment" if method == "standard" else
                "the other payer's payment reduces the plan's normal payment")
        out.append(f"other payer paid {_money(row['other_payer_paid'])}: coordination of "
                   f"benefits, {method} ({rule}); the member owes what neither payer covered")
    return out


def _reversal_text(result, claim_id) -> list[str]:
    """For a replacement or void claim: the original it reverses and the net change."""
    changes = result.claim_changes.filter(pl.col("claim_id") == str(claim_id))
    if changes.height == 0 or changes["original_claim_id"][0] is None:
        return []
    c = changes.row(0, named=True)
    kind = "replacement" if c["frequency_code"] == "7" else "void"
    rev = result.reversals.filter(pl.col("reversed_by_claim_id").cast(pl.String) == str(claim_id))
    out = ["", f"This {kind} (frequency {c['frequency_code']}) reverses claim "
               f"{c['original_claim_id']}: {c['reversed_lines']} line(s), allowed "
               f"{_money(c['reversed_allowed'])}, paid {_money(c['reversed_paid'])}, member "
               f"{_money(c['reversed_member_liability'])}"]
    for row in rev.iter_rows(named=True):
        out.append(f"  reversed line {row['line_number']}: {row['hcpcs']} paid "
                   f"{_money(row['paid_amount'])}, member liability "
                   f"{_money(row['member_liability'])}")
    out.append(f"Net change: allowed {_money(c['net_allowed'])}, paid {_money(c['net_paid'])}, "
               f"member {_money(c['net_member_liability'])}")
    return out
