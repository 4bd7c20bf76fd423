import t from 'tap'
import { existsSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { batchesIn, blob, copyDir, flipByte, logEvents, open, readAll, segmentFiles, tempDir } from './helpers.js'

/** A single-segment log of `batches` batches of 2 records each; returns the records appended. */
function build(dir: string, batches: number, opts = {}): Buffer[] {
  const log = open(dir, { indexIntervalBytes: 64, ...opts })
  const all: Buffer[] = []
  for (let b = 0; b < batches; b++) {
    const x = blob(`b${b}`, 2, 30)
    log.append(x.records, 2, 100 + b)
    all.push(...x.encoded)
  }
  log.close()
  return all
}

t.test('a last batch cut at every byte recovers to the batch before it, and appends continue', async (t) => {
  const original = t.testdir()
  const records = build(original, 6)
  const file = segmentFiles(original)[0]!
  const batches = batchesIn(join(original, file))
  const last = batches[batches.length - 1]!
  const work = tempDir()
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  for (let cut = last.position; cut < last.position + last.size; cut++) {
    copyDir(original, work)
    truncateSync(join(work, file), cut)
    const events = logEvents()
    const log = open(work, { indexIntervalBytes: 64, log: events.log })
    if (log.endOffset !== last.baseOffset) t.fail(`cut at ${cut}: endOffset ${log.endOffset}`)
    if (cut > last.position && events.count('log tail repaired') !== 1) t.fail(`cut at ${cut}: repair not logged`)
    if (statSync(join(work, file)).size !== last.position) t.fail(`cut at ${cut}: file not truncated to the last good batch`)
    const got = readAll(log)
    if (got.length !== last.baseOffset || !got.every((r, i) => r.record.equals(records[i]!))) t.fail(`cut at ${cut}: records differ`)
    const x = blob('after', 2)
    if (log.append(x.records, 2, 999) !== last.baseOffset) t.fail(`cut at ${cut}: append got the wrong offset`)
    log.close()
    const again = open(work, { indexIntervalBytes: 64 })
    if (again.endOffset !== last.baseOffset + 2) t.fail(`cut at ${cut}: reopen after append lost it`)
    if (!readAll(again, last.baseOffset).map((r) => r.record).every((r, i) => r.equals(x.encoded[i]!))) t.fail(`cut at ${cut}: appended records differ`)
    again.close()
  }
  t.pass(`checked ${last.size} cut points`)
})

t.test('a flipped byte anywhere in the complete last batch is corruption: kept, reported, its offsets never reused', async (t) => {
  const original = t.testdir()
  const records = build(original, 5)
  const file = segmentFiles(original)[0]!
  const last = batchesIn(join(original, file)).at(-1)!
  // Most offsets n damaged bytes can hold (tail-damage.ts): 44-byte header, 10-byte smallest record.
  const bound = last.baseOffset + Math.floor((last.size - 44) / 10)
  const work = tempDir()
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  let checked = 0
  for (let at = last.position; at < last.position + last.size; at++) {
    copyDir(original, work)
    flipByte(join(work, file), at)
    const events = logEvents()
    const log = open(work, { indexIntervalBytes: 64, log: events.log })
    const end = log.endOffset
    // Exactly the batch's two offsets, unless the count field itself was hit (then more are kept, never fewer).
    const exact = !(at - last.position >= 20 && at - last.position < 24)
    if (end < last.baseOffset + 2 || end > bound || (exact && end !== last.baseOffset + 2)) t.fail(`flip at ${at}: endOffset ${end}`)
    if (events.count('log tail repaired') !== 0) t.fail(`flip at ${at}: a complete batch was cut as torn`)
    if (statSync(join(work, file)).size !== last.position + last.size) t.fail(`flip at ${at}: the file was cut`)
    const ranges = log.stats().corrupt.map((r) => [r.fromOffset, r.toOffset])
    if (JSON.stringify(ranges) !== JSON.stringify([[last.baseOffset, end]])) t.fail(`flip at ${at}: reported ${JSON.stringify(ranges)}`)
    if (log.recovery.corruptBatches !== 1 || log.recovery.corruptOffsets !== end - last.baseOffset || log.recovery.tornBatchesCut !== 0) t.fail(`flip at ${at}: report ${JSON.stringify(log.recovery)}`)
    const got = readAll(log)
    if (got.length !== last.baseOffset || !got.every((r, i) => r.offset === i && r.record.equals(records[i]!))) t.fail(`flip at ${at}: the good records differ`)
    const x = blob('after', 2)
    if (log.append(x.records, 2, 999) !== end) t.fail(`flip at ${at}: append got a reserved offset`)
    log.close()
    // Reopened, the kept batch is damage in the middle: same range, the new records readable.
    const again = open(work, { indexIntervalBytes: 64 })
    const after = readAll(again)
    if (after.length !== last.baseOffset + 2 || after.at(-1)!.offset !== end + 1) t.fail(`flip at ${at}: after reopen ${after.map((r) => r.offset).join(',')}`)
    if (JSON.stringify(again.stats().corrupt.map((r) => [r.fromOffset, r.toOffset])) !== JSON.stringify([[last.baseOffset, end]])) t.fail(`flip at ${at}: reopen reports differently`)
    again.close()
    checked++
  }
  t.equal(checked, last.size)
})

t.test('a length field raised past the end of the file is told apart from a torn write', async (t) => {
  const dir = t.testdir()
  build(dir, 5)
  const file = join(dir, segmentFiles(dir)[0]!)
  const last = batchesIn(file).at(-1)!
  flipByte(file, last.position + 9) // length's second byte: now declares far more than the file holds
  const log = open(dir, { indexIntervalBytes: 64 })
  t.equal(log.endOffset, last.baseOffset + 2, 'the rest of the header is intact (its CRC says so): exactly its offsets are kept')
  t.match(log.stats().corrupt, [{ fromOffset: last.baseOffset, toOffset: last.baseOffset + 2 }])
  t.equal(log.recovery.tornBatchesCut, 0)
  log.close()
})

t.test('a flipped byte in a middle batch of a closed segment is reported and skipped', async (t) => {
  const dir = t.testdir()
  const events = logEvents()
  const log = open(dir, { segmentBytes: 600, indexIntervalBytes: 64, cacheBytes: 0 })
  const all: Buffer[] = []
  for (let b = 0; b < 20; b++) {
    const x = blob(`b${b}`, 2, 30)
    log.append(x.records, 2, 100 + b)
    all.push(...x.encoded)
  }
  log.close()
  const files = segmentFiles(dir)
  t.ok(files.length >= 3)
  const first = join(dir, files[0]!)
  const batches = batchesIn(first)
  t.ok(batches.length >= 3)
  const victim = batches[1]!
  flipByte(first, victim.position + victim.size - 3) // inside a payload
  const reopened = open(dir, { segmentBytes: 600, indexIntervalBytes: 64, cacheBytes: 0, log: events.log })
  t.equal(reopened.endOffset, all.length)
  const got = readAll(reopened, 0, 3)
  const offsets = got.map((r) => r.offset)
  const lost = [victim.baseOffset, victim.baseOffset + 1]
  t.same(offsets, all.map((_, i) => i).filter((i) => !lost.includes(i)), 'every offset but the damaged batch')
  t.ok(got.every((r) => r.record.equals(all[r.offset]!)))
  t.same(reopened.stats().corrupt, [
    { segment: files[0], position: victim.position, fromOffset: victim.baseOffset, toOffset: victim.baseOffset + 2, reason: 'CRC mismatch' },
  ])
  readAll(reopened)
  t.same(reopened.read(victim.baseOffset, 1, 100).map((r) => r.offset), [victim.baseOffset + 2], 'a read inside the damage starts after it')
  t.equal(events.count('corrupt batch skipped'), 1, 'logged once')
  reopened.close()
})

t.test('a damaged header in the middle of the active segment is skipped by resynchronising', async (t) => {
  const dir = t.testdir()
  const all = build(dir, 10, { indexIntervalBytes: 1 << 20 })
  const file = join(dir, segmentFiles(dir)[0]!)
  const victim = batchesIn(file)[4]!
  // The length field: the reader cannot trust where the batch ends.
  flipByte(file, victim.position + 9)
  const log = open(dir, { indexIntervalBytes: 1 << 20, cacheBytes: 0 })
  t.equal(log.endOffset, all.length, 'a good batch follows, so nothing was truncated')
  const offsets = readAll(log).map((r) => r.offset)
  t.same(offsets, all.map((_, i) => i).filter((i) => i < victim.baseOffset || i >= victim.baseOffset + 2))
  const [range] = log.stats().corrupt
  t.match(range, { position: victim.position, fromOffset: victim.baseOffset, toOffset: victim.baseOffset + 2 })
  log.close()
})

t.test('a missing index is rebuilt with the same entries', async (t) => {
  const dir = t.testdir()
  const opts = { segmentBytes: 2000, indexIntervalBytes: 100 }
  const all = build(dir, 60, opts)
  const indexes = segmentFiles(dir).map((f) => join(dir, f.replace('.log', '.idx')))
  t.ok(indexes.length >= 3)
  const before = indexes.map((f) => readFileSync(f))
  t.ok(before[0]!.length > 0, 'the index has entries')
  for (const f of indexes) unlinkSync(f)
  const events = logEvents()
  const log = open(dir, { ...opts, cacheBytes: 0, log: events.log })
  t.equal(log.endOffset, all.length)
  const got = readAll(log, 0, 5)
  t.ok(got.length === all.length && got.every((r, i) => r.record.equals(all[i]!)))
  log.close()
  t.ok(indexes.every((f) => existsSync(f)), 'index files are back')
  t.same(indexes.map((f) => readFileSync(f)), before, 'with the same entries')
  t.ok(events.count('index rebuilt') >= indexes.length)
})

t.test('a garbage index is replaced and reads are still right', async (t) => {
  const dir = t.testdir()
  const opts = { segmentBytes: 2000, indexIntervalBytes: 100 }
  const all = build(dir, 30, opts)
  const files = segmentFiles(dir)
  const idx = join(dir, files[0]!.replace('.log', '.idx'))
  const good = readFileSync(idx)
  writeFileSync(idx, Buffer.from([0, 0, 0, 9, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 1, 0xff]))
  const log = open(dir, { ...opts, cacheBytes: 0 })
  for (let from = 0; from < all.length; from += 7) {
    const got = log.read(from, 1, 1 << 20)
    t.equal(got[0]?.offset, from)
  }
  log.close()
  t.same(readFileSync(idx), good)
})

t.test('index entries pointing past a torn tail are dropped', async (t) => {
  const dir = t.testdir()
  const all = build(dir, 20)
  const file = join(dir, segmentFiles(dir)[0]!)
  const batches = batchesIn(file)
  truncateSync(file, batches[10]!.position + 5)
  const log = open(dir, { indexIntervalBytes: 64, cacheBytes: 0 })
  t.equal(log.endOffset, batches[10]!.baseOffset)
  t.same(readAll(log).map((r) => r.offset), all.slice(0, batches[10]!.baseOffset).map((_, i) => i))
  const idx = readFileSync(file.replace('.log', '.idx'))
  for (let at = 0; at < idx.length; at += 8) t.ok(idx.readUInt32BE(at + 4) < batches[10]!.position, 'entry within the file')
  log.close()
})

t.test('an empty trailing segment and an empty partition open fine', async (t) => {
  const dir = t.testdir()
  const all = build(dir, 3)
  writeFileSync(join(dir, '00000000000000000006.log'), '')
  const log = open(dir)
  t.equal(log.endOffset, all.length)
  t.equal(log.stats().segments, 2)
  const x = blob('z', 1)
  t.equal(log.append(x.records, 1, 1), 6)
  t.same(readAll(log).map((r) => r.offset), [0, 1, 2, 3, 4, 5, 6])
  log.close()
  const empty = open(join(dir, 'other'))
  t.equal(empty.endOffset, 0)
  t.equal(empty.startOffset, 0)
  t.same(empty.read(0, 10, 100), [])
  empty.close()
})

t.test('a last segment that is all garbage is kept and reported; appends go after what it may hold', async (t) => {
  const dir = t.testdir()
  build(dir, 3)
  writeFileSync(join(dir, '00000000000000000006.log'), Buffer.alloc(300, 0xab))
  const events = logEvents()
  const log = open(dir, { log: events.log })
  t.equal(log.endOffset, 6 + Math.floor((300 - 44) / 10), 'as many offsets as 300 bytes can hold stay taken')
  t.equal(events.count('log tail repaired'), 0)
  t.equal(events.count('corrupt end of log kept'), 1)
  t.match(log.stats().corrupt, [{ segment: '00000000000000000006.log', position: 0, fromOffset: 6, toOffset: 31 }])
  t.equal(statSync(join(dir, '00000000000000000006.log')).size, 300)
  log.close()
})

t.test('a zero-filled end of the last segment is a torn write: cut', async (t) => {
  const dir = t.testdir()
  build(dir, 3)
  const file = join(dir, segmentFiles(dir)[0]!)
  const size = statSync(file).size
  writeFileSync(file, Buffer.alloc(4096), { flag: 'a' })
  const events = logEvents()
  const log = open(dir, { log: events.log })
  t.equal(log.endOffset, 6)
  t.equal(statSync(file).size, size)
  t.same(log.stats().corrupt, [])
  t.match(log.recovery, { tornBatchesCut: 1, tornBytesCut: 4096, corruptBatches: 0 })
  t.match(events.events.find((e) => e.msg === 'log tail repaired'), { bytesDropped: 4096, reason: /zero bytes/ })
  log.close()
})

t.test('damage at the start and at the end of a closed segment hides only those batches', async (t) => {
  const dir = t.testdir()
  const opts = { segmentBytes: 600, indexIntervalBytes: 64, cacheBytes: 0 }
  const log = open(dir, opts)
  const all: Buffer[] = []
  for (let b = 0; b < 20; b++) {
    const x = blob(`b${b}`, 2, 30)
    log.append(x.records, 2, 100 + b)
    all.push(...x.encoded)
  }
  log.close()
  const files = segmentFiles(dir)
  const second = join(dir, files[1]!)
  const batches = batchesIn(second)
  const head = batches[0]!
  const tail = batches.at(-1)!
  flipByte(second, head.position + 30)
  flipByte(second, tail.position + tail.size - 1)
  const reopened = open(dir, opts)
  t.equal(reopened.endOffset, all.length)
  const hidden = new Set([head.baseOffset, head.baseOffset + 1, tail.baseOffset, tail.baseOffset + 1])
  const got = readAll(reopened, 0, 4)
  t.same(got.map((r) => r.offset), all.map((_, i) => i).filter((i) => !hidden.has(i)))
  t.ok(got.every((r) => r.record.equals(all[r.offset]!)))
  const ranges = reopened.stats().corrupt.map((r) => [r.segment, r.fromOffset, r.toOffset])
  t.same(ranges.sort(), [
    [files[1], head.baseOffset, head.baseOffset + 2],
    [files[1], tail.baseOffset, Number(files[2]!.slice(0, 20))],
  ].sort())
  reopened.close()
})
