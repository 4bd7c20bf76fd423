/**
 * Reading a V8 .cpuprofile (what `node --cpu-prof` writes): self and inclusive
 * time per function. Pure, so it can be tested on a hand-made profile.
 *
 * A profile is a call tree (nodes with a callFrame and children) plus samples
 * (the node that was on top of the stack at each tick) and the time between
 * ticks. Self time of a function = ticks with it on top; inclusive = ticks with
 * it anywhere on the stack, counted once per tick even when it recurses.
 * Shares are of the busy ticks: everything except V8's "(idle)" node, so a
 * thread that waits on I/O most of the time still shows where its work went.
 */
import path from 'node:path'

const IDLE = '(idle)'
const ROOT = '(root)'

function keyOf(cf) {
  return `${cf.functionName || '(anonymous)'}\u0000${cf.url}\u0000${cf.lineNumber}`
}

/** "broker/gateway/pool.js:97", node internals as "node:net:...", or "" for V8's own entries. */
export function where(cf) {
  if (!cf.url) return ''
  let u = cf.url.replace(/^file:\/\//, '')
  const dist = u.indexOf('/dist/')
  if (dist >= 0) u = u.slice(dist + 6)
  else if (u.includes('/node_modules/')) u = u.slice(u.lastIndexOf('/node_modules/') + 14)
  else if (u.startsWith('/')) u = path.basename(u)
  return `${u}:${cf.lineNumber + 1}`
}

/**
 * @param {object} profile  a parsed .cpuprofile
 * @param {number} [top]  how many functions per list
 * @param {{ fromUs: number, toUs: number }} [window]  only samples taken in this
 *   span of the monotonic clock (µs; the clock of profile.startTime and of
 *   process.hrtime), e.g. a bench's measured phase without process start-up
 */
export function summariseProfile(profile, top = 15, window) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  // Time per sample: the delta to the next sample (the last gets the mean).
  const weights = new Map()
  const deltas = profile.timeDeltas ?? []
  const mean = deltas.length ? (profile.endTime - profile.startTime) / deltas.length : 1
  let at = profile.startTime
  let inWindowUs = 0
  for (let i = 0; i < profile.samples.length; i++) {
    at += deltas[i] ?? 0
    if (window && (at < window.fromUs || at > window.toUs)) continue
    const w = Math.max(0, i + 1 < deltas.length ? deltas[i + 1] : mean)
    inWindowUs += w
    weights.set(profile.samples[i], (weights.get(profile.samples[i]) ?? 0) + w)
  }
  const self = new Map()
  const total = new Map()
  const info = new Map()
  let busy = 0
  let idle = 0
  let gc = 0
  // Iterative DFS carrying the keys already on the stack, so recursion counts once.
  const rootId = profile.nodes[0].id
  const stack = [{ id: rootId, onStack: new Set() }]
  const subtree = new Map()
  const order = []
  while (stack.length) {
    const { id, onStack } = stack.pop()
    order.push({ id, onStack })
    const n = byId.get(id)
    const k = keyOf(n.callFrame)
    const next = new Set(onStack)
    next.add(k)
    for (const c of n.children ?? []) stack.push({ id: c, onStack: next })
  }
  // Subtree weight per node, children before parents.
  const parentOf = new Map()
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id)
  for (let i = order.length - 1; i >= 0; i--) {
    const id = order[i].id
    subtree.set(id, (subtree.get(id) ?? 0) + (weights.get(id) ?? 0))
    const p = parentOf.get(id)
    if (p !== undefined) subtree.set(p, (subtree.get(p) ?? 0) + subtree.get(id))
  }
  for (const { id, onStack } of order) {
    const n = byId.get(id)
    const name = n.callFrame.functionName || '(anonymous)'
    const w = weights.get(id) ?? 0
    if (name === IDLE) {
      idle += w
      continue
    }
    if (name === ROOT) continue
    busy += w
    if (name === '(garbage collector)') gc += w
    const k = keyOf(n.callFrame)
    info.set(k, { name, where: where(n.callFrame) })
    self.set(k, (self.get(k) ?? 0) + w)
    // Inclusive: only where this function is not already an ancestor.
    // (idle) hangs off the root only, so no other node's subtree holds idle time.
    if (!onStack.has(k)) total.set(k, (total.get(k) ?? 0) + subtree.get(id))
  }
  const rank = (m, keep = () => true) =>
    [...m.entries()]
      .filter(([k]) => keep(info.get(k)))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => ({ ...info.get(k), pct: busy > 0 ? (v / busy) * 100 : 0, ms: v / 1000 }))
  const duration = window ? inWindowUs / 1e6 : (profile.endTime - profile.startTime) / 1e6
  return {
    durationSeconds: duration,
    busySeconds: busy / 1e6,
    busyPct: busy + idle > 0 ? (busy / (busy + idle)) * 100 : 0,
    gcPct: busy > 0 ? (gc / busy) * 100 : 0,
    self: rank(self),
    total: rank(total, (f) => !f.name.startsWith('(')),
  }
}
