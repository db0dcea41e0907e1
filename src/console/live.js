// Live decisions: the ring of recent decisions, then each new one as warden
// sends it (server-sent events).
'use strict';
(() => {
  const {el, json, badge, select, input, time, main, fail} = W;
  const MAX_ROWS = 500;
  const state = {decision: '', principal: '', tool: ''};
  const rows = [];   // newest first: {d, tr}
  const body = el('tbody', {id: 'decisions'});
  const detail = el('div', {class: 'panel', id: 'detail'}, el('p', {class: 'note'}, 'Click a decision to see its arguments and rule.'));
  const dot = el('span', {class: 'live-dot'});
  const status = el('span', {id: 'live-status'}, 'connecting');
  let last = 0;

  function matches(d) {
    return (!state.decision || d.decision === state.decision) &&
      (!state.principal || String(d.principal || '').toLowerCase().includes(state.principal)) &&
      (!state.tool || String(d.tool || '').toLowerCase().includes(state.tool));
  }
  function show(d, tr) {
    for (const r of rows) r.tr.classList.toggle('selected', r.tr === tr);
    const args = d.args !== undefined ? d.args : Object.fromEntries((d.arg_keys || []).map((k) => [k, '(value not kept)']));
    detail.replaceChildren(
      el('h2', {}, String(d.tool || '')),
      el('p', {}, badge(d.decision), ' ', time(d.time)),
      el('p', {class: 'meta'}, 'Rule'), el('pre', {class: 'mono', id: 'detail-rule'}, d.rule || '(none)'),
      el('p', {class: 'meta'}, 'Reason'), el('pre', {id: 'detail-reason'}, d.reason || '(none)'),
      el('p', {class: 'meta'}, 'Arguments kept by the audit log'), el('pre', {class: 'mono', id: 'detail-args'}, JSON.stringify(args, null, 2)),
      el('p', {class: 'meta'}, 'Session ' + (d.session || '-') + ' · client ' + (d.client || '-') + ' · server ' + (d.server || '-')));
  }
  function add(d) {
    if (typeof d.seq === 'number') {
      if (d.seq <= last) return;
      last = d.seq;
    }
    const tr = el('tr', {class: 'clickable', 'data-decision': d.decision, 'data-tool': d.tool},
      el('td', {class: 'mono nowrap'}, time(d.time)),
      el('td', {}, d.principal || '—'),
      el('td', {class: 'mono'}, String(d.session || '').slice(0, 12)),
      el('td', {}, d.server || ''),
      el('td', {class: 'mono'}, d.tool || ''),
      el('td', {}, badge(d.decision)),
      el('td', {class: 'rule'}, d.rule || ''),
      el('td', {}, typeof d.latency_ms === 'number' ? d.latency_ms.toFixed(1) + ' ms' : ''));
    tr.addEventListener('click', () => show(d, tr));
    tr.hidden = !matches(d);
    rows.unshift({d, tr});
    body.prepend(tr);
    while (rows.length > MAX_ROWS) rows.pop().tr.remove();
  }
  function refilter() {
    for (const r of rows) r.tr.hidden = !matches(r.d);
  }
  function connect() {
    const es = new EventSource('/api/decisions/stream?after=' + last);
    es.onopen = () => { dot.classList.add('on'); status.textContent = 'live'; };
    es.onmessage = (e) => { try { add(JSON.parse(e.data)); } catch (err) { /* a line we cannot read is skipped */ } };
    es.onerror = () => { dot.classList.remove('on'); status.textContent = 'reconnecting'; };
  }
  main().append(
    el('div', {class: 'filters'},
      select('Decision', 'f-decision', [['', 'all'], ...W.DECISIONS.map((d) => [d, W.DECISION_TEXT[d]])],
        (e) => { state.decision = e.target.value; refilter(); }),
      input('Principal', 'f-principal', 'contains', (e) => { state.principal = e.target.value.toLowerCase(); refilter(); }),
      input('Tool', 'f-tool', 'contains', (e) => { state.tool = e.target.value.toLowerCase(); refilter(); }),
      el('p', {class: 'meta'}, dot, status)),
    el('div', {class: 'split'},
      el('table', {},
        el('thead', {}, el('tr', {}, ...['Time', 'Principal', 'Session', 'Server', 'Tool', 'Decision', 'Rule', 'Latency'].map((h) => el('th', {}, h)))),
        body),
      detail));
  json('/api/decisions').then((list) => { for (const d of list) add(d); connect(); }, fail);
})();
