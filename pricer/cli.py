"""The `pricer` command line: reprice, explain, whatif, synth, schedules.

Exit codes: 0 done; 2 input refused (claims, contract or schedule file), reason on stderr;
1 anything else.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import polars as pl

SAMPLE = Path(__file__).parent / "sample" / "claims_sample.csv"


from pricer.result import write_frame


def _load(args):
    from pricer.contract import Contract, default_contract
    from pricer.schedules import load_schedules
    schedules = load_schedules(args.schedules) if getattr(args, "schedules", None) else load_schedules()
    contract = Contract.from_toml(args.contract) if getattr(args, "contract", None) else default_contract()
    return contract, schedules


def _print_summary(summary: pl.DataFrame) -> None:
    with pl.Config(tbl_rows=100, tbl_cols=20, tbl_hide_dataframe_shape=True,
                   tbl_formatting="ASCII_MARKDOWN", fmt_str_lengths=40, tbl_width_chars=200):
        print(summary)


def _prior(args):
    """``--prior LINES --prior-adjustments ADJUSTMENTS`` as ``price``'s ``prior``."""
    from pricer.claims import InputError
    if not getattr(args, "prior", None):
        if getattr(args, "prior_adjustments", None):
            raise InputError("--prior-adjustments", ["given without --prior"])
        return None
    if not args.prior_adjustments:
        raise InputError(args.prior, ["--prior needs --prior-adjustments: reversals negate the "
                                      "original adjustments (write them with --adjustments)"])
    return (Path(args.prior), Path(args.prior_adjustments))


def _beside(path: str, tag: str) -> Path:
    """``priced.parquet`` -> ``priced.reversals.parquet``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.{tag}{p.suffix or '.parquet'}")


def _batch_mode(args) -> bool:
    """A directory or glob input, a directory output, or a batch option: the streamed batch."""
    out = Path(args.output) if args.output else None
    many = args.input and (Path(args.input).is_dir() or any(c in args.input for c in "*?["))
    to_dir = out is not None and (out.is_dir() or out.suffix.lower() not in (".parquet", ".csv"))
    return bool(many or to_dir or args.resume or args.keep_going or args.workers or args.scheduler)


def _needs_plans(args, contract) -> None:
    from pricer.claims import InputError
    if args.accumulators_out and not (args.plans or contract.plans is not None):
        raise InputError("--accumulators-out", ["needs benefit plans (--plans, or a contract "
                                                "naming its plans)"])


def cmd_batch(args) -> int:
    from pricer.batch import run_batch
    from pricer.claims import InputError
    from pricer.contract import Contract, default_contract
    if not args.output or Path(args.output).suffix.lower() in (".parquet", ".csv"):
        raise InputError(args.output or "-o", ["a batch run writes a dataset: -o must name a "
                                               "directory"])
    contract = Contract.from_toml(args.contract) if args.contract else default_contract()
    _needs_plans(args, contract)
    m = run_batch(args.input or SAMPLE, args.output, contract, args.schedules,
                  batch_rows=args.batch_rows, resume=args.resume, keep_going=args.keep_going,
                  workers=args.workers, scheduler=args.scheduler, prior=_prior(args),
                  plans=args.plans, accumulators=args.accumulators, progress=True)
    if args.accumulators_out:  # the run's own copy is OUT/accumulators.parquet
        write_frame(pl.read_parquet(Path(args.output) / "accumulators.parquet"),
                    Path(args.accumulators_out))
    print(f"priced {m['rows_out']:,} lines of {len(m['inputs'])} file(s) in "
          f"{m['timings']['seconds']:.1f} s ({m['timings']['parts_priced_now']} part(s) priced, "
          f"{m['timings']['parts_resumed']} already complete) -> {args.output}")
    if m["totals"]:
        _print_summary(pl.DataFrame(m["totals"]))
    failed = [i for i in m["inputs"] if i["status"] == "failed"]
    for f in failed:
        print(f"pricer: not priced: {f['error']}", file=sys.stderr)
    return 2 if failed else 0


def cmd_reprice(args) -> int:
    from pricer.claims import InputError
    from pricer.engine import price
    if _batch_mode(args):
        return cmd_batch(args)
    contract, schedules = _load(args)
    source = Path(args.input) if args.input else SAMPLE
    prior = _prior(args)
    _needs_plans(args, contract)
    t0 = time.perf_counter()
    result = price(source, contract=contract, schedules=schedules, prior=prior,
                   plans=args.plans, accumulators=args.accumulators)
    seconds = time.perf_counter() - t0
    lines = result.lines
    written = []
    if args.output:
        write_frame(lines, Path(args.output))
        written.append(args.output)
    if args.adjustments:
        write_frame(result.adjustments, Path(args.adjustments))
        written.append(args.adjustments)
    if args.accumulators_out:
        write_frame(result.accumulators, Path(args.accumulators_out))
        written.append(args.accumulators_out)
    if prior is not None:  # reversals are their own files, never rows of the priced lines
        rev = args.reversals or (_beside(args.output, "reversals") if args.output else None)
        rev_adj = args.reversal_adjustments or (
            _beside(args.adjustments, "reversals") if args.adjustments else None)
        for path, frame in ((rev, result.reversals), (rev_adj, result.reversal_adjustments)):
            if path:
                write_frame(frame, Path(path))
                written.append(str(path))
    status = lines["line_status"].cast(pl.String).value_counts().sort("line_status")
    counts = ", ".join(f"{r[0]} {r[1]}" for r in status.iter_rows())
    print(f"priced {lines.height} lines from {source} in {seconds:.2f} s ({counts})"
          f"{' -> ' + ', '.join(written) if written else ''}")
    _print_summary(result.summary())
    if prior is not None:
        changes = result.claim_changes
        linked = changes.filter(pl.col("original_claim_id").is_not_null())
        print(f"{linked.height} replacement/void claim(s) reversed {result.reversals.height} "
              f"prior line(s): paid {changes['reversed_paid'].sum()} reversed, net paid change "
              f"{changes['net_paid'].sum()}")
    return 0


def cmd_explain(args) -> int:
    from pricer.claims import InputError, read_claims
    from pricer.engine import price_table
    contract, schedules = _load(args)
    source = Path(args.input) if args.input else SAMPLE
    table, name, is_text = read_claims(source)
    if "claim_id" not in table.column_names:
        raise InputError(name, ["missing required column 'claim_id'"])
    frame = pl.from_arrow(table)
    if not (frame["claim_id"].cast(pl.String) == args.claim).any():
        raise InputError(name, [f"no line has claim_id {args.claim!r}"])
    if not (args.plans or contract.plans is not None):
        # every claim-level rule works within one claim: its lines alone price the same.
        # Plan cost shares accumulate over all lines of the member and family: all of them.
        frame = frame.filter(pl.col("claim_id").cast(pl.String) == args.claim)
    result = price_table(frame.to_arrow(), contract, schedules, source=name, is_text=is_text,
                         prior=_prior(args), plans=args.plans, accumulators=args.accumulators)
    print(result.explain(args.claim))
    return 0


def _scenario_names(contracts: list[str], names: list[str] | None) -> list[str]:
    """``--name`` values, else the contract files' stems, made unique (``a``, ``a_2``)."""
    from pricer.claims import InputError
    if names:
        if len(names) != len(contracts):
            raise InputError("--name", [f"{len(names)} --name for {len(contracts)} --contract: "
                                        f"give one name per contract, or none"])
        bad = [n for n in names if not n.strip()]
        twice = sorted({n for n in names if names.count(n) > 1})
        if bad or twice:
            raise InputError("--name", [f"names must be non-empty and different, got {names}"])
        return [n.strip() for n in names]
    out: list[str] = []
    for path in contracts:
        stem, name, k = Path(path).stem, Path(path).stem, 1
        while name in out:
            k += 1
            name = f"{stem}_{k}"
        out.append(name)
    return out


def cmd_whatif(args) -> int:
    from pricer.claims import InputError
    from pricer.contract import Contract
    from pricer.report import whatif_report
    from pricer.schedules import load_schedules
    names = _scenario_names(args.contract, args.name)
    contracts = {n: Contract.from_toml(p) for n, p in zip(names, args.contract)}
    schedules = load_schedules(args.schedules) if args.schedules else None
    by = [c.strip() for c in args.by.split(",") if c.strip()]
    try:
        path = whatif_report(Path(args.input) if args.input else SAMPLE, contracts,
                             Path(args.output), by=by, schedules=schedules)
    except ValueError as exc:
        if str(exc).startswith("by:"):  # a --by column the claims do not have: input refused
            raise InputError("--by", [str(exc)]) from None
        raise
    print(path)
    return 0


def cmd_synth(args) -> int:
    from pricer.synth import synth_claims
    plans = None
    if args.plans:
        from pricer.plans import Plans
        plans = Plans.from_toml(args.plans)
    frame = synth_claims(args.lines, seed=args.seed, invalid_share=args.invalid_share,
                         plans=plans)
    write_frame(frame, Path(args.output))
    print(f"wrote {frame.height} synthetic claim lines to {args.output}")
    return 0


def cmd_schedules(args) -> int:
    from pricer import schedules as sch
    root = args.schedules
    if args.action == "list":
        with pl.Config(tbl_rows=200, tbl_cols=20, tbl_hide_dataframe_shape=True,
                       tbl_formatting="ASCII_MARKDOWN", fmt_str_lengths=30, tbl_width_chars=200):
            print(sch.list_schedules(root).drop("sha256", strict=False))
        return 0
    if args.action == "validate":
        problems = sch.validate_schedules(root)
        for p in problems:
            print(p, file=sys.stderr)
        if problems:
            return 2
        print("all schedule files match the manifest and parse")
        return 0
    if args.action == "add":
        if not args.file or not args.kind or not args.effective_from:
            print("pricer schedules add needs FILE --kind KIND --effective-from DATE", file=sys.stderr)
            return 2
        v = sch.add_schedule(
            args.file, args.kind, dt.date.fromisoformat(args.effective_from), release=args.release,
            root=root, effective_to=dt.date.fromisoformat(args.effective_to) if args.effective_to else None)
        print(f"added {v.kind} {v.release} effective {v.effective_from} from {v.path}")
        return 0
    return 1


def _prior_options(p) -> None:
    p.add_argument("--prior", help="priced lines in effect that replacement (7) and void (8) "
                                   "claims refer to (an earlier -o)")
    p.add_argument("--prior-adjustments", help="their adjustments (the earlier --adjustments)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pricer", description="Professional claim-line repricing on CMS schedules.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("reprice", help="price claim lines (no INPUT: the bundled sample)")
    r.add_argument("input", nargs="?", help="claims: a Parquet or CSV file, a directory or a "
                                            "glob of them")
    r.add_argument("-o", "--output", help="priced lines: a .parquet or .csv file, or a "
                                          "directory for the streamed, resumable batch")
    r.add_argument("--contract", help="contract TOML (default: the illustrative contract)")
    r.add_argument("--adjustments", help="write the 835-style adjustments here")
    r.add_argument("--schedules", help="folder with manifest.toml (default: bundled CMS tables)")
    _prior_options(r)
    r.add_argument("--reversals", help="write the reversal lines here (default: beside -o, "
                                       "NAME.reversals.parquet)")
    r.add_argument("--reversal-adjustments", help="write the reversals' adjustments here "
                                                  "(default: beside --adjustments)")
    r.add_argument("--batch-rows", type=int, default=1_000_000,
                   help="batch: lines priced at a time (default 1,000,000)")
    r.add_argument("--resume", action="store_true",
                   help="batch: finish the run in -o DIR, skipping its complete parts")
    r.add_argument("--keep-going", action="store_true",
                   help="batch: list a damaged or different file as failed and price the others")
    r.add_argument("--plans", help="benefit plans TOML: cost shares of lines with a plan_id "
                   "(docs/cost_share.md)")
    r.add_argument("--accumulators", help="starting accumulator balances (Parquet or CSV, as "
                   "--accumulators-out writes them)")
    r.add_argument("--accumulators-out", help="write the ending accumulator balances here")
    r.add_argument("--workers", type=int, help="batch: price on a local Dask cluster of N processes")
    r.add_argument("--scheduler", help="batch: price on the Dask scheduler at ADDRESS")
    r.set_defaults(func=cmd_reprice)

    e = sub.add_parser("explain", help="explain how each line of one claim was priced")
    e.add_argument("input", nargs="?", help="claims file: Parquet or CSV (default: the sample)")
    e.add_argument("--claim", required=True, help="the claim_id to explain")
    e.add_argument("--contract", help="contract TOML (default: the illustrative contract)")
    e.add_argument("--schedules", help="folder with manifest.toml (default: bundled CMS tables)")
    e.add_argument("--plans", help="benefit plans TOML, as for reprice (the whole input is then "
                   "priced: cost shares accumulate over every line of a member)")
    e.add_argument("--accumulators", help="starting accumulator balances, as for reprice")
    _prior_options(e)
    e.set_defaults(func=cmd_explain)

    w = sub.add_parser("whatif", help="compare contracts on the same claims: report.md + charts",
                       description="Price the claims under each contract and write DIR/report.md "
                                   "(totals, the change by group against the first contract, "
                                   "percent of Medicare per contract) with its PNG charts. One "
                                   "--contract gives its totals and percent of Medicare only.")
    w.add_argument("input", nargs="?", help="claims: a Parquet or CSV file (default: the sample)")
    w.add_argument("--contract", action="append", required=True, metavar="TOML",
                   help="contract file; repeat: the first is the baseline")
    w.add_argument("--name", action="append", help="scenario name of each --contract, in order "
                                                   "(default: the file names without .toml)")
    w.add_argument("--by", default="service_category",
                   help="group columns, comma separated: service_category, line_of_business or "
                        "any claims column; '' for totals only (default: service_category)")
    w.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="folder for report.md and the charts")
    w.add_argument("--schedules", help="folder with manifest.toml (default: bundled CMS tables)")
    w.set_defaults(func=cmd_whatif)

    s = sub.add_parser("synth", help="write synthetic claim lines")
    s.add_argument("--lines", type=int, required=True)
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--invalid-share", type=float, default=0.0)
    s.add_argument("--plans", metavar="FILE",
                   help="a plans file (TOML): give every member one of its plans (plan_id, "
                        "subscriber_id, rendering_provider_type; no cost shares on the lines)")
    s.set_defaults(func=cmd_synth)

    c = sub.add_parser("schedules", help="list, validate or add CMS reference tables")
    c.add_argument("action", choices=["list", "validate", "add"])
    c.add_argument("file", nargs="?")
    c.add_argument("--kind", choices=["rvu", "gpci", "anes_cf", "anes_base", "asp", "locco", "oppscap"])
    c.add_argument("--effective-from")
    c.add_argument("--effective-to")
    c.add_argument("--release")
    c.add_argument("--schedules", help="folder with manifest.toml (default: bundled)")
    c.set_defaults(func=cmd_schedules)
    return p


def main(argv: list[str] | None = None) -> int:
    from pricer.claims import InputError
    from pricer.contract import ContractError
    from pricer.cms_files import ScheduleError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, ContractError, ScheduleError) as exc:
        print(f"pricer: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the operator gets one line, not a traceback
        print(f"pricer: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
