/**
 * The partition log as replication uses it (real files in temp dirs): a
 * leader's whole batches read with readBatches and appended verbatim to a
 * follower's log with appendReplicated give the same log, byte for byte,
 * across segment rolls and a reopen of either side; a damaged, overlapping
 * or older-epoch batch is refused and leaves the follower as it was; and
 * truncateTo (a follower cutting its diverging tail) leaves exactly the
 * prefix, in the active segment or back in an older one, durably, with its
 * leader epochs cut too, and takes appends at the cut.
 */
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodeBatch, readBatchHeader } from '../../../protocol/batch.js'
import type { PartitionLog } from '../../../broker/storage/partition-log.js'
import { blob, flipByte, open, readAll, segmentFiles } from './helpers.js'

const SEGMENT_BYTES = 1200

/** A leader log of `batches` batches (1 to 4 records each, 40-byte payloads) whose epoch changes at the given batch numbers. */
function leaderLog(dir: string, batches: number, epochAt: Map<number, number>, opts: { cacheBytes?: number; indexIntervalBytes?: number } = {}): PartitionLog {
  const log = open(dir, { segmentBytes: SEGMENT_BYTES, ...opts })
  for (let i = 0; i < batches; i++) {
    const epoch = epochAt.get(i)
    if (epoch !== undefined) log.setLeaderEpoch(epoch)
    const count = 1 + (i % 4)
    const b = blob(`L${i}`, count, 40)
    log.append(b.records, count, 1_700_000_000_000 + i, i % 3 === 0 ? 42 : undefined, i % 3 === 0 ? i : undefined)
  }
  log.sync()
  return log
}

/** Copy from `leader` into `follower` the way a follower fetches: from its end, `maxBytes` a round, until it is level. */
function replicate(leader: PartitionLog, follower: PartitionLog, maxBytes: number, stopAt = Infinity): number {
  let rounds = 0
  while (follower.endOffset < Math.min(leader.endOffset, stopAt)) {
    const batches = leader.readBatches(follower.endOffset, maxBytes)
    if (batches.length === 0) throw new Error(`nothing read from ${follower.endOffset}`)
    for (const b of batches) {
      if (follower.endOffset >= stopAt) break
      follower.appendReplicated(b)
    }
    follower.sync()
    rounds++
  }
  return rounds
}

/** Every segment file of a partition directory: name and bytes. */
function files(dir: string): [string, Buffer][] {
  return segmentFiles(dir).map((f) => [f, readFileSync(join(dir, f))])
}

/** Every index file of a partition directory: name and bytes. */
function indexFiles(dir: string): [string, Buffer][] {
  return readdirSync(dir).filter((n) => n.endsWith('.idx')).sort().map((f) => [f, readFileSync(join(dir, f))])
}

t.test('batches read by readBatches and appended with appendReplicated give a byte-identical log, across rolls and a reopen', async (t) => {
  // No cache (every read from disk), a small one (reads start on disk and go on from the cache), a large one.
  for (const cacheBytes of [0, 1500, 4 * 1024 * 1024]) {
    const leaderDir = t.testdir({ leader: {}, follower: {} })
    const lDir = join(leaderDir, 'leader')
    const fDir = join(leaderDir, 'follower')
    const leader = leaderLog(lDir, 60, new Map([[0, 1], [25, 3], [40, 4]]), { cacheBytes })
    t.ok(segmentFiles(lDir).length >= 5, `cache ${cacheBytes}: the leader has ${segmentFiles(lDir).length} segments`)

    let follower = open(fDir, { segmentBytes: SEGMENT_BYTES })
    // Half-way, then the follower closes and reopens (a restart), then the rest.
    replicate(leader, follower, 300, 70)
    t.equal(follower.endOffset, 70, 'the follower stopped at a batch boundary')
    follower.close()
    follower = open(fDir, { segmentBytes: SEGMENT_BYTES })
    t.equal(follower.endOffset, 70, 'and reopened where it was')
    t.equal(follower.leaderEpoch, 3, 'continuing in the epoch of its last batch')
    const rounds = replicate(leader, follower, 300)
    t.ok(rounds > 3, `${rounds} fetch rounds after the reopen`)

    t.equal(follower.endOffset, leader.endOffset)
    t.strictSame(files(fDir).map(([n]) => n), files(lDir).map(([n]) => n), 'the same segments (rolls at the same offsets)')
    t.ok(files(fDir).every(([, bytes], i) => bytes.equals(files(lDir)[i]![1])), 'each segment file is byte-identical')
    t.strictSame(follower.leaderEpochs.list(), leader.leaderEpochs.list(), 'the same leader epochs')
    t.strictSame(follower.leaderEpochs.list().map((e) => e.epoch), [1, 3, 4])
    const all = (log: PartitionLog) => Buffer.concat(log.readBatches(0, 1 << 30))
    t.ok(all(follower).equals(all(leader)), 'readBatches from 0 hands the same bytes on both')
    t.strictSame(readAll(follower), readAll(leader), 'every record reads the same')
    t.strictSame(follower.producerBatches(0), leader.producerBatches(0), 'the producer batches (dedup window) are the same')

    // A reopen of both reads the same again (the follower's files recover as written).
    leader.close()
    follower.close()
    const l2 = open(lDir, { segmentBytes: SEGMENT_BYTES })
    const f2 = open(fDir, { segmentBytes: SEGMENT_BYTES })
    t.strictSame(f2.recovery, l2.recovery, 'the follower recovers as the leader does')
    t.equal(f2.recovery.tornBatchesCut + f2.recovery.corruptBatches, 0, 'nothing cut or corrupt')
    t.ok(all(f2).equals(all(l2)), 'and hands out the same bytes after the reopen')
    t.strictSame(f2.leaderEpochs.list(), l2.leaderEpochs.list())
    l2.close()
    f2.close()
  }
})

t.test('readBatches: whole batches from the one holding fromOffset, at least one, bounded by maxBytes after the first', async (t) => {
  const dir = t.testdir()
  const log = leaderLog(dir, 30, new Map([[0, 1]]), { cacheBytes: 0 })
  const disk = log.readBatches(0, 1 << 30)
  const heads = disk.map((b) => readBatchHeader(b)!)
  t.equal(heads.length, 30)
  t.ok(heads.every((h, i) => i === 0 || h.baseOffset === heads[i - 1]!.baseOffset + heads[i - 1]!.count), 'contiguous, in order')
  const third = heads[3]!
  for (let off = third.baseOffset; off < third.baseOffset + third.count; off++) {
    t.equal(readBatchHeader(log.readBatches(off, 1)[0]!)!.baseOffset, third.baseOffset, `from ${off}: the batch holding it`)
  }
  t.equal(log.readBatches(0, 1).length, 1, 'maxBytes smaller than a batch still gives one')
  const some = log.readBatches(0, disk[0]!.length + disk[1]!.length + 1)
  t.equal(some.length, 3, 'stops at the batch that passes maxBytes')
  t.strictSame(log.readBatches(log.endOffset, 1000), [], 'nothing from the end')
  log.close()
  // The same through the cache: a log reopened with a cache, then appended to.
  const cached = open(dir, { segmentBytes: SEGMENT_BYTES })
  const b = blob('more', 2, 40)
  const end = cached.endOffset
  cached.append(b.records, 2, Date.now())
  cached.append(b.records, 2, Date.now())
  const fromDisk = cached.readBatches(0, 1 << 30)
  t.equal(fromDisk.length, 32, 'from disk into the cache: every batch once')
  t.ok(Buffer.concat(fromDisk.slice(0, 30)).equals(Buffer.concat(disk)), 'the old ones as they were')
  t.equal(readBatchHeader(cached.readBatches(end + 1, 1 << 30)[0]!)!.baseOffset, end, 'from the cache: the batch holding the offset')
  cached.close()
  // A cache smaller than the tail: a read starts on disk and goes on from the cache, each batch once.
  const small = open(dir, { segmentBytes: SEGMENT_BYTES, cacheBytes: 700 })
  for (let i = 0; i < 6; i++) small.append(b.records, 2, Date.now())
  const mixed = small.readBatches(0, 1 << 30)
  const offsets = mixed.map((x) => readBatchHeader(x)!.baseOffset)
  t.equal(mixed.length, 38, 'every batch once')
  t.ok(offsets.every((o, i) => i === 0 || o > offsets[i - 1]!), 'in order')
  t.ok(Buffer.concat(mixed.slice(0, 32)).equals(Buffer.concat(fromDisk)), 'the same bytes as before')
  small.close()
})

t.test('a damaged batch is refused, whichever byte is flipped, and the follower is left as it was', async (t) => {
  const root = t.testdir({ leader: {}, follower: {} })
  const leader = leaderLog(join(root, 'leader'), 6, new Map([[0, 1]]))
  const follower = open(join(root, 'follower'), { segmentBytes: SEGMENT_BYTES })
  const [first, second] = leader.readBatches(0, 1 << 30)
  follower.appendReplicated(first!)
  const end = follower.endOffset
  let refused = 0
  for (let at = 0; at < second!.length; at++) {
    const bad = Buffer.from(second!)
    bad[at] = bad[at]! ^ 0x10
    try {
      follower.appendReplicated(bad)
      t.fail(`a flip at byte ${at} was taken`)
    } catch (err) {
      if ((err as { code?: string }).code !== 'INVALID_REQUEST') t.fail(`flip at ${at}: ${(err as Error).message}`)
      else refused++
    }
    if (follower.endOffset !== end) t.fail(`flip at ${at}: the end moved to ${follower.endOffset}`)
  }
  t.equal(refused, second!.length, `all ${refused} flips refused with INVALID_REQUEST`)
  t.throws(() => follower.appendReplicated(second!.subarray(0, second!.length - 1)), { code: 'INVALID_REQUEST' }, 'a torn batch is refused')
  t.throws(() => follower.appendReplicated(Buffer.concat([second!, Buffer.alloc(1)])), { code: 'INVALID_REQUEST' }, 'a batch with bytes after it is refused')
  t.equal(follower.appendReplicated(second!), end + readBatchHeader(second!)!.count, 'the intact batch is then taken')
  follower.close()
  const reopened = open(join(root, 'follower'), { segmentBytes: SEGMENT_BYTES })
  t.ok(Buffer.concat(reopened.readBatches(0, 1 << 30)).equals(Buffer.concat([first!, second!])), 'nothing of the refused ones reached the file')
  reopened.close()
  leader.close()
})

t.test('an overlapping batch or one of an older epoch is refused; a gap and a newer epoch are taken', async (t) => {
  const dir = t.testdir()
  const follower = open(dir, { segmentBytes: SEGMENT_BYTES })
  const r = blob('x', 2, 20)
  const batch = (baseOffset: number, leaderEpoch: number) => encodeBatch({ baseOffset, count: 2, timestamp: 1000 + baseOffset, records: r.records, leaderEpoch })
  follower.appendReplicated(batch(0, 2))
  follower.appendReplicated(batch(2, 2))
  t.throws(() => follower.appendReplicated(batch(2, 2)), { code: 'INVALID_REQUEST', message: /overlaps/ }, 'the same batch again')
  t.throws(() => follower.appendReplicated(batch(3, 2)), { code: 'INVALID_REQUEST', message: /overlaps/ }, 'one starting inside the last')
  t.throws(() => follower.appendReplicated(batch(0, 2)), { code: 'INVALID_REQUEST', message: /overlaps/ }, 'one from the start')
  t.equal(follower.appendReplicated(batch(4, 5)), 6, 'a newer epoch is taken')
  t.throws(() => follower.appendReplicated(batch(6, 2)), { code: 'INVALID_REQUEST', message: /epoch 2, older than 5/ }, 'an older epoch after it is refused')
  t.equal(follower.endOffset, 6)
  t.strictSame(follower.leaderEpochs.list(), [{ epoch: 2, startOffset: 0 }, { epoch: 5, startOffset: 4 }], 'the newer epoch was recorded at its first batch')
  t.equal(follower.leaderEpoch, 5, 'and appends here continue in it')
  // A gap (the leader skipped damaged offsets) is kept as a gap.
  t.equal(follower.appendReplicated(batch(10, 5)), 12)
  t.strictSame(readAll(follower).map((x) => x.offset), [0, 1, 2, 3, 4, 5, 10, 11])
  follower.close()
  const reopened = open(dir, { segmentBytes: SEGMENT_BYTES })
  t.equal(reopened.endOffset, 12, 'the gap survives a reopen')
  t.strictSame(reopened.leaderEpochs.list(), [{ epoch: 2, startOffset: 0 }, { epoch: 5, startOffset: 4 }])
  reopened.close()
})

t.test('truncateTo in the active segment and back into older ones leaves exactly the prefix, durably, epochs cut, appends taken at the cut', async (t) => {
  const root = t.testdir({ leader: {} })
  // A dense index (an entry every 100 bytes), so cutting it is exercised too.
  const leader = leaderLog(join(root, 'leader'), 60, new Map([[0, 1], [20, 2], [35, 5], [50, 7]]), { cacheBytes: 0, indexIntervalBytes: 100 })
  const batches = leader.readBatches(0, 1 << 30)
  const heads = batches.map((b) => readBatchHeader(b)!)
  const segBases = segmentFiles(join(root, 'leader')).map((f) => Number.parseInt(f, 10))
  t.ok(segBases.length >= 5, `${segBases.length} segments`)
  const last = segBases.at(-1)!
  // Cut points: inside the active segment, at its base, one segment back, several back, a cut
  // inside a batch (the whole batch goes), at an epoch's start, and to 0.
  const boundaries = heads.map((h) => h.baseOffset)
  const inActive = boundaries.find((b) => b > last)!
  const epochStart = heads[35]!.baseOffset
  const midBatch = heads[14]!.baseOffset + 1 // a batch of 3 records
  const cuts = [inActive, last, segBases.at(-2)! + 3, segBases[1]!, epochStart, midBatch, 0]
  let n = 0
  for (const cut of cuts) {
    const dir = join(root, `f${n++}`)
    const f = open(dir, { segmentBytes: SEGMENT_BYTES, indexIntervalBytes: 100 })
    for (const b of batches) f.appendReplicated(b)
    f.sync()
    const expectedEnd = heads.filter((h) => h.baseOffset + h.count <= cut).reduce((end, h) => h.baseOffset + h.count, 0)
    const prefix = batches.filter((_, i) => heads[i]!.baseOffset + heads[i]!.count <= cut)
    const epochsBefore = f.leaderEpochs.list()
    const dropped = f.truncateTo(cut)
    t.equal(f.endOffset, expectedEnd, `cut at ${cut}: ends at ${expectedEnd}`)
    t.equal(dropped, leader.endOffset - expectedEnd, `cut at ${cut}: ${dropped} offsets dropped`)
    const expectedEpochs = epochsBefore.filter((e) => e.startOffset < expectedEnd)
    const check = (log: PartitionLog, when: string) => {
      t.ok(Buffer.concat(log.readBatches(0, 1 << 30)).equals(Buffer.concat(prefix)), `cut at ${cut}, ${when}: readBatches gives exactly the prefix`)
      const recs = readAll(log)
      t.equal(recs.length, expectedEnd, `cut at ${cut}, ${when}: ${expectedEnd} records`)
      const offsets = Array.from({ length: expectedEnd }, (_, i) => i)
      const fromEach = offsets.filter((o) => o % 5 === 0).every((o) => log.read(o, 1, 1)[0]?.offset === o)
      t.ok(fromEach, `cut at ${cut}, ${when}: reads from inside the prefix find their offset (the index was cut right)`)
      t.strictSame(log.read(expectedEnd, 10, 1 << 20), [], `cut at ${cut}, ${when}: nothing past the cut`)
      t.strictSame(log.leaderEpochs.list(), expectedEpochs, `cut at ${cut}, ${when}: epochs starting at or after the cut are gone`)
    }
    check(f, 'at once')
    f.close()
    const g = open(dir, { segmentBytes: SEGMENT_BYTES, indexIntervalBytes: 100 })
    t.equal(g.endOffset, expectedEnd, `cut at ${cut}: a reopen ends at the cut`)
    t.match(g.recovery, { tornBatchesCut: 0, corruptBatches: 0, indexesRebuilt: 0, indexEntriesDistrusted: 0 }, `cut at ${cut}: the reopen found nothing torn or corrupt, and the cut index whole`)
    check(g, 'after a reopen')
    // The follower fetches again from the cut and becomes the leader's copy again.
    replicate(leader, g, 500)
    t.ok(Buffer.concat(g.readBatches(0, 1 << 30)).equals(Buffer.concat(batches)), `cut at ${cut}: appends at the cut make the leader's log again`)
    t.strictSame(g.leaderEpochs.list(), leader.leaderEpochs.list(), `cut at ${cut}: with the leader's epochs`)
    t.ok(files(dir).every(([name, bytes], i) => name === files(join(root, 'leader'))[i]![0] && bytes.equals(files(join(root, 'leader'))[i]![1])), `cut at ${cut}: files byte-identical to the leader's`)
    g.close()
    const leaderIndexes = indexFiles(join(root, 'leader'))
    t.ok(leaderIndexes.length > 0 && indexFiles(dir).length === leaderIndexes.length && indexFiles(dir).every(([name, bytes], i) => name === leaderIndexes[i]![0] && bytes.equals(leaderIndexes[i]![1])), `cut at ${cut}: index files identical to the leader's`)
  }
  leader.close()
})

t.test('truncateTo then a local append (a follower made leader at the cut) writes at the cut, in the new epoch', async (t) => {
  const dir = t.testdir()
  const log = leaderLog(dir, 40, new Map([[0, 1], [30, 2]]))
  const epoch2 = log.leaderEpochs.list()[1]!.startOffset
  log.truncateTo(epoch2)
  t.strictSame(log.leaderEpochs.list(), [{ epoch: 1, startOffset: 0 }])
  log.setLeaderEpoch(3)
  const b = blob('new', 3, 10)
  t.equal(log.append(b.records, 3, Date.now()), epoch2, 'the next batch takes the first offset cut')
  t.strictSame(log.leaderEpochs.list(), [{ epoch: 1, startOffset: 0 }, { epoch: 3, startOffset: epoch2 }])
  log.close()
  const reopened = open(dir, { segmentBytes: SEGMENT_BYTES })
  t.equal(reopened.endOffset, epoch2 + 3)
  t.strictSame(readAll(reopened, epoch2).map((r) => r.record), b.encoded, 'the new records follow the prefix')
  reopened.close()
})

t.test('truncateTo at the end drops an epoch recorded there with no batch of its own, and keeps the log', async (t) => {
  const dir = t.testdir()
  const log = leaderLog(dir, 10, new Map([[0, 1]]))
  const end = log.endOffset
  const before = Buffer.concat(log.readBatches(0, 1 << 30))
  log.leaderEpochs.assign(2, end) // became leader in epoch 2, wrote nothing
  t.equal(log.truncateTo(end), 0, 'nothing dropped from the log')
  t.strictSame(log.leaderEpochs.list(), [{ epoch: 1, startOffset: 0 }], 'epoch 2 is gone')
  t.equal(log.truncateTo(end + 5), 0)
  t.ok(Buffer.concat(log.readBatches(0, 1 << 30)).equals(before), 'the log is untouched')
  log.close()
  const reopened = open(dir, { segmentBytes: SEGMENT_BYTES })
  t.strictSame(reopened.leaderEpochs.list(), [{ epoch: 1, startOffset: 0 }], 'durably')
  t.equal(reopened.endOffset, end)
  reopened.close()
})

t.test('truncateTo at or before a damaged batch cuts the damage too: appends at the cut read at once and recover whole after a reopen', async (t) => {
  const root = t.testdir({ leader: {} })
  const leader = leaderLog(join(root, 'leader'), 12, new Map([[0, 1], [6, 2]]))
  const batches = leader.readBatches(0, 1 << 30)
  const heads = batches.map((b) => readBatchHeader(b)!)
  // The damaged batch on the follower's disk: the first one cut (the first of epoch 2), or one after it.
  for (const { damaged, cutAt } of [{ damaged: 6, cutAt: 6 }, { damaged: 9, cutAt: 6 }]) {
    const fDir = join(root, `follower-${damaged}`)
    const f = open(fDir, { segmentBytes: 1 << 20 })
    for (const b of batches) f.appendReplicated(b)
    f.close()
    const position = batches.slice(0, damaged).reduce((n, b) => n + b.length, 0)
    flipByte(join(fDir, segmentFiles(fDir)[0]!), position + 60)
    const g = open(fDir, { segmentBytes: 1 << 20 })
    t.equal(g.recovery.corruptBatches, 1, `damage at batch ${damaged}: found at open`)
    const cut = heads[cutAt]!.baseOffset
    g.truncateTo(cut)
    t.equal(g.endOffset, cut)
    t.strictSame(g.stats().corrupt, [], 'the damage went with the cut')
    t.ok(Buffer.concat(g.readBatches(0, 1 << 30)).equals(Buffer.concat(batches.slice(0, cutAt))), 'the prefix reads')
    for (const b of batches.slice(cutAt)) g.appendReplicated(b)
    g.sync()
    t.ok(Buffer.concat(g.readBatches(0, 1 << 30)).equals(Buffer.concat(batches)), `damage at batch ${damaged}: the batches appended at the cut read back at once (where the damage was is not skipped)`)
    t.equal(readAll(g).length, leader.endOffset, 'every record reads')
    g.close()
    const h = open(fDir, { segmentBytes: 1 << 20 })
    t.match(h.recovery, { corruptBatches: 0, tornBatchesCut: 0 }, `damage at batch ${damaged}: a reopen finds nothing damaged`)
    t.equal(h.endOffset, leader.endOffset)
    t.ok(Buffer.concat(h.readBatches(0, 1 << 30)).equals(Buffer.concat(batches)), 'and the log is the leader\'s again')
    h.close()
  }
  leader.close()
})
