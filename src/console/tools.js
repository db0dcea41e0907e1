// Servers and tools: every tool of the last list warden saw, its risk class
// and the decision the policies give it by default.
'use strict';
(() => {
  const {el, json, badge, select, input, main, fail} = W;
  const state = {cls: '', decision: '', text: ''};
  const root = el('div', {id: 'servers'});
  const shown = el('p', {class: 'meta', id: 'tool-count'});

  function limitText(t) {
    return t.limit ? 'at most ' + t.limit.max + ' / ' + t.limit.window + ' s' : '';
  }
  function row(t) {
    const notes = [];
    if (t.conditions) notes.push(t.conditions + ' condition' + (t.conditions > 1 ? 's' : '') + ' may refuse');
    if (t.lua) notes.push('Lua policies decide at call time');
    return el('tr', {'data-tool': t.name, 'data-class': t.class, 'data-decision': t.decision},
      el('td', {class: 'mono'}, t.name),
      el('td', {class: 'c-' + (['read', 'write', 'destructive'].includes(t.class) ? t.class : 'unknown')}, t.class),
      el('td', {}, badge(t.decision, limitText(t)), notes.length ? el('div', {class: 'note'}, notes.join('; ')) : null),
      el('td', {class: 'rule'}, t.rule || '(no rule: allowed)'),
      el('td', {class: 'desc'}, t.description || ''));
  }
  function render(data) {
    root.replaceChildren();
    let total = 0, visible = 0;
    for (const s of data.servers) {
      const tools = s.tools.filter((t) => (!state.cls || t.class === state.cls) &&
        (!state.decision || t.decision === state.decision) &&
        (!state.text || t.name.toLowerCase().includes(state.text)));
      total += s.tools.length;
      visible += tools.length;
      const section = el('section', {class: 'server', 'data-server': s.name, 'data-sessions': s.sessions ?? ''},
        el('h2', {}, s.name || '(default)', ' ', el('span', {class: 'count'}, tools.length + ' of ' + s.tools.length + ' tools')),
        el('p', {class: 'meta'}, s.transport + ' · ' + s.target + ' · served at ' + s.path + ' · ' +
          (s.sessions === null || s.sessions === undefined ? '' : s.sessions + ' session' + (s.sessions === 1 ? '' : 's') + ' open · ') +
          (s.generation === null ? 'no policies' : 'policy generation ' + s.generation + ' (' + s.policies + ' file' + (s.policies === 1 ? '' : 's') + ')')));
      if (s.tools.length === 0) {
        section.append(el('p', {class: 'note'}, 'No tools/list answer seen yet: the tools of a server with policies appear once an agent lists them.'));
      } else {
        const body = el('tbody', {}, ...tools.map(row));
        section.append(el('table', {class: 'tools'},
          el('thead', {}, el('tr', {}, el('th', {}, 'Tool'), el('th', {}, 'Risk class'), el('th', {}, 'Default decision'),
            el('th', {}, 'Rule'), el('th', {}, 'Description'))), body));
      }
      root.append(section);
    }
    shown.textContent = visible + ' of ' + total + ' tools shown';
  }
  let last = null;
  async function load() {
    try {
      last = await json('/api/servers');
      render(last);
    } catch (e) {
      fail(e);
    }
  }
  const redraw = () => last && render(last);
  main().append(
    el('div', {class: 'filters'},
      select('Risk class', 'f-class', [['', 'all'], ['read', 'read'], ['write', 'write'],
        ['destructive', 'destructive'], ['unknown', 'unknown']], (e) => { state.cls = e.target.value; redraw(); }),
      select('Decision', 'f-decision', [['', 'all'], ['allow', 'allowed'], ['rate_limit', 'rate-limited'],
        ['require_approval', 'needs approval'], ['deny', 'denied'], ['hide', 'hidden']], (e) => { state.decision = e.target.value; redraw(); }),
      input('Tool', 'f-tool', 'name contains', (e) => { state.text = e.target.value.toLowerCase(); redraw(); })),
    shown, root);
  load();
  setInterval(load, 10000);
})();
