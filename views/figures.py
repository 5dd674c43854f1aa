"""Plotly figures for the Inspect tab, one per typed panel of an `explain()` output.

Pure (no Gradio), so they are unit-tested. Tokens go on numeric axes with
tick labels, so repeated words ("the", "the") stay separate cells.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import plotly.graph_objects as go

from xsent_core.methods.panels import Distributions, Matrix, Panel, TokenScores, ValueSpread, panels_of

FONT = "xsent Myanmar, Noto Sans Myanmar, Padauk, Myanmar Text, system-ui, sans-serif"  # the first is shipped (views.layout)


def _angle(labels: Sequence[str]) -> int:
    """Slant tick labels when they would collide (many, or long Burmese words)."""
    return -40 if len(labels) > 8 or sum(len(str(t)) for t in labels) > 40 else 0


def _layout(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(
        title=title, height=height, margin=dict(l=60, r=20, t=50, b=60), font=dict(family=FONT, size=13),
        template="plotly_white",
    )
    return fig


def token_heatmap(tokens: Sequence[str], values: Sequence[float], title: str, colorbar: str, zmin: float = 0.0, zmax: float = 1.0) -> go.Figure:
    """One row of cells, one per token, coloured by its value (gate, attention weight...)."""
    n = len(tokens)
    fig = go.Figure(
        go.Heatmap(
            z=[list(map(float, values))], x=list(range(n)), y=[0], zmin=zmin, zmax=zmax, colorscale="Viridis",
            text=[[f"{t}<br>{v:.3f}" for t, v in zip(tokens, values)]], hoverinfo="text",
            texttemplate="%{z:.2f}", colorbar=dict(title=colorbar),
        )
    )
    fig.update_xaxes(tickmode="array", tickvals=list(range(n)), ticktext=list(tokens), tickangle=_angle(tokens))
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=240)


def value_spread(per_token: Sequence[Sequence[float]], tokens: Sequence[str], title: str, x_label: str) -> go.Figure:
    """Overlaid histograms, one per token, of that token's many values (e.g. a gate per dimension)."""
    fig = go.Figure()
    for tok, row in zip(tokens, per_token):
        fig.add_trace(go.Histogram(x=list(map(float, row)), name=tok, opacity=0.6, nbinsx=30))
    fig.update_layout(barmode="overlay", xaxis_title=x_label, yaxis_title="count")
    return _layout(fig, title)


def matrix_heatmap(matrix: Sequence[Sequence[float]], rows: Sequence[str], cols: Sequence[str], title: str, row_title: str, col_title: str) -> go.Figure:
    """Rows x columns heatmap with tokens on both axes (attention, tag probabilities)."""
    z = [list(map(float, r)) for r in matrix]
    text = [[f"{rows[i]} → {cols[j]}: {v:.3f}" for j, v in enumerate(r)] for i, r in enumerate(z)]
    fig = go.Figure(
        go.Heatmap(z=z, x=list(range(len(cols))), y=list(range(len(rows))), colorscale="Blues", zmin=0.0,
                   text=text, hoverinfo="text", colorbar=dict(title="weight"))
    )
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(cols))), ticktext=list(cols), title=col_title, tickangle=_angle(cols))
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(rows))), ticktext=list(rows), title=row_title, autorange="reversed")
    # title, axis titles and tick labels take ~150 px; every row gets 30 px of its own
    return _layout(fig, title, height=150 + 30 * max(len(rows), 4))


def distributions_chart(series: Mapping[str, Mapping[str, float]], title: str) -> go.Figure:
    """Grouped bars, one group per label, one bar per series (probabilities share a 0-1 axis)."""
    fig = go.Figure()
    for name, values in series.items():
        fig.add_trace(go.Bar(name=name, x=list(values), y=[float(v) for v in values.values()],
                             text=[f"{float(v):.2f}" for v in values.values()], textposition="auto"))
    fig.update_layout(barmode="group", showlegend=len(series) > 1)
    if all(0.0 <= float(v) <= 1.0 for values in series.values() for v in values.values()):
        fig.update_yaxes(range=[0, 1])
    return _layout(fig, title, height=260)


def panel_figure(panel: Panel) -> go.Figure:
    """The drawing for one typed panel (views know panel types, not methods)."""
    if isinstance(panel, TokenScores):
        return token_heatmap(panel.tokens, panel.values, panel.title, panel.value_label, zmax=panel.vmax or 1.0)
    if isinstance(panel, Matrix):
        return matrix_heatmap(panel.values, panel.rows, panel.columns, panel.title, panel.row_label, panel.column_label)
    if isinstance(panel, Distributions):
        return distributions_chart(panel.series, panel.title)
    if isinstance(panel, ValueSpread):
        return value_spread(panel.values, panel.tokens, panel.title, panel.value_label)
    raise TypeError(f"no drawing for panel type {type(panel).__name__}")


def explain_figures(data: Mapping[str, Any]) -> list[tuple[str, go.Figure]]:
    """(title, figure) for each panel of one `explain()` output, in the method's order."""
    return [(panel.title, panel_figure(panel)) for panel in panels_of(data)]
