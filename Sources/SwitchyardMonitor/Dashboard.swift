/// The monitor's dashboard: one self-contained HTML page (no CDN, no external fonts or scripts) that reads
/// `/api/overview` every two seconds and draws its charts as inline SVG.
public enum Dashboard {
    /// The page.
    public static let html: String = #"""
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Switchyard monitor</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        :root { --bg:#f6f7f9; --panel:#fff; --ink:#1d2430; --muted:#6b7685; --line:#e3e7ed; --ok:#1a9850; --warn:#e08214; --bad:#d73027; }
        * { box-sizing:border-box; }
        body { margin:0; font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink); }
        header { display:flex; align-items:center; gap:16px; padding:12px 20px; background:#1d2430; color:#fff; }
        header h1 { font-size:18px; margin:0; font-weight:600; }
        header .meta { color:#b8c1cc; font-size:12px; margin-left:auto; }
        header button { background:#2f3a4b; color:#fff; border:0; padding:4px 10px; border-radius:4px; cursor:pointer; }
        header button.on { background:#4a78c2; }
        #alertbar { padding:8px 20px; background:var(--bad); color:#fff; display:none; }
        .tiles { display:grid; grid-template-columns:repeat(auto-fit,minmax(170px,1fr)); gap:12px; padding:16px 20px 0; }
        .tile { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:10px 14px; }
        .tile .label { color:var(--muted); font-size:12px; } .tile .num { font-size:24px; font-weight:600; }
        main { display:grid; grid-template-columns:repeat(auto-fit,minmax(520px,1fr)); gap:16px; padding:16px 20px; }
        section { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:12px 14px; min-width:0; }
        section h2 { font-size:14px; margin:0 0 8px; font-weight:600; }
        svg text { font-size:10px; fill:var(--muted); }
        .legend { display:flex; flex-wrap:wrap; gap:4px 14px; font-size:12px; margin-top:4px; }
        .legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:-1px; }
        table { border-collapse:collapse; width:100%; font-size:12px; } th,td { text-align:left; padding:4px 6px; border-bottom:1px solid var(--line); }
        th { color:var(--muted); font-weight:500; }
        .status-up { color:var(--ok); font-weight:600; } .status-down { color:var(--bad); font-weight:600; } .status-draining { color:var(--warn); font-weight:600; } .status-stopped { color:var(--muted); }
        .empty { color:var(--muted); font-size:12px; padding:20px 0; text-align:center; }
        .firing { color:var(--bad); font-weight:600; } .pending { color:var(--warn); }
        </style></head>
        <body>
        <header><h1>Switchyard monitor</h1>
          <span id="windows"></span>
          <span class="meta" id="meta">loading…</span></header>
        <div id="alertbar"></div>
        <div class="tiles">
          <div class="tile"><div class="label">Throughput (req/s, routed)</div><div class="num" id="stat-rps">–</div></div>
          <div class="tile"><div class="label">p50 / p99 latency (ms)</div><div class="num" id="stat-latency">–</div></div>
          <div class="tile"><div class="label">Error rate</div><div class="num" id="stat-errors">–</div></div>
          <div class="tile"><div class="label">Instances up</div><div class="num" id="stat-instances">–</div></div>
          <div class="tile"><div class="label">Alerts firing</div><div class="num" id="stat-alerts">–</div></div>
        </div>
        <main>
          <section id="panel-throughput"><h2>Throughput per model version (req/s)</h2><div class="chart"></div></section>
          <section id="panel-latency"><h2>Latency per model version (p50 solid, p99 dashed, ms)</h2><div class="chart"></div></section>
          <section id="panel-errors"><h2>Error rate per model version</h2><div class="chart"></div></section>
          <section id="panel-services"><h2>Throughput per service (req/s)</h2><div class="chart"></div></section>
          <section id="panel-service-latency"><h2>p99 latency per service (ms)</h2><div class="chart"></div></section>
          <section id="panel-batches"><h2>Mean batch size per model and stage</h2><div class="chart"></div><div id="queues" class="legend"></div></section>
          <section id="panel-cpu"><h2>CPU per instance (% of a core)</h2><div class="chart"></div></section>
          <section id="panel-memory"><h2>Resident memory per instance (MiB)</h2><div class="chart"></div></section>
          <section id="panel-instances"><h2>Instances</h2><div class="body"></div></section>
          <section id="panel-upstreams"><h2>Router stage pools (last minute)</h2><div class="body"></div></section>
          <section id="panel-drift"><h2>Drift (PSI against the training profile)</h2><div class="body"></div></section>
          <section id="panel-alerts"><h2>Alerts</h2><div class="body"></div></section>
          <section id="panel-releases" hidden><h2>Canary and A/B</h2><div class="body"></div></section>
        </main>
        <script>
        "use strict";
        const COLORS = ["#4a78c2","#d95f02","#1b9e77","#7570b3","#e7298a","#66a61e","#e6ab02","#a6761d","#666666","#17becf"];
        let minutes = 15, timer = null;
        const fmt = (v, d) => v == null || isNaN(v) ? "–" : (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(d == null ? 2 : d));
        const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
        function clock(t) { const d = new Date(t * 1000); return d.toTimeString().slice(0, 8); }
        function chart(el, lines, unit, t0, t1) {
          const W = 560, H = 190, L = 46, R = 8, T = 8, B = 22;
          let max = 0;
          for (const l of lines) for (const p of l.points) if (p[1] != null && isFinite(p[1])) max = Math.max(max, p[1]);
          if (!lines.some(l => l.points.some(p => p[1] != null))) { el.innerHTML = '<div class="empty">no data in this window yet</div>'; return; }
          max = max > 0 ? max * 1.1 : 1;
          const x = t => L + (W - L - R) * (t - t0) / Math.max(1, t1 - t0), y = v => T + (H - T - B) * (1 - v / max);
          let s = `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img">`;
          for (let i = 0; i <= 4; i++) { const v = max * i / 4, yy = y(v);
            s += `<line x1="${L}" x2="${W - R}" y1="${yy}" y2="${yy}" stroke="#eef1f5"/><text x="${L - 4}" y="${yy + 3}" text-anchor="end">${fmt(v)}</text>`; }
          for (let i = 0; i <= 4; i++) { const t = t0 + (t1 - t0) * i / 4; s += `<text x="${x(t)}" y="${H - 6}" text-anchor="middle">${clock(t)}</text>`; }
          let legend = "";
          lines.forEach((l, i) => {
            const c = l.color || COLORS[i % COLORS.length];
            let d = "", pen = false;
            for (const p of l.points) { if (p[1] == null || !isFinite(p[1])) { pen = false; continue; }
              d += (pen ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1); pen = true; }
            s += `<path d="${d}" fill="none" stroke="${c}" stroke-width="1.8" ${l.dash ? 'stroke-dasharray="5 3"' : ""}/>`;
            const last = [...l.points].reverse().find(p => p[1] != null && isFinite(p[1]));
            if (last) s += `<circle cx="${x(last[0]).toFixed(1)}" cy="${y(last[1]).toFixed(1)}" r="2.5" fill="${c}"/>`;  // visible even alone
            if (!l.nolegend) legend += `<span><i style="background:${c}"></i>${esc(l.name)} <b class="value" data-series="${esc(l.name)}">${fmt(last ? last[1] : null)}</b> ${unit}</span>`;
          });
          el.innerHTML = s + "</svg>" + `<div class="legend">${legend}</div>`;
        }
        function render(o) {
          // the time axis starts where the history does, so a young monitor's charts are not squeezed to the right edge
          const t1 = o.now, t0 = Math.max(o.now - minutes * 60, (o.historySince || 0) - o.step);
          const pts = (series, f) => series.points.map(p => [p.t, f(p)]);
          const byModel = o.models, bySvc = o.services;
          chart(document.querySelector("#panel-throughput .chart"), byModel.map(s => ({name: s.key, points: pts(s, p => p.rps)})), "req/s", t0, t1);
          const lat = [];
          byModel.forEach((s, i) => { const c = COLORS[i % COLORS.length];
            lat.push({name: s.key + " p50", color: c, points: pts(s, p => p.p50)});
            lat.push({name: s.key + " p99", color: c, dash: true, points: pts(s, p => p.p99)}); });
          chart(document.querySelector("#panel-latency .chart"), lat, "ms", t0, t1);
          chart(document.querySelector("#panel-errors .chart"), byModel.map(s => ({name: s.key, points: pts(s, p => p.errorRate == null ? null : 100 * p.errorRate)})), "%", t0, t1);
          chart(document.querySelector("#panel-services .chart"), bySvc.map(s => ({name: s.key, points: pts(s, p => p.rps)})), "req/s", t0, t1);
          chart(document.querySelector("#panel-service-latency .chart"), bySvc.map(s => ({name: s.key, points: pts(s, p => p.p99)})), "ms", t0, t1);
          chart(document.querySelector("#panel-batches .chart"), o.batches.map(b => ({name: b.key, points: b.points.map(p => [p.t, p.mean])})), "rows", t0, t1);
          chart(document.querySelector("#panel-cpu .chart"), o.usage.map(u => ({name: u.key, points: u.points.map(p => [p.t, p.cpu == null ? null : 100 * p.cpu])})), "%", t0, t1);
          chart(document.querySelector("#panel-memory .chart"), o.usage.map(u => ({name: u.key, points: u.points.map(p => [p.t, p.memory == null ? null : p.memory / 1048576])})), "MiB", t0, t1);
          document.getElementById("queues").innerHTML = o.batches.filter(b => b.queueDepth != null)
            .map(b => `<span>queue ${esc(b.key)}: <b>${fmt(b.queueDepth, 0)}</b></span>`).join("");
          // tiles: the latest complete step, summed over model versions
          const lastOf = (s, f) => { for (let i = s.points.length - 1; i >= 0; i--) { const v = f(s.points[i]); if (v != null) return v; } return null; };
          const rps = byModel.reduce((a, s) => a + (s.points.length ? s.points[s.points.length - 1].rps : 0), 0);
          document.getElementById("stat-rps").textContent = fmt(rps, 1);
          const p50 = Math.max(...byModel.map(s => lastOf(s, p => p.p50) ?? -1)), p99 = Math.max(...byModel.map(s => lastOf(s, p => p.p99) ?? -1));
          document.getElementById("stat-latency").textContent = byModel.length && p99 >= 0 ? `${fmt(p50)} / ${fmt(p99)}` : "–";
          const err = byModel.map(s => lastOf(s, p => p.errorRate)).filter(v => v != null);
          document.getElementById("stat-errors").textContent = err.length ? fmt(100 * Math.max(...err), 2) + " %" : "–";
          const up = o.instances.filter(i => i.status === "up").length;
          document.getElementById("stat-instances").textContent = `${up} / ${o.instances.length}`;
          const firing = o.alerts.filter(a => a.firing);
          document.getElementById("stat-alerts").textContent = String(firing.length);
          const bar = document.getElementById("alertbar");
          bar.style.display = firing.length ? "block" : "none";
          bar.textContent = firing.map(a => `${a.alert} ${Object.entries(a.labels).map(([k, v]) => k + "=" + v).join(" ")} = ${fmt(a.value, 3)}`).join(" · ");
          document.querySelector("#panel-instances .body").innerHTML = o.instances.length ?
            "<table><tr><th>instance</th><th>service</th><th>status</th><th>last seen</th><th>version</th><th>address</th><th>CPU</th><th>memory</th></tr>" +
            o.instances.map(i => `<tr class="instance" data-instance="${esc(i.name)}"><td>${esc(i.name)}</td><td>${esc(i.service)}</td>` +
              `<td class="status-${esc(i.status)}">${esc(i.status)}</td><td>${fmt(i.lastSeenAgo, 1)} s ago</td><td>${esc(i.version)}</td>` +
              `<td>${esc(i.address)}</td><td>${i.cpu == null ? "–" : fmt(100 * i.cpu, 1) + " %"}</td>` +
              `<td>${i.memory == null ? "–" : fmt(i.memory / 1048576, 1) + " MiB"}</td></tr>`).join("") + "</table>"
            : '<div class="empty">no instance has reported yet</div>';
          document.querySelector("#panel-upstreams .body").innerHTML = o.upstreams.length ?
            "<table><tr><th>stage</th><th>upstream</th><th>attempts/s</th><th>failed</th><th>ejected by</th></tr>" +
            o.upstreams.map(u => `<tr class="upstream" data-upstream="${esc(u.stage + " " + u.instance)}"><td>${esc(u.stage)}</td><td>${esc(u.instance)}</td>` +
              `<td>${fmt(u.rps, 1)}</td><td>${u.errorRate == null ? "–" : fmt(100 * u.errorRate, 2) + " %"}</td>` +
              `<td class="${u.ejected > 0 ? "status-down" : ""}">${u.ejected > 0 ? fmt(u.ejected, 0) + " router(s)" : "none"}</td></tr>`).join("") + "</table>"
            : '<div class="empty">no router has reported its pools yet</div>';
          document.querySelector("#panel-drift .body").innerHTML = o.drift.length ?
            "<table><tr><th>model/version</th><th>rows</th><th>mean PSI</th><th>max PSI</th><th>prediction PSI</th><th>most drifted features</th></tr>" +
            o.drift.map(d => `<tr class="drift" data-key="${esc(d.key)}"><td>${esc(d.key)}</td><td>${d.rows}</td>` +
              (d.profiled ? `<td class="${d.meanPSI > 0.25 ? "firing" : d.meanPSI > 0.1 ? "pending" : ""}">${fmt(d.meanPSI, 3)}</td><td>${fmt(d.maxPSI, 3)}</td><td>${fmt(d.predictionPSI, 3)}</td>` +
                `<td>${d.top.map(f => "#" + f.feature + " " + fmt(f.psi, 2)).join(", ")}</td>` : '<td colspan="4">no profile for this version (yard profile)</td>') + "</tr>").join("") + "</table>"
            : '<div class="empty">no sampled inputs yet</div>';
          const active = o.alerts.map(a => `<tr class="alert ${a.firing ? "firing" : "pending"}"><td>${a.firing ? "firing" : "pending"}</td><td>${esc(a.alert)}</td>` +
            `<td>${esc(Object.entries(a.labels).map(([k, v]) => k + "=" + v).join(" "))}</td><td>${fmt(a.value, 3)} ${esc(a.condition)}</td><td>since ${clock(a.since)}</td></tr>`).join("");
          const events = o.events.slice().reverse().map(e => `<tr class="event"><td>${clock(e.at)}</td><td class="${e.status === "firing" ? "firing" : ""}">${esc(e.status)}</td>` +
            `<td>${esc(e.alert)}</td><td>${esc(Object.entries(e.labels).map(([k, v]) => k + "=" + v).join(" "))}</td><td>${fmt(e.value, 3)}</td></tr>`).join("");
          document.querySelector("#panel-alerts .body").innerHTML =
            (active ? "<table>" + active + "</table>" : '<div class="empty">no alert pending or firing</div>') +
            (events ? "<h2 style='margin-top:10px'>Recent changes</h2><table>" + events + "</table>" : "");
          const rel = document.getElementById("panel-releases");
          rel.hidden = !(o.releases && o.releases.length);
          if (!rel.hidden) rel.querySelector(".body").innerHTML = "<table><tr><th>model</th><th>rollout phase</th><th>candidate share</th><th>latest decision</th></tr>" +
            o.releases.map(r => `<tr class="release" data-model="${esc(r.model)}"><td>${esc(r.model)}</td><td>${esc(r.phase || "–")}</td>` +
              `<td>${r.candidatePercent == null ? "–" : fmt(r.candidatePercent, 0) + " %"}</td><td class="decision">${esc(r.decision || "–")}</td></tr>`).join("") +
            "</table><div class='legend'>per-version throughput, latency and errors of stable and candidate are in the charts above</div>";
          document.getElementById("meta").textContent = `updated ${clock(o.now)} · history since ${o.historySince ? new Date(o.historySince * 1000).toLocaleString() : "–"}`;
          document.body.dataset.updated = String(o.now);
        }
        // the token travels in the URL's fragment, which the browser never sends, and goes out only as a header
        const token = new URLSearchParams(location.hash.slice(1)).get("token");
        const auth = token ? {"Authorization": "Bearer " + token} : {};
        async function refresh() {
          try {
            const step = Math.max(5, minutes * 60 / 120);
            const r = await fetch(`/api/overview?minutes=${minutes}&step=${step}`, {cache: "no-store", headers: auth});
            if (r.status === 401) throw "a token is needed: open the dashboard as https://HOST:PORT/#token=TOKEN";
            render(await r.json());
          } catch (e) { document.getElementById("meta").textContent = "monitor unreachable: " + e; }
        }
        function windows() {
          document.getElementById("windows").innerHTML = [5, 15, 60, 180].map(m =>
            `<button class="${m === minutes ? "on" : ""}" data-m="${m}">${m < 60 ? m + " min" : m / 60 + " h"}</button>`).join(" ");
          document.querySelectorAll("#windows button").forEach(b => b.onclick = () => { minutes = +b.dataset.m; windows(); refresh(); });
        }
        windows(); refresh(); timer = setInterval(refresh, 2000);
        </script></body></html>
        """#
}
