#include "approval_page.h"

#include <string.h>
#include <event2/buffer.h>
#include <event2/http.h>

static const char page_html[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>warden: approvals</title>\n"
    "<link rel=\"stylesheet\" href=\"/approvals/approvals.css\">\n"
    "<script src=\"/approvals/approvals.js\" defer></script>\n"
    "</head><body>\n"
    "<h1>Tool calls waiting for approval</h1>\n"
    "<form id=\"login\" hidden><label>Approver token <input id=\"token\" type=\"password\" "
    "autocomplete=\"off\"></label>\n"
    "<button type=\"submit\">Sign in</button> <span id=\"login-error\" class=\"error\"></span></form>\n"
    "<p id=\"who\"></p>\n"
    "<p id=\"status\" class=\"error\"></p>\n"
    "<p id=\"empty\" hidden>Nothing is waiting.</p>\n"
    "<div id=\"list\"></div>\n"
    "</body></html>\n";

static const char page_css[] =
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}\n"
    ".request{border:1px solid #bbb;border-radius:6px;padding:1rem;margin:1rem 0}\n"
    ".request pre{background:#f4f4f4;padding:.5rem;overflow:auto;white-space:pre-wrap;word-break:break-all}\n"
    ".error{color:#a00}\n"
    "dt{font-weight:bold}dd{margin:0 0 .5rem 0}\n"
    "input.reason{width:30rem;max-width:100%}\n";

static const char page_js[] =
    "'use strict';\n"
    "// The approval page: everything shown goes through textContent, never HTML.\n"
    "let csrf = '';\n"
    "const $ = (id) => document.getElementById(id);\n"
    "function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text;"
    " if (cls) e.className = cls; return e; }\n"
    "async function api(path, opts) {\n"
    "  opts = opts || {};\n"
    "  opts.headers = Object.assign({'Accept': 'application/json'}, opts.headers || {});\n"
    "  opts.credentials = 'same-origin';\n"
    "  const r = await fetch(path, opts);\n"
    "  let body = null;\n"
    "  try { body = await r.json(); } catch (e) { body = null; }\n"
    "  return {status: r.status, body};\n"
    "}\n"
    "async function session() {\n"
    "  const r = await api('/approvals/session');\n"
    "  if (r.status !== 200) { $('login').hidden = false; $('who').textContent = ''; return false; }\n"
    "  csrf = r.body.csrf; $('login').hidden = true;\n"
    "  $('who').textContent = 'Signed in as ' + r.body.approver;\n"
    "  return true;\n"
    "}\n"
    "function field(dl, name, value) { dl.appendChild(el('dt', name)); dl.appendChild(el('dd', value)); }\n"
    "function render(list) {\n"
    "  const box = $('list');\n"
    "  box.replaceChildren();\n"
    "  $('empty').hidden = list.length > 0;\n"
    "  for (const a of list) {\n"
    "    const div = el('div', undefined, 'request');\n"
    "    div.dataset.id = a.id;\n"
    "    div.appendChild(el('h2', a.tool + ' on ' + a.server));\n"
    "    const dl = el('dl');\n"
    "    field(dl, 'Request', a.id);\n"
    "    field(dl, 'Requested by', a.principal);\n"
    "    field(dl, 'Why', a.reason);\n"
    "    field(dl, 'Rule', a.rule);\n"
    "    field(dl, 'Scope', a.scope === 'tool' ? 'every call of this tool by this caller, for a while' : 'this one "
    "call');\n"
    "    field(dl, 'Expires', a.expires_at);\n"
    "    div.appendChild(dl);\n"
    "    div.appendChild(el('pre', JSON.stringify(a.arguments, null, 2), 'arguments'));\n"
    "    const reason = el('input', undefined, 'reason');\n"
    "    reason.placeholder = 'reason (optional; the agent sees it when you deny)';\n"
    "    reason.maxLength = 400;\n"
    "    const ok = el('button', 'Approve', 'approve');\n"
    "    const no = el('button', 'Deny', 'deny');\n"
    "    const msg = el('span', '', 'error');\n"
    "    ok.addEventListener('click', () => decide(a.id, 'approve', reason.value, msg));\n"
    "    no.addEventListener('click', () => decide(a.id, 'deny', reason.value, msg));\n"
    "    div.append(reason, ' ', ok, ' ', no, ' ', msg);\n"
    "    box.appendChild(div);\n"
    "  }\n"
    "}\n"
    "async function refresh() {\n"
    "  const r = await api('/approvals?status=pending');\n"
    "  if (r.status === 401) { await session(); return; }\n"
    "  if (r.status !== 200) { $('status').textContent = 'warden answered ' + r.status; return; }\n"
    "  $('status').textContent = '';\n"
    "  render(r.body.approvals);\n"
    "}\n"
    "async function decide(id, decision, reason, msg) {\n"
    "  const r = await api('/approvals/' + encodeURIComponent(id), {method: 'POST',\n"
    "    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},\n"
    "    body: JSON.stringify({decision, reason})});\n"
    "  if (r.status !== 200) { msg.textContent = (r.body && r.body.error) || ('warden answered ' + r.status); return; "
    "}\n"
    "  await refresh();\n"
    "}\n"
    "$('login').addEventListener('submit', async (ev) => {\n"
    "  ev.preventDefault();\n"
    "  const r = await api('/approvals/login', {method: 'POST', headers: {'Content-Type': 'application/json'},\n"
    "    body: JSON.stringify({token: $('token').value})});\n"
    "  $('token').value = '';\n"
    "  if (r.status !== 200) { $('login-error').textContent = 'That token is not an approver\\'s.'; return; }\n"
    "  $('login-error').textContent = '';\n"
    "  if (await session()) await refresh();\n"
    "});\n"
    "(async () => { if (await session()) await refresh(); setInterval(() => { if (csrf) refresh(); }, 3000); })();\n";

static void send_file(struct evhttp_request *req, const char *type, const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                      "frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    evbuffer_add_reference(b, body, len, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

bool approval_page_serve(struct evhttp_request *req, const char *rest, bool html)
{
    if (!rest[0] && html)
        send_file(req, "text/html; charset=utf-8", page_html, sizeof page_html - 1);
    else if (strcmp(rest, "approvals.js") == 0)
        send_file(req, "text/javascript; charset=utf-8", page_js, sizeof page_js - 1);
    else if (strcmp(rest, "approvals.css") == 0)
        send_file(req, "text/css; charset=utf-8", page_css, sizeof page_css - 1);
    else
        return false;
    return true;
}
