/**
 * The replay: every cut point of a recording (power lost before file
 * operation j, for j = 0..n), in each view of the durability model, started
 * on a real broker and checked.
 *
 * - `durable` view: every cut point. Its disk only changes at a sync, so the
 *   n+1 cut points leave a few dozen distinct disks; each distinct disk (by
 *   content hash, across views) is started once and its observation checked
 *   against every cut point that leaves it.
 * - `written` view: it changes at every write, so it is sampled: `writtenCuts`
 *   cut points, half right after a sync or rename, half elsewhere, picked by
 *   a seeded shuffle (or all of them).
 */
import fs from 'node:fs'
import path from 'node:path'
import { inParallel, seededRandom } from '../harness.js'
import { check, floorOfStateFile, timelineOf, type FinishedSave, type Problem, type Timeline } from './checker.js'
import { DurabilityModel, treeHash, type Tree, type View } from './durability-model.js'
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
  log?: (line: string) => void
}

export interface CutVerdict {
  /** Power lost before operation `cut` (ops.length: after the last one). */
  cut: number
  view: View
  state: string
  problems: Problem[]
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

type Cut = Omit<CutVerdict, 'problems'>

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
  const verdicts: CutVerdict[] = cuts.map((c) => {
    const obs = states.get(c.state)!.observation
    const problems = obs ? check(obs, timeline, cutSeq(c.cut)) : [{ check: 'starts' as const, key: 'not run', detail: 'not started: the replay ran out of time' }]
    return { ...c, problems }
  })
  return { ops, timeline, verdicts, states: runs, notRun, ms: performance.now() - started }
}

/** Step the model through the operations, noting each cut point's disk per view, and the group saves that finished. */
function enumerateCuts(rec: Recording, opts: CampaignOptions): { cuts: Cut[]; states: Map<string, StateRun>; saves: FinishedSave[] } {
  const ops = rec.io.ops
  const model = new DurabilityModel()
  model.seed(rec.initial)
  const written = writtenSample(ops, opts)
  const states = new Map<string, StateRun>()
  const cuts: Cut[] = []
  const { group, topics } = rec.facts.spec
  const groupsDir = new RegExp(`^topics/${topics[0]!.topic}/(\\d+)/groups$`)
  const note = (view: View, cut: number, tree: Tree) => {
    const hash = treeHash(tree)
    if (!states.has(hash)) states.set(hash, { hash, tree })
    cuts.push({ cut, view, state: hash })
  }
  const handlePaths = new Map<number, string>()
  const saves: FinishedSave[] = []
  for (let j = 0; j <= ops.length; j++) {
    note('durable', j, model.tree('durable'))
    if (written.has(j)) note('written', j, model.tree('written'))
    if (j === ops.length) break
    const op = ops[j]!
    model.apply(op)
    if (op.kind === 'open') handlePaths.set(op.handle, op.path)
    if (op.kind === 'sync') {
      const m = groupsDir.exec(handlePaths.get(op.handle) ?? '')
      const file = m ? model.contentOf(`${m[0]}/${group}.state`) : undefined
      const floor = file ? floorOfStateFile(file) : undefined
      if (m && floor !== undefined) saves.push({ seq: op.seq, partition: Number(m[1]), floor })
    }
  }
  return { cuts, states, saves }
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
