#!/usr/bin/env python3
"""Medians per measurement and the ratios the HTTP issue asks for."""
import statistics, sys

def ms(v):
    v = v.strip()
    if v.endswith("us"): return float(v[:-2]) / 1000
    if v.endswith("ms"): return float(v[:-2])
    if v.endswith("s"): return float(v[:-1]) * 1000
    return float(v)

rows = {}
for line in open(sys.argv[1]):
    name, rps, p50, p99, non2xx = line.split()
    rows.setdefault(name, []).append((float(rps), ms(p50), ms(p99), int(non2xx)))
med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v),
           statistics.median(r[2] for r in v), sum(r[3] for r in v)) for k, v in rows.items()}
print(f"\nmedians of {sys.argv[3]} rounds of {sys.argv[2]} s (wrk -t1 -c50; redis-benchmark -c 50 -d 256)")
print(f"{'what':<34}{'req/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}")
names = {"sm_get": "sessionmesh GET session", "sm_put": "sessionmesh PUT variable",
         "nginx_mem": "nginx return 200 (300 B, memory)", "nginx_static": "nginx static file (256 B)",
         "redis_get": "redis GET (256 B)", "redis_set": "redis SET (256 B)",
         "redis_set_aof": "redis SET, AOF everysec",
         "sm_get_tls": "sessionmesh GET session, TLS", "nginx_mem_tls": "nginx return 200, TLS",
         "nginx_mem_lua": "nginx return 200, pooled requests", "nginx_static_lua": "nginx static file, pooled requests",
         "nginx_mem_tls_lua": "nginx return 200, TLS, pooled"}
for k in ["sm_get", "nginx_mem", "nginx_mem_lua", "sm_put", "nginx_static", "nginx_static_lua", "sm_get_tls", "nginx_mem_tls", "nginx_mem_tls_lua", "redis_get", "redis_set",
          "redis_set_aof"]:
    if k in med:
        r = med[k]
        print(f"{names[k]:<34}{r[0]:>12.0f}{r[1]:>10.2f}{r[2]:>10.2f}{r[3]:>9}")
def ratio(a, b):
    return med[a][0] / med[b][0] if a in med and b in med else float("nan")
print(f"\nGET / nginx memory answer: {ratio('sm_get', 'nginx_mem'):.2f}x (issue 12: >= 1.0)")
print(f"PUT / nginx static file:   {ratio('sm_put', 'nginx_static'):.2f}x (issue 12: >= 1.1)")
print(f"GET / nginx memory answer, same client (pooled requests): {ratio('sm_get', 'nginx_mem_lua'):.2f}x")
print(f"PUT / nginx static file, same client (pooled requests):   {ratio('sm_put', 'nginx_static_lua'):.2f}x")
print(f"TLS GET / nginx TLS answer: {ratio('sm_get_tls', 'nginx_mem_tls'):.2f}x")
print(f"TLS GET / nginx TLS answer, same client (pooled requests): {ratio('sm_get_tls', 'nginx_mem_tls_lua'):.2f}x")
print(f"GET / redis GET:           {ratio('sm_get', 'redis_get'):.2f}x")
print(f"PUT / redis SET:           {ratio('sm_put', 'redis_set'):.2f}x")
print(f"PUT / redis SET, AOF everysec: {ratio('sm_put', 'redis_set_aof'):.2f}x (issue 12: >= 1.2)")
