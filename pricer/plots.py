"""Charts of the what-if frames (``pricer.compare``, ``pricer.sweep``,
``pricer.percent_of_medicare``) and of a priced result, as matplotlib figures.

Each function returns a ``matplotlib.figure.Figure``: shown by a notebook when it is a cell's
last value, saved with ``fig.savefig("chart.png")``. The figures are closed in pyplot as soon
as they are drawn, so a notebook shows each once and a script running many of them holds no
open figures. matplotlib is imported on first use (``import pricer`` does not need it); when
nothing has chosen a backend, the non-interactive ``Agg`` is used, so no window ever opens.

Money is Decimal in the frames; it becomes float here only to be drawn.
"""
from __future__ import annotations

from collections.abc import Mapping

import polars as pl

# bars of an increase and of a decrease (a payer's cost going up / down)
_UP, _DOWN, _NEUTRAL = "#c44e52", "#4c72b0", "#55a868"
_SERIES = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")
_MEASURES = ("allowed", "paid")


def _pyplot():
    """pyplot, on ``Agg`` unless a backend was chosen (a notebook's inline one, MPLBACKEND)."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("pricer.plots draws with matplotlib: pip install matplotlib "
                          "(or pricer's dev extra)") from None
    chosen = getattr(matplotlib.rcParams, "_get_backend_or_none", None)
    if chosen is not None and chosen() is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _figure(n_rows: int, width: float = 8.0):
    """A new figure and its axes, tall enough for ``n_rows`` horizontal bars."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(width, max(3.0, 1.4 + 0.42 * n_rows)), layout="constrained")
    plt.close(fig)  # returned, not queued for plt.show() or a notebook's end-of-cell display
    return fig, ax


def _dollars(value: float, signed: bool = False) -> str:
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    return f"{sign}${abs(value):,.0f}"


def _dollar_axis(axis, signed: bool = False) -> None:
    from matplotlib.ticker import FuncFormatter
    axis.set_major_formatter(FuncFormatter(lambda v, _: _dollars(v, signed)))


def _floats(series: pl.Series) -> list[float]:
    """Money (Decimal) or numbers as floats for drawing; null -> 0.0."""
    return [0.0 if v is None else float(v) for v in series.to_list()]


def _labels(series: pl.Series) -> list[str]:
    return ["(blank)" if v is None else str(v) for v in series.to_list()]


def _need(frame: pl.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: the frame has no column {missing[0]!r} "
                         f"(columns: {', '.join(frame.columns)})")


def _frame(frame, what: str) -> pl.DataFrame:
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"{what}: a polars DataFrame is needed, got {type(frame).__name__}")
    return frame


def _by_columns(frame: pl.DataFrame, what: str) -> list[str]:
    """The group columns of a what-if frame: those before ``lines``."""
    _need(frame, ["lines"], what)
    return frame.columns[:frame.columns.index("lines")]


def _scenarios(frame: pl.DataFrame) -> list[str]:
    """Scenario names of a ``compare`` frame in order, from its ``allowed_<name>`` columns."""
    return [c[len("allowed_"):] for c in frame.columns
            if c.startswith("allowed_") and not c.startswith("allowed_change_")]


def _groups(frame: pl.DataFrame, by: list[str], what: str) -> tuple[list[str], pl.DataFrame]:
    """Bar labels and the rows to draw: by the first ``by`` column, or one row "total".

    A frame grouped by several columns is summed up to the first one
    (:func:`pricer.whatif.rollup`: money exactly, percentages again from the sums).
    """
    if not by:
        return ["total"] * frame.height, frame
    first = frame[by[0]]
    if first.n_unique() == frame.height:
        return _labels(first), frame
    from pricer.whatif import rollup
    _need(frame, ["lines"], what)
    rows = rollup(frame, by[:1])
    return _labels(rows[by[0]]), rows


def _bar_labels(ax, bars, labels: list[str]) -> None:
    ax.bar_label(bars, labels=labels, padding=3, fontsize=9)
    ax.margins(x=0.18)  # room for the labels beyond the longest bar


def plot_compare(frame: pl.DataFrame, measure: str = "paid", scenario: str | None = None):
    """Horizontal bars of one scenario's change against the baseline, by group.

    Parameters
    ----------
    frame : polars.DataFrame
        The output of :func:`pricer.compare` with at least two scenarios. The bars are by its
        first ``by`` column (summed up to it when there are several); a frame of totals (no
        ``by``) gives one bar, "total".
    measure : {"paid", "allowed"}
        Which amount's change to draw.
    scenario : str, optional
        The scenario to compare with the baseline (the first scenario); default the second.

    Returns
    -------
    matplotlib.figure.Figure
        The change in dollars as bars (increase red, decrease blue), each labelled with the
        change in percent of the baseline ("n/a" where the baseline is 0).

    Raises
    ------
    ValueError
        ``measure`` unknown, or the frame lacks a column the chart needs (named).

    Examples
    --------
    >>> import pricer
    >>> from pricer.cli import SAMPLE
    >>> from pricer.plots import plot_compare
    >>> current = pricer.default_contract()
    >>> proposed = current.replace_lob("commercial", conversion_factor="59.74")
    >>> t = pricer.compare(SAMPLE, {"current": current, "proposed": proposed},
    ...                    by="service_category")
    >>> fig = plot_compare(t, "paid")
    >>> len(fig.axes[0].patches)    # one bar per service category
    9
    >>> fig.savefig("compare_paid.png")  # doctest: +SKIP
    """
    what = "plot_compare"
    frame = _frame(frame, what)
    if measure not in _MEASURES:
        raise ValueError(f"{what}: measure must be 'paid' or 'allowed', got {measure!r}")
    by = _by_columns(frame, what)
    names = _scenarios(frame)
    if scenario is None:
        if len(names) < 2:
            raise ValueError(f"{what}: the frame has no column "
                             f"'{measure}_change_<scenario>': compare two contracts or more")
        scenario = names[1]
    change, pct = f"{measure}_change_{scenario}", f"{measure}_change_pct_{scenario}"
    base = f"{measure}_{names[0]}" if names else f"{measure}_<baseline>"
    _need(frame, [change, pct], what)
    if len(by) > 1:
        _need(frame, [base], what)
    labels, rows = _groups(frame, by, what)
    values = _floats(rows[change])
    fig, ax = _figure(len(labels))
    bars = ax.barh(labels, values, color=[_UP if v > 0 else _DOWN for v in values])
    _bar_labels(ax, bars, ["n/a" if p is None else f"{p:+.2f} %" for p in rows[pct].to_list()])
    ax.invert_yaxis()  # first group at the top, as in the table
    # room for the labels on both sides: bars stop autoscaling at 0, so set the limits here
    lo, hi = min([*values, 0.0]), max([*values, 0.0])
    pad = 0.22 * ((hi - lo) or 1.0)
    ax.set_xlim(lo - pad if lo < 0 else 0.0, hi + pad)
    ax.axvline(0, color="0.3", linewidth=0.8)
    _dollar_axis(ax.xaxis, signed=True)
    ax.set_xlabel(f"{measure} change ($)")
    if by:
        ax.set_ylabel(by[0])
    baseline = names[0] if names else "baseline"
    ax.set_title(f"{measure.capitalize()} change: {scenario} vs {baseline}")
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_sweep(frame: pl.DataFrame, measure: str = "paid"):
    """Total allowed and/or paid against each value of the swept term.

    Parameters
    ----------
    frame : polars.DataFrame
        The output of :func:`pricer.sweep`: ``value`` and ``allowed`` / ``paid``.
    measure : {"paid", "allowed", "both"}
        The line(s) to draw.

    Returns
    -------
    matplotlib.figure.Figure
        A line with a marker per value, y axis in dollars. Numeric values are placed on a
        number line; text values (``"cms"``) one after another in the frame's order.

    Raises
    ------
    ValueError
        ``measure`` unknown, or the frame lacks a column the chart needs (named).

    Examples
    --------
    >>> import pricer
    >>> from pricer.cli import SAMPLE
    >>> from pricer.plots import plot_sweep
    >>> s = pricer.sweep(SAMPLE, pricer.default_contract(), "lob.commercial.conversion_factor",
    ...                  [56, 58, 60, 62])
    >>> fig = plot_sweep(s, "both")
    >>> [len(line.get_xdata()) for line in fig.axes[0].lines]
    [4, 4]
    """
    what = "plot_sweep"
    frame = _frame(frame, what)
    if measure not in (*_MEASURES, "both"):
        raise ValueError(f"{what}: measure must be 'paid', 'allowed' or 'both', got {measure!r}")
    measures = list(_MEASURES) if measure == "both" else [measure]
    _need(frame, ["value", *measures], what)
    value = frame["value"]
    numeric = value.dtype.is_numeric()
    x = _floats(value) if numeric else list(range(frame.height))
    fig, ax = _figure(6)  # a fixed size: not one row per value
    colors = {"allowed": _SERIES[0], "paid": _SERIES[1]}
    for m in measures:
        # text values ("cms") have no distance between them: dotted, not a slope to read
        ax.plot(x, _floats(frame[m]), marker="o", color=colors[m], label=m,
                linestyle="-" if numeric else ":")
    if not numeric:
        ax.set_xticks(x, _labels(value))
    _dollar_axis(ax.yaxis)
    ax.set_xlabel("value")
    ax.set_ylabel("total ($)")
    ax.set_title(f"Total {' and '.join(measures)} by value")
    if len(measures) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return fig


def plot_percent_of_medicare(frame):
    """Bars of the percent of Medicare by group, with a dashed line at 100 %.

    Parameters
    ----------
    frame : polars.DataFrame or mapping of str to polars.DataFrame
        The output of :func:`pricer.percent_of_medicare`; or several, as
        ``{"current": frame1, "proposed": frame2}`` (same ``by``), drawn side by side.
        Bars are by the first ``by`` column (summed up to it when there are several); a frame
        of totals gives one bar, "total".

    Returns
    -------
    matplotlib.figure.Figure
        One horizontal bar per group (and contract), labelled with its percent ("n/a" where
        Medicare allows nothing).

    Raises
    ------
    ValueError
        The frame lacks a column the chart needs (named).

    Examples
    --------
    >>> import pricer
    >>> from pricer.cli import SAMPLE
    >>> from pricer.plots import plot_percent_of_medicare
    >>> p = pricer.percent_of_medicare(SAMPLE, pricer.default_contract(), by="line_of_business")
    >>> fig = plot_percent_of_medicare(p)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()][:2]
    ['commercial', 'dental']
    """
    what = "plot_percent_of_medicare"
    frames = dict(frame) if isinstance(frame, Mapping) else {"": frame}
    if not frames:
        raise ValueError(f"{what}: no frame given")
    series = {}
    for name, f in frames.items():
        f = _frame(f, what)
        by = _by_columns(f, what)
        _need(f, ["percent_of_medicare"], what)
        if len(by) > 1:
            _need(f, ["allowed", "medicare_allowed"], what)
        labels, rows = _groups(f, by, what)
        series[name] = (labels, rows["percent_of_medicare"].to_list(), by)
    groups = list(dict.fromkeys(g for labels, _, _ in series.values() for g in labels))
    n = len(series)
    height = 0.8 / n
    fig, ax = _figure(len(groups) * n)
    for i, (name, (labels, pcts, _)) in enumerate(series.items()):
        at = {g: p for g, p in zip(labels, pcts)}
        y = [k + (i - (n - 1) / 2) * height for k in range(len(groups))]
        values = [at.get(g) for g in groups]
        bars = ax.barh(y, [0.0 if v is None else v for v in values], height=height,
                       color=_SERIES[i % len(_SERIES)] if n > 1 else _NEUTRAL,
                       label=name or None)
        _bar_labels(ax, bars, ["n/a" if v is None else f"{v:.1f} %" for v in values])
    ax.set_yticks(range(len(groups)), groups)
    ax.invert_yaxis()
    ax.axvline(100, color="0.2", linestyle="--", linewidth=1, label="Medicare (100 %)")
    ax.set_xlabel("allowed as % of Medicare (comparable lines)")
    by = next(iter(series.values()))[2]
    if by:
        ax.set_ylabel(by[0])
    ax.set_title("Percent of Medicare")
    handles, names = ax.get_legend_handles_labels()
    # below the axes, where it covers no bar and no label
    fig.legend(handles, names, loc="outside lower center", ncols=len(names), fontsize=9,
               frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_allowed(result, by: str = "service_category"):
    """Bars of the allowed amount of priced lines, by service category or any column.

    Parameters
    ----------
    result : PricingResult or polars.DataFrame
        A result of :func:`pricer.price` (its ``lines`` are used), or such lines.
    by : str
        ``"service_category"`` (derived from ``hcpcs`` when the lines have no such column) or
        any column of the lines.

    Returns
    -------
    matplotlib.figure.Figure
        One horizontal bar per group, labelled with its allowed dollars. Service categories
        keep their fixed order; other groups are sorted, blanks last.

    Raises
    ------
    ValueError
        The lines lack ``allowed_amount`` or the ``by`` column (named).

    Examples
    --------
    >>> import pricer
    >>> from pricer.cli import SAMPLE
    >>> from pricer.plots import plot_allowed
    >>> result = pricer.price(SAMPLE)
    >>> fig = plot_allowed(result, by="line_of_business")
    >>> len(fig.axes[0].patches) == result.lines["line_of_business"].n_unique()
    True
    """
    what = "plot_allowed"
    lines = _frame(getattr(result, "lines", result), what)
    if by == "service_category" and by not in lines.columns:
        from pricer.whatif import service_category
        _need(lines, ["hcpcs", "allowed_amount"], what)
        lines = lines.with_columns(service_category(lines["hcpcs"]))
    _need(lines, [by, "allowed_amount"], what)
    key = pl.col(by)
    if lines[by].dtype == pl.Categorical:
        key = key.cast(pl.String)  # sort by the text, not by the order codes were met
    rows = (lines.group_by(key.alias(by)).agg(pl.col("allowed_amount").fill_null(0).sum())
            .sort(by, nulls_last=True))
    labels = _labels(rows[by])
    values = _floats(rows["allowed_amount"])
    fig, ax = _figure(len(labels))
    bars = ax.barh(labels, values, color=_NEUTRAL)
    _bar_labels(ax, bars, [f"${v:,.2f}" for v in rows["allowed_amount"].to_list()])
    ax.invert_yaxis()
    _dollar_axis(ax.xaxis)
    ax.set_xlabel("allowed ($)")
    ax.set_ylabel(by)
    ax.set_title(f"Allowed by {by}")
    ax.grid(axis="x", alpha=0.3)
    return fig
