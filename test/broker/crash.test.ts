/**
 * The durability promise: a publish that resolved is on disk, however the
 * broker stops. The broker (its own process) is killed with SIGKILL while a
 * producer publishes; after a restart on the same data dir every confirmed
 * record is there, at the offset its confirm named, with its payload.
 */
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { connect, type Client } from '../../clients/index.js'
import { spawnBroker } from './broker-process.js'

for (const workers of [1, 3]) {
  t.test(`SIGKILL mid-publish loses no confirmed record (workers ${workers})`, async (t) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-crash-'))
    t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }))
    const args = ['--data-dir', dataDir, '--workers', String(workers)]

    const first = await spawnBroker(args)
    const client = await connect(`skiff://127.0.0.1:${first.port}`, { name: 'crash-producer' })
    client.on('error', () => {})
    await client.admin.createTopic('crash', { partitions: 3 })
    const producer = client.producer({ maxInFlight: 500 })
    const confirmed = new Map<string, { partition: number; offset: number }>()
    let sent = 0
    const publishing = (async () => {
      // Bounded: at most 200,000 records or until the broker dies.
      for (let i = 0; i < 200_000; i++) {
        const id = `m-${i}`
        sent++
        producer.publish('crash', id, { key: `k${i % 17}` }).then(
          (r) => void confirmed.set(id, r),
          () => {},
        )
        if (i % 100 === 99) await new Promise((r) => setImmediate(r))
        if (first.child.exitCode !== null || first.child.signalCode !== null) break
      }
    })()
    // Let some records be confirmed, then kill the broker without warning.
    const deadline = Date.now() + 15_000
    while (confirmed.size < 3000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
    first.child.kill('SIGKILL')
    await first.exited
    await publishing
    await client.close().catch(() => {})
    t.ok(confirmed.size >= 3000, `${confirmed.size} records were confirmed before the kill (of ${sent} sent)`)

    const second = await spawnBroker(args)
    t.teardown(async () => {
      second.child.kill('SIGTERM')
      await second.exited
    })
    let reader: Client | undefined
    try {
      reader = await connect(`skiff://127.0.0.1:${second.port}`, { name: 'crash-reader' })
      const consumer = await reader.subscribe('crash', { group: 'audit', from: 'earliest', maxInFlight: 1000 })
      const seen = new Map<string, { partition: number; offset: number }>()
      const atOffset = new Map<string, string>()
      let conflicts = 0
      const until = Date.now() + 30_000
      const it = consumer[Symbol.asyncIterator]()
      let unseen = confirmed.size
      while (unseen > 0 && Date.now() < until) {
        const next = await Promise.race([it.next(), new Promise<null>((r) => setTimeout(() => r(null), 2000))])
        if (!next || next.done) break
        const m = next.value
        const id = m.payload.toString()
        const where = `${m.partition}/${m.offset}`
        if (atOffset.has(where) && atOffset.get(where) !== id) conflicts++
        atOffset.set(where, id)
        if (!seen.has(id) && confirmed.has(id)) unseen--
        seen.set(id, { partition: m.partition, offset: m.offset })
        m.ack()
      }
      let missing = 0
      let moved = 0
      for (const [id, at] of confirmed) {
        const s = seen.get(id)
        if (!s) missing++
        else if (s.partition !== at.partition || s.offset !== at.offset) moved++
      }
      t.equal(conflicts, 0, 'no offset holds two different records')
      t.equal(missing, 0, `every confirmed record survived the kill (${seen.size} read back, ${confirmed.size} confirmed)`)
      t.equal(moved, 0, 'every confirmed record is at the offset its confirm named')
      t.same([...seen.keys()].filter((id) => !/^m-\d+$/.test(id)), [], 'no record that was never published')
      t.ok(second.lines.some((l) => l.msg === 'listening'), 'the broker restarted on the damaged data dir')
    } finally {
      await reader?.close()
    }
  })
}
