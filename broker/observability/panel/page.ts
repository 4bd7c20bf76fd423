/**
 * The broker's web page, served at `/` on the HTTP port: plain HTML, CSS and
 * JS in strings (tsconfig compiles only .ts, so a string module is what
 * exists the same in source and in dist/). Nothing is loaded from elsewhere:
 * the page works offline, and its sparklines are SVG it draws itself.
 *
 * What it shows: the node (version, uptime, memory, disk, workers,
 * connections, fsync; in a cluster the brokers, replication counters and
 * the partitions that are unavailable or under-replicated), one page of topics (messages, bytes, publish rate and
 * a sparkline of publish/deliver/ack rates over the last 15 minutes; a
 * dead-letter topic is marked and listed under its origin, whose row shows
 * the DLQ's depth), the groups of those topics and a page of connections.
 * It polls /api/overview every second and /api/rates and /api/node every 5.
 *
 * An admin also gets the actions (page-script.ts sends them to
 * /api/actions/*): publish, peek, close a connection, purge a topic, delete
 * or reset a group. A monitor's page has no action buttons at all (and the
 * endpoints refuse a monitor anyway). With an auth file the browser asks for
 * a user name and token (HTTP Basic) and sends them with every request.
 */
import { PANEL_SCRIPT } from './page-script.js'

const STYLE = `
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2430; background: #f7f8fa; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
  h3 { font-size: .95rem; margin: .8rem 0 .3rem; }
  #status, #me { color: #667; font-size: .85rem; }
  #status.down { color: #b00020; }
  table { border-collapse: collapse; background: #fff; min-width: 40rem; }
  th, td { text-align: left; padding: .3rem .7rem; border-bottom: 1px solid #e3e6ea; vertical-align: top; }
  th { background: #eef1f5; font-weight: 600; }
  td.n { text-align: right; font-variant-numeric: tabular-nums; }
  .lagging { color: #b35c00; font-weight: 600; }
  .empty { color: #889; font-style: italic; }
  .pager { margin: 0 0 .4rem; color: #445; font-size: .9rem; }
  dl#node { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .3rem 1rem; margin: 0; background: #fff; padding: .6rem .8rem; border: 1px solid #e3e6ea; }
  dl#node dt { color: #667; font-size: .8rem; } dl#node dd { margin: 0 0 .3rem; font-weight: 600; }
  tr.dlq td:first-child { padding-left: 1.6rem; }
  .dlq-badge { background: #b00020; color: #fff; border-radius: 3px; padding: 0 .3rem; font-size: .75rem; margin-left: .3rem; }
  .dlq-link { color: #b00020; font-size: .8rem; margin-left: .4rem; }
  svg.spark { display: block; } .legend span { margin-right: .8rem; font-size: .8rem; }
  .p { color: #2563eb; } .d { color: #16a34a; } .a { color: #d97706; }
  #actions form { background: #fff; border: 1px solid #e3e6ea; padding: .5rem .8rem; margin: 0 0 .6rem; display: flex; flex-wrap: wrap; gap: .4rem .8rem; align-items: end; }
  #actions label { display: flex; flex-direction: column; font-size: .8rem; color: #445; }
  #actions textarea { width: 22rem; height: 3.2rem; }
  #action-result { margin: .4rem 0; padding: .3rem .6rem; white-space: pre-wrap; }
  #action-result.ok { background: #e7f6ec; } #action-result.err { background: #fde8ec; color: #b00020; }
  pre { margin: 0; max-width: 40rem; max-height: 8rem; overflow: auto; white-space: pre-wrap; word-break: break-all; }
`

export const PANEL_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>skiffmq panel</title>
<style>${STYLE}</style>
</head>
<body>
<h1>skiffmq</h1>
<div id="me"></div>
<div id="status">loading…</div>
<h2>Node</h2>
<dl id="node"></dl>
<section id="cluster" hidden>
<h2>Cluster partitions</h2>
<div id="cluster-count" class="pager"></div>
<table id="cluster-partitions"><thead><tr><th>state</th><th>topic</th><th>partition</th><th>leader</th><th>replicas</th><th>in sync</th><th>reason</th></tr></thead><tbody></tbody></table>
</section>
<h2>Topics</h2>
<div class="pager"><button id="prev" type="button">&larr; previous</button> <span id="page"></span> <button id="next" type="button">next &rarr;</button></div>
<div class="legend">last 15 minutes, per second: <span class="p">&#9644; publish</span><span class="d">&#9644; deliver</span><span class="a">&#9644; ack</span> <span id="rates-note"></span></div>
<table id="topics"><thead><tr><th>topic</th><th>partitions</th><th>messages</th><th>bytes</th><th>publish/s</th><th>rates</th><th class="admin-only"></th></tr></thead><tbody></tbody></table>
<h2>Consumer groups</h2>
<table id="groups"><thead><tr><th>topic</th><th>group</th><th>members</th><th>lag</th><th>in flight</th><th>acked/s</th><th>lag per partition</th><th class="admin-only"></th></tr></thead><tbody></tbody></table>
<h2>Connections</h2>
<div id="connections-count" class="pager"></div>
<table id="connections"><thead><tr><th>id</th><th>name</th><th>user</th><th>address</th><th>subscriptions</th><th>serves</th><th class="admin-only"></th></tr></thead><tbody></tbody></table>
<section id="actions" hidden>
<h2>Actions</h2>
<div id="action-result" role="status"></div>
<h3>Publish a message</h3>
<form id="publish-form"><label>topic<input name="topic" required></label><label>key<input name="key"></label><label>content type<input name="contentType" placeholder="text/plain; charset=utf-8"></label><label>payload<textarea name="payload"></textarea></label><button class="action" type="submit">publish</button></form>
<h3>Peek at messages</h3>
<form id="peek-form"><label>topic<input name="topic" required></label><label>partition<input name="partition" type="number" min="0" value="0"></label><label>from offset<input name="offset" type="number" min="0" placeholder="last N"></label><label>count<input name="count" type="number" min="1" max="100" value="10"></label><button class="action" type="submit">peek</button></form>
<table id="peek-results" hidden><thead><tr><th>partition</th><th>offset</th><th>time</th><th>key</th><th>headers</th><th>payload</th></tr></thead><tbody></tbody></table>
<h3>Close a connection</h3>
<form id="close-form"><label>connection id<input name="id" type="number" min="1" required></label><label>reason<input name="reason" placeholder="sent to the client"></label><button class="action" type="submit">close</button></form>
<h3>Purge a topic</h3>
<form id="purge-form"><label>topic<input name="topic" required></label><button class="action" type="submit">purge</button></form>
<h3>Delete or reset a group</h3>
<form id="group-form"><label>topic<input name="topic" required></label><label>group<input name="group" required></label><label>reset to<input name="to" value="earliest" placeholder="earliest, latest or an offset"></label><button class="action" type="submit" value="reset-group">reset</button><button class="action" type="submit" value="delete-group">delete</button></form>
</section>
<script>${PANEL_SCRIPT}</script>
</body>
</html>
`
