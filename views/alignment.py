"""Alignment tab: English/Burmese pairs (or a TSV word list) embedded by an encoder or a
trained model whose method declares an alignment map (`MethodSpec.alignment_map`),
projected to 2-D, with the cosine-distance table before and after the model's
VecMap mapping. A paper's concept list (`xsent_core.alignment.PAPER_CONCEPTS`) is preloaded.
All computing is `xsent_core.alignment`; this module only wires it and exports."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr

from xsent_core.data._io import decode_utf8
from xsent_core.types import InputError, XsentError

from .annotation_logic import check_upload, upload_error
from .services import Services
from .umap_warmup import wait_for_umap_warmup

BUILTIN = "builtin encoder (map fitted on the shipped word list)"
LAYER_AUTO = "model's static layer (encoder: top)"


def concept_text() -> str:
    from xsent_core.alignment import PAPER_CONCEPTS

    return "\n".join(f"{c.english}\t{c.burmese}" for c in PAPER_CONCEPTS)


def source_choices(services: Services) -> list[str]:
    mapped = set(services.methods_where(lambda spec: spec.alignment_map))
    names = [m.name for m in services.store.list_models() if m.method in mapped]
    return names + [BUILTIN]


def builtin_encoder(services: Services) -> Any:
    """The builtin text encoder, loaded once per app (kept on `services.extras`)."""
    lock = services.extras.setdefault("encoder_lock", threading.Lock())
    with lock:
        enc = services.extras.get("builtin_encoder")
        if enc is None:
            from xsent_core.encoders.registry import load_text_encoder

            enc = load_text_encoder("builtin", device=services.models.device())
            services.extras["builtin_encoder"] = enc
    return enc


def checked_map(services: Services, name: str, encoder: Any, layer: int | None, mapping: Any = None) -> tuple[Any, Any]:
    """(map, its check on the held-out lexicon), once per (source, layer) per app.

    `mapping` None (the bare encoder): a map fitted on the shipped seed lexicon
    (`alignment.fit_lexicon_map`), so the encoder gets an "after" too.
    """
    from xsent_core.alignment import SEED_LEXICON, check_mapping, check_pairs, fit_lexicon_map

    cache = services.extras.setdefault("checked_maps", {})
    key = (name, layer)
    if key not in cache:
        if mapping is None:
            mapping = fit_lexicon_map(encoder, layer, check_pairs(SEED_LEXICON)).mapping
        cache[key] = (mapping, check_mapping(encoder, mapping, layer, check_pairs()))
    return cache[key]


def run_analysis(services: Services, pairs_text: str, source: str, layer: str, projection: str) -> Any:
    from dataclasses import replace

    from xsent_core.alignment import PAPER_CONCEPTS, analyse_pairs, read_pair_lines

    known = {(c.english, c.burmese): c for c in PAPER_CONCEPTS}
    parsed, swapped = read_pair_lines(pairs_text or "", source="pairs")
    # the paper's concepts keep their transliteration, category and reported distance
    pairs = [known.get((p.english, p.burmese), p) for p in parsed]
    if len(pairs) > 2000:
        raise InputError(f"{len(pairs)} pairs: the app draws at most 2000; use xsent_core.alignment from Python for more")
    chosen = None if layer in (None, "", LAYER_AUTO) else int(layer)
    notes = [f"{swapped} line(s) had Burmese first and were read as Burmese–English"] if swapped else []
    if not source or source == BUILTIN:
        encoder = builtin_encoder(services)
        layer_used = chosen if chosen is not None else encoder.info.num_layers
        mapping, check = checked_map(services, BUILTIN, encoder, layer_used)
        notes.append(f"after: a map fitted for this encoder at layer {layer_used} on the shipped my-en.tsv word list")
        result = analyse_pairs(pairs, encoder, mapping, layer_used, projection=projection, check=check)
    else:
        record = services.store.get_model(source)
        _, model = services.models.get(record.method, record.name)
        layer_used = chosen if chosen is not None else model.config.static_layer
        mapping, check = checked_map(services, record.name, model.encoder, layer_used, model.mapping())
        result = analyse_pairs(pairs, model.encoder, mapping, layer_used, projection=projection,
                               vocabulary=model.static_words, check=check)
        if layer_used != model.config.static_layer:
            notes.append(f"the mapping was fitted at layer {model.config.static_layer}; layer {layer_used} vectors are mapped with it anyway")
    return replace(result, warnings=(*notes, *result.warnings)) if notes else result


def draw_uses_umap(pairs_text: str, projection: str) -> bool:
    """Whether drawing these pairs projects with UMAP (so may have to wait for its warm-up)."""
    from xsent_core.alignment import MIN_UMAP_POINTS, parse_pairs

    if projection == "pca":
        return False
    try:
        points = 2 * len(parse_pairs(pairs_text or "", source="pairs"))
    except InputError:
        return False  # the draw answers with the input error, no projection
    return projection == "umap" or points >= MIN_UMAP_POINTS


def export_table(services: Services, table: Any) -> Path:
    if table is None:
        raise InputError("draw the alignment first")
    out = services.exports_dir() / f"alignment-{time.strftime('%Y%m%d-%H%M%S')}.csv"
    from .csv_safety import write_csv

    return write_csv(table, out)


def export_plot(services: Services, figure: Any, kind: str) -> Path:
    if figure is None:
        raise InputError("draw the alignment first")
    stem = services.exports_dir() / f"alignment-{time.strftime('%Y%m%d-%H%M%S')}"
    if kind == "png":
        import importlib.util

        if importlib.util.find_spec("kaleido") is None:
            raise InputError(
                "PNG export needs the `kaleido` package, which is not installed here: export HTML instead "
                "(open it in a browser; its camera button saves a PNG), or use the camera icon on the plot above."
            )
        out = stem.with_suffix(".png")
        figure.write_image(str(out), scale=2)
        return out
    out = stem.with_suffix(".html")
    figure.write_html(str(out), include_plotlyjs=True, full_html=True)  # self-contained: works offline
    return out


def build(services: Services) -> None:
    from xsent_core.alignment import PAPER_CONCEPTS_SOURCE

    with gr.Tab("Alignment", id="alignment"):
        gr.Markdown(
            "How close are English and Burmese words/sentences in the model's space? One pair per line "
            "(`English<TAB>Burmese`, or `,` / `|`), or upload a TSV word list. Distances are cosine distances "
            "(1 − cos); *after* moves the Burmese side with the VecMap mapping into the English space (centred, "
            "rotated, put on English's centre) and leaves English as it is; `shifted` is that move without the "
            "rotation, and `change` = after − before (negative: the mapping brought the pair closer). Every mapping is first "
            "checked on held-out word pairs (Unicode CLDR names, never used to fit a shipped map); one that does "
            "not make translations nearer gets no *after* plot, and the message says so. "
            f"Preloaded: {PAPER_CONCEPTS_SOURCE} (its reported distances in the last column)."
        )
        with gr.Row():
            with gr.Column(scale=3):
                pairs = gr.Textbox(value=concept_text, label="Pairs", lines=7, elem_id="alignment-pairs")
                upload = gr.File(label="…or a TSV file (English<TAB>Burmese per line, either order)", file_types=[".tsv", ".txt", ".csv"], type="filepath", elem_id="alignment-file")
            with gr.Column(scale=2):
                source = gr.Dropdown(source_choices(services), value=source_choices(services)[0], label="Encoder / trained model", elem_id="alignment-source")
                layer = gr.Dropdown([LAYER_AUTO] + [str(i) for i in range(1, 13)], value=LAYER_AUTO, label="Layer", elem_id="alignment-layer")
                projection = gr.Radio([("auto (UMAP from 15 points, PCA below)", "auto"), ("UMAP", "umap"), ("PCA", "pca")], value="auto", label="2-D projection", elem_id="alignment-projection")
                go_btn = gr.Button("Draw", variant="primary", elem_id="alignment-button")
        message = gr.Markdown(elem_id="alignment-message")
        with gr.Row():
            plot_before = gr.Plot(label="Before mapping", elem_id="alignment-plot")
            plot_after = gr.Plot(label="After VecMap mapping", visible=False, elem_id="alignment-plot-after")
        table = gr.Dataframe(interactive=False, label="Cosine distance per pair", wrap=True, elem_id="alignment-table")
        with gr.Row():
            csv_btn = gr.Button("Export table (CSV)", size="sm", elem_id="alignment-export-csv")
            html_btn = gr.Button("Export plot (HTML)", size="sm", elem_id="alignment-export-html")
            png_btn = gr.Button("Export plot (PNG)", size="sm", elem_id="alignment-export-png")
        export_md = gr.Markdown(elem_id="alignment-export-status")
        export_file = gr.File(label="Download", interactive=False, height=90, elem_id="alignment-export-file")
        last = gr.State(None)  # {"table": DataFrame, "figure": Figure}

        def on_upload(path: str | None):
            if not path:
                return gr.skip(), ""
            try:
                p = check_upload(path, services.settings.max_upload_mb)
                text = decode_utf8(p.read_bytes(), Path(path).name)
            except XsentError as e:
                return gr.skip(), f"✗ {upload_error(e, path)}"
            return text, f"Loaded {Path(path).name}; press **Draw**."

        def on_draw(text: str, src: str | None, lay: str, proj: str, progress=gr.Progress()):
            # UMAP still warming up (the app has just started): wait for it with a visible reason
            waited = wait_for_umap_warmup(services, progress) if draw_uses_umap(text, proj) else 0.0
            try:
                result = run_analysis(services, text, src or BUILTIN, lay, proj)
            except (XsentError, ValueError) as e:
                return f"✗ {e}", None, gr.update(visible=False, value=None), None, None
            warnings = "".join(f"  \n⚠ {w}" for w in result.warnings)
            took = sum(result.seconds.values())
            prepared = f" (+ {waited:.0f} s waiting for UMAP's start-up preparation)" if waited >= 1 else ""
            check = result.mapping_check
            verified = f"  \n✓ {check.sentence()}" if check is not None and check.brings_closer else ""
            msg = f"{len(result.table)} pairs · projection **{result.projection.upper()}** · {took:.1f} s{prepared}{verified}{warnings}"
            after = result.figures.get("after")
            state = {"table": result.table, "figure": result.figure}
            return msg, result.figures["before"], gr.update(visible=after is not None, value=after), result.table, state

        def on_export(state: dict | None, kind: str):
            try:
                if kind == "csv":
                    out = export_table(services, (state or {}).get("table"))
                else:
                    out = export_plot(services, (state or {}).get("figure"), kind)
            except XsentError as e:
                return f"✗ {e}", None
            return f"✓ Saved `{out.name}`.", str(out)

        upload.change(on_upload, upload, [pairs, message], api_name="alignment_upload")
        go_btn.click(on_draw, [pairs, source, layer, projection], [message, plot_before, plot_after, table, last], api_name="alignment")
        csv_btn.click(lambda st: on_export(st, "csv"), last, [export_md, export_file], api_name="alignment_export_csv")
        html_btn.click(lambda st: on_export(st, "html"), last, [export_md, export_file], api_name="alignment_export_html")
        png_btn.click(lambda st: on_export(st, "png"), last, [export_md, export_file], api_name="alignment_export_png")
