// Charts: calls per minute by decision and request latency (p50, p99) over
// the last hour, from warden's own counters, drawn as inline SVG.
'use strict';
(() => {
  const {el, json, main, fail, DECISIONS, DECISION_TEXT} = W;
  const NS = 'http://www.w3.org/2000/svg';
  const COLORS = {allow: '#1f7a3f', deny: '#b3261e', hide: '#6b4fa0', rate_limit: '#a05a00', require_approval: '#0b6e8a', error: '#7a1f5c'};
  const WIDTH = 900, HEIGHT = 240, LEFT = 50, BOTTOM = 24, TOP = 12;
  function svg(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function frame(id, max, unit, minutes) {
    const s = svg('svg', {class: 'chart', id, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img'});
    const h = HEIGHT - BOTTOM - TOP;
    for (let i = 0; i <= 4; i++) {
      const y = TOP + h - (h * i) / 4;
      s.append(svg('line', {x1: LEFT, x2: WIDTH - 5, y1: y, y2: y, stroke: '#e5e8ec'}));
      s.append(svg('text', {x: LEFT - 6, y: y + 4, 'text-anchor': 'end'}, (max * i / 4).toFixed(max < 4 ? 1 : 0) + unit));
    }
    for (let i = 0; i < minutes.length; i += 10) {
      const x = LEFT + (i + 0.5) * (WIDTH - LEFT - 5) / minutes.length;
      s.append(svg('text', {x, y: HEIGHT - 6, 'text-anchor': 'middle'}, new Date(minutes[i].t * 1000).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', hour12: false})));
    }
    return s;
  }
  function calls(minutes) {
    const totals = minutes.map((m) => DECISIONS.reduce((a, d) => a + (m.calls[d] || 0), 0));
    const max = Math.max(4, ...totals);
    const s = frame('chart-calls', max, '', minutes);
    const h = HEIGHT - BOTTOM - TOP, bw = (WIDTH - LEFT - 5) / minutes.length;
    minutes.forEach((m, i) => {
      let y = TOP + h;
      for (const d of DECISIONS) {
        const n = m.calls[d] || 0;
        if (!n) continue;
        const bh = (h * n) / max;
        y -= bh;
        const r = svg('rect', {x: LEFT + i * bw + 1, y, width: Math.max(1, bw - 2), height: bh, fill: COLORS[d]});
        r.append(svg('title', {}, `${n} ${DECISION_TEXT[d]}`));
        s.append(r);
      }
    });
    return s;
  }
  function latency(minutes) {
    const vals = minutes.flatMap((m) => [m.p50_ms, m.p99_ms]).filter((v) => typeof v === 'number');
    const max = Math.max(1, ...vals);
    const s = frame('chart-latency', max, ' ms', minutes);
    const h = HEIGHT - BOTTOM - TOP, bw = (WIDTH - LEFT - 5) / minutes.length;
    for (const [key, color] of [['p50_ms', '#2457c5'], ['p99_ms', '#b3261e']]) {
      let d = '';
      minutes.forEach((m, i) => {
        if (typeof m[key] !== 'number') return;
        const x = LEFT + (i + 0.5) * bw, y = TOP + h - (h * m[key]) / max;
        d += (d ? ' L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1);
        s.append(svg('circle', {cx: x, cy: y, r: 2.5, fill: color}));
      });
      if (d) s.append(svg('path', {d, fill: 'none', stroke: color, 'stroke-width': 2}));
    }
    return s;
  }
  const root = el('div', {id: 'charts'});
  async function load() {
    try {
      const data = await json('/api/charts');
      const total = data.minutes.reduce((a, m) => a + DECISIONS.reduce((b, d) => b + (m.calls[d] || 0), 0), 0);
      root.replaceChildren(
        el('h2', {}, 'Tool calls per minute, by decision ', el('span', {class: 'count', id: 'calls-total'}, total + ' in the last hour')),
        calls(data.minutes),
        el('div', {class: 'legend'}, ...DECISIONS.map((d) => el('span', {class: 'sw-' + d}, DECISION_TEXT[d]))),
        el('h2', {}, 'Request latency (upper bound of the histogram bucket)'),
        latency(data.minutes),
        el('div', {class: 'legend'}, el('span', {class: 'sw-p50'}, 'p50'), el('span', {class: 'sw-p99'}, 'p99')));
    } catch (e) {
      fail(e);
    }
  }
  main().append(el('p', {class: 'meta'}, 'From warden\'s own counters, sampled every 5 s; the last minute is still filling.'), root);
  load();
  setInterval(load, 5000);
})();
