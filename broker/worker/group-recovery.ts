/**
 * Loading every consumer group of a partition when the partition opens: the
 * snapshot files, the delivery journal and the groups manifest, checked
 * against the log as recovery left it. What it finds is known and reported
 * at start, not at a group's first subscribe.
 *
 * Decisions (issue 14):
 * - Delivery counts: snapshot count + one per journal record naming the
 *   offset at or after the snapshot's journal mark (delivery-journal.ts).
 * - A group whose saved position lies beyond the recovered end of the log
 *   (the log lost its tail: a torn or corrupt last batch, a power loss under
 *   fsync never/interval, a disk that lied) is clamped to the end: offsets at
 *   or past the end are forgotten (acked, in flight, counts), so the
 *   messages that take those offsets next are new to it and delivered.
 *   Before, such a group skipped every new message until the log grew past
 *   its old position. Logged (warn), counted, shown by describeGroup.
 * - A group that had state (named by the manifest, or with state files) but
 *   whose files are gone or unreadable restarts at the earliest retained
 *   offset, never at its subscriber's start position ('latest' would skip
 *   what it had not acked): at-least-once. Logged (error), counted, shown by
 *   describeGroup. Its delivery counts are those the journal still holds.
 * - A group with journal records but neither state nor a manifest entry
 *   crashed before its first save: it restarts at the lowest offset it
 *   delivered (its start), with those counts.
 * - A missing or damaged manifest is rebuilt from what was found, so a data
 *   dir from before the manifest is covered from its first start on.
 */
import { DeliveryJournal, type JournalRecord } from '../storage/delivery-journal.js'
import { listGroupStates, loadGroup, loadGroupManifest, saveGroupManifest, type GroupFiles, type GroupSnapshot } from '../storage/group-state.js'
import { GroupCursor, type GroupRecovery } from './group-cursor.js'
import { storageError } from '../storage/storage-error.js'

type LogFn = (e: Record<string, unknown>) => void

export interface RecoveredGroups {
  cursors: GroupCursor[]
  journal: DeliveryJournal
  /** Groups the manifest on disk names (the saver adds a group before its first snapshot). */
  manifest: Set<string>
  /** Where each group's snapshot files are, as loading found them (the saver's starting point). */
  files: Map<string, GroupFiles>
  clamped: number
  reset: number
}

/** The log as recovery left it. */
interface LogEnds {
  readonly startOffset: number
  readonly endOffset: number
}

export function recoverGroups(dir: string, log: LogEnds, emit: LogFn): RecoveredGroups {
  const { journal, records } = DeliveryJournal.open(dir, emit)
  const manifestRead = loadGroupManifest(dir)
  if (manifestRead.problem && manifestRead.problem !== 'missing') emit({ level: 'warn', msg: 'groups manifest unreadable, rebuilt from the group state files', problem: manifestRead.problem })
  const manifest = new Set(manifestRead.groups ?? [])
  const withFiles = new Set(listGroupStates(dir))
  const names = [...new Set([...manifest, ...withFiles, ...records.keys()])].sort()
  const out: RecoveredGroups = { cursors: [], journal, manifest, files: new Map(), clamped: 0, reset: 0 }
  let highestMark = 0
  for (const group of names) {
    const { snapshot: snap, files } = loadGroup(dir, group, (e) => emit({ group, ...e }))
    out.files.set(group, files)
    const mark = snap?.journal ?? 0
    highestMark = Math.max(highestMark, mark)
    const recovery: GroupRecovery = {}
    let base: GroupSnapshot
    if (snap) base = snap
    else if (withFiles.has(group) || manifest.has(group)) {
      const reason = withFiles.has(group) ? 'unreadable' : 'missing'
      recovery.reset = { reason, restartedAt: log.startOffset }
      out.reset++
      emit({ level: 'error', msg: 'group state lost: redelivering from the earliest retained offset', group, reason, restartedAt: log.startOffset, endOffset: log.endOffset })
      base = { floor: log.startOffset, next: log.startOffset, acked: [], deliveries: [] }
    } else {
      const start = Math.max(log.startOffset, lowestOffset(records.get(group)!))
      emit({ level: 'info', msg: 'group recovered from its delivery journal (it had not been saved yet)', group, startOffset: start })
      base = { floor: start, next: start, acked: [], deliveries: [] }
    }
    const counted = addJournalCounts(base, records.get(group) ?? [], mark)
    const clamp = clampToEnd(base, log.endOffset)
    if (clamp) {
      recovery.clamped = clamp
      out.clamped++
      emit({ level: 'warn', msg: 'group position beyond the end of the log: clamped to the end', group, savedNext: clamp.savedNext, savedEnd: clamp.savedEnd, endOffset: clamp.endOffset })
    }
    const cursor = new GroupCursor(group, 0, base)
    if (recovery.clamped || recovery.reset) cursor.recovery = recovery
    // Saved again when anything differs from its snapshot file, so the next load starts from this.
    cursor.dirty = !snap || counted || clamp !== undefined
    journal.loaded(group, mark)
    out.cursors.push(cursor)
  }
  journal.nextSeq = Math.max(journal.nextSeq, highestMark)
  if (names.some((g) => !manifest.has(g))) {
    try {
      saveGroupManifest(dir, names)
      for (const g of names) manifest.add(g)
    } catch (err) {
      // The saver adds each group again before its next snapshot.
      const e = storageError(err)
      emit({ level: 'warn', msg: 'groups manifest not saved', code: e.codeName, err: e.message })
    }
  }
  return out
}

/** Add one delivery per journal record at or after `mark` to the snapshot's counts; true when any was added. */
function addJournalCounts(s: GroupSnapshot, records: JournalRecord[], mark: number): boolean {
  const counts = new Map(s.deliveries)
  const acked = new Set(s.acked)
  let added = false
  for (const r of records) {
    if (r.seq < mark) continue
    for (let i = 0; i < r.ranges.length; i += 2) {
      const end = r.ranges[i]! + r.ranges[i + 1]!
      for (let o = Math.max(r.ranges[i]!, s.floor); o < end; o++) {
        if (acked.has(o)) continue
        counts.set(o, (counts.get(o) ?? 0) + 1)
        added = true
      }
    }
  }
  if (added) s.deliveries = [...counts]
  return added
}

/** Forget what the snapshot says at or past `end`; what was there, when anything was. */
function clampToEnd(s: GroupSnapshot, end: number): GroupRecovery['clamped'] {
  let savedEnd = Math.max(s.next, s.floor)
  for (const o of s.acked) savedEnd = Math.max(savedEnd, o + 1)
  for (const [o] of s.deliveries) savedEnd = Math.max(savedEnd, o + 1)
  if (savedEnd <= end) return undefined
  const clamped = { savedNext: s.next, savedEnd, endOffset: end }
  s.floor = Math.min(s.floor, end)
  s.next = Math.min(s.next, end)
  s.acked = s.acked.filter((o) => o < end)
  s.deliveries = s.deliveries.filter(([o]) => o < end)
  return clamped
}

function lowestOffset(records: JournalRecord[]): number {
  let low = Infinity
  for (const r of records) for (let i = 0; i < r.ranges.length; i += 2) low = Math.min(low, r.ranges[i]!)
  return low
}
