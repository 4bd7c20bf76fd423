/**
 * A raw protocol socket for the hostile soak: it connects from a chosen
 * loopback address (attackers use 127.0.0.2 so per-IP limits never count the
 * well-behaved client on 127.0.0.1), logs in, writes whatever bytes an attack
 * wants, and counts what comes back (error names, frames, the close) without
 * keeping bodies.
 */
import net from 'node:net'
import { PROTOCOL_MODULE } from '../lib/paths.mjs'

const { FrameDecoder, Op, SUPPORTED_VERSIONS, encodeHello, decodeError } = await import(PROTOCOL_MODULE)

export const ATTACKER_ADDRESS = '127.0.0.2'

export class Peer {
  /** @param {net.Socket} socket */
  constructor(socket) {
    this.socket = socket
    this.closed = false
    this.welcomed = false
    this.frames = 0
    /** @type {Map<string, number>} error name -> count */
    this.errors = new Map()
    this.decoder = new FrameDecoder(64 * 1024 * 1024)
    this.waiters = []
    socket.on('data', (chunk) => {
      this.decoder.push(chunk)
      try {
        for (let f = this.decoder.next(); f; f = this.decoder.next()) this.onFrame(f)
      } catch {
        this.count('UNREADABLE')
      }
      this.wake()
    })
    socket.on('close', () => {
      this.closed = true
      this.wake()
    })
    socket.on('error', () => {})
  }

  onFrame(f) {
    this.frames++
    if (f.opcode === Op.WELCOME) this.welcomed = true
    if (f.opcode === Op.ERROR) {
      try {
        this.count(decodeError(f.body).name)
      } catch {
        this.count('UNREADABLE')
      }
    }
  }

  count(name) {
    this.errors.set(name, (this.errors.get(name) ?? 0) + 1)
  }

  wake() {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  /**
   * Resolve when `cond()` holds, the socket closed, or `timeoutMs` passed;
   * `cond` is asked again at every frame and at least every 100 ms (it may
   * read state other than the socket's, such as an attack's stop flag).
   */
  async until(cond, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs
    while (!cond() && !this.closed && Date.now() < deadline) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, Math.min(100, deadline - Date.now())))
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    return cond()
  }

  write(bytes) {
    if (!this.closed) this.socket.write(bytes)
  }

  end() {
    this.socket.destroy()
  }

  static connect(port, localAddress = ATTACKER_ADDRESS) {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => resolve(new Peer(s)))
      s.once('error', reject)
    })
  }

  /** Connect and log in; resolves with the peer whether or not WELCOME came (check `welcomed`). */
  static async login(port, creds, localAddress = ATTACKER_ADDRESS, timeoutMs = 5000) {
    const p = await Peer.connect(port, localAddress)
    p.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'hostile', ...creds }))
    await p.until(() => p.welcomed || p.errors.size > 0, timeoutMs)
    return p
  }
}

/** Add one Map of counts into another. */
export function addCounts(into, from) {
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v)
  return into
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
