// Annotate tab: selection -> character offsets (code points) inside .ann-text, span buttons,
// keyboard shortcuts (never while typing in a field). Run by gr.HTML(js_on_load=...): `element` and
// `trigger` are Gradio's.
(() => {
  const host = element;
  if (host.__xsInit) return;
  host.__xsInit = true;
  const root = () => host.querySelector('.ann-text');
  host.__offsets = () => {
    const r0 = root(); const sel = window.getSelection();
    if (!r0 || !sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
    const r = sel.getRangeAt(0);
    if (!r0.contains(r.startContainer) || !r0.contains(r.endContainer)) return null;
    const pre = document.createRange(); pre.selectNodeContents(r0); pre.setEnd(r.startContainer, r.startOffset);
    const start = +(r0.dataset.base || 0) + Array.from(pre.toString()).length;
    return [start, start + Array.from(r.toString()).length];
  };
  host.__sel = null; host.__mark = null;
  window.__xsentAnnot = {element: host, trigger: trigger};
  host.addEventListener('mouseup', () => { const o = host.__offsets(); if (o) { host.__sel = o; host.__mark = null; } });
  host.addEventListener('click', (e) => {
    const add = e.target.closest('.ann-add');
    if (add) { e.preventDefault(); window.__xsentSpan(add.dataset.pol); return; }
    if (e.target.closest('.ann-remove')) { e.preventDefault(); window.__xsentSpan(''); return; }
    if (e.target.closest('.ann-show-all')) { e.preventDefault(); trigger('click', {action: 'show_all'}); return; }
    const part = e.target.closest('.ann-part');
    if (part) { e.preventDefault(); trigger('click', {action: 'part', start: +part.dataset.part}); return; }
    const m = e.target.closest('mark.xs-span');
    const sel = window.getSelection();
    if (m && (!sel || sel.isCollapsed)) {
      host.querySelectorAll('mark.xs-picked').forEach(x => x.classList.remove('xs-picked'));
      m.classList.add('xs-picked'); host.__mark = [+m.dataset.start, +m.dataset.end]; host.__sel = null;
    }
  });
  window.__xsentSpan = (pol) => {
    const a = window.__xsentAnnot; if (!a) return;
    const h = a.element; const o = h.__offsets() || h.__sel;
    if (!pol) {
      if (h.__mark) a.trigger('click', {action: 'remove', start: h.__mark[0], end: h.__mark[1]});
      else a.trigger('click', {action: 'none'});
      h.__mark = null; return;
    }
    if (o) { a.trigger('click', {action: 'add', start: o[0], end: o[1], polarity: pol}); h.__sel = null; const s = window.getSelection(); if (s) s.removeAllRanges(); }
    else if (h.__mark) a.trigger('click', {action: 'add', start: h.__mark[0], end: h.__mark[1], polarity: pol});
    else a.trigger('click', {action: 'none'});
  };
  if (!window.__xsentKeys) {
    window.__xsentKeys = true;
    document.addEventListener('keydown', (e) => {
      const a = window.__xsentAnnot;
      if (!a || !a.element.isConnected || a.element.offsetParent === null) return;
      const t = e.target;
      const choice = t && t.tagName === 'INPUT' && ['radio', 'checkbox', 'button', 'submit', 'range'].includes((t.type || '').toLowerCase());
      const editing = t && (t.isContentEditable || ((t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT') && !t.readOnly && !choice));
      if ((editing && !e.altKey) || e.ctrlKey || e.metaKey) return;
      const k = e.altKey ? e.code.replace('Key', '').replace('Digit', '').toLowerCase() : e.key.toLowerCase();
      const click = (id) => { const b = document.getElementById(id); if (b) { e.preventDefault(); b.click(); } };
      const pols = {'1': 'negative', '2': 'neutral', '3': 'positive'};
      if (pols[k]) { e.preventDefault(); window.__xsentSpan(pols[k]); }
      else if (k === 'x' || k === 'delete') { e.preventDefault(); window.__xsentSpan(''); }
      else if (k === 'a') click('annotate-accept');
      else if (k === 's') click('annotate-save');
      else if (k === 'n') click('annotate-next');
      else if (k === 'p') click('annotate-prev');
    });
  }
})();
