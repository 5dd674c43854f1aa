"""Plotly figures for the Inspect tab, built from each method's `explain()` JSON.

Pure (no Gradio), so they are unit-tested. Tokens go on numeric axes with
tick labels, so repeated words ("the", "the") stay separate cells.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import plotly.graph_objects as go

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


def gate_histogram(per_dimension: Sequence[Sequence[float]], tokens: Sequence[str]) -> go.Figure:
    """Distribution of the gate over every (word, dimension): 1 = contextual, 0 = mapped static."""
    fig = go.Figure()
    for tok, row in zip(tokens, per_dimension):
        fig.add_trace(go.Histogram(x=list(map(float, row)), name=tok, opacity=0.6, nbinsx=30))
    fig.update_layout(barmode="overlay", xaxis_title="gate value per dimension (1 = contextual, 0 = static)", yaxis_title="dimensions")
    return _layout(fig, "VXLM gate per dimension (one histogram per word)")


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


def bar_chart(values: Mapping[str, float], title: str) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(values), y=[float(v) for v in values.values()], text=[f"{float(v):.2f}" for v in values.values()], textposition="auto"))
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, title, height=260)


def explain_figures(method: str, data: Mapping[str, Any]) -> dict[str, go.Figure]:
    """Figures for one `explain()` output, keyed: tokens, hist, t2s, s2t, tags, heads."""
    figs: dict[str, go.Figure] = {}
    words = data.get("words")
    if isinstance(words, list) and words and "gate" in words[0]:  # VXLM, and CTAM's student (VXLM inside)
        tokens = [w["text"] for w in words]
        figs["tokens"] = token_heatmap(tokens, [w["gate"] for w in words], "Gate per word (mean over dimensions; 1 = contextual, 0 = mapped static)", "gate")
        per_dim = data.get("gate_per_dimension")
        if per_dim:
            figs["hist"] = gate_histogram(per_dim, tokens)
    att = data.get("attention")
    if isinstance(att, Mapping) and "teacher_to_student" in att:
        s_tok, t_tok = att.get("student_tokens", []), att.get("teacher_tokens", [])
        figs["t2s"] = matrix_heatmap(att["teacher_to_student"], t_tok, s_tok, "CTAM attention teacher → student", "teacher (English)", "student")
        figs["s2t"] = matrix_heatmap(att["student_to_teacher"], s_tok, t_tok, "CTAM attention student → teacher", "student", "teacher (English)")
    elif isinstance(att, Mapping) and "weights" in att and att.get("tokens"):  # LFD-RT fusion attention
        w = att["weights"]
        figs["tokens"] = token_heatmap(att["tokens"], w, "LFD-RT fusion attention per sub-token", "weight", zmax=max(w) if w else 1.0)
    if data.get("tag_probs") and data.get("tokens"):
        probs = data["tag_probs"]
        figs["tags"] = matrix_heatmap(probs, data["tokens"], data.get("tags", []), f"{method} tag probabilities per word (BIES × polarity)", "word", "tag")
    heads = data.get("heads")
    if isinstance(heads, Mapping) and heads:
        fig = go.Figure()
        for head, probs in heads.items():
            fig.add_trace(go.Bar(name=head, x=list(probs), y=[float(v) for v in probs.values()]))
        fig.update_layout(barmode="group")
        fig.update_yaxes(range=[0, 1])
        figs["heads"] = _layout(fig, "LFD-RT: both heads" + (" (agree)" if data.get("heads_agree") else " (disagree)"), 260)
    return figs
