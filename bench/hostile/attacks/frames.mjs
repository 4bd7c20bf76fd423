/**
 * Attacks on decoding (issue items 2 and 9): MessagePack bodies built to be
 * expensive to decode (bench/lib/hostile-bodies.mjs: a map keyed by a BigInt,
 * which msgpackr turned into a decimal name in quadratic time), and frames
 * that arrive one byte at a time.
 */
import crypto from 'node:crypto'
import { PROTOCOL_MODULE } from '../../lib/paths.mjs'
import { bigintKeyedMap } from '../../lib/hostile-bodies.mjs'
import { Peer, addCounts, sleep } from '../peer.mjs'

const { Op } = await import(PROTOCOL_MODULE)

/** A frame around raw body bytes. */
function frame(opcode, body) {
  const out = Buffer.allocUnsafe(5 + body.length)
  out.writeUInt32BE(body.length + 1, 0)
  out[4] = opcode
  body.copy(out, 5)
  return out
}

/** Item 2: 1 MiB PUBLISH bombs after login, 64 KiB HELLO bombs before it; each connection is used once. */
export function msgpackBomb(ctx) {
  const stats = { sent: 0, helloSent: 0, errors: new Map(), closedAfterMs: [] }
  let running = true
  const publishBomb = frame(Op.PUBLISH, bigintKeyedMap(1024 * 1024 - 64))
  const helloBomb = frame(Op.HELLO, bigintKeyedMap(60 * 1024))
  const loop = async (bytes, login) => {
    for (let i = 0; running && i < 10_000; i++) {
      let p
      try {
        p = login ? await Peer.login(ctx.port, ctx.creds.mallory) : await Peer.connect(ctx.port)
      } catch {
        await sleep(50)
        continue
      }
      const started = performance.now()
      p.write(bytes)
      if (login) stats.sent++
      else stats.helloSent++
      await p.until(() => p.errors.size > 0, 5000)
      await p.until(() => false, p.closed ? 0 : 1000)
      if (p.closed) stats.closedAfterMs.push(performance.now() - started)
      addCounts(stats.errors, p.errors)
      p.end()
      await sleep(20)
    }
  }
  const done = Promise.all([loop(publishBomb, true), loop(helloBomb, false)])
  return {
    async stop() {
      running = false
      await done
      const closed = stats.closedAfterMs.sort((a, b) => a - b)
      return { publishBombs: stats.sent, helloBombs: stats.helloSent, errors: Object.fromEntries(stats.errors), closedWithinMsP50: closed[Math.floor(closed.length / 2)] ?? null }
    },
  }
}

/** Item 9: connections that declare a 1 MiB PUBLISH and send it one byte per write. */
export function byteAtATime(ctx, { connections = 100, everyMs = 5 } = {}) {
  let running = true
  const peers = []
  const stats = { bytes: 0, errors: new Map(), cut: 0 }
  const declared = 1024 * 1024
  const body = crypto.randomBytes(declared + 4)
  body.writeUInt32BE(declared, 0)
  body[4] = Op.PUBLISH
  const trickle = async () => {
    let p
    try {
      p = await Peer.login(ctx.port, ctx.creds.mallory)
    } catch {
      return
    }
    peers.push(p)
    for (let at = 0; running && !p.closed && at < body.length; at++) {
      p.write(body.subarray(at, at + 1))
      stats.bytes++
      await sleep(everyMs)
    }
    if (p.closed) stats.cut++
    addCounts(stats.errors, p.errors)
    p.end()
  }
  const done = (async () => {
    // Re-open a trickle whenever one is cut, for as long as the attack runs.
    const slots = Array.from({ length: connections }, async () => {
      for (let i = 0; running && i < 1000; i++) await trickle()
    })
    await Promise.all(slots)
  })()
  return {
    async stop() {
      running = false
      await done
      return { connections, bytesTrickled: stats.bytes, cut: stats.cut, errors: Object.fromEntries(stats.errors) }
    },
  }
}
