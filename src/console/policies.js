// Policies: what the generation in force was loaded from, and the last reload.
'use strict';
(() => {
  const {el, json, main, fail} = W;
  const root = el('div', {id: 'policies'});
  function reloadPanel(r) {
    // The last reload's result, whatever warden reports of it.
    const ok = r.ok === true || r.result === 'ok';
    const items = [el('p', {}, 'Last reload: ', el('span', {class: ok ? 'ok' : 'failed', id: 'reload-result'}, ok ? 'loaded' : 'failed'))];
    for (const [k, v] of Object.entries(r)) {
      if (k === 'ok' || v === null || v === undefined) continue;
      items.push(el('p', {class: 'meta'}, k), el('pre', {class: 'mono'}, typeof v === 'string' ? v : JSON.stringify(v, null, 2)));
    }
    return el('div', {class: 'panel', id: 'last-reload'}, ...items);
  }
  function render(p) {
    root.replaceChildren(el('div', {class: 'panel'},
      el('p', {}, 'Generation in force: ', el('strong', {id: 'generation'}, String(p.generation ?? '-')),
        ' · loaded at ', el('span', {id: 'loaded-at'}, String(p.loaded_at ?? '-')))));
    const last = p.last_reload || p.reload;
    if (last && typeof last === 'object') root.append(reloadPanel(last));
    const files = (list, kind) => el('table', {},
      el('thead', {}, el('tr', {}, el('th', {}, kind), el('th', {}, 'Hash'), el('th', {}, 'Bytes'))),
      el('tbody', {}, ...list.map((f) => el('tr', {'data-file': f.file},
        el('td', {class: 'mono'}, f.file), el('td', {class: 'mono'}, f.hash || '(unreadable)'), el('td', {}, String(f.bytes ?? ''))))));
    for (const s of p.servers || []) {
      root.append(el('h2', {}, s.name || '(default)', ' ', el('span', {class: 'count'}, s.path || '')));
      if (!s.policies || s.policies.length === 0) root.append(el('p', {class: 'note'}, 'No policies: every call is allowed.'));
      else root.append(files(s.policies, 'File'));
      // Shadow policies (when warden reports them) decide nothing; their verdicts are logged.
      if (Array.isArray(s.shadow_policies) && s.shadow_policies.length) root.append(files(s.shadow_policies, 'Shadow policy'));
    }
  }
  async function load() {
    try {
      render(await json('/api/policies'));
    } catch (e) {
      fail(e);
    }
  }
  main().append(el('p', {class: 'meta'}, 'Warden reloads on SIGHUP and when a policy file changes; this page follows within two seconds.'), root);
  load();
  setInterval(load, 2000);
})();
