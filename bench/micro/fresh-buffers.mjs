/**
 * What a first touch of memory costs on this machine: the copies of large
 * records on their way through the producer and the broker go into buffers,
 * and a buffer never written before page-faults on every 4 KiB of it.
 *
 *   single   one 64 KiB record copied into a new buffer each time, against
 *            into the same buffer each time
 *   window   records of --size bytes written into batch buffers of
 *            --batch records each, --window batches held at once (as a
 *            producer's unconfirmed batches are held), each new batch in a
 *            new buffer, against in a buffer of a batch already let go
 *            (clients/open-batches.ts keeps them)
 *
 *   node bench/micro/fresh-buffers.mjs [--records N] [--size B] [--batch N] [--window N] [--json]
 *
 * Prints µs per record and minor page faults per record (process.resourceUsage).
 */
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '5000' },
    size: { type: 'string', default: '65536' },
    batch: { type: 'string', default: '3' },
    window: { type: 'string', default: '333' },
    json: { type: 'boolean', default: false },
  },
})
const N = Number(values.records)
const size = Number(values.size)
const perBatch = Number(values.batch)
const windowBatches = Number(values.window)
const record = Buffer.alloc(size, 0x61)

function measure(name, run) {
  const before = process.resourceUsage()
  const t0 = process.hrtime.bigint()
  run()
  const ns = Number(process.hrtime.bigint() - t0)
  const after = process.resourceUsage()
  return { name, usPerRecord: ns / N / 1000, faultsPerRecord: (after.minorPageFault - before.minorPageFault) / N, systemMs: (after.systemCPUTime - before.systemCPUTime) / 1000 }
}

function single(reuse) {
  const kept = Buffer.allocUnsafe(size)
  let sink = 0
  for (let i = 0; i < N; i++) {
    const out = reuse ? kept : Buffer.allocUnsafe(size)
    record.copy(out, 0)
    sink ^= out[i % size]
  }
  return sink
}

function windowed(reuse) {
  const held = []
  const spare = []
  let buf
  let filled = perBatch
  for (let i = 0; i < N; i++) {
    if (filled === perBatch) {
      if (buf) held.push(buf)
      if (held.length > windowBatches) {
        const done = held.shift()
        if (reuse) spare.push(done)
      }
      buf = spare.pop() ?? Buffer.allocUnsafe(perBatch * size)
      filled = 0
    }
    record.copy(buf, filled * size)
    filled++
  }
}

const results = [
  measure('single, new buffer each time', () => single(false)),
  measure('single, the same buffer', () => single(true)),
  measure(`window of ${windowBatches} batches, new buffers`, () => windowed(false)),
  measure(`window of ${windowBatches} batches, buffers reused`, () => windowed(true)),
]
if (values.json) console.log(JSON.stringify({ records: N, size, perBatch, windowBatches, results }))
else for (const r of results) console.log(`${r.name.padEnd(40)} ${r.usPerRecord.toFixed(1).padStart(7)} us/record  ${r.faultsPerRecord.toFixed(1).padStart(5)} faults/record  ${r.systemMs.toFixed(0).padStart(5)} ms system`)
