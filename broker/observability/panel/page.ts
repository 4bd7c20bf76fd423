/**
 * The broker's web page, served at `/` on the HTTP port: plain HTML, CSS and
 * JS in one string (tsconfig compiles only .ts, so a string module is what
 * exists the same in source and in dist/). It polls /api/overview every
 * second and shows one page of topics (messages, bytes, publish rate) with
 * buttons to the previous and next page, the groups of those topics (lag and
 * in-flight per partition, ack rate) and the first page of connections.
 * Read-only: it has no way to change anything. With an auth file the browser
 * asks for a user name and token (HTTP Basic) and sends them with each poll.
 */
export const PANEL_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>skiffmq panel</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2430; background: #f7f8fa; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
  #status { color: #667; font-size: .85rem; }
  #status.down { color: #b00020; }
  table { border-collapse: collapse; background: #fff; min-width: 40rem; }
  th, td { text-align: left; padding: .3rem .7rem; border-bottom: 1px solid #e3e6ea; }
  th { background: #eef1f5; font-weight: 600; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  .lagging { color: #b35c00; font-weight: 600; }
  .empty { color: #889; font-style: italic; }
  .pager { margin: 0 0 .4rem; color: #445; font-size: .9rem; }
</style>
</head>
<body>
<h1>skiffmq</h1>
<div id="status">loading…</div>
<h2>Topics</h2>
<div class="pager"><button id="prev" type="button">&larr; previous</button> <span id="page"></span> <button id="next" type="button">next &rarr;</button></div>
<table id="topics"><thead><tr><th>topic</th><th>partitions</th><th>messages</th><th>bytes</th><th>publish/s</th></tr></thead><tbody></tbody></table>
<h2>Consumer groups</h2>
<table id="groups"><thead><tr><th>topic</th><th>group</th><th>members</th><th>lag</th><th>in flight</th><th>acked/s</th><th>lag per partition</th></tr></thead><tbody></tbody></table>
<h2>Connections</h2>
<div id="connections-count" class="pager"></div>
<table id="connections"><thead><tr><th>id</th><th>name</th><th>user</th><th>address</th><th>subscriptions</th><th>serves</th></tr></thead><tbody></tbody></table>
<script>
'use strict'
const PAGE = 100
let previous
let offset = 0
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])
const num = (v) => '<td class="n">' + esc(v) + '</td>'
const bytes = (b) => (b < 1024 ? b + ' B' : b < 1048576 ? (b / 1024).toFixed(1) + ' KiB' : (b / 1048576).toFixed(1) + ' MiB')
const rate = (now, before, dt) => (before === undefined || dt <= 0 ? '–' : Math.max(0, (now - before) / dt).toFixed(1))
function fill(id, rows, cols) {
  const body = document.querySelector('#' + id + ' tbody')
  body.innerHTML = rows.length ? rows.join('') : '<tr><td class="empty" colspan="' + cols + '">none</td></tr>'
}
function render(o) {
  const dt = previous ? (o.time - previous.time) / 1000 : 0
  const endOf = (t) => t.partitions.reduce((a, p) => a + p.endOffset, 0)
  const committedOf = (g) => g.partitions.reduce((a, p) => a + p.committed, 0)
  const before = (list, key) => previous && previous[list].find(key)
  fill('topics', o.topics.map((t) => {
    const p = before('topics', (x) => x.topic === t.topic)
    return '<tr data-topic="' + esc(t.topic) + '"><td>' + esc(t.topic) + '</td>' + num(t.partitions.length) + '<td class="n messages">' + t.messages + '</td>' + num(bytes(t.bytes)) + num(rate(endOf(t), p && endOf(p), dt)) + '</tr>'
  }), 5)
  fill('groups', o.groups.map((g) => {
    const p = before('groups', (x) => x.topic === g.topic && x.group === g.group)
    const per = g.partitions.map((x) => x.partition + ': ' + x.lag + (x.inFlight ? ' (' + x.inFlight + ' in flight)' : '')).join(', ')
    return '<tr data-topic="' + esc(g.topic) + '" data-group="' + esc(g.group) + '"><td>' + esc(g.topic) + '</td><td>' + esc(g.group) + '</td>' + num(g.members) +
      '<td class="n lag' + (g.lag > 0 ? ' lagging' : '') + '">' + g.lag + '</td><td class="n inflight">' + g.inFlight + '</td>' + num(rate(committedOf(g), p && committedOf(p), dt)) + '<td>' + esc(per) + '</td></tr>'
  }), 7)
  fill('connections', o.connections.map((c) => '<tr><td>' + c.id + '</td><td>' + esc(c.name) + '</td><td>' + esc(c.user ?? '–') + '</td><td>' + esc(c.address) + '</td>' + num(c.subscriptions) + num(c.serves) + '</tr>'), 6)
  document.getElementById('page').textContent = o.totalTopics === 0 ? 'no topics' : 'topics ' + (o.offset + 1) + '–' + (o.offset + o.topics.length) + ' of ' + o.totalTopics
  document.getElementById('prev').disabled = o.offset === 0
  document.getElementById('next').disabled = o.offset + o.limit >= o.totalTopics
  document.getElementById('connections-count').textContent = o.connections.length + ' of ' + o.totalConnections + ' connections shown'
  previous = o
}
function turn(by) {
  offset = Math.max(0, offset + by)
  clearTimeout(timer)
  poll()
}
document.getElementById('prev').onclick = () => turn(-PAGE)
document.getElementById('next').onclick = () => turn(PAGE)
let timer
let polling = false
async function poll() {
  if (polling) return // a page turn during a poll: the next poll picks the new offset up
  polling = true
  const status = document.getElementById('status')
  try {
    const res = await fetch('/api/overview?offset=' + offset + '&limit=' + PAGE, { cache: 'no-store' })
    if (!res.ok) throw new Error('HTTP ' + res.status)
    render(await res.json())
    status.className = ''
    status.textContent = 'updated ' + new Date().toLocaleTimeString()
  } catch (err) {
    status.className = 'down'
    status.textContent = 'broker unreachable: ' + err.message
  }
  polling = false
  timer = setTimeout(poll, 1000)
}
poll()
</script>
</body>
</html>
`
