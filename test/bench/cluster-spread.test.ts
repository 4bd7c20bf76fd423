/**
 * bench/cluster-spread.mjs end to end on the built code, small: each layout
 * is what its name says (where the partitions are led, how many copies), and
 * every round completes (a round that does not receive all it published fails
 * the script). Asserts placement and shapes only, never speed.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const built = fs.existsSync(path.join(root, 'dist/cli/skiff.js')) && fs.existsSync(path.join(root, 'dist/clients/index.js'))
const etcd = process.env.SKIFF_ETCD_BIN ?? '/usr/bin/etcd'
const skip = !built ? 'needs npm run build' : !fs.existsSync(etcd) ? `needs etcd at ${etcd}` : false

t.test('every layout leads and copies its partitions as named, and every round completes', { skip }, async (t) => {
  const res = spawnSync(process.execPath, [path.join(root, 'bench/cluster-spread.mjs'), '--layouts', 'single,one,spread,rf3', '--messages', '2000', '--rounds', '2', '--json'], {
    encoding: 'utf8',
    timeout: 150_000,
  })
  t.equal(res.status, 0, res.stderr)
  const rows = res.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { layout: string; leaders: number[] | null; copies: number; rounds: number; msgsPerSec: number; cpuUsPerMsg: number; perRound: { msgsPerSec: number; cpuUsPerMsg: number }[] })
  t.same(
    rows.map((r) => r.layout),
    ['single', 'one', 'spread', 'rf3'],
  )
  const [single, one, spread, rf3] = rows
  t.same([single!.leaders, single!.copies], [null, 1], 'one broker, not in a cluster')
  t.same([one!.leaders, one!.copies], [[1, 1, 1, 1, 1, 1], 1], 'every partition on broker 1, one copy')
  t.same([[...new Set(spread!.leaders)].sort(), spread!.copies], [[1, 2, 3], 1], 'partitions led by all three brokers, one copy')
  t.same([[...new Set(rf3!.leaders)].sort(), rf3!.copies], [[1, 2, 3], 3], 'led by all three, three copies each')
  for (const r of rows) {
    t.equal(r.rounds, 1, `${r.layout}: the first round is not counted`)
    t.ok(r.msgsPerSec > 0 && r.cpuUsPerMsg > 0, `${r.layout}: a rate and a CPU figure`)
    t.equal(r.perRound.length, 2, `${r.layout}: every round's figures, the first included`)
    t.ok(r.perRound.every((x) => x.msgsPerSec > 0 && x.cpuUsPerMsg > 0), `${r.layout}: a rate and a CPU figure for each round`)
  }
})
