/**
 * The partition log across the batch-format change and with its leader
 * epochs (real files in temp dirs): a log of magic-1 batches, as the release
 * before the leader epoch wrote them, opens and reads in full, continues in
 * magic 2, and its damage is handled as before; new batches carry the
 * leader epoch; the leader-epochs file follows a torn tail and is rebuilt
 * from the batches when missing or damaged.
 */
import t from 'tap'
import { existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodeBatch, readBatchHeader } from '../../../protocol/batch.js'
import { LEADER_EPOCHS_FILE, LeaderEpochs } from '../../../broker/storage/leader-epochs.js'
import { segmentFileName } from '../../../broker/storage/segment-files.js'
import { batchesIn, blob, copyDir, flipByte, logEvents, open, readAll, segmentFiles, tempDir, type Blob } from './helpers.js'
import { fillUp, mountSmallFs } from '../../reliability/small-fs.js'

/**
 * Write segment files the way the release before the leader epoch did: magic-1
 * batches of `batchSizes` records each, `perSegment` batches to a segment, no
 * index files (an index is a hint: recovery rebuilds it). Returns every record.
 */
function writeMagic1Log(dir: string, batchSizes: number[], perSegment: number): Buffer[] {
  const records: Buffer[] = []
  let offset = 0
  for (let s = 0; s * perSegment < batchSizes.length; s++) {
    const base = offset
    const batches = batchSizes.slice(s * perSegment, (s + 1) * perSegment).map((count, i) => {
      const b: Blob = blob(`old-${offset}`, count)
      records.push(...b.encoded)
      const batch = encodeBatch({ baseOffset: offset, count, timestamp: 1_700_000_000_000 + offset, records: b.records, magic: 1, producerId: i % 2 ? 7 : 0, baseSequence: i % 2 ? offset : undefined })
      offset += count
      return batch
    })
    writeFileSync(join(dir, segmentFileName(base)), Buffer.concat(batches))
  }
  return records
}

/** Magic and epoch of every batch of the partition, in order. */
function stored(dir: string): { magic: number; epoch: number; baseOffset: number }[] {
  return segmentFiles(dir).flatMap((f) => {
    const buf = readFileSync(join(dir, f))
    return batchesIn(join(dir, f)).map((b) => {
      const h = readBatchHeader(buf, b.position)!
      return { magic: h.magic, epoch: h.leaderEpoch, baseOffset: h.baseOffset }
    })
  })
}

t.test('a magic-1 log opens whole, continues in magic 2, and reopens with both', async (t) => {
  const dir = t.testdir()
  const old = writeMagic1Log(dir, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1, 1, 5], 10)
  const events = logEvents()
  const log = open(dir, { log: events.log })
  t.equal(log.endOffset, 22)
  t.strictSame(log.recovery, { ...log.recovery, tornBytesCut: 0, tornBatchesCut: 0, corruptBatches: 0, corruptOffsets: 0 }, 'nothing cut, nothing corrupt')
  t.ok(readAll(log).every((r, i) => r.offset === i && r.record.equals(old[i]!)) && readAll(log).length === 22, 'every old record reads back')
  t.strictSame(log.producerBatches(0).map((p) => p.producerId), [7, 7, 7, 7, 7, 7, 7], 'producer ids of old batches are still read (dedup window)')
  t.equal(events.count('leader epochs rebuilt from the log'), 1, 'the epoch file is made from the old batches')
  t.strictSame(log.leaderEpochs.list(), [{ epoch: 0, startOffset: 0 }], 'old batches count as epoch 0')
  t.equal(log.leaderEpoch, 0)

  const fresh = blob('new', 3)
  t.equal(log.append(fresh.records, 3, Date.now()), 22)
  t.equal(log.append(fresh.records, 3, Date.now()), 25)
  log.close()
  t.strictSame(stored(dir).map((b) => b.magic), [...Array(14).fill(1), 2, 2], 'new batches are magic 2, after the old ones')

  const reopened = open(dir, { log: events.log })
  const all = readAll(reopened)
  t.equal(all.length, 28)
  t.ok(all.every((r, i) => r.offset === i && r.record.equals(i < 22 ? old[i]! : fresh.encoded[(i - 22) % 3]!)), 'a reopen reads both kinds in order')
  t.equal(reopened.recovery.tornBatchesCut + reopened.recovery.corruptBatches, 0)
  t.equal(events.count('leader epochs rebuilt from the log'), 1, 'the file, once made, is not rebuilt again')
  t.equal(reopened.offsetForTimestamp(1_700_000_000_000 + 11), 15, 'timestamp lookups read old batches (the 5-record batch at 10 is older)')
  reopened.close()
})

t.test('damage in a magic-1 log is handled as before: a torn tail is cut, a complete damaged last batch and a damaged middle one kept and skipped', async (t) => {
  const original = t.testdir()
  const old = writeMagic1Log(original, [1, 1, 1, 1, 2, 1, 1, 3], 8)
  const file = join(original, segmentFiles(original)[0]!)
  const batches = batchesIn(file)
  const last = batches.at(-1)!
  const work = tempDir()
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  for (let cut = last.position + 1; cut < last.position + last.size; cut++) {
    copyDir(original, work)
    truncateSync(join(work, segmentFiles(work)[0]!), cut)
    const log = open(work)
    if (log.endOffset !== last.baseOffset || log.recovery.tornBatchesCut !== 1) t.fail(`cut at ${cut}: end ${log.endOffset}, ${JSON.stringify(log.recovery)}`)
    if (readAll(log).length !== last.baseOffset) t.fail(`cut at ${cut}: records before the torn batch are not all read`)
    log.close()
  }
  for (let at = last.position; at < last.position + last.size; at++) {
    copyDir(original, work)
    flipByte(join(work, segmentFiles(work)[0]!), at)
    const log = open(work)
    // Kept as corrupt with exactly its offsets, unless the count field (bytes 20-23) was hit: then more, never fewer.
    const countHit = at - last.position >= 20 && at - last.position < 24
    const end = log.endOffset
    if (countHit ? end < old.length : end !== old.length) t.fail(`flip at ${at}: end ${end}`)
    if (log.recovery.tornBatchesCut !== 0 || log.recovery.corruptBatches !== 1) t.fail(`flip at ${at}: ${JSON.stringify(log.recovery)}`)
    if (readAll(log).length !== last.baseOffset) t.fail(`flip at ${at}: the records before it are not all read`)
    log.close()
  }
  const middle = batches[4]!
  copyDir(original, work)
  flipByte(join(work, segmentFiles(work)[0]!), middle.position + middle.size - 2)
  const log = open(work)
  t.match(log.stats().corrupt, [{ fromOffset: 4, toOffset: 6 }], 'a damaged old batch in the middle is reported')
  const got = readAll(log)
  t.strictSame(got.map((r) => r.offset), [0, 1, 2, 3, ...Array.from({ length: old.length - 6 }, (_, i) => 6 + i)], 'and skipped; the rest reads')
  t.equal(log.endOffset, old.length)
  log.close()
})

t.test('new batches carry the leader epoch, recorded in the file with its first batch', async (t) => {
  const dir = t.testdir()
  const log = open(dir)
  const x = blob('e', 2)
  t.notOk(existsSync(join(dir, LEADER_EPOCHS_FILE)), 'an empty log has no epoch file yet')
  log.append(x.records, 2, 1)
  t.strictSame(log.leaderEpochs.list(), [{ epoch: 0, startOffset: 0 }], 'a single node writes epoch 0')
  log.setLeaderEpoch(3)
  t.strictSame(log.leaderEpochs.list(), [{ epoch: 0, startOffset: 0 }], 'an epoch is recorded with its first batch, not before')
  log.append(x.records, 2, 2)
  log.append(x.records, 2, 3)
  log.setLeaderEpoch(3)
  log.append(x.records, 2, 4)
  t.strictSame(log.leaderEpochs.list(), [{ epoch: 0, startOffset: 0 }, { epoch: 3, startOffset: 2 }])
  t.throws(() => log.setLeaderEpoch(2), /older than 3/, 'the epoch never goes back')
  t.throws(() => log.setLeaderEpoch(2 ** 32), RangeError)
  log.close()
  t.strictSame(stored(dir), [
    { magic: 2, epoch: 0, baseOffset: 0 },
    { magic: 2, epoch: 3, baseOffset: 2 },
    { magic: 2, epoch: 3, baseOffset: 4 },
    { magic: 2, epoch: 3, baseOffset: 6 },
  ])
  const reopened = open(dir)
  t.equal(reopened.leaderEpoch, 3, 'a reopened log continues in its latest epoch')
  t.strictSame(reopened.leaderEpochs.endOffsetFor(0, reopened.endOffset), { epoch: 0, endOffset: 2 })
  t.strictSame(reopened.leaderEpochs.endOffsetFor(3, reopened.endOffset), { epoch: 3, endOffset: 8 })
  reopened.close()
})

t.test('a torn magic-2 tail is cut and the epoch file follows', async (t) => {
  const original = t.testdir()
  const log = open(original)
  const x = blob('t', 2)
  for (let i = 0; i < 3; i++) log.append(x.records, 2, i)
  log.setLeaderEpoch(4)
  log.append(x.records, 2, 10) // the first batch of epoch 4, offsets 6-7
  log.setLeaderEpoch(6)
  log.append(x.records, 2, 11) // the first of epoch 6, offsets 8-9
  log.append(x.records, 2, 12) // offsets 10-11
  log.close()
  const file = segmentFiles(original)[0]!
  const batches = batchesIn(join(original, file))
  const work = tempDir()
  t.teardown(() => rmSync(work, { recursive: true, force: true }))

  const cases = [
    { name: 'a later batch of epoch 6', victim: batches[5]!, entries: [[0, 0], [4, 6], [6, 8]], epoch: 6 },
    { name: 'the first batch of epoch 6', victim: batches[4]!, entries: [[0, 0], [4, 6]], epoch: 4 },
    { name: 'the first batch of epoch 4', victim: batches[3]!, entries: [[0, 0]], epoch: 0 },
  ]
  for (const c of cases) {
    let checked = 0
    for (let cut = c.victim.position + 1; cut < c.victim.position + c.victim.size; cut += 3) {
      copyDir(original, work)
      truncateSync(join(work, file), cut)
      const events = logEvents()
      const reopened = open(work, { log: events.log })
      const entries = reopened.leaderEpochs.list().map((e) => [e.epoch, e.startOffset])
      if (reopened.endOffset !== c.victim.baseOffset) t.fail(`${c.name}, cut at ${cut}: end ${reopened.endOffset}`)
      if (JSON.stringify(entries) !== JSON.stringify(c.entries)) t.fail(`${c.name}, cut at ${cut}: entries ${JSON.stringify(entries)}`)
      if (reopened.leaderEpoch !== c.epoch) t.fail(`${c.name}, cut at ${cut}: continues in epoch ${reopened.leaderEpoch}`)
      const cutLogged = events.count('leader epochs cut to the log')
      if (cutLogged !== (c.entries.length < 3 ? 1 : 0)) t.fail(`${c.name}, cut at ${cut}: logged the epoch cut ${cutLogged} times`)
      reopened.close()
      // What the file now says is what a later open finds: the cut is durable.
      const again = open(work)
      if (JSON.stringify(again.leaderEpochs.list().map((e) => [e.epoch, e.startOffset])) !== JSON.stringify(c.entries)) t.fail(`${c.name}, cut at ${cut}: not durable`)
      again.close()
      checked++
    }
    t.ok(checked > 10, `${c.name}: ${checked} cut points, entries ${JSON.stringify(c.entries)}`)
  }
})

t.test('a missing, damaged or stale epoch file is rebuilt from the batches, across segments', async (t) => {
  const dir = t.testdir()
  // Old batches first (epoch 0), then a log continued through several epochs, some changing inside a
  // segment, some at a segment's first batch, one segment with none of its own (epoch 2 spans it).
  const old = writeMagic1Log(dir, [1, 2, 1, 1, 2, 1], 3)
  const log = open(dir, { segmentBytes: 400 })
  const x = blob('r', 2, 40)
  const bumps = new Map([[3, 2], [12, 5], [13, 6], [20, 9]])
  for (let i = 0; i < 26; i++) {
    const epoch = bumps.get(i)
    if (epoch !== undefined) log.setLeaderEpoch(epoch)
    log.append(x.records, 2, i)
  }
  const truth = log.leaderEpochs.list()
  t.equal(truth.length, 5)
  const end = log.endOffset
  log.close()
  t.ok(segmentFiles(dir).length > 8, `${segmentFiles(dir).length} segments`)

  rmSync(join(dir, LEADER_EPOCHS_FILE))
  let events = logEvents()
  let reopened = open(dir, { segmentBytes: 400, log: events.log })
  t.strictSame(reopened.leaderEpochs.list(), truth, 'a missing file is rebuilt as it was')
  t.match(events.events.find((e) => e.msg === 'leader epochs rebuilt from the log'), { level: 'info', reason: 'missing', entries: 5 })
  t.equal(reopened.leaderEpoch, 9)
  t.equal(readAll(reopened).length, end, 'and the log reads whole')
  t.ok(readAll(reopened).slice(0, old.length).every((r, i) => r.record.equals(old[i]!)))
  reopened.close()

  flipByte(join(dir, LEADER_EPOCHS_FILE), 20)
  events = logEvents()
  reopened = open(dir, { segmentBytes: 400, log: events.log })
  t.strictSame(reopened.leaderEpochs.list(), truth, 'a damaged file is rebuilt as it was')
  t.match(events.events.find((e) => e.msg === 'leader epochs rebuilt from the log'), { level: 'warn', reason: 'CRC mismatch' })
  reopened.close()

  // A whole, valid file that is older than the log (a partition directory restored from a copy).
  LeaderEpochs.rebuilt(dir, truth.slice(0, 3))
  events = logEvents()
  reopened = open(dir, { segmentBytes: 400, log: events.log })
  t.strictSame(reopened.leaderEpochs.list(), truth, 'a file behind the log is rebuilt as it was')
  t.match(events.events.find((e) => e.msg === 'leader epochs rebuilt from the log'), { level: 'warn', reason: /behind the log: its last batch is of epoch 9, the file's latest 5/ })
  t.equal(reopened.leaderEpoch, 9, 'and new batches continue in the log\'s epoch, not the stale file\'s')
  reopened.close()
})

t.test('an empty log with no epoch file gets one only with its first batch', async (t) => {
  const dir = t.testdir()
  open(dir).close()
  const log = open(dir)
  t.notOk(existsSync(join(dir, LEADER_EPOCHS_FILE)))
  t.strictSame(log.leaderEpochs.list(), [])
  t.equal(log.leaderEpochs.endOffsetFor(0, 0), undefined)
  log.append(blob('a', 1).records, 1, 1)
  t.ok(existsSync(join(dir, LEADER_EPOCHS_FILE)))
  log.close()
})

t.test('a full disk when an epoch is first recorded: STORAGE_FULL, nothing recorded or written, and the next append records it', async (t) => {
  const small = mountSmallFs('epochs-full', '1m')
  t.teardown(() => small.remove())
  if (!small.dir) return t.skip(`needs a small file system: ${small.problem}`)
  const dir = join(small.dir, 'partition')
  const log = open(dir)
  const x = blob('full', 1)
  fillUp(join(small.dir, 'filler'))
  t.throws(() => log.append(x.records, 1, 1), { code: 'STORAGE_FULL' })
  t.strictSame(log.leaderEpochs.list(), [], 'the epoch is not taken as recorded')
  t.equal(log.endOffset, 0)
  t.strictSame(stored(dir), [], 'and no batch was written')
  rmSync(join(small.dir, 'filler'))
  t.equal(log.append(x.records, 1, 2), 0)
  t.strictSame(log.leaderEpochs.list(), [{ epoch: 0, startOffset: 0 }], 'with space back, the next append records it')
  log.close()
  const reopened = open(dir)
  t.strictSame(reopened.leaderEpochs.list(), [{ epoch: 0, startOffset: 0 }])
  t.equal(readAll(reopened).length, 1)
  reopened.close()
})
