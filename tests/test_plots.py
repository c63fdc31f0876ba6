"""pricer.plots on the real what-if frames of the bundled sample: bars, points, labels, PNGs."""
from __future__ import annotations

import doctest
import subprocess
import sys

import polars as pl
import pytest

import pricer
from pricer import plots
from pricer.cli import SAMPLE
from pricer.whatif import SERVICE_CATEGORIES

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def scenarios(contract):
    proposed = contract.replace_lob("commercial", conversion_factor="59.74")
    radiology = contract.replace_lob("commercial", carve_outs=[
        {"hcpcs": "99385", "fee": 150},
        {"hcpcs_range": "70010-79999", "percent_of_medicare": 1.10},
    ])
    return {"current": contract, "proposed": proposed, "radiology": radiology}


@pytest.fixture(scope="module")
def by_category(scenarios):
    return pricer.compare(SAMPLE, scenarios, by="service_category")


@pytest.fixture(scope="module")
def medicare(contract):
    return pricer.percent_of_medicare(SAMPLE, contract, by="service_category")


def _bars(fig):
    return fig.axes[0].patches


def _ylabels(fig):
    return [t.get_text() for t in fig.axes[0].get_yticklabels()]


def _texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def _saves_png(fig, path):
    fig.savefig(path)
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 2_000


def test_plot_compare_by_category(by_category, tmp_path):
    from matplotlib.figure import Figure
    fig = plots.plot_compare(by_category, "paid")
    assert isinstance(fig, Figure)
    assert len(_bars(fig)) == by_category.height == len(SERVICE_CATEGORIES)
    assert _ylabels(fig) == [str(c) for c in by_category["service_category"]]
    # the default scenario is the second: bars are its dollars, labels its percent
    widths = [b.get_width() for b in _bars(fig)]
    assert widths == [float(v) for v in by_category["paid_change_proposed"]]
    assert _texts(fig) == [f"{p:+.2f} %" for p in by_category["paid_change_pct_proposed"]]
    assert "proposed vs current" in fig.axes[0].get_title()
    _saves_png(fig, tmp_path / "compare.png")


def test_plot_compare_other_scenario_and_measure(by_category):
    fig = plots.plot_compare(by_category, "allowed", scenario="radiology")
    widths = {label: b.get_width() for label, b in zip(_ylabels(fig), _bars(fig))}
    # the carve-out moves radiology only
    assert widths["radiology"] == float(by_category.filter(
        pl.col("service_category") == "radiology")["allowed_change_radiology"][0]) != 0
    assert widths["E&M"] == 0.0


def test_plot_compare_totals_is_one_bar(scenarios, tmp_path):
    totals = pricer.compare(SAMPLE, scenarios)
    fig = plots.plot_compare(totals)
    assert len(_bars(fig)) == 1 and _ylabels(fig) == ["total"]
    assert _bars(fig)[0].get_width() == float(totals["paid_change_proposed"][0]) > 0
    _saves_png(fig, tmp_path / "total.png")


def test_plot_compare_sums_up_to_the_first_by_column(scenarios):
    two = pricer.compare(SAMPLE, scenarios, by=["line_of_business", "service_category"])
    one = pricer.compare(SAMPLE, scenarios, by="line_of_business")
    fig = plots.plot_compare(two, "paid")
    assert _ylabels(fig) == one["line_of_business"].to_list()
    assert [b.get_width() for b in _bars(fig)] == [float(v) for v in one["paid_change_proposed"]]
    assert _texts(fig) == ["n/a" if p is None else f"{p:+.2f} %"
                           for p in one["paid_change_pct_proposed"]]


def test_plot_compare_refuses_what_it_cannot_draw(by_category, contract):
    with pytest.raises(ValueError, match="'paid_change_nope'"):
        plots.plot_compare(by_category, scenario="nope")
    with pytest.raises(ValueError, match="'lines'"):
        plots.plot_compare(by_category.drop("lines"))
    with pytest.raises(ValueError, match="'allowed_change_pct_proposed'"):
        plots.plot_compare(by_category.drop("allowed_change_pct_proposed"), "allowed")
    with pytest.raises(ValueError, match="measure"):
        plots.plot_compare(by_category, "billed")
    alone = pricer.compare(SAMPLE, {"current": contract})
    with pytest.raises(ValueError, match="paid_change_"):
        plots.plot_compare(alone)


def test_plot_sweep_points(contract, tmp_path):
    values = [56, 57, 58, 59, 60]
    s = pricer.sweep(SAMPLE, contract, "lob.commercial.conversion_factor", values)
    fig = plots.plot_sweep(s)
    (line,) = fig.axes[0].lines
    assert list(line.get_xdata()) == [float(v) for v in values]
    assert list(line.get_ydata()) == [float(v) for v in s["paid"]]
    both = plots.plot_sweep(s, "both")
    assert [ln.get_label() for ln in both.axes[0].lines] == ["allowed", "paid"]
    assert all(len(ln.get_xdata()) == len(values) for ln in both.axes[0].lines)
    assert both.axes[0].yaxis.get_major_formatter()(85_000, 0) == "$85,000"
    _saves_png(both, tmp_path / "sweep.png")


def test_plot_sweep_text_values(contract):
    s = pricer.sweep(SAMPLE, contract, "lob.commercial.conversion_factor", [56, "cms", 60])
    fig = plots.plot_sweep(s, "allowed")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["56", "cms", "60"]
    assert len(fig.axes[0].lines[0].get_xdata()) == 3


def test_plot_sweep_missing_column(contract):
    s = pricer.sweep(SAMPLE, contract, "lob.commercial.conversion_factor", [56, 60])
    with pytest.raises(ValueError, match="'value'"):
        plots.plot_sweep(s.drop("value"))
    with pytest.raises(ValueError, match="'allowed'"):
        plots.plot_sweep(s.drop("allowed"), "both")


def test_plot_percent_of_medicare(medicare, tmp_path):
    fig = plots.plot_percent_of_medicare(medicare)
    ax = fig.axes[0]
    assert len(_bars(fig)) == medicare.height
    assert _ylabels(fig) == [str(c) for c in medicare["service_category"]]
    assert _texts(fig) == ["n/a" if p is None else f"{p:.1f} %"
                           for p in medicare["percent_of_medicare"]]
    (reference,) = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert list(reference.get_xdata()) == [100, 100]
    _saves_png(fig, tmp_path / "pom.png")


def test_plot_percent_of_medicare_side_by_side(scenarios):
    frames = {n: pricer.percent_of_medicare(SAMPLE, scenarios[n], by="line_of_business")
              for n in ("current", "radiology")}
    fig = plots.plot_percent_of_medicare(frames)
    assert len(_bars(fig)) == 2 * frames["current"].height
    assert _ylabels(fig) == frames["current"]["line_of_business"].to_list()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "current" in legend and "radiology" in legend


def test_plot_percent_of_medicare_totals_and_missing_column(contract, medicare):
    fig = plots.plot_percent_of_medicare(pricer.percent_of_medicare(SAMPLE, contract))
    assert _ylabels(fig) == ["total"]
    with pytest.raises(ValueError, match="'percent_of_medicare'"):
        plots.plot_percent_of_medicare(medicare.drop("percent_of_medicare"))


def test_plot_allowed(contract, tmp_path):
    result = pricer.price(SAMPLE, contract=contract)
    fig = plots.plot_allowed(result)
    total = result.lines["allowed_amount"].sum()
    assert _ylabels(fig) == [c for c in SERVICE_CATEGORIES
                             if c in set(pricer.service_category(result.lines["hcpcs"]))]
    assert sum(b.get_width() for b in _bars(fig)) == pytest.approx(float(total))
    by_lob = plots.plot_allowed(result, by="line_of_business")
    assert len(_bars(by_lob)) == result.lines["line_of_business"].n_unique()
    _saves_png(fig, tmp_path / "allowed.png")
    with pytest.raises(ValueError, match="'nope'"):
        plots.plot_allowed(result, by="nope")


def test_figures_are_not_left_open(by_category):
    import matplotlib.pyplot as plt
    before = plt.get_fignums()
    plots.plot_compare(by_category)
    assert plt.get_fignums() == before


def test_import_does_not_load_matplotlib():
    code = "import sys, pricer.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_docstring_examples():
    failures, tried = doctest.testmod(plots, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_result_plot_allowed_is_the_plot_helper(tmp_path):
    import pricer
    from pricer.cli import SAMPLE
    fig = pricer.price(SAMPLE).plot_allowed()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()]  # one label per category
    fig.savefig(tmp_path / "allowed.png")
    assert (tmp_path / "allowed.png").stat().st_size > 1000
    assert pricer.plots.plot_allowed is not None
