// warden's console: shared helpers. Everything shown is put in the page
// as text nodes (textContent), never as HTML.
'use strict';
const W = (() => {
  // el('td', {class: 'x'}, 'text', child): attributes are set one by one;
  // strings become text nodes.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const k of kids) {
      if (k === undefined || k === null) continue;
      e.append(typeof k === 'string' || typeof k === 'number' ? document.createTextNode(String(k)) : k);
    }
    return e;
  }
  async function json(url) {
    const r = await fetch(url, {credentials: 'same-origin', headers: {Accept: 'application/json'}});
    if (r.status === 401) {
      location.assign('/login');
      throw new Error('logged out');
    }
    if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
    return r.json();
  }
  // A JSON POST with the session's CSRF token (the page's <meta name="csrf">);
  // resolves to {status, body}, whatever the status.
  async function post(url, data) {
    const csrf = document.querySelector('meta[name="csrf"]').content;
    const r = await fetch(url, {method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf},
      body: JSON.stringify(data)});
    if (r.status === 401) {
      location.assign('/login');
      throw new Error('logged out');
    }
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    return {status: r.status, body};
  }
  const DECISIONS = ['allow', 'rate_limit', 'require_approval', 'deny', 'hide', 'error'];
  const DECISION_TEXT = {allow: 'allowed', rate_limit: 'rate-limited', require_approval: 'needs approval',
                         deny: 'denied', hide: 'hidden', error: 'error'};
  // A badge whose class comes from our own list, never from the data.
  function badge(decision, extra) {
    const known = DECISIONS.includes(decision) ? decision : 'error';
    return el('span', {class: 'badge d-' + known}, (DECISION_TEXT[known] || known) + (extra ? ' ' + extra : ''));
  }
  function select(label, id, options, onchange) {
    const s = el('select', {id});
    for (const [value, text] of options) s.append(el('option', {value}, text));
    s.addEventListener('change', onchange);
    return el('label', {for: id}, label, s);
  }
  function input(label, id, placeholder, oninput) {
    const i = el('input', {id, type: 'search', placeholder});
    i.addEventListener('input', oninput);
    return el('label', {for: id}, label, i);
  }
  function time(t) {
    const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
    return isNaN(d) ? String(t) : d.toLocaleTimeString([], {hour12: false}) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }
  function main() {
    return document.getElementById('main');
  }
  function fail(err) {
    main().append(el('p', {class: 'problem'}, String(err && err.message || err)));
  }
  return {el, json, post, badge, select, input, time, main, fail, DECISIONS, DECISION_TEXT};
})();
