/**
 * A campaign's verdicts in a form a person can read: consecutive cut points
 * of one view that fail the same checks (or pass) become one segment,
 * described by its first and last cut point and what goes wrong at the last
 * one (it has the most expectations).
 */
import type { CampaignReport, CutVerdict } from './campaign.js'
import type { CheckName, Problem } from './checker.js'
import type { View } from './durability-model.js'
import type { FsOp } from './fs-ops.js'

export interface Segment {
  view: View
  first: CutVerdict
  last: CutVerdict
  cuts: number
  /** The checks its cut points fail; none: they pass. */
  checks: CheckName[]
}

export function segmentsOf(report: CampaignReport, view: View): Segment[] {
  const out: Segment[] = []
  let cur: Segment | undefined
  let curSig = ''
  for (const v of report.verdicts.filter((x) => x.view === view).sort((a, b) => a.cut - b.cut)) {
    const checks = [...new Set(v.problems.map((p) => p.check))].sort()
    const sig = checks.join()
    // Neighbours in the view's list (every cut point in the durable view, a sample in written).
    if (cur && sig === curSig) {
      cur.last = v
      cur.cuts++
      continue
    }
    cur = { view, first: v, last: v, cuts: 1, checks }
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
