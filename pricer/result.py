"""The priced result: lines, 835-style adjustments and a summary, as polars frames.

Kernel outputs are integers; they become Arrow columns here without a per-line Python step:
money as ``Decimal(18, 2)`` straight from the cents buffer, names as dictionary columns.
"""
from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

from pricer.vocabulary import FLAGS, GROUPS, LINE_STATUSES, METHODS, REASONS, STEPS

MONEY = pl.Decimal(18, 2)

OUTPUT_COLUMNS = (
    "line_status", "pricing_method", "fee_schedule_amount", "allowed_amount",
    "deductible_applied", "copay_applied", "coinsurance_applied", "paid_amount",
    "member_liability", "cob_reduction", "sequestration_reduction", "locality",
    "schedule_version", "total_rvu", "conversion_factor",
    "anesthesia_base_units", "anesthesia_time_units", "drug_coinsurance_pct", "gap_fill_source",
    "flags", "reason",
)


def decimal_array(values: np.ndarray, scale: int, valid: np.ndarray | None = None,
                  precision: int = 18, negative_null: bool = False) -> pa.Array:
    """An Arrow decimal128 array whose unscaled integers are ``values`` (no rounding).

    ``values`` is int64 ``[n]``, or ``[n, 2]`` already in decimal128 layout (used as is).
    ``negative_null``: a kernel output whose -1 means null (``[n, 2]`` only).
    """
    words = np.ascontiguousarray(values) if values.ndim == 2 else decimal_words(values)
    n = len(words)
    if negative_null:  # one compiled pass, not a comparison, a test and a packing
        bits, nulls = _nonnegative_bits(words)
        validity = pa.py_buffer(bits) if nulls else None
    else:
        validity, nulls = _validity(valid, n)
    return pa.Array.from_buffers(pa.decimal128(precision, scale), n,
                                 [validity, pa.py_buffer(words)], null_count=nulls)


def decimal_words(values: np.ndarray) -> np.ndarray:
    """Integers as decimal128's ``[n, 2]`` int64 words: the value, then its sign extension
    (the kernel's layout of a decimal output)."""
    values = np.asarray(values, dtype=np.int64)
    words = np.empty((len(values), 2), np.int64)
    words[:, 0] = values
    np.right_shift(values, 63, out=words[:, 1])  # sign extension into the high word
    return words


@njit(cache=True, nogil=True)
def _nonnegative_bits(words):
    """Arrow validity bits of ``words[:, 0] >= 0`` and the count of the others."""
    n = words.shape[0]
    bits = np.zeros((n + 7) // 8, np.uint8)
    nulls = 0
    for i in range(n):
        if words[i, 0] >= 0:
            bits[i >> 3] |= np.uint8(1 << (i & 7))
        else:
            nulls += 1
    return bits, nulls


def _validity(valid: np.ndarray | None, n: int) -> tuple[pa.Buffer | None, int]:
    """Arrow validity bits packed from ``valid`` (None when every value is valid) and the
    null count."""
    if valid is None or valid.all():
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), int(n - np.count_nonzero(valid))


def names_array(codes: np.ndarray, names, valid: np.ndarray | None = None) -> pa.Array:
    """A dictionary (categorical) array of ``names[codes]``; null where not ``valid``.

    The kernel's codes (0 .. len(names) - 1) are the indices as they are, viewed as signed
    integers of their width (no conversion pass over fresh memory); validity bits are packed
    from ``valid``."""
    codes = np.ascontiguousarray(codes)
    width = codes.dtype.itemsize
    if codes.dtype.kind in "iu" and width in (1, 2, 4) and len(names) <= 1 << (8 * width - 1):
        index_type = {1: pa.int8(), 2: pa.int16(), 4: pa.int32()}[width]
        codes = codes.view(f"int{8 * width}")
    else:
        index_type, codes = pa.int32(), codes.astype(np.int32)
    n = len(codes)
    bits, nulls = _validity(valid, n)
    idx = pa.Array.from_buffers(index_type, n, [bits, pa.py_buffer(codes)], null_count=nulls)
    return pa.DictionaryArray.from_arrays(idx, pa.array(list(names), pa.string()))


@njit(cache=True, nogil=True)
def _flag_lists(flags, n_flags):
    n = flags.shape[0]
    offsets = np.zeros(n + 1, np.int32)
    for i in range(n):
        f = flags[i]
        k = 0
        while f:
            k += f & 1
            f >>= 1
        offsets[i + 1] = offsets[i] + k
    values = np.empty(offsets[n], np.int32)
    for i in range(n):
        p = offsets[i]
        for b in range(n_flags):
            if flags[i] >> b & 1:
                values[p] = b
                p += 1
    return offsets, values


def flags_array(flags: np.ndarray) -> pa.Array:
    """list<string> of flag names, alphabetical (FLAGS is kept sorted)."""
    offsets, values = _flag_lists(flags.astype(np.uint32), len(FLAGS))
    names = pa.array(list(FLAGS), pa.string()).take(pa.array(values))
    return pa.ListArray.from_arrays(pa.array(offsets), names)


class PricingResult:
    """Every priced line, its adjustments, and summaries.

    The priced lines are held as an Arrow table; the polars frames are made on first use, so
    a batch that only writes Parquet never pays for them.

    Attributes
    ----------
    lines : polars.DataFrame
        Every input column plus the output columns of interfaces.md, in input order.
    adjustments : polars.DataFrame
        ``claim_id, line_number, group_code, carc, amount, step, line_index``: 835-style rows
        such that each line's billed charge = paid amount + its adjustments.
    reversals : polars.DataFrame
        The prior lines that replacement and void claims reverse: each as it was priced, its
        amounts negated, ``line_status`` "reversed", ``reversed_by_claim_id`` the claim that
        reverses it. Not rows of the input: they are never mixed into ``lines``.
    reversal_adjustments : polars.DataFrame
        Their adjustments, negated, with ``reversed_by_claim_id``.
    claim_changes : polars.DataFrame
        One row per claim of the input: its new pricing, the reversal of its original (for a
        replacement or void) and the net change (``net_paid`` etc.).
    accumulators : polars.DataFrame
        Benefit-plan balances after the run (docs/cost_share.md): one row per member, plan
        and plan year; no rows when no line names a plan.
    plans : Plans or None
        The benefit plans the lines were priced with (``explain`` quotes their terms).
    table : pyarrow.Table
        The priced lines in Arrow; once ``lines`` is built, its Arrow view.
    """

    def __init__(self, table: pa.Table, adjustments_table, contract=None, schedules=None,
                 links=None, reversals=None, reversal_adjustments=None, accumulators=None,
                 plans=None):
        self._table = table                      # pyarrow.Table of the priced lines
        self._rows = table.num_rows
        self._adjustments_table = adjustments_table  # pyarrow.Table, or a callable making one
        self.contract = contract
        self.schedules = schedules
        self.plans = plans                       # the benefit plans the lines were priced with
        self._lines = None
        self._adjustments = None
        self._links = links
        self._reversals = reversals
        self._reversal_adjustments = reversal_adjustments
        self._claim_changes = None
        self._accumulators = accumulators  # a callable making the frame, or None

    @property
    def accumulators(self) -> pl.DataFrame:
        if callable(self._accumulators):
            self._accumulators = self._accumulators()
        if self._accumulators is None:
            from pricer.benefits import BALANCE_COLUMNS
            self._accumulators = pl.DataFrame(schema={
                c: (pl.Int32 if c == "plan_year" else MONEY if c.endswith("_met")
                    else pl.String) for c in BALANCE_COLUMNS})
        return self._accumulators

    @property
    def table(self) -> pa.Table:
        """The priced lines as a pyarrow Table (what the batch writes). Once ``lines`` is
        built, the frame holds the columns and this is its Arrow view."""
        if self._table is None:
            self._table = self._lines.to_arrow()
        return self._table

    @property
    def lines(self) -> pl.DataFrame:
        if self._lines is None:
            # the frame takes the Arrow table's columns one by one, and the table is let go:
            # holding both at once would double the memory of 10 M priced lines
            table, self._table = self._table, None
            self._lines = lines_frame(table)
        return self._lines

    @property
    def adjustments_table(self) -> pa.Table:
        """The adjustments as a pyarrow Table (built on first use)."""
        if callable(self._adjustments_table):
            self._adjustments_table = self._adjustments_table()
        return self._adjustments_table

    @property
    def adjustments(self) -> pl.DataFrame:
        if self._adjustments is None:
            self._adjustments = pl.from_arrow(self.adjustments_table)
        return self._adjustments

    @property
    def reversals(self) -> pl.DataFrame:
        if self._reversals is None:  # none: the lines' shape, no rows
            self._reversals = self._no_lines().with_columns(
                pl.lit(None, pl.String).alias("reversed_by_claim_id"))
        return self._reversals

    def _no_lines(self) -> pl.DataFrame:
        """The lines' columns, no rows (without building the lines)."""
        if self._lines is not None:
            return self._lines.clear()
        return lines_frame(self._table.slice(0, 0))

    @property
    def reversal_adjustments(self) -> pl.DataFrame:
        if self._reversal_adjustments is None:  # none: the adjustments' columns, no rows
            keys = self._no_lines().select("claim_id", "line_number")
            self._reversal_adjustments = keys.with_columns(
                pl.lit(None, pl.Categorical).alias("group_code"),
                pl.lit(None, pl.Int32).alias("carc"), pl.lit(None, MONEY).alias("amount"),
                pl.lit(None, pl.Categorical).alias("step"),
                pl.lit(None, pl.String).alias("reversed_by_claim_id"))
        return self._reversal_adjustments

    @property
    def claim_changes(self) -> pl.DataFrame:
        """Net change per claim: new pricing + reversal of the original (see replacements)."""
        if self._claim_changes is None:
            from pricer.replacements import claim_changes
            self._claim_changes = claim_changes(self.lines, self._links, self._reversals)
        return self._claim_changes

    def __repr__(self) -> str:
        return f"PricingResult({self._rows} lines)"

    def explain(self, claim_id) -> str:
        """How every line of one claim was priced: table values, adjustment steps, flags.

        Examples
        --------
        >>> import pricer
        >>> from pricer.cli import SAMPLE  # the bundled sample claims (CSV)
        >>> r = pricer.price(SAMPLE)
        >>> print(r.explain(r.lines["claim_id"][0]).splitlines()[0])  # doctest: +ELLIPSIS
        Claim ...: ... line(s), billed ..., allowed ..., paid ..., member ...
        """
        from pricer.explain import explain
        return explain(self, claim_id)

    def write(self, path, adjustments=None, reversals=None, reversal_adjustments=None) -> None:
        """Write the priced lines (and optionally the adjustments, the reversals and their
        adjustments) to Parquet, or CSV by suffix.

        CSV cannot hold lists: ``flags`` is joined with ``;`` there.
        """
        write_frame(self.lines, path)
        if adjustments is not None:
            write_frame(self.adjustments, adjustments)
        if reversals is not None:
            write_frame(self.reversals, reversals)
        if reversal_adjustments is not None:
            write_frame(self.reversal_adjustments, reversal_adjustments)

    def plot_allowed(self, by: str = "service_category"):
        """A bar chart of the allowed amount by service category or any column of the lines
        (:func:`pricer.plots.plot_allowed`); returns a matplotlib Figure."""
        from pricer.plots import plot_allowed
        return plot_allowed(self, by=by)

    def summary(self) -> pl.DataFrame:
        """Totals by ``line_of_business`` and ``pricing_method``.

        Billed totals count lines whose billed charge is a valid amount.
        """
        return summarize(self.lines)


def lines_frame(table: pa.Table) -> pl.DataFrame:
    """The polars frame of priced lines in Arrow, taking the table's columns one at a time.

    Member and subscriber IDs are near-unique: as text they convert faster and read better
    than a categorical with a million categories. Columns keep the table's chunks (no
    rechunk): fixed-width columns are then shared with Arrow, not copied. Other dictionary
    columns are first made one chunk of one dictionary: polars makes them one categorical
    chunk anyway, and converts one chunk faster than many (a Parquet row group each).
    """
    columns = []
    for name in table.column_names:
        column = table.column(name)
        if name in ("member_id", "subscriber_id") and pa.types.is_dictionary(column.type):
            column = column.cast(pa.string())
        else:
            column = one_dictionary(column)
        table = table.drop_columns([name])  # so each Arrow column is freed once converted
        columns.append(pl.from_arrow(column, rechunk=False).alias(name))
        del column
    return pl.DataFrame(columns)


def one_dictionary(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """A dictionary column of several chunks as one chunk of one dictionary (polars converts
    that faster, into the same one-chunk categorical); other columns as they are."""
    if pa.types.is_dictionary(column.type) and column.num_chunks > 1:
        return column.unify_dictionaries().combine_chunks()
    return column


def write_frame(frame: pl.DataFrame, path) -> None:
    """Parquet by default; CSV when the name ends in .csv (list columns joined with ';')."""
    from pathlib import Path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.with_columns(
            pl.col(c).list.join(";") for c, t in frame.schema.items() if isinstance(t, pl.List)
        ).write_csv(path)
    else:
        frame.write_parquet(path, compression="zstd", compression_level=1)  # same size, faster


def summarize(lines: pl.DataFrame, counted: str | None = None) -> pl.DataFrame:
    """Lines, billed, allowed, paid and member liability by LOB and pricing method.

    ``counted`` names a column of line counts when ``lines`` holds partial sums already.
    """
    billed = pl.col("billed_charge")
    if lines.schema.get("billed_charge") not in (MONEY,) and not isinstance(
            lines.schema.get("billed_charge"), pl.Decimal):
        billed = billed.cast(pl.String).str.strip_chars().cast(pl.Decimal(18, 2), strict=False)
    return (
        lines.group_by(pl.col("line_of_business").cast(pl.String).str.strip_chars().str.to_lowercase(),
                       pl.col("pricing_method").cast(pl.String))
        .agg(
            (pl.col(counted).sum() if counted else pl.len()).alias("lines"),
            billed.cast(MONEY, strict=False).sum().alias("billed"),
            pl.col("allowed_amount").sum().alias("allowed"),
            pl.col("paid_amount").sum().alias("paid"),
            pl.col("member_liability").sum().alias("member_liability"),
        )
        .sort("line_of_business", "pricing_method")
    )


def adjustments_table(claim_id: pa.ChunkedArray, line_number: pa.ChunkedArray, out, enc) -> pa.Table:
    """One row per adjustment, in line order (slots within a line in §12 order:
    ``adjustments_nb``)."""
    from pricer.adjustments_nb import adjustment_rows_nb
    rows, group, carc, amount, step = adjustment_rows_nb(
        out.status, out.carc, out.policy_step, out.claim_step, enc.billed, enc.billed_ok,
        out.mue_denied, out.fee_full, out.fee_cut, out.allowed, out.deductible, out.copay,
        out.coinsurance, out.cob, out.seq)
    take = pa.array(rows)
    return pa.table({
        "claim_id": claim_id.take(take),
        "line_number": line_number.take(take),
        "group_code": names_array(group, GROUPS),
        "carc": pa.array(carc),
        "amount": decimal_array(amount, 2),
        "step": names_array(step, STEPS),
        "line_index": take,
    })


THREADED_FROM = 100_000  # below, two threads cost more than they save


def output_columns(out, enc, arrays) -> dict[str, pa.Array]:
    """The output columns of interfaces.md from the kernel's arrays.

    Each column is built apart from the others; from ``THREADED_FROM`` lines they are built
    on two threads (numpy, Arrow and the compiled passes here run without Python's lock).
    """
    from pricer.pricing_nb import V_ANES, V_ASP, V_GAPFILL, V_RVU
    from pricer.vocabulary import REJECTED, VOID

    n = len(out.status)
    sched = arrays.sched
    versions = ["", *sched.rvu_release, *sched.anes_release, *sched.asp_release, "GAPFILL"]
    base = {V_RVU: 1, V_ANES: 1 + len(sched.rvu_release),
            V_ASP: 1 + len(sched.rvu_release) + len(sched.anes_release)}
    offset = np.zeros(5, np.int64)
    for kind, b in base.items():
        offset[kind] = b

    def schedule_version():
        vcode = np.where(out.version_kind == V_GAPFILL, len(versions) - 1,
                         offset[out.version_kind] + out.version_idx)
        return names_array(vcode, versions, out.version_kind != 0)

    def locality():  # the locality the line was priced in; rejected and void lines: nowhere
        shown = (enc.locality >= 0) & (out.status != REJECTED) & (out.status != VOID)
        return names_array(np.where(shown, enc.locality, 0), sched.localities, shown)

    gsources = arrays.gap_fill_sources or [""]
    build = {
        "line_status": lambda: names_array(out.status, LINE_STATUSES),
        "pricing_method": lambda: names_array(out.method, METHODS),
        "fee_schedule_amount": lambda: decimal_array(out.fee, 2, negative_null=True),
        "allowed_amount": lambda: decimal_array(out.allowed, 2),
        "deductible_applied": lambda: decimal_array(out.deductible, 2),
        "copay_applied": lambda: decimal_array(out.copay, 2),
        "coinsurance_applied": lambda: decimal_array(out.coinsurance, 2),
        "paid_amount": lambda: decimal_array(out.paid, 2),
        "member_liability": lambda: decimal_array(out.liability, 2),
        "cob_reduction": lambda: decimal_array(out.cob, 2),
        "sequestration_reduction": lambda: decimal_array(out.seq, 2),
        "locality": locality,
        "schedule_version": schedule_version,
        "total_rvu": lambda: decimal_array(out.total_rvu, 2, negative_null=True),
        "conversion_factor": lambda: decimal_array(out.cf, 4, negative_null=True),
        "anesthesia_base_units": lambda: decimal_array(out.base_units, 1, negative_null=True),
        "anesthesia_time_units": lambda: decimal_array(out.time_units, 1, negative_null=True),
        "drug_coinsurance_pct": lambda: decimal_array(out.drug_coins, 3, negative_null=True),
        "gap_fill_source": lambda: names_array(np.maximum(out.gap_source, 0), gsources,
                                               out.gap_source >= 0),
        "flags": lambda: flags_array(out.flags),
        "reason": lambda: names_array(out.reason, REASONS, out.reason != 0),
    }
    if n < THREADED_FROM:
        return {name: make() for name, make in build.items()}
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2, thread_name_prefix="pricer-output") as pool:
        return dict(zip(build, pool.map(lambda make: make(), build.values())))
