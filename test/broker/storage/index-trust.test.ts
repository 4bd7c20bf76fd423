/**
 * The .idx is a hint (issue 14, item 5): an entry that is wrong but still in
 * order (offset lowered, position moved) must neither make a read skip records
 * nor report damage in an intact batch. Each case edits one entry of a real
 * index file and reads from every offset.
 */
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { blob, logEvents, open, segmentFiles } from './helpers.js'

/** Batches of 2 records; one index entry every ~4 batches, so entries are 8 offsets apart and a shift of 5 keeps them in order. */
const OPTS = { indexIntervalBytes: 400, cacheBytes: 0 }

function build(dir: string, batches: number, segmentBytes = 1 << 20): number {
  const log = open(dir, { ...OPTS, segmentBytes })
  for (let b = 0; b < batches; b++) {
    const x = blob(`b${b}`, 2, 30)
    log.append(x.records, 2, 1000 + b)
  }
  const end = log.endOffset
  log.close()
  return end
}

function editEntry(idx: string, i: number, edit: (rel: number, pos: number) => [number, number]): { rel: number; pos: number } {
  const buf = readFileSync(idx)
  if (buf.length < (i + 1) * 8) throw new Error(`${idx} has ${buf.length / 8} entries`)
  const [rel, pos] = edit(buf.readUInt32BE(i * 8), buf.readUInt32BE(i * 8 + 4))
  buf.writeUInt32BE(rel, i * 8)
  buf.writeUInt32BE(pos, i * 8 + 4)
  writeFileSync(idx, buf)
  return { rel, pos }
}

const cases: { name: string; edit: (rel: number, pos: number) => [number, number] }[] = [
  { name: 'offset lowered by 5', edit: (rel, pos) => [rel - 5, pos] },
  { name: 'position moved by +100', edit: (rel, pos) => [rel, pos + 100] },
]

for (const c of cases) {
  for (const where of ['active', 'closed'] as const) {
    t.test(`an index entry with its ${c.name} (${where} segment) is not trusted`, async (t) => {
      const dir = t.testdir()
      const end = build(dir, 40, where === 'closed' ? 3000 : 1 << 20)
      const files = segmentFiles(dir)
      t.ok(where === 'active' ? files.length === 1 : files.length >= 2, `${files.length} segments`)
      editEntry(join(dir, files[0]!.replace('.log', '.idx')), 1, c.edit)
      const events = logEvents()
      const log = open(dir, { ...OPTS, segmentBytes: where === 'closed' ? 3000 : 1 << 20, log: events.log })
      t.equal(log.endOffset, end)
      const wrong: string[] = []
      for (let from = 0; from < end; from++) {
        const got = log.read(from, 1, 1 << 20)
        if (got[0]?.offset !== from) wrong.push(`read(${from}) -> ${got[0]?.offset}`)
      }
      t.same(wrong, [], 'a read from every offset starts at that offset')
      t.same(log.stats().corrupt, [], 'an intact log reports no damage')
      t.ok(events.count('index entry does not match the log') >= 1, 'the wrong entry is logged')
      t.ok(events.count('index rebuilt') >= 1, 'and the index rebuilt from the log')
      log.close()
    })
  }
}

t.test('a timestamp lookup through a wrong entry finds the right batch', async (t) => {
  const dir = t.testdir()
  build(dir, 40)
  editEntry(join(dir, segmentFiles(dir)[0]!.replace('.log', '.idx')), 2, (rel, pos) => [rel - 5, pos])
  const log = open(dir, OPTS)
  // Batch b (offsets 2b, 2b+1) has timestamp 1000 + b.
  const wrong = []
  for (let b = 0; b < 40; b++) if (log.offsetForTimestamp(1000 + b) !== 2 * b) wrong.push(b)
  t.same(wrong, [])
  t.same(log.stats().corrupt, [])
  log.close()
})

t.test('recovery reports index entries it dropped and indexes it rebuilt', async (t) => {
  const dir = t.testdir()
  build(dir, 40)
  const idx = join(dir, segmentFiles(dir)[0]!.replace('.log', '.idx'))
  const entries = readFileSync(idx).length / 8
  // The newest entry points 100 bytes into its batch: recovery must not start its scan there.
  editEntry(idx, entries - 1, (rel, pos) => [rel, pos + 100])
  const log = open(dir, OPTS)
  t.match(log.recovery, { segmentsScanned: 1, indexesRebuilt: 1, indexEntriesDistrusted: 1, corruptBatches: 0, tornBatchesCut: 0 })
  t.same(log.stats().corrupt, [])
  log.close()
  t.equal(readFileSync(idx).length / 8, entries, 'the rewritten index has every entry again')
  const again = open(dir, OPTS)
  t.match(again.recovery, { indexesRebuilt: 0, indexEntriesDistrusted: 0 }, 'and the next open finds nothing to repair')
  again.close()
})
