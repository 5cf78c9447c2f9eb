"""The `scale-out` section of scripts/bench: the lab as deployed for many relying parties.

Host processes, not containers, so that the figures are the programs' own:

1. A throw-away PostgreSQL cluster (scripts/pg-cluster), a writer and a reader role, a lab made
   with `testca --db` and `testca db grant-reader`.
2. Bulk issuance into PostgreSQL at each --scale-out-sizes: time, pg_database_size, lookup p99
   through one responder (random serials + nonce, no response cache: a query and a signature
   per request), the responder's RSS.
3. Throughput with 1, 2 and 3 responders (`--db`, reader role) behind nginx, uncached (POST with
   a nonce), on the largest lab; CPU per request of responders, PostgreSQL and nginx apiece.
4. Cache hits: GET through nginx with proxy_cache (docker/cache/ocsp-cache.conf, the scale
   profile's own rules), against GET straight to one responder (its own response cache).
5. A responder killed (SIGKILL) under load behind nginx: failed requests counted (goal: 0).

The runner is scripts/bench (`--only scale-out`); this module gets it as `b` (its helpers:
Proc, run, wrk, wait_until, http_call, RequestBuilder, get_target, say, BenchError, HOST, ROOT).
"""

import os
import random
import shutil
import signal
import statistics
import threading
import time
import urllib.parse
from pathlib import Path

CACHE_RULES = "docker/cache/ocsp-cache.conf"
RESPONDERS = 3
HOT_URLS = 2000


def loadavg():
    return round(os.getloadavg()[0], 2)


class Cluster:
    """A PostgreSQL cluster made by scripts/pg-cluster, with the lab's roles and database."""

    def __init__(self, b, base):
        self.b = b
        self.dir = Path(base) / "pg"
        r = b.run([b.ROOT / "scripts" / "pg-cluster", "start", self.dir], timeout=120, check=False)
        if r.returncode == 77:
            raise b.BenchError("PostgreSQL is not installed: scripts/install-deps installs Debian's postgresql")
        if r.returncode != 0:
            raise b.BenchError(f"scripts/pg-cluster start failed: {r.stderr.decode(errors='replace')[-400:]}")
        self.admin_url = r.stdout.decode().strip().splitlines()[-1]
        parsed = urllib.parse.urlsplit(self.admin_url)
        self.port = parsed.port
        writer, reader = os.urandom(12).hex(), os.urandom(12).hex()
        self.psql("postgres", f"CREATE ROLE ocsplab_writer LOGIN PASSWORD '{writer}'",
                  f"CREATE ROLE ocsplab_reader LOGIN PASSWORD '{reader}'",
                  "CREATE DATABASE ocsplab OWNER ocsplab_writer")
        self.writer_url = f"postgres://ocsplab_writer:{writer}@127.0.0.1:{self.port}/ocsplab"
        self.reader_url = f"postgres://ocsplab_reader:{reader}@127.0.0.1:{self.port}/ocsplab"

    def psql(self, database, *statements):
        url = urllib.parse.urlsplit(self.admin_url)._replace(path=f"/{database}").geturl()
        args = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url]
        for s in statements:
            args += ["-c", s]
        return self.b.run(args, timeout=300).stdout.decode().strip()

    def database_bytes(self):
        return int(self.psql("postgres", "SELECT pg_database_size('ocsplab')"))

    def reset(self):
        """An empty lab database again (the roles stay)."""
        self.psql("postgres", "DROP DATABASE ocsplab WITH (FORCE)", "CREATE DATABASE ocsplab OWNER ocsplab_writer")

    def server_pids(self):
        """The postmaster and its children (backends, walwriter …), for CPU accounting."""
        try:
            pid = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return [pid] + self.b.children_of(pid)

    def cpu_seconds(self):
        """CPU of the cluster so far: the postmaster's own and its reaped backends' (cutime, cstime:
        a backend that exits takes its CPU with it otherwise), and the live backends'."""
        pids = self.server_pids()
        if not pids:
            return 0.0
        try:
            with open(f"/proc/{pids[0]}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            postmaster = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except (OSError, ValueError, IndexError):
            postmaster = 0
        live = sum((self.b.proc_stat(p) or (0, 0))[1] for p in pids[1:])
        return (postmaster + live) / self.b.TICK

    def stop(self):
        self.b.run([self.b.ROOT / "scripts" / "pg-cluster", "stop", self.dir], timeout=120, check=False)


class CpuOf:
    """Duck-types bench's Proc for wrk()'s CPU accounting: PostgreSQL's processes."""

    def __init__(self, cluster):
        self.cluster = cluster

    def cpu_seconds(self):
        return self.cluster.cpu_seconds()

    def tree(self):
        return self.cluster.server_pids()


class ScaleOut:
    def __init__(self, bench):
        self.bench = bench
        self.b = bench.b
        self.a = bench.a
        base = self.a.base_port and self.a.base_port + 30
        self.ports = self.pick_ports(base)
        self.work = bench.work / "scale-out"
        self.work.mkdir(exist_ok=True)
        self.lab = bench.out / "scale-out-lab"
        self.env = dict(bench.env)
        self.responders = {}
        self.nginx = None
        self.data = dict(sizes=[], fleet=[], cache=[], kill={}, load={})

    def pick_ports(self, base):
        b = self.b
        # The given range first, then others: a previous run's TIME_WAIT sockets can hold its ports.
        bases = ([base] if base else []) + random.sample(range(30000, 40000, 10), 40)
        for start in bases:
            ports = list(range(start, start + RESPONDERS + 1))
            if all(b.port_free(p) for p in ports):
                return dict(cache=ports[0], responders=ports[1:])
        raise b.BenchError(f"no {RESPONDERS + 1} free loopback ports from {bases[0]}: pass another --base-port")

    # ---------------------------------------------------------------- processes

    def testca(self, *args, timeout=3600):
        return self.b.run([self.bench.tool("testca"), "--dir", self.lab, "--db", self.cluster.writer_url, *args],
                          timeout=timeout, env=self.env, log=self.bench.logs / "scale-out-testca.log")

    def start_responder(self, i, extra=()):
        port = self.ports["responders"][i]
        name = f"scale-out-responder{i + 1}"
        proc = self.b.Proc(name, [self.bench.tool("responder"), "--dir", self.lab, "--db", self.cluster.reader_url,
                                  "--listen", f"{self.b.HOST}:{port}", *extra],
                           self.bench.logs / f"{name}.log", env=self.env)
        self.b.wait_until(name, lambda: self.b.http_call(port, "GET", "/health")[0] == 200, 60, proc)
        self.responders[i] = proc
        return proc

    def stop_responders(self):
        for proc in self.responders.values():
            proc.stop()
        self.responders = {}

    def start_nginx(self, count):
        """nginx with the scale profile's cache rules in front of the first `count` responders."""
        self.stop_nginx()
        base = self.work / "nginx"
        shutil.rmtree(base, ignore_errors=True)
        (base / "tmp").mkdir(parents=True)
        (base / "cache").mkdir()
        user = "user root;\n" if os.geteuid() == 0 else ""
        servers = "".join(f"    server {self.b.HOST}:{p} max_fails=1 fail_timeout=10s;\n"
                          for p in self.ports["responders"][:count])
        conf = base / "nginx.conf"
        conf.write_text(f"""{user}daemon off;
worker_processes auto;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {base}/tmp/body;
  proxy_temp_path {base}/tmp/proxy;
  fastcgi_temp_path {base}/tmp/fastcgi;
  uwsgi_temp_path {base}/tmp/uwsgi;
  scgi_temp_path {base}/tmp/scgi;
  keepalive_requests 100000000;
  upstream responders {{
{servers}    keepalive 64;
  }}
  proxy_cache_path {base}/cache levels=1:2 keys_zone=ocsp:10m max_size=256m inactive=1h use_temp_path=off;
  server {{
    listen {self.b.HOST}:{self.ports['cache']};
    location / {{
      include {self.b.ROOT / CACHE_RULES};
    }}
  }}
}}
""")
        proc = self.b.Proc("scale-out-nginx", [self.bench.nginx, "-c", conf, "-p", base, "-e", base / "error.log"],
                           self.bench.logs / "scale-out-nginx.log")
        self.b.wait_until("nginx (cache)", lambda: self.b.http_call(self.ports["cache"], "GET", "/health")[0] == 200,
                          30, proc)
        self.nginx = proc
        return proc

    def stop_nginx(self):
        if self.nginx is not None:
            self.nginx.stop()
            self.nginx = None

    # ---------------------------------------------------------------- requests

    def serials(self, count, rng):
        """`count` random serials of the lab's bulk leaves (with repeats), from the database, and how many
        bulk leaves there are."""
        leaves = "FROM certificates WHERE kind = 'leaf' AND name LIKE 'bulk%'"
        total = int(self.cluster.psql("ocsplab", f"SELECT count(*) {leaves}"))
        rows = self.cluster.psql("ocsplab", f"SELECT serial {leaves} ORDER BY random() LIMIT {min(count, total)}")
        found = [line.strip() for line in rows.splitlines() if line.strip()]
        if not found:
            raise self.b.BenchError("the scale-out lab has no bulk certificates")
        return [rng.choice(found) for _ in range(count)], total

    def request_files(self, serials, tag):
        builder = self.b.RequestBuilder(self.lab / "ca" / "intermediate" / "cert.pem", self.work)
        nonce = self.work / f"{tag}-nonce.txt"
        get = self.work / f"{tag}-get.txt"
        with open(nonce, "w") as n, open(get, "w") as g:
            for s in serials:
                n.write(builder.request(s, os.urandom(16)).hex() + "\n")
                g.write(self.b.get_target(builder.request(s)) + "\n")
        return nonce, get

    def wrk(self, port, requests, method, procs, duration=None, connections=None):
        a = self.a
        before = loadavg()
        res = self.b.wrk(port, requests, method, False, duration or a.duration, connections or a.connections,
                         1 if connections == 1 else a.wrk_threads, self.work, procs)
        res["loadavg_before"] = before
        res["loadavg_after"] = loadavg()
        return res

    # ---------------------------------------------------------------- the section

    def run(self):
        b, a = self.b, self.a
        if shutil.which("psql") is None:
            raise b.BenchError("psql is missing: scripts/install-deps installs Debian's postgresql")
        self.data["load"]["start"] = loadavg()
        self.cluster = Cluster(b, self.work)
        try:
            self.sizes()
            self.fleet()
            self.cache()
            self.kill()
        finally:
            self.stop_nginx()
            self.stop_responders()
            self.cluster.stop()
            if not a.keep_labs:
                shutil.rmtree(self.lab, ignore_errors=True)
        self.data["load"]["end"] = loadavg()
        return self.data

    def sizes(self):
        b, a = self.b, self.a
        rng = random.Random(15)
        previous = 0
        for size in a.scale_out_sizes:
            b.check_deadline()
            if size < previous:
                raise b.BenchError("--scale-out-sizes must grow")
            if previous == 0:
                b.say(f"scale-out: a lab in PostgreSQL, {size} certificates…")
                t0 = time.monotonic()
                self.testca("init", "--ocsp-url", f"http://{b.HOST}:{self.ports['cache']}/")
                self.testca("db", "grant-reader", "ocsplab_reader")
                init_s = time.monotonic() - t0
            else:
                b.say(f"scale-out: {size - previous} more certificates (to {size})…")
                init_s = 0.0
            load0 = loadavg()
            t0 = time.monotonic()
            self.testca("issue-bulk", size - previous, "--revoked-fraction", "0.1",
                        "--prefix", f"bulk{len(self.data['sizes'])}", timeout=6 * 3600)
            bulk_s = time.monotonic() - t0
            load1 = loadavg()
            self.cluster.psql("ocsplab", "VACUUM ANALYZE")
            db_bytes = self.cluster.database_bytes()
            sample, total = self.serials(a.scale_requests, rng)
            nonce, _ = self.request_files(sample, f"size-{size}")
            proc = self.start_responder(0, extra=["--cache-entries", "1"])
            rss_start = proc.rss_kb()
            self.wrk(self.ports["responders"][0], nonce, "POST", [proc], duration=1)  # warm-up
            res = self.wrk(self.ports["responders"][0], nonce, "POST", [proc, CpuOf(self.cluster)])
            # Latency without queueing: one connection, one request at a time.
            one = self.wrk(self.ports["responders"][0], nonce, "POST", [proc], connections=1)
            entry = dict(size=total, new=size - previous, bulk_s=bulk_s, init_s=init_s,
                         certs_per_s=(size - previous) / max(bulk_s, 1e-9), db_bytes=db_bytes,
                         rps=res["rps"], p50_ms=one["p50_us"] / 1000, p99_ms=one["p99_us"] / 1000,
                         p99_loaded_ms=res["p99_us"] / 1000, errors=res["errors"] + one["errors"], rss_start_kb=rss_start, hwm_kb=proc.hwm_kb(),
                         loadavg_bulk=(load0, load1), loadavg=(res["loadavg_before"], res["loadavg_after"]),
                         other_cpu=res["other_cpu_s"] / max(res["wall_s"], 1e-9))
            self.stop_responders()
            self.data["sizes"].append(entry)
            b.say(f"scale-out {total:,}: issue-bulk {bulk_s:.0f} s ({entry['certs_per_s']:.0f}/s), "
                  f"database {db_bytes / 1e6:.0f} MB, lookup p99 {entry['p99_ms']:.1f} ms, "
                  f"RSS {rss_start / 1024:.0f}→{entry['hwm_kb'] / 1024:.0f} MiB")
            previous = size
        self.requests = self.request_files(self.serials(a.scale_requests, rng)[0], "fleet")

    def fleet(self):
        """1, 2 and 3 responders behind nginx, POST + nonce (never cached): interleaved repeats."""
        b, a = self.b, self.a
        for i in range(RESPONDERS):
            self.start_responder(i, extra=["--cache-entries", "1"])
        nonce, _ = self.requests
        runs = []
        for round_no in range(1, a.repeats + 1):
            for count in range(1, RESPONDERS + 1):
                b.check_deadline()
                nginx = self.start_nginx(count)
                used = [self.responders[i] for i in range(count)]
                pg = CpuOf(self.cluster)
                parts = {"responder": used, "pg": [pg], "nginx": [nginx]}
                cpu0 = {k: sum(p.cpu_seconds() for p in v) for k, v in parts.items()}
                res = self.wrk(self.ports["cache"], nonce, "POST", used + [pg, nginx])
                res.update({f"{k}_cpu_s": sum(p.cpu_seconds() for p in v) - cpu0[k] for k, v in parts.items()})
                res.update(responders=count, round=round_no)
                runs.append(res)
                b.say(f"scale-out fleet {count}: {res['rps']:.0f} req/s, p99 {res['p99_us'] / 1000:.1f} ms"
                      + (f" ERRORS {res['errors']}" if res["errors"] else ""))
        self.stop_nginx()
        self.data["fleet"] = runs

    def cache(self):
        """GET through nginx (all hits after one miss per URL) against GET straight to a responder."""
        b, a = self.b, self.a
        self.stop_responders()
        for i in range(RESPONDERS):
            self.start_responder(i)
        nginx = self.start_nginx(RESPONDERS)
        _, get = self.requests
        # A hot set: the URLs relying parties ask for over and over (and a warm-up that stays short).
        targets = sorted(set(get.read_text().split()))[:HOT_URLS]
        distinct = self.work / "cache-get.txt"
        distinct.write_text("".join(t + "\n" for t in targets))
        # Each URL: a miss that fills the cache, then the same GET again, a hit as a user would see it.
        # nginx commits a cache entry just after the response has gone out, so a second GET that
        # arrives at once can still miss: a third, 50 ms later, tells that race from no caching.
        def get(t):
            conn = b.http.client.HTTPConnection(b.HOST, self.ports["cache"], timeout=10)
            try:
                conn.request("GET", t)
                r = conn.getresponse()
                r.read()
                return r.getheader("X-Cache-Status"), f"HTTP {r.status}, Cache-Control {r.getheader('Cache-Control')}"
            finally:
                conn.close()

        statuses = {"first": {}, "second": {}, "third": {}}
        never = []
        for t in targets:
            for attempt in ("first", "second", "third"):
                if attempt == "third":
                    time.sleep(0.05)
                status, what = get(t)
                statuses[attempt][status] = statuses[attempt].get(status, 0) + 1
                if attempt != "first" and status == "HIT":
                    break
            else:
                never.append(f"{t[:40]}…: {what}")
        if never:
            raise b.BenchError(f"nginx did not cache {len(never)} of {len(targets)} GET answers, e.g. {never[:3]}")
        runs = []
        for round_no in range(1, a.repeats + 1):
            for where, port, procs in (("nginx cache", self.ports["cache"], [nginx]),
                                       ("responder", self.ports["responders"][0], [self.responders[0]])):
                b.check_deadline()
                res = self.wrk(port, distinct, "GET", procs)
                res.update(where=where, round=round_no)
                runs.append(res)
                b.say(f"scale-out GET via {where}: {res['rps']:.0f} req/s" +
                      (f" ERRORS {res['errors']}" if res["errors"] else ""))
        self.data["cache"] = dict(runs=runs, urls=len(targets), warm_statuses=statuses)

    def kill(self):
        """A responder SIGKILLed a third of the way into a run through nginx (uncached POST)."""
        b, a = self.b, self.a
        self.stop_nginx()
        self.stop_responders()
        for i in range(RESPONDERS):
            self.start_responder(i, extra=["--cache-entries", "1"])
        nginx = self.start_nginx(RESPONDERS)
        nonce, _ = self.requests
        duration = max(3, a.duration)
        victim = self.responders[1]
        out = {}

        def killer():
            time.sleep(duration / 3)
            os.kill(victim.pid, signal.SIGKILL)
            out["killed_at_s"] = duration / 3

        t = threading.Thread(target=killer, daemon=True)
        t.start()
        res = self.wrk(self.ports["cache"], nonce, "POST", [nginx], duration=duration)
        t.join()
        res.update(out)
        err_log = self.work / "nginx" / "error.log"
        res["nginx_retries_logged"] = sum(1 for line in err_log.read_text(errors="replace").splitlines()
                                          if "upstream" in line) if err_log.exists() else 0
        self.data["kill"] = res
        b.say(f"scale-out kill: {res['requests']} requests, {res['errors']} failed "
              f"({res['nginx_retries_logged']} upstream errors in nginx's log, retried)")


# ---------------------------------------------------------------- report

def table(bench):
    d = bench.data.get("scale_out") or {}
    a = bench.a
    lines = ["", "**Scale-out** (host processes: PostgreSQL from scripts/pg-cluster, responders with `--db` "
             "as the reader role, nginx with docker/cache/ocsp-cache.conf). Load average "
             f"{d.get('load', {}).get('start', '?')} at the start, {d.get('load', {}).get('end', '?')} at the end.", ""]
    lines += ["| Certificates in PostgreSQL | issue-bulk (added) | per second | pg_database_size | "
              "req/s, 1 responder, 32 conns (p99 ms) | lookup p50 / p99 ms, 1 conn | responder RSS start → peak | "
              "load avg |",
              "|---|---|---|---|---|---|---|---|"]
    for s in d.get("sizes", []):
        err = f" ({s['errors']} errors)" if s["errors"] else ""
        lines.append(f"| {s['size']:,} | {s['bulk_s']:.0f} s ({s['new']:,}) | {s['certs_per_s']:,.0f} | "
                     f"{s['db_bytes'] / 1e6:,.0f} MB ({s['db_bytes'] / max(s['size'], 1):,.0f} B/cert) | "
                     f"{s['rps']:,.0f}{err} ({s['p99_loaded_ms']:.1f}) | {s['p50_ms']:.2f} / {s['p99_ms']:.2f} | "
                     f"{s['rss_start_kb'] / 1024:.0f} → {s['hwm_kb'] / 1024:.0f} MiB | "
                     f"{s['loadavg'][0]}→{s['loadavg'][1]} |")
    fleet = d.get("fleet", [])
    if fleet:
        lines += ["", "| Responders behind nginx (POST + nonce, uncached) | req/s median (min–max) | p99 ms | "
                  "CPU µs/req: responders | PostgreSQL | nginx | load avg | errors |",
                  "|---|---|---|---|---|---|---|---|"]
        for count in sorted({r["responders"] for r in fleet}):
            runs = [r for r in fleet if r["responders"] == count]
            rps = [r["rps"] for r in runs]
            reqs = max(1, sum(r["requests"] for r in runs))
            responders = sum(r["responder_cpu_s"] for r in runs)
            lines.append(
                f"| {count} | {statistics.median(rps):,.0f} ({min(rps):,.0f}–{max(rps):,.0f}) | "
                f"{statistics.median(r['p99_us'] for r in runs) / 1000:.1f} | "
                f"{1e6 * responders / reqs:.0f} | "
                f"{1e6 * sum(r.get('pg_cpu_s', 0) for r in runs) / reqs:.0f} | "
                f"{1e6 * sum(r.get('nginx_cpu_s', 0) for r in runs) / reqs:.0f} | "
                f"{statistics.median(r['loadavg_before'] for r in runs)} | {sum(r['errors'] for r in runs)} |")
    cache = d.get("cache", {})
    if cache.get("runs"):
        lines += ["", f"| GET, {cache['urls']} distinct URLs | req/s median (min–max) | p99 ms | "
                  "server CPU µs/req | load avg |", "|---|---|---|---|---|"]
        for where in ("nginx cache", "responder"):
            runs = [r for r in cache["runs"] if r["where"] == where]
            rps = [r["rps"] for r in runs]
            reqs = max(1, sum(r["requests"] for r in runs))
            lines.append(f"| {where} | {statistics.median(rps):,.0f} ({min(rps):,.0f}–{max(rps):,.0f}) | "
                         f"{statistics.median(r['p99_us'] for r in runs) / 1000:.1f} | "
                         f"{1e6 * sum(r['server_cpu_s'] for r in runs) / reqs:.0f} | "
                         f"{statistics.median(r['loadavg_before'] for r in runs)} |")
        w = cache["warm_statuses"]
        lines.append(f"Warm-up through nginx, each URL: a first GET ({w['first']}), the same GET again at once "
                     f"({w['second']}), and for those not yet a hit a third 50 ms later ({w['third']}): "
                     f"X-Cache-Status counts.")
    k = d.get("kill")
    if k:
        lines += ["", f"Responder killed (SIGKILL) {k.get('killed_at_s', 0):.0f} s into a {a.duration if a.duration >= 3 else 3} s "
                  f"run of POSTs through nginx: {k['requests']:,} requests, **{k['errors']} failed** "
                  f"(connect {k['connect_errors']}, read {k['read_errors']}, status {k['status_errors']}, "
                  f"timeouts {k['timeouts']}); nginx logged {k['nginx_retries_logged']} upstream errors, each "
                  f"retried on another responder; p99 {k['p99_us'] / 1000:.1f} ms."]
    return lines


def targets(bench):
    d = bench.data.get("scale_out") or {}
    k = d.get("kill")
    out = []
    if k:
        out.append(("a responder killed under load behind nginx: 0 failed requests", f"{k['errors']} failed",
                    k["errors"] == 0))
    return out


def section(bench):
    """Runs the section; its data goes to bench.data['scale_out']."""
    bench.data["scale_out"] = ScaleOut(bench).run()
