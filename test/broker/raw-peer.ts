/**
 * A raw protocol peer for broker tests: a real TCP socket that sends bytes
 * and collects the decoded frames the broker answers with, so tests can speak
 * the wire format directly (malformed frames included).
 */
import net from 'node:net'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { FrameDecoder, Op, SUPPORTED_VERSIONS, encodeHello, decodeError, type Frame } from '../../protocol/index.js'
import { startBroker, type RunningBroker, type BrokerConfig } from '../../broker/index.js'

export class RawPeer {
  readonly frames: Frame[] = []
  closed = false
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024)
  private waiters: (() => void)[] = []

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      this.decoder.push(chunk)
      for (let f = this.decoder.next(); f; f = this.decoder.next()) this.frames.push({ opcode: f.opcode, body: Buffer.from(f.body) })
      this.wake()
    })
    socket.on('close', () => {
      this.closed = true
      this.wake()
    })
    socket.on('error', () => {})
  }

  /** `localAddress`: the source address (any of 127.0.0.0/8 on Linux), for tests of per-address limits. */
  static connect(port: number, localAddress?: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) }, () => resolve(new RawPeer(s)))
      s.once('error', reject)
    })
  }

  /** Connect and complete the handshake. */
  static async ready(port: number): Promise<RawPeer> {
    const p = await RawPeer.connect(port)
    p.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'raw-test' }))
    await p.waitFor((f) => f.opcode === Op.WELCOME)
    return p
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes)
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  /** The first frame (from `from`) matching, or undefined when the socket closes or time runs out. */
  async waitFor(match: (f: Frame) => boolean, timeoutMs = 5000, from = 0): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const f = this.frames.slice(from).find(match)
      if (f || this.closed || Date.now() > deadline) return f
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.waiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    return this.closed
  }

  errors(): ReturnType<typeof decodeError>[] {
    return this.frames.filter((f) => f.opcode === Op.ERROR).map((f) => decodeError(f.body))
  }

  end(): void {
    this.socket.destroy()
  }
}

/** A broker on a free port with a fresh temp data dir; closed and removed by `t.teardown`. */
export async function testBroker(
  t: { teardown(fn: () => unknown): void },
  opts: Partial<BrokerConfig> = {},
): Promise<RunningBroker> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-test-'))
  const broker = await startBroker({ port: 0, workers: 1, logLevel: 'silent', ...opts, dataDir })
  t.teardown(async () => {
    await broker.close()
    if (!opts.dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
  })
  return broker
}
