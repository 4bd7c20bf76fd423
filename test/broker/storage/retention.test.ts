import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { PartitionLog } from '../../../broker/storage/partition-log.js'
import { blob, logEvents, open, readAll, segmentFiles } from './helpers.js'

/** 40 batches of 2 records, timestamps 1000, 2000, ... in segments of about 5 batches. */
function fill(dir: string, opts = {}) {
  const log = open(dir, { segmentBytes: 700, indexIntervalBytes: 64, ...opts })
  for (let b = 0; b < 40; b++) {
    const x = blob(`b${b}`, 2, 30)
    log.append(x.records, 2, 1000 * (b + 1))
  }
  log.sync()
  return log
}

t.test('retention by bytes deletes the oldest segments and moves startOffset', async (t) => {
  const dir = t.testdir()
  const events = logEvents()
  const log = fill(dir, { retentionBytes: 2000, log: events.log })
  const filesBefore = segmentFiles(dir)
  const segmentsBefore = log.stats().segments
  t.ok(log.sizeBytes > 2000)
  const deleted = log.applyRetention(Date.now())
  t.ok(deleted > 0)
  t.equal(log.stats().segments, segmentsBefore - deleted)
  t.ok(log.sizeBytes <= 2000, `size ${log.sizeBytes} within the limit`)
  const files = segmentFiles(dir)
  t.same(files, filesBefore.slice(deleted), 'the oldest files are gone')
  t.notOk(existsSync(join(dir, filesBefore[0]!.replace('.log', '.idx'))), 'with their index')
  t.equal(log.startOffset, Number(files[0]!.slice(0, 20)))
  t.equal(events.count('segment deleted'), deleted)
  const got = readAll(log, 0)
  t.equal(got[0]!.offset, log.startOffset, 'reads from below the start begin at the start')
  t.equal(got.at(-1)!.offset, 79)
  t.equal(log.applyRetention(Date.now()), 0, 'nothing more to delete')
  log.close()
  const reopened = open(dir, { segmentBytes: 700 })
  t.equal(reopened.startOffset, Number(files[0]!.slice(0, 20)))
  t.equal(reopened.endOffset, 80)
  reopened.close()
})

t.test('retention by age deletes segments whose newest batch is too old, never the active one', async (t) => {
  const dir = t.testdir()
  const log = fill(dir, { retentionMs: 10_000 })
  const segments = log.stats().segments
  t.ok(segments > 3)
  t.equal(log.applyRetention(10_000), 0, 'at t=10 s no segment is more than 10 s old')
  // At t = 25 s a segment expires when its newest batch is older than 15 s.
  const deleted = log.applyRetention(25_000)
  t.ok(deleted > 0)
  const bases = segmentFiles(dir).map((f) => Number(f.slice(0, 20)))
  t.equal(log.startOffset, bases[0])
  const newestDeleted = 1000 * (log.startOffset / 2) // batch b has offsets 2b, 2b+1 and timestamp 1000(b+1)
  t.ok(newestDeleted < 15_000, 'the deleted segments were all expired')
  t.ok(log.offsetForTimestamp(15_000) < bases[1]!, 'the first remaining segment holds a batch that is not')
  // Far in the future everything but the active segment goes.
  log.applyRetention(10_000_000)
  t.equal(log.stats().segments, 1)
  t.equal(log.endOffset, 80)
  t.ok(log.read(log.startOffset, 1000, 1 << 20).length > 0, 'the active segment is still readable')
  log.close()
})

t.test('offsetForTimestamp finds the first batch at or after a time, from memory and from disk', async (t) => {
  const dir = t.testdir()
  const log = fill(dir)
  const check = (log: PartitionLog, label: string) => {
    t.equal(log.offsetForTimestamp(0), 0, `${label}: before everything`)
    t.equal(log.offsetForTimestamp(1000), 0, `${label}: exactly the first`)
    t.equal(log.offsetForTimestamp(1001), 2, `${label}: just after the first`)
    for (let b = 0; b < 40; b++) {
      if (log.offsetForTimestamp(1000 * (b + 1)) !== 2 * b) t.fail(`${label}: batch ${b}`)
      if (log.offsetForTimestamp(1000 * (b + 1) - 500) !== 2 * b) t.fail(`${label}: before batch ${b}`)
    }
    t.equal(log.offsetForTimestamp(40_001), 80, `${label}: after everything is the end`)
  }
  check(log, 'fresh')
  log.close()
  const reopened = open(dir, { segmentBytes: 700, indexIntervalBytes: 64 })
  check(reopened, 'reopened')
  reopened.applyRetention(0)
  reopened.close()
})

t.test('offsetForTimestamp after retention never answers below the start', async (t) => {
  const dir = t.testdir()
  const log = fill(dir, { retentionBytes: 1500 })
  log.applyRetention(0)
  t.equal(log.offsetForTimestamp(0), log.startOffset)
  log.close()
})

t.test("dropBefore (a follower taking its leader's start): whole segments below it go; a log wholly below it starts again empty there, durably", async (t) => {
  const dir = t.testdir()
  const log = fill(dir)
  const bases = segmentFiles(dir).map((f) => Number(f.slice(0, 20)))
  t.ok(bases.length > 4)
  t.equal(log.dropBefore(0), 0, 'at or below the start: nothing')
  // Inside the third segment: the first two go, the third keeps its records below the offset.
  const inside = bases[2]! + 1
  t.equal(log.dropBefore(inside), bases[2]!, 'offsets dropped: up to the third segment')
  t.equal(log.startOffset, bases[2])
  t.equal(readAll(log, 0)[0]!.offset, bases[2], 'its older records stay until their segment goes')
  t.equal(log.endOffset, 80)
  // Past the end (a purge on the leader while this copy was behind): empty, starting there.
  t.equal(log.dropBefore(100), 80 - bases[2]!)
  t.equal(log.startOffset, 100)
  t.equal(log.endOffset, 100)
  t.same(readAll(log, 0), [])
  t.same(segmentFiles(dir), [`${String(100).padStart(20, '0')}.log`], 'one empty segment, named for the new start')
  log.append(blob('next', 2).records, 2, 99_000)
  log.sync()
  log.close()
  const reopened = open(dir, { segmentBytes: 700 })
  t.equal(reopened.startOffset, 100, 'after a reopen too')
  t.same(readAll(reopened, 0).map((r) => r.offset), [100, 101], 'the next record is at the new start')
  reopened.close()
})

t.test('purge then dropBefore at the same offset (the follower of a purged leader) changes nothing more', async (t) => {
  const dir = t.testdir()
  const log = fill(dir)
  t.equal(log.purge(), 80)
  t.equal(log.dropBefore(80), 0)
  t.equal(log.startOffset, 80)
  t.equal(log.endOffset, 80)
  log.close()
})
