/**
 * A real Prometheus server scrapes the broker: `up` is 1 and the published
 * total it stored equals what was published. Needs the `prometheus` binary
 * (Debian package `prometheus`); skipped, saying so, when it is absent.
 */
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { startTestBroker } from '../e2e/helpers.js'
import { freePort } from '../../bench/lib/free-port.mjs'

function findBinary(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat('/usr/bin', '/usr/local/bin')) {
    const candidate = path.join(dir, name)
    try {
      fs.accessSync(candidate, fs.constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

interface QueryResult {
  status: string
  error?: string
  data: { result: { metric: Record<string, string>; value: [number, string] }[] }
}

const binary = findBinary('prometheus')
const promtool = findBinary('promtool')
const docs = new URL('../../docs/', import.meta.url)

t.test('docs/prometheus.yml and its alert rules pass promtool', { skip: promtool ? false : 'promtool is not installed (apt-get install prometheus)' }, async (t) => {
  const out = execFileSync(promtool!, ['check', 'config', new URL('prometheus.yml', docs).pathname], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  t.match(out, /SUCCESS/)
  t.match(out, /rules found/, 'the alert rules were loaded and checked')
})

t.test('Prometheus scrapes the broker: up == 1 and the published total', { skip: binary ? false : 'prometheus is not installed (apt-get install prometheus)' }, async (t) => {
  const tb = await startTestBroker(t, 2)
  const client = await tb.client()
  const producer = client.producer()
  await Promise.all(Array.from({ length: 7 }, (_, i) => producer.publish('prom-check', `m${i}`)))

  const dir = t.testdir({})
  const webPort = await freePort()
  fs.writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: skiff',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${tb.broker.httpPort}']`,
      '',
    ].join('\n'),
  )
  const log: string[] = []
  const prom: ChildProcess = spawn(
    binary!,
    [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${webPort}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  prom.stderr!.on('data', (b: Buffer) => log.push(b.toString()))
  const exited = new Promise<void>((resolve) => prom.once('exit', () => resolve()))
  t.teardown(async () => {
    prom.kill('SIGTERM')
    const killer = setTimeout(() => prom.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(killer)
  })

  const query = async (q: string): Promise<number | undefined> => {
    try {
      const res = await fetch(`http://127.0.0.1:${webPort}/api/v1/query?query=${encodeURIComponent(q)}`)
      const body = (await res.json()) as QueryResult
      const v = body.data?.result?.[0]?.value?.[1]
      return v === undefined ? undefined : Number(v)
    } catch {
      return undefined // not up yet
    }
  }
  const waitFor = async (q: string, want: number): Promise<number | undefined> => {
    const deadline = Date.now() + 60_000
    let got: number | undefined
    while (Date.now() < deadline && prom.exitCode === null) {
      got = await query(q)
      if (got === want) return got
      await new Promise((r) => setTimeout(r, 250))
    }
    return got
  }

  const up = await waitFor('up{job="skiff"}', 1)
  t.equal(up, 1, 'up == 1' + (up === 1 ? '' : `; prometheus said:\n${log.join('').slice(-2000)}`))
  t.equal(await waitFor('skiff_messages_published_total{job="skiff",topic="prom-check"}', 7), 7, 'the published total as Prometheus stored it')

  // Every query of the Grafana dashboard is valid PromQL against real data.
  const dashboard = JSON.parse(fs.readFileSync(new URL('grafana-dashboard.json', docs), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] }
  for (const panel of dashboard.panels) {
    for (const { expr } of panel.targets ?? []) {
      const q = expr.replaceAll('$__rate_interval', '1m').replace(/\$(instance|topic|job)\b/g, '.*')
      const res = await fetch(`http://127.0.0.1:${webPort}/api/v1/query?query=${encodeURIComponent(q)}`)
      const body = (await res.json()) as QueryResult
      t.equal(body.status, 'success', `${panel.title}: ${q}${body.error ? ` (${body.error})` : ''}`)
    }
  }
})
