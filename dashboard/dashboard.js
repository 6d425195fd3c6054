// The hotaru dashboard: renders the master's event stream (/dashboard/events, one JSON snapshot
// a second) into the page. Everything shown is set as text (textContent), never as HTML: node
// and job names come from the config and the nodes, and are treated as hostile.

const ok = new Set(["running"])
const wait = new Set(["starting", "waiting-for-agent"])

/** The row class of a node: green running, amber starting, red anything down or restarting. */
const stateClass = (node) => {
  if (ok.has(node.state)) return "state-ok"
  if (wait.has(node.state) && node.restarts === 0) return "state-wait"
  return "state-bad"
}

const el = (tag, text, className) => {
  const e = document.createElement(tag)
  if (text !== undefined && text !== null) e.textContent = String(text)
  if (className !== undefined) e.className = className
  return e
}

const cell = (row, text, className) => row.appendChild(el("td", text, className))

const duration = (ms) => {
  if (ms === null || ms === undefined) return "–"
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
}

const time = (at) => (at === null || at === undefined ? "–" : new Date(at).toLocaleTimeString())

/** The nodes in tree order (parents before children) with their depth. */
const treeOrder = (nodes, parents) => {
  const byName = new Map(nodes.map((n) => [n.name, n]))
  const children = new Map()
  const roots = []
  for (const n of nodes) {
    const ps = (parents[n.name] ?? []).filter((p) => byName.has(p))
    if (ps.length === 0) roots.push(n.name)
    else {
      const first = ps[0]
      children.set(first, [...(children.get(first) ?? []), n.name])
    }
  }
  const out = []
  const seen = new Set()
  const visit = (name, depth) => {
    if (seen.has(name)) return
    seen.add(name)
    out.push({ node: byName.get(name), depth })
    for (const c of children.get(name) ?? []) visit(c, depth + 1)
  }
  for (const r of roots) visit(r, 0)
  for (const n of nodes) visit(n.name, 0)
  return out
}

const renderNodes = (snapshot) => {
  const body = document.querySelector("#nodes tbody")
  const rows = treeOrder(snapshot.status.nodes, snapshot.parents).map(({ node, depth }) => {
    const row = el("tr", undefined, stateClass(node))
    row.dataset.node = node.name
    row.dataset.state = node.state
    cell(row, node.name, `name depth-${Math.min(depth, 4)}`)
    cell(row, node.host ?? "–")
    row.appendChild(el("td")).appendChild(el("span", node.state, "badge"))
    cell(row, node.pid ?? "–", "num")
    cell(row, node.restarts, "num")
    cell(row, duration(node.uptimeMs), "num")
    const links = el("td")
    for (const p of node.parents) {
      links.appendChild(
        el("span", `${p.connected ? "▲" : "△"} ${p.name} `, p.connected ? "link-up" : "link-down")
      )
    }
    if (node.children.length > 0) links.appendChild(el("span", `▼ ${node.children.length}`, "muted"))
    row.appendChild(links)
    cell(row, node.connections, "num")
    cell(row, snapshot.rates[node.name] ?? 0, "num")
    cell(row, node.deadLettered, "num")
    cell(row, node.lastExit ?? "", "muted")
    return row
  })
  body.replaceChildren(...rows)
}

const renderJobs = (snapshot) => {
  const rows = []
  for (const node of snapshot.status.nodes) {
    for (const job of node.jobs) {
      const row = el("tr", undefined, job.lastRun?.outcome === "failure" ? "state-bad" : "state-ok")
      row.dataset.job = `${node.name}/${job.name}`
      cell(row, node.name)
      cell(row, job.name)
      cell(row, job.schedule)
      cell(row, job.runs, "num")
      cell(row, job.failures, "num")
      cell(row, time(job.lastRun?.startedAt))
      cell(row, job.lastRun === null ? "–" : `${job.lastRun.durationMs} ms`, "num")
      cell(
        row,
        job.lastRun === null ? "–" : job.lastRun.outcome + (job.lastRun.error ? `: ${job.lastRun.error}` : "")
      )
      cell(row, job.running ? "running now" : time(job.nextRunAt))
      rows.push(row)
    }
  }
  if (rows.length === 0) {
    const row = el("tr")
    const td = cell(row, "no scheduled jobs", "muted")
    td.colSpan = 9
    rows.push(row)
  }
  document.querySelector("#jobs tbody").replaceChildren(...rows)
}

const renderEvents = (snapshot) => {
  const items = snapshot.events.map((e) => {
    const bad = e.state !== "running" && e.state !== "starting"
    const text = `${time(e.at)} ${e.node} → ${e.state} (restarts ${e.restarts})${e.lastExit ? `: ${e.lastExit}` : ""}`
    return el("li", text, bad ? "bad" : "ok")
  })
  if (items.length === 0) items.push(el("li", "none since the master started", "muted"))
  document.getElementById("events").replaceChildren(...items)
}

const render = (snapshot) => {
  const m = snapshot.status.master
  document.getElementById("master").textContent =
    `master pid ${m.pid} · ${m.mode} · up ${duration(m.uptimeMs)} · rootport ${m.rootport}`
  renderNodes(snapshot)
  renderJobs(snapshot)
  renderEvents(snapshot)
}

const live = document.getElementById("live")
const events = new EventSource("/dashboard/events")
events.addEventListener("message", (message) => {
  live.textContent = "live"
  live.className = "live on"
  render(JSON.parse(message.data))
})
events.addEventListener("error", () => {
  live.textContent = events.readyState === EventSource.CLOSED ? "signed out: reload" : "reconnecting…"
  live.className = "live off"
})
