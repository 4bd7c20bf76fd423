/**
 * docs/ stays true to the broker: every metric the Grafana dashboard and the
 * alert rules use is one the broker exports, and the dashboard is well formed.
 * (The Prometheus test also runs every dashboard query against a real server.)
 */
import t from 'tap'
import fs from 'node:fs'
import { startTestBroker } from '../e2e/helpers.js'

const docs = new URL('../../docs/', import.meta.url)
const dashboard = JSON.parse(fs.readFileSync(new URL('grafana-dashboard.json', docs), 'utf8')) as {
  uid: string
  templating: { list: { name: string; query: unknown }[] }
  panels: { id: number; type: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: { expr: string }[] }[]
}
const alerts = fs.readFileSync(new URL('prometheus-alerts.yml', docs), 'utf8')

function dashboardExprs(): string[] {
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr))
}

/** Metric names in PromQL text (skiff_*, process_*, nodejs_*), without histogram suffixes. */
function metricNames(text: string): Set<string> {
  return new Set([...text.matchAll(/\b((?:skiff|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, '')))
}

t.test('the dashboard is well formed', async (t) => {
  t.ok(dashboard.uid)
  const ids = dashboard.panels.map((p) => p.id)
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
  for (const p of dashboard.panels) {
    t.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `panel ${p.id} fits the 24-column grid`)
    if (p.type !== 'row') t.ok(p.targets && p.targets.length > 0, `panel ${p.id} has a query`)
  }
  t.same(dashboard.templating.list.map((v) => v.name), ['datasource', 'job', 'instance', 'topic'])
})

t.test('every metric the dashboard and the alerts use is exported', async (t) => {
  const tb = await startTestBroker(t, 1)
  const text = await (await fetch(`http://127.0.0.1:${tb.broker.httpPort}/metrics`)).text()
  const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!))
  const used = metricNames(dashboardExprs().join('\n') + '\n' + JSON.stringify(dashboard.templating) + '\n' + alerts)
  t.ok(used.size >= 15, `${used.size} metrics used`)
  for (const name of used) t.ok(exported.has(name), `${name} is exported`)
})
