/**
 * deploy/skiff-broker.service (and the cfn-hup unit the stack writes) pass
 * `systemd-analyze verify`, with a stand-in for binaries that exist only on
 * the instance; the broker unit's hardening keeps systemd's exposure score at
 * "OK" or better; and the settings the issue names are there.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { initFiles, loadTemplate } from './cfn-template.js'
import { missing, run, SYSTEMD_ANALYZE } from './tools.js'
import { HEAP_FLAG } from '../../broker/heap-settings.js'

const unitPath = fileURLToPath(new URL('../../deploy/skiff-broker.service', import.meta.url))
const unit = fs.readFileSync(unitPath, 'utf8')

/** Binaries that exist only on the instance, replaced by one that exists here. */
const INSTANCE_ONLY = ['/opt/skiffmq/current/node_modules/.bin/skiff', '/opt/aws/bin/cfn-hup']
const STAND_IN = '/bin/true'

/**
 * systemd-analyze logs its warnings to the journal unless stderr is a
 * terminal; a test's stderr is a pipe, so ask for the console explicitly or
 * the warnings vanish.
 */
const verify = (file: string) => run('systemd-analyze', ['verify', '--man=no', file], { env: { SYSTEMD_LOG_TARGET: 'console' } })

/** Writes units into a fresh directory with instance-only binaries swapped for the stand-in. */
function standInCopies(t: { teardown(fn: () => void): void }, units: Record<string, string>): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-unit-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return Object.entries(units).map(([name, text]) => {
    let body = text
    for (const bin of INSTANCE_ONLY) body = body.split(bin).join(STAND_IN)
    const file = path.join(dir, name)
    fs.writeFileSync(file, body)
    return file
  })
}

/** Unit settings as [key, value] pairs in order (keys repeat). */
function settings(text: string): [string, string][] {
  return text
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])
}

const carriedUnits = Object.fromEntries(
  initFiles(loadTemplate())
    .filter((f) => f.path.endsWith('.service'))
    .map((f) => [path.basename(f.path), f.content]),
)

t.test('the units pass systemd-analyze verify', { skip: missing(SYSTEMD_ANALYZE) }, async (t) => {
  t.same(Object.keys(carriedUnits).sort(), ['cfn-hup.service', 'skiff-broker.service'])
  for (const file of standInCopies(t, { 'skiff-broker.service': unit, 'cfn-hup.service': carriedUnits['cfn-hup.service']! })) {
    const r = verify(file)
    t.equal(r.status, 0, `${path.basename(file)}: ${r.stderr}`)
    // Unknown keys and bad values are only warnings: any output is a finding.
    t.equal(r.stderr + r.stdout, '', `${path.basename(file)} verifies without warnings`)
  }
})

t.test('verify is live: a misspelt setting and a missing binary are reported', { skip: missing(SYSTEMD_ANALYZE) }, async (t) => {
  const [file] = standInCopies(t, { 'broken.service': unit.replace(/^Restart=always$/m, 'Restart=allways').replace(/^ExecReload=\/bin\/kill/m, 'ExecReload=/bin/no-such-kill') })
  const r = verify(file!)
  t.match(r.stderr, /allways/)
  t.match(r.stderr, /no-such-kill/)
})

t.test('the hardening rates OK in systemd-analyze security', { skip: missing(SYSTEMD_ANALYZE) }, async (t) => {
  const [file] = standInCopies(t, { 'skiff-broker.service': unit })
  // Exposure runs 0.0 (locked down) to 10.0 (unprotected); up to 3.9 is "OK".
  // The threshold is in tenths.
  const r = run('systemd-analyze', ['security', '--offline=yes', '--threshold=20', file!])
  t.equal(r.status, 0, r.stdout.split('\n').slice(-3).join('\n'))
  const weak = run('systemd-analyze', ['security', '--offline=yes', '--threshold=20', ...standInCopies(t, { 'weak.service': '[Service]\nExecStart=/bin/true\n' })])
  t.not(weak.status, 0, 'an unhardened unit fails the same threshold')
})

t.test('the settings the deployment relies on', async (t) => {
  const s = settings(unit)
  const one = (k: string) => {
    const v = s.filter(([key]) => key === k).map(([, v]) => v)
    t.equal(v.length, 1, `${k} set once`)
    return v[0]
  }
  t.equal(one('User'), 'skiff', 'a dedicated user')
  t.equal(one('Restart'), 'always')
  t.ok(Number(one('LimitNOFILE')) >= 65536, 'LimitNOFILE for many connections and segments')
  t.equal(one('KillSignal'), 'SIGTERM', 'SIGTERM drains')
  t.ok(Number(one('TimeoutStopSec')) >= 30, 'time to drain before SIGKILL')
  t.equal(one('NoNewPrivileges'), 'yes')
  t.equal(one('ProtectSystem'), 'strict')
  t.equal(one('ReadWritePaths'), '/var/lib/skiff', 'the data directory is the one writable place')
  t.equal(one('RequiresMountsFor'), '/var/lib/skiff', 'never writes to the root disk when the data volume is missing')
  t.equal(one('CapabilityBoundingSet'), '')
  t.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID', 'reload re-reads the auth file')
  t.match(one('ExecStart'), / broker --config \/etc\/skiff\/skiff\.json$/)
  t.notOk(s.some(([k]) => k === 'MemoryDenyWriteExecute'), 'not set: V8 needs W+X pages')
})

t.test('both broker units give node the heap flag', async (t) => {
  // broker/heap-settings.ts: only node's command line reaches the main thread's isolate.
  const expected = `/usr/bin/env node ${HEAP_FLAG} /opt/skiffmq/current/node_modules/.bin/skiff broker --config /etc/skiff/skiff.json`
  for (const [name, text] of [['deploy/skiff-broker.service', unit], ['the unit the EC2 stack writes', carriedUnits['skiff-broker.service']!]] as const) {
    t.same(
      settings(text)
        .filter(([k]) => k === 'ExecStart')
        .map(([, v]) => v),
      [expected],
      name,
    )
  }
})
