"""The engine's fixed vocabularies: each name's position is the small integer the kernel uses.

Kernels see only integers; these tuples turn them back into the names users read. Appending
is safe; reordering changes the encoding of every array in flight.
"""
from __future__ import annotations

LOBS = ("commercial", "medicare", "medicare_cost", "medicaid", "other")
MEDICARE_LOBS = ("medicare", "medicare_cost")
LOB_MEDICAID = LOBS.index("medicaid")
# The LOB whose pricing `percent_of_medicare` (a LOB method or a carve-out) multiplies.
MEDICARE_REFERENCE_LOB = "medicare"
LOB_MEDICARE_REFERENCE = LOBS.index(MEDICARE_REFERENCE_LOB)
# A LOB's pricing method in a rate set (tables.rate_method), and carve-out kinds (cr_type).
RATE_METHODS = ("rbrvs", "percent_of_medicare", "percent_of_charges")
RATE_RBRVS, RATE_POM, RATE_POC = range(3)
CARVE_FEE, CARVE_POC, CARVE_POM = 1, 2, 3

LINE_STATUSES = ("priced", "denied", "rejected", "void")
PRICED, DENIED, REJECTED, VOID = 0, 1, 2, 3

METHODS = (
    "rbrvs", "anesthesia", "drug", "gap_fill", "percent_of_charges",
    "carve_out", "bundled", "denied", "rejected", "void", "percent_of_medicare",
)
M_RBRVS, M_ANESTHESIA, M_DRUG, M_GAP_FILL, M_PCT_CHARGES, M_CARVE_OUT, M_BUNDLED, M_DENIED, M_REJECTED = range(9)
M_VOID = 9
M_PCT_MEDICARE = 10

# Rejection (§4, in check order) and denial reasons. 0 = none.
REASONS = (
    "",
    "claim_id_missing", "line_number_missing", "member_id_missing", "line_of_business_missing",
    "date_of_service_missing", "hcpcs_missing", "units_missing", "billed_charge_missing",
    "place_of_service_missing",
    "hcpcs_invalid",
    "units_invalid", "units_below_one", "units_not_whole",
    "billed_charge_invalid", "billed_charge_negative",
    "date_of_service_invalid", "received_date_invalid", "dos_after_received",
    "place_of_service_invalid",
    "line_of_business_unknown",
    "member_id_invalid",
    "billed_charge_fraction_of_cent",
    "deductible_invalid", "deductible_negative", "deductible_fraction_of_cent",
    "copay_invalid", "copay_negative", "copay_fraction_of_cent",
    "coinsurance_invalid", "coinsurance_negative", "coinsurance_fraction_of_cent",
    "other_payer_paid_invalid", "other_payer_paid_negative", "other_payer_paid_fraction_of_cent",
    "locality_invalid",
    "anesthesia_minutes_implausible",
    # denials (kernel)
    "modifier_26_and_tc", "pctc_row_missing", "pctc_modifier_required",
    "anesthesia_modifier_missing", "ndc_missing",
    "status_denied", "status_bundled",
    # §11 line edits and modifier policies
    "timely_filing", "em_facility_charge", "assistant_not_payable", "co_surgery_not_payable",
    "team_surgery_not_payable", "status_t_bundled", "mue_exceeded",
    # §11 replacements and voids (frequency codes 7 and 8; pricer/replacements.py)
    "frequency_code_invalid", "claim_frequency_inconsistent", "original_claim_not_found",
    "original_claim_voided", "original_claim_referenced_twice", "void_request",
    # member cost share (docs/cost_share.md): checked after every §4 check above
    "plan_id_unknown", "subscriber_id_invalid", "rendering_provider_type_invalid",
)
R = {name: i for i, name in enumerate(REASONS)}
# Denials decided from the line alone, before pricing (encode sets them): reason -> CARC.
PRE_DENIALS = {"timely_filing": 29, "em_facility_charge": 97}
# A void request's own lines are not adjudicated (the money moves in the reversal of the
# original): their charge is balanced by OA-18, the charges being those already on file.
CARC_VOID = 18

FLAGS = (  # alphabetical: the order flags are listed on a line
    "anesthesia_minutes_implausible",
    "by_report",
    "high_dollar_claim",
    "high_level_em",
    "medicaid_copay_waived",
    "modifier_22",
    "modifier_59",
    "modifier_invalid",
    "ndc_missing",
    "no_schedule_for_dos",
    "prepayment_review",
    "qmb_cost_share_not_billable",
    "review",
)
F = {name: 1 << i for i, name in enumerate(FLAGS)}

# Modifiers the rule book gives a meaning; every other valid modifier is MOD_OTHER.
MODIFIERS = (
    "", "26", "TC", "53", "50", "AA", "AD", "QK", "QX", "QY", "QZ", "QS", "G8", "G9", "23",
    "P1", "P2", "P3", "P4", "P5", "P6", "22", "59", "80", "81", "82", "AS", "62", "66", "RT", "LT",
)
MOD = {name: i for i, name in enumerate(MODIFIERS)}
MOD_OTHER = len(MODIFIERS)
MOD_INVALID = MOD_OTHER + 1

# RVU rows a line can select (§6).
RVU_ROWS = ("", "26", "TC", "53")

# Adjustment group codes and steps (§12).
GROUPS = ("", "CO", "PR", "OA")
G_CO, G_PR, G_OA = 1, 2, 3
STEPS = ("", "fee_schedule", "deductible", "copay", "coinsurance", "denial", "rejection",
         "assistant_at_surgery", "co_surgery", "multiple_procedure", "opps_cap", "bilateral",
         "mue", "void", "coordination_of_benefits", "sequestration")
S_FEE, S_DEDUCTIBLE, S_COPAY, S_COINSURANCE, S_DENIAL, S_REJECTION = range(1, 7)
S_ASSISTANT, S_CO_SURGERY, S_MULTIPLE, S_OPPS_CAP, S_BILATERAL, S_MUE = 7, 8, 9, 10, 11, 12
S_VOID = 13
S_COB, S_SEQUESTRATION = 14, 15

# §11: E&M services that are facility charges on an institutional claim.
EM_FACILITY_CODES = frozenset(
    [str(c) for c in range(99201, 99216)] + [str(c) for c in range(99381, 99396)]
    + [str(c) for c in range(99401, 99430)] + ["99495", "99496", "99078", "G0463"])
HIGH_LEVEL_EM = frozenset({"99205", "99215", "99223", "99233", "99285"})
INSTITUTIONAL_FORMS = frozenset({"institutional", "ub-04", "ub04", "837i"})

# Status-policy actions (§5).
ACTIONS = ("rbrvs", "gap_fill", "by_report", "bundled", "deny")
A_RBRVS, A_GAP_FILL, A_BY_REPORT, A_BUNDLED, A_DENY = range(5)

# POS codes priced with the facility PE RVU (§6).
FACILITY_POS = (2, 19, 21, 22, 23, 24, 26, 31, 34, 41, 42, 51, 52, 53, 56, 61)
