import t from 'tap'
// The bench is plain JavaScript (it runs without a build step); tap's loader imports it as is.
import { summariseProfile, where } from '../../bench/lib/cpuprofile.mjs'

const frame = (functionName: string, url = '', lineNumber = -1) => ({ functionName, url, lineNumber, columnNumber: 0, scriptId: '0' })

/**
 * (root) -> (idle)
 *        -> main (app.js:1) -> work (app.js:10) -> work (recursion) -> encode (lib.js:5)
 *        -> (garbage collector)
 * Samples every 1 ms: idle x4, main x1, work x2 (outer), work x1 (inner), encode x1, gc x1.
 */
function profile() {
  const nodes = [
    { id: 1, callFrame: frame('(root)'), children: [2, 3, 7] },
    { id: 2, callFrame: frame('(idle)') },
    { id: 3, callFrame: frame('main', 'file:///repo/dist/app.js', 0), children: [4] },
    { id: 4, callFrame: frame('work', 'file:///repo/dist/app.js', 9), children: [5] },
    { id: 5, callFrame: frame('work', 'file:///repo/dist/app.js', 9), children: [6] },
    { id: 6, callFrame: frame('encode', 'file:///repo/node_modules/lib/lib.js', 4) },
    { id: 7, callFrame: frame('(garbage collector)') },
  ]
  const samples = [2, 2, 3, 4, 4, 5, 6, 7, 2, 2]
  return { nodes, startTime: 0, endTime: 10_000, samples, timeDeltas: samples.map(() => 1000) }
}

t.test('self time is the share of busy time with the function on top', async (t) => {
  const s = summariseProfile(profile(), 10)
  t.equal(s.busyPct, 60)
  t.equal(s.gcPct, (1 / 6) * 100)
  const self = Object.fromEntries(s.self.map((f: { name: string; pct: number }) => [f.name, f.pct]))
  t.equal(self.work, 50)
  t.equal(Math.round(self.main * 100) / 100, 16.67)
  t.equal(Math.round(self.encode * 100) / 100, 16.67)
  t.notOk('(idle)' in self, 'idle is not busy time')
})

t.test('inclusive time counts a recursive function once per sample', async (t) => {
  const s = summariseProfile(profile(), 10)
  const total = Object.fromEntries(s.total.map((f: { name: string; pct: number }) => [f.name, f.pct]))
  t.equal(Math.round(total.main * 100) / 100, 83.33, 'main: main + work x3 + encode over 6 busy samples')
  t.equal(Math.round(total.work * 100) / 100, 66.67, 'work: 3 own + encode, not 3 + 2 for the recursion')
  t.notOk('(garbage collector)' in total, 'V8 entries are left out of the inclusive list')
})

t.test('a window keeps only the samples taken inside it', async (t) => {
  // Sample i is taken at (i + 1) ms; keep 3..6 ms: main, work, work, work(inner).
  const s = summariseProfile(profile(), 10, { fromUs: 3000, toUs: 6000 })
  t.equal(s.busyPct, 100)
  t.equal(s.durationSeconds, 0.004)
  t.equal(s.self.find((f: { name: string }) => f.name === 'work').pct, 75)
})

t.test('locations are shown relative to dist/ or node_modules/', async (t) => {
  t.equal(where(frame('f', 'file:///repo/dist/broker/gateway/pool.js', 96)), 'broker/gateway/pool.js:97')
  t.equal(where(frame('f', 'file:///x/node_modules/msgpackr/pack.js', 0)), 'msgpackr/pack.js:1')
  t.equal(where(frame('f', 'node:net', 10)), 'node:net:11')
  t.equal(where(frame('(program)')), '')
})
