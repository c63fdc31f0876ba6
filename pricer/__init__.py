"""pricer: professional claim-line reimbursement pricing on CMS schedules."""
__version__ = "0.1.0"
