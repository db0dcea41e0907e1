// Policies: what the generation in force was loaded from, and the last reload.
'use strict';
(() => {
  const {el, json, post, badge, main, fail} = W;
  const root = el('div', {id: 'policies'});
  // "Try a call": the policies' trace of one tools/call, as `warden explain`
  // gives it, run by warden on fresh copies of the files (nothing counted).
  function tryForm() {
    const server = el('select', {id: 'try-server'});
    const tools = el('datalist', {id: 'try-tools'});
    const tool = el('input', {id: 'try-tool', type: 'text', list: 'try-tools', required: true, placeholder: 'tool name'});
    const args = el('textarea', {id: 'try-args', spellcheck: 'false'}, '{}');
    const principal = el('textarea', {id: 'try-principal', spellcheck: 'false',
      placeholder: '{"id": "ci-bot", "kind": "key", "labels": {"team": "ml"}, "scopes": []}   (optional)'});
    const out = el('div', {id: 'try-result'});
    const servers = new Map();
    server.addEventListener('change', () => tools.replaceChildren(...(servers.get(server.value) || []).map((t) => el('option', {value: t.name}))));
    json('/api/servers').then((d) => {
      for (const s of d.servers) {
        servers.set(s.name, s.tools);
        server.append(el('option', {value: s.name}, s.name || '(default)'));
      }
      server.dispatchEvent(new Event('change'));
    }).catch(fail);
    const form = el('form', {class: 'try', id: 'try'},
      el('label', {for: 'try-server'}, 'Server'), server, el('label', {for: 'try-tool'}, 'Tool'), el('div', {}, tool, tools),
      el('label', {for: 'try-args'}, 'Arguments (JSON)'), args, el('label', {for: 'try-principal'}, 'Principal (JSON)'), principal,
      el('span', {}), el('div', {}, el('button', {type: 'submit'}, 'Try')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = {server: server.value, tool: tool.value};
      try {
        body.arguments = JSON.parse(args.value || '{}');
        if (principal.value.trim()) body.principal = JSON.parse(principal.value);
      } catch (e) {
        out.replaceChildren(el('p', {class: 'problem'}, 'Not JSON: ' + e.message));
        return;
      }
      try {
        const r = await post('/api/try', body);
        if (r.status !== 200) {
          out.replaceChildren(el('p', {class: 'problem'}, (r.body && r.body.error) || ('warden answered ' + r.status)));
          return;
        }
        const d = r.body;
        out.replaceChildren(el('p', {}, badge(d.decision), ' ', el('span', {class: 'mono', id: 'try-rule'}, d.rule || '(no rule)'),
          d.reason ? ' · ' + d.reason : ''), el('pre', {class: 'mono', id: 'try-trace'}, d.trace));
      } catch (e) {
        out.replaceChildren(el('p', {class: 'problem'}, String(e.message || e)));
      }
    });
    return el('div', {class: 'panel'}, el('h2', {}, 'Try a call'),
      el('p', {class: 'meta'}, 'What the policy files say of a call, rule by rule: loaded afresh, with no rate counted and nothing kept.'),
      form, out);
  }
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
  main().append(el('p', {class: 'meta'}, 'Warden reloads on SIGHUP and when a policy file changes; this page follows within two seconds.'), root, tryForm());
  load();
  setInterval(load, 2000);
})();
