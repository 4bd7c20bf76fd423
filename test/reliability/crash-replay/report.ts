/**
 * A campaign's verdicts in a form a person can read: consecutive cut points
 * of one view that fail the same checks for the same reasons become one
 * segment, described by its first and last cut point, what goes wrong at the
 * last one (it has the most expectations), and, in the durable view, the
 * names whose creation was not durable yet.
 */
import type { CampaignReport, Cause, CutVerdict } from './campaign.js'
import type { CheckName, Problem } from './checker.js'
import type { View } from './durability-model.js'
import type { FsOp } from './fs-ops.js'

/** What each known cause is, as a todo names it. */
export const CAUSES: Record<Cause, string> = {
  item3: 'issue 14 item 3: no directory fsync after the topic.json rename, nor after creating the topics/, topic, partition and groups/ directories',
  'group-create':
    "a new group is not durable when its SUBSCRIBE is answered: until its first save (up to groupCommitMs later) a crash loses it, and it comes back as a new group at its start position ('latest' by default), skipping what it was delivered and had not acked",
}

export interface Segment {
  view: View
  first: CutVerdict
  last: CutVerdict
  cuts: number
  checks: CheckName[]
  /** Known causes of the last cut point's problems. */
  causes: Cause[]
  /** Problems of the last cut point with no known cause. */
  unexplained: number
}

export function segmentsOf(report: CampaignReport, view: View): Segment[] {
  const out: Segment[] = []
  let cur: Segment | undefined
  let curSig = ''
  for (const v of report.verdicts.filter((x) => x.view === view).sort((a, b) => a.cut - b.cut)) {
    const checks = [...new Set(v.problems.map((p) => p.check))].sort()
    const causes = [...new Set(v.causes.values())].sort()
    const unexplained = v.problems.filter((p) => !v.causes.has(p.key)).length
    const sig = `${checks.join()}|${causes.join()}|${unexplained > 0}|${v.pendingItem3.map((p) => p.op.seq).join()}`
    // Neighbours in the view's list (every cut point in the durable and item3 views, a sample in written).
    if (cur && sig === curSig) {
      cur.last = v
      cur.cuts++
      continue
    }
    cur = { view, first: v, last: v, cuts: 1, checks, causes, unexplained }
    curSig = sig
    out.push(cur)
  }
  return out
}

/** `fdatasync(topics/a/0/…log) [trace line 2049]`, or "the end of the trace". */
export function opAt(ops: FsOp[], cut: number): string {
  const op = ops[cut]
  return op ? `${op.text} [trace line ${op.line}]` : 'the end of the trace'
}

export function describeSegment(seg: Segment, ops: FsOp[]): string {
  const range = seg.cuts === 1 ? `cut point ${seg.first.cut}` : `cut points ${seg.first.cut}-${seg.last.cut} (${seg.cuts})`
  const where = seg.cuts === 1 ? `power lost before ${opAt(ops, seg.first.cut)}` : `power lost before ${opAt(ops, seg.first.cut)} ... before ${opAt(ops, seg.last.cut)}`
  return `${seg.view} view, ${range}, ${where}: ${summarizeProblems(seg.last.problems)}`
}

/** The names item 3 would have made durable, for a durable-view segment whose problems item 3 explains. */
export function describePending(seg: Segment): string {
  const p = seg.last.pendingItem3
  if (p.length === 0 || !seg.causes.includes('item3')) return ''
  return `not durable, as no fsync of its directory followed: ${p.map((e) => `${e.op.text} [trace line ${e.op.line}]`).join(', ')}`
}

/** One clause per check: `topics gone: alpha, bravo; 12 confirmed publishes missing (alpha/0/0, ...)`. */
export function summarizeProblems(problems: Problem[]): string {
  if (problems.length === 0) return 'no problem'
  const by = new Map<CheckName, Problem[]>()
  for (const p of problems) by.set(p.check, [...(by.get(p.check) ?? []), p])
  const clauses: string[] = []
  const keys = (ps: Problem[], n = 4) => ps.slice(0, n).map((p) => p.key.split(' ').slice(1).join(' ')).join(', ') + (ps.length > n ? ', ...' : '')
  for (const [check, ps] of by) {
    if (check === 'topic') clauses.push(`topics gone though their creation was answered: ${keys(ps, 10)}`)
    else if (check === 'publish') clauses.push(`${ps.length} confirmed publishes not readable (${keys(ps)})`)
    else if (check === 'group-skip') clauses.push(`${ps.length} unacked records never come back to the group nor to the dead-letter topic (${keys(ps)})`)
    else clauses.push(ps.map((p) => p.detail).join('; '))
  }
  return clauses.join('; ')
}
