/**
 * The panel page's script (see page.ts). Plain ES2020 for any current
 * browser, no libraries. Written without backticks, `${` or backslashes so it
 * can live in this template string as it is.
 */
export const PANEL_SCRIPT = `
'use strict'
const PAGE = 100
let previous
let offset = 0
let admin = false
let rates = new Map()
const $ = (s) => document.querySelector(s)
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])
const num = (v) => '<td class="n">' + esc(v) + '</td>'
const bytes = (b) => (b < 1024 ? b + ' B' : b < 1048576 ? (b / 1024).toFixed(1) + ' KiB' : b < 1073741824 ? (b / 1048576).toFixed(1) + ' MiB' : (b / 1073741824).toFixed(2) + ' GiB')
const rate = (now, before, dt) => (before === undefined || dt <= 0 ? '–' : Math.max(0, (now - before) / dt).toFixed(1))
const button = (label, attrs) => (admin ? '<td><button type="button" class="action" ' + attrs + '>' + label + '</button></td>' : '')
function fill(id, rows, cols) {
  $('#' + id + ' tbody').innerHTML = rows.length ? rows.join('') : '<tr><td class="empty" colspan="' + cols + '">none</td></tr>'
}
async function getJson(path) {
  const res = await fetch(path, { cache: 'no-store' })
  if (!res.ok) throw new Error('HTTP ' + res.status + ' ' + (await res.text()).trim())
  return res.json()
}

// Sparkline: publish, deliver and ack rates of one topic on one scale (the largest of the three).
function spark(r) {
  if (!r || r.publish.length === 0) return '<td class="empty">no samples yet</td>'
  const w = 150, h = 28, n = r.publish.length
  const max = Math.max(1e-9, ...r.publish, ...r.deliver, ...r.ack)
  const x = (i) => (n === 1 ? w : (i * w) / (n - 1)).toFixed(1)
  const y = (v) => (h - 1 - (v / max) * (h - 2)).toFixed(1)
  // A single sample is drawn as a short stub at the right end, so it shows.
  const pts = (vals) => (n === 1 ? [w - 8, w].map((px) => px + ',' + y(vals[0])) : vals.map((v, i) => x(i) + ',' + y(v))).join(' ')
  const line = (vals, color) => '<polyline fill="none" stroke="' + color + '" stroke-width="1.3" points="' + pts(vals) + '"/>'
  const last = (vals) => vals[n - 1]
  const title = 'now: publish ' + last(r.publish) + '/s, deliver ' + last(r.deliver) + '/s, ack ' + last(r.ack) + '/s; peak ' + max.toFixed(2) + '/s'
  return '<td><svg class="spark" data-points="' + n + '" data-peak="' + max + '" width="' + w + '" height="' + h + '" viewBox="0 0 ' + w + ' ' + h + '"><title>' + esc(title) + '</title>' +
    '<rect width="' + w + '" height="' + h + '" fill="#fafbfc"/>' + line(r.publish, '#2563eb') + line(r.deliver, '#16a34a') + line(r.ack, '#d97706') + '</svg></td>'
}

// A dead-letter topic goes right under its origin when both are on this page.
function withDeadLettersUnderOrigins(topics) {
  const onPage = new Set(topics.map((t) => t.topic))
  const out = []
  for (const t of topics) {
    if (t.deadLetterOf && onPage.has(t.deadLetterOf)) continue
    out.push(t)
    let dlq = topics.find((x) => x.deadLetterOf === t.topic)
    while (dlq) {
      out.push(dlq)
      const parent = dlq
      dlq = topics.find((x) => x.deadLetterOf === parent.topic)
    }
  }
  return out
}

function render(o) {
  const dt = previous ? (o.time - previous.time) / 1000 : 0
  const endOf = (t) => t.partitions.reduce((a, p) => a + p.endOffset, 0)
  const committedOf = (g) => g.partitions.reduce((a, p) => a + p.committed, 0)
  const before = (list, key) => previous && previous[list].find(key)
  fill('topics', withDeadLettersUnderOrigins(o.topics).map((t) => {
    const p = before('topics', (x) => x.topic === t.topic)
    const name = esc(t.topic) +
      (t.deadLetterOf ? '<span class="dlq-badge" title="dead letters of ' + esc(t.deadLetterOf) + '">DLQ</span>' : '') +
      (t.deadLetters ? '<span class="dlq-link" data-dlq="' + esc(t.deadLetters.topic) + '">DLQ: <span class="dlq-depth">' + t.deadLetters.depth + '</span></span>' : '')
    return '<tr data-topic="' + esc(t.topic) + '"' + (t.deadLetterOf ? ' class="dlq" data-dlq-of="' + esc(t.deadLetterOf) + '"' : '') + '><td>' + name + '</td>' + num(t.partitions.length) +
      '<td class="n messages">' + t.messages + '</td>' + num(bytes(t.bytes)) + num(rate(endOf(t), p && endOf(p), dt)) + spark(rates.get(t.topic)) +
      button('peek', 'data-peek="' + esc(t.topic) + '"') + '</tr>'
  }), 7)
  fill('groups', o.groups.map((g) => {
    const p = before('groups', (x) => x.topic === g.topic && x.group === g.group)
    const per = g.partitions.map((x) => x.partition + ': ' + x.lag + (x.inFlight ? ' (' + x.inFlight + ' in flight)' : '')).join(', ')
    return '<tr data-topic="' + esc(g.topic) + '" data-group="' + esc(g.group) + '"><td>' + esc(g.topic) + '</td><td>' + esc(g.group) + '</td>' + num(g.members) +
      '<td class="n lag' + (g.lag > 0 ? ' lagging' : '') + '">' + g.lag + '</td><td class="n inflight">' + g.inFlight + '</td>' + num(rate(committedOf(g), p && committedOf(p), dt)) + '<td>' + esc(per) + '</td>' +
      button('reset / delete…', 'data-group-topic="' + esc(g.topic) + '" data-group-name="' + esc(g.group) + '"') + '</tr>'
  }), 8)
  fill('connections', o.connections.map((c) => '<tr data-conn="' + c.id + '"><td>' + c.id + '</td><td>' + esc(c.name) + '</td><td>' + esc(c.user ?? '–') + '</td><td>' + esc(c.address) + '</td>' + num(c.subscriptions) + num(c.serves) +
    button('close…', 'data-close="' + c.id + '"') + '</tr>'), 7)
  $('#page').textContent = o.totalTopics === 0 ? 'no topics' : 'topics ' + (o.offset + 1) + '–' + (o.offset + o.topics.length) + ' of ' + o.totalTopics
  $('#prev').disabled = o.offset === 0
  $('#next').disabled = o.offset + o.limit >= o.totalTopics
  $('#connections-count').textContent = o.connections.length + ' of ' + o.totalConnections + ' connections shown'
  previous = o
}

function renderNode(n) {
  const up = n.uptimeS
  const uptime = (up >= 86400 ? Math.floor(up / 86400) + 'd ' : '') + Math.floor((up % 86400) / 3600) + 'h ' + Math.floor((up % 3600) / 60) + 'm ' + (up % 60) + 's'
  const disk = n.disk.error ? 'unreadable: ' + n.disk.error : bytes(n.disk.usedBytes) + ' used, ' + bytes(n.disk.freeBytes) + ' free of ' + bytes(n.disk.totalBytes)
  const items = [
    ['version', 'skiffmq ' + n.version + ' (Node ' + n.node + ')'], ['uptime', uptime], ['rss', bytes(n.memory.rss) + ' (all threads)'],
    ['heap', bytes(n.memory.heapUsed) + ' of ' + bytes(n.memory.heapTotal) + ' (gateway)'], ['disk', disk], ['dataDir', n.dataDir],
    ['workers', n.workers], ['connections', n.connections], ['topics', n.topics], ['fsync', n.fsync + ' (group commit ' + n.groupCommitMs + ' ms)'],
  ]
  const c = n.cluster
  if (c) {
    items.push(['cluster', c.cluster + ': broker ' + c.brokerId + (c.registered ? '' : ' (NOT registered)')],
      ['brokers', c.brokers.map((b) => b.id + ' ' + b.host + ':' + b.port).join(', ')],
      ['leads', c.leading + ' partitions'], ['unavailable', c.unavailable + ' partitions'], ['under-replicated', c.underReplicatedCount + ' partitions'],
      ['elections won', c.replication.elections], ['ISR shrinks / expands', c.replication.isrShrinks + ' / ' + c.replication.isrExpands],
      ['leader handovers', c.replication.handovers], ['moving', c.moving + ' partitions (' + c.replication.moves + ' moves finished here)'])
  }
  $('#node').innerHTML = items.map(([k, v]) => '<div><dt>' + k + '</dt><dd data-k="' + k + '">' + esc(v) + '</dd></div>').join('')
  renderCluster(c)
}

// Partitions of the cluster that need attention: unavailable first, then under-replicated, each with the reason.
function renderCluster(c) {
  $('#cluster').hidden = !c
  if (!c) return
  const row = (kind, p) => '<tr data-kind="' + kind + '" data-topic="' + esc(p.topic) + '" data-partition="' + p.partition + '"><td>' + kind + '</td><td>' + esc(p.topic) + '</td>' + num(p.partition) +
    num(p.leader ?? '–') + '<td>' + esc((p.replicas ?? []).join(', ')) + '</td><td>' + esc((p.isr ?? []).join(', ')) + '</td><td>' + esc(p.reason) + '</td></tr>'
  fill('cluster-partitions', c.leaderless.map((p) => row('unavailable', p)).concat(c.underReplicated.map((p) => row('under-replicated', p))), 7)
  const shown = c.leaderless.length + c.underReplicated.length
  const total = c.unavailable + c.underReplicatedCount
  $('#cluster-count').textContent = total === 0 ? 'every partition has a live leader and every replica in sync' : shown + ' of ' + total + ' partitions needing attention shown'
}

function turn(by) {
  offset = Math.max(0, offset + by)
  clearTimeout(timer)
  poll().then(pollRates)
}
$('#prev').onclick = () => turn(-PAGE)
$('#next').onclick = () => turn(PAGE)
let timer
let polling = false
async function poll() {
  if (polling) return // a page turn during a poll: the next poll picks the new offset up
  polling = true
  const status = $('#status')
  try {
    render(await getJson('/api/overview?offset=' + offset + '&limit=' + PAGE))
    status.className = ''
    status.textContent = 'updated ' + new Date().toLocaleTimeString()
  } catch (err) {
    status.className = 'down'
    status.textContent = 'broker unreachable: ' + err.message
  }
  polling = false
  timer = setTimeout(poll, 1000)
}
// Rates and the node change every 5 s at most (the broker samples rates every 5 s).
async function pollRates() {
  if (!previous) return
  const names = previous.topics.map((t) => t.topic)
  try {
    const r = await getJson('/api/rates?topics=' + encodeURIComponent(names.join(',')))
    rates = new Map(r.topics.map((t) => [t.topic, t]))
    $('#rates-note').textContent = r.folded > 0 ? '(' + r.folded + ' topics past the ' + r.maxTopics + ' tracked are summed as _other)' : ''
    render(previous)
  } catch (err) {
    $('#rates-note').textContent = 'rates unavailable: ' + err.message
  }
}
async function pollNode() {
  try {
    renderNode(await getJson('/api/node'))
  } catch (err) {
    $('#node').textContent = 'node unavailable: ' + err.message
  }
}

// Actions: admin only. The header and the JSON body are what the broker's CSRF check asks for.
async function act(name, body) {
  const res = await fetch('/api/actions/' + name, { method: 'POST', headers: { 'content-type': 'application/json', 'x-skiff-panel': '1' }, body: JSON.stringify(body) })
  const text = await res.text()
  let data
  try { data = JSON.parse(text) } catch { data = { error: { code: 'HTTP ' + res.status, message: text.trim() } } }
  if (!res.ok) throw new Error((data.error && data.error.code) + ': ' + (data.error && data.error.message))
  return data
}
function say(ok, message) {
  const el = $('#action-result')
  el.className = ok ? 'ok' : 'err'
  el.textContent = message
}
const formBody = (form) => Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== ''))
function showPeek(r) {
  const table = $('#peek-results')
  table.hidden = false
  fill('peek-results', r.messages.map((m) => '<tr data-offset="' + m.offset + '"><td>' + m.partition + '</td><td>' + m.offset + '</td><td>' + esc(new Date(m.timestamp).toISOString()) + '</td><td>' + esc(m.key ?? '–') + '</td><td><pre>' +
    esc(JSON.stringify(m.headers)) + '</pre></td><td><pre class="payload">' + esc(m.payload) + '</pre>' + (m.encoding === 'base64' ? ' (base64)' : '') + (m.truncated ? ' (first 64 KiB of ' + m.size + ' B)' : '') + '</td></tr>'), 6)
}
const handlers = {
  'publish-form': async (b) => { const r = await act('publish', b); return 'published to ' + r.topic + ' partition ' + r.partition + ' at offset ' + r.offset },
  'peek-form': async (b) => { const r = await act('peek', b); showPeek(r); return r.messages.length + ' message(s) from ' + r.topic + ' partition ' + r.partition },
  'close-form': async (b) => { if (!confirm('Close connection ' + b.id + '?')) return; await act('close-connection', b); return 'connection ' + b.id + ' closed' },
  'purge-form': async (b) => { if (!confirm('Delete every message of ' + b.topic + '?')) return; await act('purge-topic', b); return b.topic + ' purged' },
  'group-form': async (b, which) => {
    if (!confirm((which === 'delete-group' ? 'Delete' : 'Reset') + ' group ' + b.group + ' on ' + b.topic + '?')) return
    await act(which, b)
    return 'group ' + b.group + (which === 'delete-group' ? ' deleted' : ' reset to ' + b.to)
  },
}
function setUpActions() {
  $('#actions').hidden = false
  for (const [id, run] of Object.entries(handlers)) {
    $('#' + id).addEventListener('submit', async (e) => {
      e.preventDefault()
      try {
        const message = await run(formBody(e.target), e.submitter && e.submitter.value)
        if (message) say(true, message)
      } catch (err) {
        say(false, err.message)
      }
    })
  }
  // Row buttons fill in a form: the operator confirms there.
  document.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-peek], button[data-close], button[data-group-topic]')
    if (!b) return
    const set = (form, values) => { for (const [k, v] of Object.entries(values)) $('#' + form + ' [name=' + k + ']').value = v; $('#' + form).scrollIntoView() }
    if (b.dataset.peek) { set('peek-form', { topic: b.dataset.peek, offset: '' }); $('#peek-form').requestSubmit() }
    if (b.dataset.close) { set('close-form', { id: b.dataset.close }); $('#close-form [name=reason]').focus() }
    if (b.dataset.groupTopic) set('group-form', { topic: b.dataset.groupTopic, group: b.dataset.groupName })
  })
}

async function start() {
  try {
    const me = await getJson('/api/me')
    admin = me.admin
    $('#me').textContent = 'logged in as ' + me.user + ' (' + (me.admin ? 'admin' : 'monitor: read-only') + ')'
  } catch (err) {
    $('#me').textContent = 'who am I: ' + err.message
  }
  if (admin) setUpActions()
  else { $('#actions').remove(); for (const th of document.querySelectorAll('.admin-only')) th.remove() }
  await poll()
  pollRates()
  pollNode()
  setInterval(pollRates, 5000)
  setInterval(pollNode, 5000)
}
start()
`
