// Approvals: the calls a policy sent to a person, waiting; decide them with
// a reason; and the recent decisions, by whom. The store refuses a
// requester deciding its own call.
'use strict';
(() => {
  const {el, json, post, main, fail} = W;
  const pending = el('div', {id: 'pending'});
  const recent = el('tbody', {});
  const empty = el('p', {class: 'note', id: 'none-pending', hidden: true}, 'Nothing is waiting for approval.');

  function field(name, value) {
    return [el('dt', {}, name), el('dd', {}, value === null || value === undefined ? '' : String(value))];
  }
  function card(a) {
    const reason = el('input', {class: 'reason', type: 'text', maxlength: 400,
      placeholder: 'reason (optional; the agent sees it when you deny)', 'aria-label': 'reason'});
    const msg = el('span', {class: 'problem', role: 'alert'});
    const approve = el('button', {class: 'approve', type: 'button'}, 'Approve');
    const deny = el('button', {class: 'deny', type: 'button'}, 'Deny');
    const decide = async (decision) => {
      approve.disabled = deny.disabled = true;
      try {
        const r = await post('/api/approvals/' + encodeURIComponent(a.id), {decision, reason: reason.value});
        if (r.status !== 200) msg.textContent = (r.body && r.body.error) || ('warden answered ' + r.status);
        await load();
      } catch (e) {
        msg.textContent = String(e.message || e);
      } finally {
        approve.disabled = deny.disabled = false;
      }
    };
    approve.addEventListener('click', () => decide('approve'));
    deny.addEventListener('click', () => decide('deny'));
    return el('div', {class: 'panel request', 'data-id': a.id, 'data-tool': a.tool},
      el('h2', {}, el('span', {class: 'mono'}, a.tool), ' on ', a.server),
      el('dl', {class: 'facts'},
        ...field('Requested by', a.principal), ...field('Why', a.reason), ...field('Rule', a.rule),
        ...field('Scope', a.scope === 'tool' ? 'every call of this tool by this caller, for a while' : 'this one call'),
        ...field('Asked at', a.created_at), ...field('Expires', a.expires_at), ...field('Request', a.id)),
      el('p', {class: 'meta'}, 'Arguments'),
      el('pre', {class: 'mono arguments'}, JSON.stringify(a.arguments, null, 2)),
      el('div', {class: 'decide'}, reason, approve, deny, msg));
  }
  // A request being decided keeps its card (and what was typed) across refreshes.
  function render(list) {
    const waiting = list.filter((a) => a.status === 'pending');
    const cards = new Map([...pending.children].map((c) => [c.dataset.id, c]));
    pending.replaceChildren(...waiting.map((a) => cards.get(a.id) || card(a)));
    // A link to one request (the URL an MCP client is given: /approvals#ID) marks its card.
    const wanted = decodeURIComponent(location.hash.slice(1));
    for (const c of pending.children) c.classList.toggle('selected', c.dataset.id === wanted);
    empty.hidden = waiting.length > 0;
    recent.replaceChildren(...list.filter((a) => a.status !== 'pending').slice(0, 50).map((a) =>
      el('tr', {'data-id': a.id, 'data-status': a.status},
        el('td', {class: 'nowrap'}, a.created_at), el('td', {class: 'mono'}, a.tool), el('td', {}, a.principal),
        el('td', {}, el('span', {class: 'status s-' + (['approved', 'denied', 'expired', 'consumed'].includes(a.status) ? a.status : 'other')}, a.status)),
        el('td', {class: 'decided-by'}, a.decided_by || ''), el('td', {}, a.decision_reason || ''))));
  }
  async function load() {
    try {
      render((await json('/api/approvals')).approvals || []);
    } catch (e) {
      fail(e);
    }
  }
  main().append(el('h2', {}, 'Waiting'), empty, pending, el('h2', {}, 'Recent decisions'),
    el('table', {id: 'recent'}, el('thead', {}, el('tr', {}, el('th', {}, 'Asked at'), el('th', {}, 'Tool'),
      el('th', {}, 'Requested by'), el('th', {}, 'Outcome'), el('th', {}, 'Decided by'), el('th', {}, 'Reason'))), recent));
  load();
  setInterval(load, 2000);
})();
