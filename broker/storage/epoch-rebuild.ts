/**
 * Opening a partition's leader-epochs file (leader-epochs.ts) against the log
 * recovery just checked, so the two agree before anything is appended:
 *
 * - A file that loads is cut to the log: epochs starting at or after the
 *   log's end lost their batches (a torn tail cut, a write that failed after
 *   the epoch was recorded) and are dropped.
 * - A file behind the log (the last batch recovery saw carries a newer epoch
 *   than the file lists: a partition directory restored with an older file)
 *   is rebuilt like a damaged one. Cheap: recovery read that batch anyway.
 * - A missing or damaged file on a log that holds batches is rebuilt from the
 *   batches' epochs (magic-1 batches, from before the epoch existed, count as
 *   epoch 0): each epoch starts at the first batch that carries it. A missing
 *   file on an empty log stays missing until the first epoch is assigned.
 *
 * The rebuild reads little: epochs never decrease along a log, so when a
 * segment's first batch has the same epoch as the next segment's first
 * batch, every batch between them has it too. Only a segment whose epoch
 * changes before the next one's start (and the last segment) is walked
 * batch by batch. A log written by a single node, all epoch 0, costs one
 * batch read per segment plus the last segment.
 */
import type { BatchHeader } from '../../protocol/batch.js'
import { goodBatches } from './batch-cursor.js'
import { cursorAt } from './index-trust.js'
import { LeaderEpochs, type EpochEntry } from './leader-epochs.js'
import type { SegmentContext } from './log-types.js'
import type { Segment } from './segment.js'

/** Load the epochs of the partition in `dir` and make them agree with its recovered log ending at `endOffset`. */
export function openLeaderEpochs(dir: string, segments: readonly Segment[], upperOffsetOf: (i: number) => number, endOffset: number, ctx: SegmentContext): LeaderEpochs {
  const loaded = LeaderEpochs.load(dir)
  const lastEpoch = segments[segments.length - 1]?.lastEpoch ?? -1
  let problem = loaded.problem
  if (!problem) {
    const before = loaded.latest()
    const dropped = loaded.truncateFrom(endOffset)
    if (dropped > 0) ctx.log({ level: 'warn', msg: 'leader epochs cut to the log', dir, endOffset, dropped, latestBefore: before?.epoch, latest: loaded.latest()?.epoch })
    if (lastEpoch <= (loaded.latestEpoch ?? -1)) return loaded
    problem = `behind the log: its last batch is of epoch ${lastEpoch}, the file's latest ${loaded.latestEpoch ?? 'none'}`
  }
  const { entries, backwards } = epochsFromLog(segments, upperOffsetOf, ctx)
  if (backwards > 0) ctx.log({ level: 'warn', msg: 'batches with an older leader epoch than the ones before them', dir, batches: backwards })
  if (entries.length === 0 && problem === 'missing') return loaded
  const rebuilt = LeaderEpochs.rebuilt(dir, entries)
  // A missing file is what a log from before leader epochs has: expected once, after an upgrade.
  ctx.log({ level: problem === 'missing' ? 'info' : 'warn', msg: 'leader epochs rebuilt from the log', dir, reason: problem, entries: entries.length })
  return rebuilt
}

/** Each epoch's first batch, in log order; `backwards` counts batches whose epoch is below one seen before them (ignored). */
export function epochsFromLog(segments: readonly Segment[], upperOffsetOf: (i: number) => number, ctx: SegmentContext): { entries: EpochEntry[]; backwards: number } {
  const entries: EpochEntry[] = []
  let backwards = 0
  const consider = (h: BatchHeader) => {
    const latest = entries[entries.length - 1]
    if (!latest || h.leaderEpoch > latest.epoch) entries.push({ epoch: h.leaderEpoch, startOffset: h.baseOffset })
    else if (h.leaderEpoch < latest.epoch) backwards++
  }
  const batchesOf = (i: number) => {
    const seg = segments[i]!
    return goodBatches(cursorAt(seg, 0, seg.base, upperOffsetOf(i)), (damage, at) => ctx.onDamage(seg, damage, at))
  }
  const firsts = segments.map((_, i) => {
    for (const { header } of batchesOf(i)) return header
    return undefined
  })
  // The epoch of the next segment (after i) that holds a batch, or undefined when none does.
  const nextEpoch: (number | undefined)[] = []
  for (let i = segments.length - 1, after: number | undefined; i >= 0; i--) {
    nextEpoch[i] = after
    after = firsts[i]?.leaderEpoch ?? after
  }
  for (let i = 0; i < segments.length; i++) {
    const first = firsts[i]
    if (!first) continue
    consider(first)
    if (nextEpoch[i] === first.leaderEpoch) continue
    for (const { header } of batchesOf(i)) consider(header)
  }
  return { entries, backwards }
}
