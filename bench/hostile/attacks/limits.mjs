/**
 * Attacks on the broker's counted limits and permissions (issue items 5, 6
 * and 10): dead letters read through a child wildcard, topic and subscription
 * limits raced by pipelining and by UDP telemetry, and the small ones: refused
 * publishes to new names past maxTopics, over-long group names, extension-typed
 * headers, subscribing to the dead letters of a topic that does not exist.
 */
import { CLIENT_MODULE, PROTOCOL_MODULE } from '../../lib/paths.mjs'
import { Peer, addCounts, sleep } from '../peer.mjs'

const { telemetry } = await import(CLIENT_MODULE)
const { encodeSubscribe, encodePublish, encodeRecord, encodeFrame, Op } = await import(PROTOCOL_MODULE)

const RECORD = encodeRecord({ payload: Buffer.from('x') })

/** A record whose headers are one extension value (fixext 8) instead of a map of strings. */
const EXT_HEADERS_RECORD = (() => {
  const headers = Buffer.of(0xd7, 0x01, 1, 2, 3, 4, 5, 6, 7, 8)
  const r = Buffer.alloc(10 + headers.length + 1)
  r.writeUInt32BE(r.length - 4, 0)
  r.writeUInt32BE(headers.length, 6)
  headers.copy(r, 10)
  r[r.length - 1] = 0x78
  return r
})()

function publishTo(corr, topic) {
  return encodePublish({ corr, topic, count: 1, records: RECORD, confirm: true })
}

/** Item 5: a user allowed `victim.orders.*` asks for `victim.orders.dlq` (the dead letters of a topic it may not read). */
export function dlqWildcard(ctx) {
  let running = true
  const stats = { tries: 0, errors: new Map(), subscribed: 0 }
  const done = (async () => {
    for (let i = 0; running && i < 10_000; i++) {
      const p = await Peer.login(ctx.port, ctx.creds.mallory)
      p.write(encodeSubscribe({ corr: 1, sub: 1, topic: 'victim.orders.dlq', group: `peek-${i}`, start: 'earliest', maxInFlight: 100 }))
      stats.tries++
      await p.until(() => p.frames > 1, 2000)
      if (p.errors.size === 0 && p.frames > 1) stats.subscribed++
      addCounts(stats.errors, p.errors)
      p.end()
      await sleep(100)
    }
  })()
  return {
    async stop() {
      running = false
      await done
      return { tries: stats.tries, subscribed: stats.subscribed, errors: Object.fromEntries(stats.errors) }
    },
  }
}

/**
 * Item 6, once a second with fresh names: 300 pipelined PUBLISHes to new
 * topics, signed UDP telemetry to 200 new topics, a SUBSCRIBE to a chain of
 * `.dlq` names, and 962 pipelined SUBSCRIBEs on one connection. The result
 * reports how many subscriptions that connection got (the broker's limit is
 * maxSubscriptionsPerConnection); the run counts the topics afterwards.
 */
export function limitRaces(ctx) {
  let running = true
  const stats = { rounds: 0, mostSubscriptionsHeld: 0, errors: new Map() }
  const udp = telemetry(`udp://127.0.0.1:${ctx.udpPort}`, { user: 'mallory', token: ctx.creds.mallory.token })
  const done = (async () => {
    for (let round = 0; running && round < 1000; round++) {
      const p = await Peer.login(ctx.port, ctx.creds.mallory)
      const frames = []
      for (let i = 0; i < 300; i++) frames.push(publishTo(i + 1, `mallory.race.${round}.${i}`))
      frames.push(encodeSubscribe({ corr: 1000, sub: 1000, topic: `mallory.chain${round}` + '.dlq'.repeat(60), group: 'g', start: 'earliest', maxInFlight: 1 }))
      for (let i = 0; i < 962; i++) frames.push(encodeSubscribe({ corr: 2000 + i, sub: 2000 + i, topic: 'mallory.acks', group: `s${i}`, start: 'latest', maxInFlight: 1 }))
      p.write(Buffer.concat(frames))
      for (let i = 0; i < 200; i++) udp.send(`mallory.udp.${round}.${i}`, 'reading')
      await p.until(() => p.frames > 1263, 5000)
      const refused = [...p.errors.values()].reduce((a, b) => a + b, 0)
      stats.mostSubscriptionsHeld = Math.max(stats.mostSubscriptionsHeld, p.frames - 1 - refused - 300)
      addCounts(stats.errors, p.errors)
      p.end()
      stats.rounds++
      await sleep(1000)
    }
  })()
  return {
    async stop() {
      running = false
      await done
      await udp.close?.()
      return { rounds: stats.rounds, errors: Object.fromEntries(stats.errors) }
    },
  }
}

/**
 * Item 10: PUBLISHes to new names once the broker is at maxTopics (each must
 * be refused cheaply), group names of 249 characters, headers sent as an
 * extension type, and SUBSCRIBE to `<missing>.dlq`.
 */
export function smallOnes(ctx) {
  let running = true
  const stats = { refusedPublishes: 0, errors: new Map() }
  const done = (async () => {
    const p = await Peer.login(ctx.port, ctx.creds.mallory)
    for (let round = 0; running && !p.closed && round < 100_000; round++) {
      const frames = []
      for (let i = 0; i < 50; i++) frames.push(publishTo(round * 50 + i + 1, `mallory.full.${round}.${i}`))
      frames.push(encodeSubscribe({ corr: 9_000_000 + round, sub: round + 1, topic: 'mallory.acks', group: 'g'.repeat(249), start: 'latest', maxInFlight: 1 }))
      frames.push(encodePublish({ corr: 8_000_000 + round, topic: 'mallory.acks', count: 1, records: EXT_HEADERS_RECORD, confirm: true }))
      frames.push(encodeSubscribe({ corr: 9_500_000 + round, sub: 500_000 + round, topic: `mallory.missing${round}.dlq`, group: 'g', start: 'latest', maxInFlight: 1 }))
      p.write(Buffer.concat(frames))
      stats.refusedPublishes += 50
      await sleep(10)
    }
    await p.until(() => false, 500)
    addCounts(stats.errors, p.errors)
    p.end()
  })()
  return {
    /** Bring the broker to maxTopics with admin creations, so every new name is refused. */
    async prepare() {
      const admin = await Peer.login(ctx.port, ctx.creds.root, '127.0.0.1')
      const frames = []
      for (let i = 0; i < ctx.maxTopics; i++) frames.push(encodeFrame(Op.TOPIC_CREATE, { corr: i + 1, topic: `filler.${i}` }))
      admin.write(Buffer.concat(frames))
      await admin.until(() => admin.frames > ctx.maxTopics, 30_000)
      admin.end()
    },
    async stop() {
      running = false
      await done
      return { refusedPublishes: stats.refusedPublishes, errors: Object.fromEntries(stats.errors) }
    },
  }
}
