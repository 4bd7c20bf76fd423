import t from 'tap'
import { appendFileSync, existsSync, readdirSync, statSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { DeliveryJournal, ROLL_BYTES } from '../../../broker/storage/delivery-journal.js'
import { logEvents } from './helpers.js'

const journalFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []).filter((f) => f.endsWith('.journal')).sort()

t.test('what was flushed is read back at the next open, per group, in order', async (t) => {
  const dir = join(t.testdir(), 'groups')
  const events = logEvents()
  const { journal, records } = DeliveryJournal.open(dir, events.log)
  t.equal(records.size, 0, 'a missing directory holds nothing')
  journal.add('billing', [0, 10])
  journal.add('audit.v2', [0, 3, 7, 1])
  journal.flush()
  journal.flush() // nothing pending: no entry
  journal.add('billing', [10, 5])
  journal.flush()
  journal.close()
  const again = DeliveryJournal.open(dir, events.log)
  t.same(again.records.get('billing'), [{ seq: 0, ranges: [0, 10] }, { seq: 1, ranges: [10, 5] }])
  t.same(again.records.get('audit.v2'), [{ seq: 0, ranges: [0, 3, 7, 1] }])
  t.equal(again.journal.nextSeq, 2, 'numbering goes on after the last entry read')
  t.equal(events.count('delivery journal damaged: the rest of the file is ignored'), 0)
})

t.test('a torn or damaged entry ends its file with a warning; the entries before it count', async (t) => {
  const dir = join(t.testdir(), 'groups')
  const events = logEvents()
  const { journal } = DeliveryJournal.open(dir, events.log)
  journal.add('g', [0, 4])
  journal.flush()
  journal.add('g', [4, 4])
  journal.flush()
  journal.close()
  const file = join(dir, journalFiles(dir)[0]!)
  truncateSync(file, statSync(file).size - 3)
  const torn = DeliveryJournal.open(dir, events.log)
  t.same(torn.records.get('g'), [{ seq: 0, ranges: [0, 4] }], 'the torn second entry is not read')
  t.equal(events.count('delivery journal damaged: the rest of the file is ignored'), 1)
  torn.journal.close()
  appendFileSync(file, Buffer.from('garbage after the tear'))
  const damaged = DeliveryJournal.open(dir, events.log)
  t.same(damaged.records.get('g'), [{ seq: 0, ranges: [0, 4] }])
  // Later files are still read: the open started a new file, whose entry comes back.
  damaged.journal.add('g', [8, 1])
  damaged.journal.flush()
  damaged.journal.close()
  t.same(DeliveryJournal.open(dir, events.log).records.get('g')?.map((r) => r.ranges), [[0, 4], [8, 1]])
})

t.test('old files go once both snapshot files of every group named in them include them', async (t) => {
  const dir = join(t.testdir(), 'groups')
  const events = logEvents()
  const { journal } = DeliveryJournal.open(dir, events.log)
  const ranges = Array.from({ length: 2000 }, (_, i) => i * 2)
  let entries = 0
  while (journalFiles(dir).length < 2) {
    journal.add('g', ranges)
    journal.flush()
    entries++
  }
  t.ok(entries * ranges.length * 8 >= ROLL_BYTES, 'a file rolls once it passes ROLL_BYTES')
  const again: string[] = []
  journal.prune((g) => again.push(g))
  t.equal(journalFiles(dir).length, 2, 'no snapshot includes the first file yet: kept')
  journal.saved('g', journal.nextSeq)
  journal.prune((g) => again.push(g))
  t.equal(journalFiles(dir).length, 2, 'only the current snapshot includes it: kept')
  t.same(again, ['g'], 'and the group is asked to save once more')
  journal.saved('g', journal.nextSeq)
  journal.prune(() => {})
  t.equal(journalFiles(dir).length, 1, 'both snapshots include it: deleted')
  journal.close()
})
