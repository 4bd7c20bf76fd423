/**
 * The replay: every cut point of a recording (power lost before file
 * operation j, for j = 0..n), in each view of the durability model, started
 * on a real broker and checked.
 *
 * - `durable` and `item3` views: every cut point. Their disk only changes at
 *   a sync (and, in item3, at a mkdir or a topic.json rename), so the n+1
 *   cut points leave a few dozen distinct disks; each distinct disk (by
 *   content hash, across views) is started once and its observation checked
 *   against every cut point that leaves it.
 * - `written` view: it changes at every write, so it is sampled: `writtenCuts`
 *   cut points, half right after a sync or rename, half elsewhere, picked by
 *   a seeded shuffle (or all of them).
 * - Known causes. A problem of the durable view is put down to item 3 when
 *   the item3 view of the same cut point does not have it; the names that
 *   were not durable yet (mkdir, rename onto topic.json) say which operations
 *   item 3 covers. A group record not delivered again is put down to the
 *   group's creation not being durable (GROUP_CREATE) when the group had
 *   been answered (SUBSCRIBE's OK) but the disk holds no state file of it:
 *   the broker then takes it for a new group and starts it where a new group
 *   starts ('latest' by default).
 */
import fs from 'node:fs'
import path from 'node:path'
import { inParallel, seededRandom } from '../harness.js'
import { check, floorOfStateFile, timelineOf, type FinishedSave, type Problem, type Timeline } from './checker.js'
import { DurabilityModel, item3Policy, treeHash, type EntryPolicy, type PendingEntry, type Tree, type View } from './durability-model.js'
import { isBoundary, type FsOp } from './fs-ops.js'
import { observe, type Observation } from './observe.js'
import { materialize } from './replayer.js'
import type { Recording } from './recorder.js'

export interface CampaignOptions {
  workDir: string
  /** Cut points of the written view: a count, or 'all'. */
  writtenCuts: number | 'all'
  seed: number
  /** Brokers started at once. */
  width: number
  /** No new broker starts after this (ms from the start); states not started are reported. */
  deadlineMs: number
  /** Name changes the durable view takes as durable at once: to see what remains with part of item 3 fixed (item3PartsPolicy). Default none. */
  durableExceptions?: EntryPolicy
  log?: (line: string) => void
}

/** What a problem is put down to, when it is known (see the header). */
export type Cause = 'item3' | 'group-create'

export interface CutVerdict {
  /** Power lost before operation `cut` (ops.length: after the last one). */
  cut: number
  view: View
  state: string
  problems: Problem[]
  /** Problem key -> its known cause; problems not in it are unexplained. */
  causes: Map<string, Cause>
  /** Durable view: names whose creation item 3 would make durable, not durable yet, in a directory that is. */
  pendingItem3: PendingEntry[]
}

export interface StateRun {
  hash: string
  tree: Tree
  observation?: Observation
}

export interface CampaignReport {
  ops: FsOp[]
  timeline: Timeline
  verdicts: CutVerdict[]
  states: StateRun[]
  /** States not started before the deadline. */
  notRun: number
  ms: number
}

interface Cut {
  cut: number
  view: View
  state: string
  pendingItem3: PendingEntry[]
  /** Partitions of the group's topic whose disk holds a state file of the group. */
  groupOnDisk: Set<number>
}

export async function runCampaign(rec: Recording, opts: CampaignOptions): Promise<CampaignReport> {
  const started = performance.now()
  const ops = rec.io.ops
  const { cuts, states, saves } = enumerateCuts(rec, opts)
  const timeline = timelineOf(rec.facts, rec.replies, saves)
  opts.log?.(`${ops.length} file operations, ${cuts.length} cut points, ${states.size} distinct disk states to start`)

  const runs = [...states.values()]
  let notRun = 0
  let done = 0
  await inParallel(runs, opts.width, async (run) => {
    if (performance.now() - started > opts.deadlineMs) {
      notRun++
      return
    }
    const dir = path.join(opts.workDir, 'states', run.hash)
    materialize(run.tree, dir)
    try {
      run.observation = await observe(dir, rec.facts.spec)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
    done++
    if (done % 10 === 0) opts.log?.(`${done}/${runs.length} states started`)
  })

  const cutSeq = (j: number) => (j < ops.length ? ops[j]!.seq : Infinity)
  const subscribed = rec.replies.subscribed ?? Infinity
  const verdicts: CutVerdict[] = []
  const byKey = new Map<string, CutVerdict>()
  for (const c of cuts) {
    const obs = states.get(c.state)!.observation
    const problems = obs ? check(obs, timeline, cutSeq(c.cut)) : [{ check: 'starts' as const, key: 'not run', detail: 'not started: the replay ran out of time' }]
    const causes = new Map<string, Cause>()
    for (const p of problems) {
      if (p.check === 'group-skip' && subscribed < cutSeq(c.cut) && !c.groupOnDisk.has(p.partition!)) causes.set(p.key, 'group-create')
    }
    const v: CutVerdict = { cut: c.cut, view: c.view, state: c.state, problems, causes, pendingItem3: c.pendingItem3 }
    verdicts.push(v)
    byKey.set(`${c.view} ${c.cut}`, v)
  }
  for (const v of verdicts) {
    if (v.view !== 'durable') continue
    const fixed = byKey.get(`item3 ${v.cut}`)!
    const there = new Set(fixed.problems.map((p) => p.key))
    v.causes.clear()
    for (const p of v.problems) {
      const cause = there.has(p.key) ? fixed.causes.get(p.key) : 'item3'
      if (cause) v.causes.set(p.key, cause)
    }
  }
  return { ops, timeline, verdicts, states: runs, notRun, ms: performance.now() - started }
}

/** Step the models through the operations, noting each cut point's disk per view, and the group saves that finished. */
function enumerateCuts(rec: Recording, opts: CampaignOptions): { cuts: Cut[]; states: Map<string, StateRun>; saves: FinishedSave[] } {
  const ops = rec.io.ops
  const durable = new DurabilityModel(opts.durableExceptions)
  const item3 = new DurabilityModel(item3Policy)
  durable.seed(rec.initial)
  item3.seed(rec.initial)
  const written = writtenSample(ops, opts)
  const states = new Map<string, StateRun>()
  const cuts: Cut[] = []
  const { group, topics } = rec.facts.spec
  const groupsDir = new RegExp(`^topics/${topics[0]!.topic}/(\\d+)/groups$`)
  const stateFile = new RegExp(`^topics/${topics[0]!.topic}/(\\d+)/groups/${group}\\.state(\\.prev)?$`)
  const note = (view: View, cut: number, tree: Tree, pendingItem3: PendingEntry[] = []) => {
    const hash = treeHash(tree)
    if (!states.has(hash)) states.set(hash, { hash, tree })
    const groupOnDisk = new Set<number>()
    for (const p of tree.files.keys()) {
      const m = stateFile.exec(p)
      if (m) groupOnDisk.add(Number(m[1]))
    }
    cuts.push({ cut, view, state: hash, pendingItem3, groupOnDisk })
  }
  const handlePaths = new Map<number, string>()
  const saves: FinishedSave[] = []
  for (let j = 0; j <= ops.length; j++) {
    const tree = durable.tree('durable')
    note('durable', j, tree, frontier(durable.pending(), tree))
    note('item3', j, item3.tree('durable'))
    if (written.has(j)) note('written', j, durable.tree('written'))
    if (j === ops.length) break
    const op = ops[j]!
    durable.apply(op)
    item3.apply(op)
    if (op.kind === 'open') handlePaths.set(op.handle, op.path)
    if (op.kind === 'sync') {
      const m = groupsDir.exec(handlePaths.get(op.handle) ?? '')
      const file = m ? durable.contentOf(`${m[0]}/${group}.state`) : undefined
      const floor = file ? floorOfStateFile(file) : undefined
      if (m && floor !== undefined) saves.push({ seq: op.seq, partition: Number(m[1]), floor })
    }
  }
  return { cuts, states, saves }
}

/**
 * The names item 3 would make durable that hide something: not durable, in a
 * directory that is (a mkdir below a missing directory changes nothing more).
 * One entry per operation (a rename changes two names).
 */
function frontier(pending: PendingEntry[], tree: Tree): PendingEntry[] {
  const dirs = new Set(tree.dirs)
  const seen = new Set<number>()
  return pending.filter((p) => {
    const parent = p.path.includes('/') ? p.path.slice(0, p.path.lastIndexOf('/')) : ''
    if (!item3Policy(p.op) || !dirs.has(parent) || seen.has(p.op.seq)) return false
    seen.add(p.op.seq)
    return true
  })
}

/** The cut points of the written view: all, or a seeded sample, half right after a sync or rename. */
function writtenSample(ops: FsOp[], opts: CampaignOptions): Set<number> {
  const all = Array.from({ length: ops.length + 1 }, (_, j) => j)
  if (opts.writtenCuts === 'all') return new Set(all)
  const random = seededRandom(opts.seed)
  const shuffle = (xs: number[]) => {
    for (let i = xs.length - 1; i > 0; i--) {
      const k = Math.floor(random() * (i + 1))
      ;[xs[i], xs[k]] = [xs[k]!, xs[i]!]
    }
    return xs
  }
  const after = shuffle(all.filter((j) => j > 0 && isBoundary(ops[j - 1]!)))
  const others = shuffle(all.filter((j) => !(j > 0 && isBoundary(ops[j - 1]!))))
  const want = Math.min(opts.writtenCuts, all.length)
  const half = Math.ceil(want / 2)
  const picked = [...after.slice(0, half), ...others.slice(0, want - Math.min(half, after.length))]
  if (picked.length < want) picked.push(...after.slice(half, half + want - picked.length))
  return new Set(picked)
}
