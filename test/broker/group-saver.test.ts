/**
 * The periodic group-state save when the disk refuses it, driven on one
 * GroupSaver with real files: the failure is logged once per streak (not
 * once per round), the group stays dirty and is saved again on a later
 * round, and the recovery is logged. On a real broker a full disk rarely
 * shows this any more (a save rewrites a file the group already has, so it
 * needs no new space: test/reliability/disk-full.test.ts), so the failure
 * is made here: the file the save would write is a directory.
 */
import t from 'tap'
import { mkdirSync, rmdirSync } from 'node:fs'
import { join } from 'node:path'
import { GroupSaver } from '../../broker/worker/group-saver.js'
import { GroupCursor } from '../../broker/worker/group-cursor.js'
import { DeliveryJournal } from '../../broker/storage/delivery-journal.js'
import { loadGroupState } from '../../broker/storage/group-state.js'

t.test('a periodic save that fails is logged once, retried, and its recovery logged', async (t) => {
  const dir = join(t.testdir(), 'groups')
  const lines: Record<string, unknown>[] = []
  const log = (e: Record<string, unknown>) => lines.push(e)
  const saver = new GroupSaver(dir, log, DeliveryJournal.open(dir, log).journal, new Set())
  const cursor = new GroupCursor('billing', 0, { next: 5, floor: 5, acked: [], deliveries: [] })
  saver.create(cursor)
  const cursors = new Map([['billing', cursor]])
  const round = async () => {
    saver.saveAsync(cursors)
    await saver.inFlight()
  }

  // The save after the first writes the group's other file in place: make that a directory.
  mkdirSync(join(dir, 'billing.state.prev'))
  cursor.dirty = true
  await round()
  await round()
  await round()
  const failed = lines.filter((l) => l.msg === 'group state not saved, will retry')
  t.equal(failed.length, 1, 'three failed rounds, one warning')
  t.match(failed[0], { level: 'warn', group: 'billing', err: /EISDIR/ })
  t.equal(cursor.dirty, true, 'the group is still to be saved')

  rmdirSync(join(dir, 'billing.state.prev'))
  await round()
  t.same(lines.filter((l) => l.msg === 'group state saved again').length, 1, 'the recovery is logged')
  t.equal(cursor.dirty, false, 'and the group saved')
  t.same(loadGroupState(dir, 'billing'), { ...cursor.snapshot(), journal: 0 }, 'what is on disk is the group as it is')
})
