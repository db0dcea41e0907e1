#!/usr/bin/env python3
"""The module graph of src/ as `gcc -MM` shows it: module A depends on B when
A.c includes B.h, directly or not (*-t.h type headers belong to no module).
Fails when it has a circle other than client/exchange (the one every proxy
has), or when a transport includes the other transport or client.h."""
import glob
import os
import subprocess
import sys

src = sys.argv[1]
modules = {os.path.basename(c)[:-2] for c in glob.glob(os.path.join(src, '*.c'))}
graph = {}
for c in sorted(glob.glob(os.path.join(src, '*.c'))):
    name = os.path.basename(c)[:-2]
    # -MG: headers outside src/ (libevent, Lua...) need no include path; they are no module.
    out = subprocess.run(['gcc', '-MM', '-MG', '-I', src, c], capture_output=True, text=True, check=True).stdout
    deps = set()
    for tok in out.replace('\\\n', ' ').split()[1:]:
        base = os.path.basename(tok)
        if base.endswith('.h') and not base.endswith('-t.h') and base[:-2] in modules and base[:-2] != name:
            deps.add(base[:-2])
    graph[name] = deps

# Tarjan's strongly connected components: a component of more than one module is a circle.
index, low, stack, on_stack, circles = {}, {}, [], set(), []
def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph[v]):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            circles.append(sorted(comp))
sys.setrecursionlimit(10000)
for v in sorted(graph):
    if v not in index:
        visit(v)

problems = [c for c in circles if c != ['client', 'exchange']]
for t, other in (('upstream_http', 'upstream_stdio'), ('upstream_stdio', 'upstream_http')):
    for bad in (other, 'client'):
        if bad in graph.get(t, ()):
            problems.append('%s includes %s.h' % (t, bad))
print('circles:', circles or 'none')
for p in problems:
    print('FAIL', p)
sys.exit(1 if problems else 0)
