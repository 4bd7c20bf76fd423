/**
 * A stand-in peer for client-only tests: a tiny TCP server on 127.0.0.1:0
 * that speaks just enough of the protocol (WELCOME, PUBLISH_ACK, OK, PONG)
 * and records every frame the client sends. Tests that need the server to
 * misbehave (garbage, oversize frames, silence) replace `onFrame` or write raw
 * bytes through `peer.socket`. Everything about the broker's real behaviour is
 * tested against the real broker in test/e2e.
 */
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  FrameDecoder,
  Op,
  decodeAck,
  decodeHello,
  decodePublish,
  encodeOk,
  encodePong,
  encodePublishAck,
  encodeWelcome,
  opcodeName,
  unpack,
  type Welcome,
} from '../../protocol/index.js'

export interface SeenFrame {
  opcode: number
  name: string
  /** The decoded MessagePack body (PUBLISH and ACK decoded by their modules). */
  body: any
}

export interface Peer {
  socket: net.Socket
  frames: SeenFrame[]
  send(frame: Buffer): void
  /** What the stand-in does by default with a frame (answer PUBLISH, SUBSCRIBE, ...). */
  reply(frame: SeenFrame): void
}

export interface StandInOptions {
  /** Listen on this port (to come back where a stopped stand-in was); default a free one. */
  port?: number
  welcome?: Partial<Welcome>
  /** Skip the WELCOME (to test handshake failures); onFrame still sees HELLO. */
  noWelcome?: boolean
  /** Called for every frame after HELLO; default: peer.reply(frame). */
  onFrame?(peer: Peer, frame: SeenFrame): void
}

export interface StandIn {
  url: string
  port: number
  peers: Peer[]
  /** Every frame from every peer, in arrival order. */
  frames: SeenFrame[]
  close(): Promise<void>
}

/**
 * A stand-in that holds back its answer to the PUBLISH frames `hold` picks
 * (every PUBLISH by default): each answer waits in `held` until called, so a
 * test decides when those publishes are confirmed. Every other frame is
 * answered at once.
 */
export async function startHoldingStandIn(hold: (f: SeenFrame) => boolean = () => true): Promise<{ peer: StandIn; held: (() => void)[] }> {
  const held: (() => void)[] = []
  const peer = await startStandIn({
    onFrame: (p, f) => {
      if (f.opcode === Op.PUBLISH && hold(f)) held.push(() => p.reply(f))
      else p.reply(f)
    },
  })
  return { peer, held }
}

export async function startStandIn(opts: StandInOptions = {}): Promise<StandIn> {
  const peers: Peer[] = []
  const frames: SeenFrame[] = []
  let nextOffset = 0
  const server = net.createServer((socket) => {
    const decoder = new FrameDecoder(16 * 1024 * 1024)
    const peer: Peer = {
      socket,
      frames: [],
      send: (f) => {
        if (!socket.destroyed) socket.write(f)
      },
      reply: (f) => {
        const corr = f.body?.corr
        if (f.opcode === Op.PUBLISH && f.body.confirm) {
          peer.send(encodePublishAck({ corr, partition: 0, offset: nextOffset }))
          nextOffset += f.body.count
        } else if (f.opcode === Op.SUBSCRIBE) peer.send(encodeOk(corr, { partitions: [0] }))
        else if (f.opcode === Op.UNSUBSCRIBE || (f.opcode >= Op.TOPIC_CREATE && f.opcode <= Op.GROUP_DESCRIBE)) peer.send(encodeOk(corr, f.opcode === Op.TOPIC_LIST ? [] : {}))
        else if (f.opcode === Op.PING) peer.send(encodePong())
      },
    }
    peers.push(peer)
    socket.on('error', () => {})
    socket.on('data', (chunk) => {
      decoder.push(chunk)
      for (let raw = decoder.next(); raw; raw = decoder.next()) {
        const seen: SeenFrame = { opcode: raw.opcode, name: opcodeName(raw.opcode), body: decodeBody(raw.opcode, raw.body) }
        peer.frames.push(seen)
        frames.push(seen)
        if (raw.opcode === Op.HELLO && !opts.noWelcome) {
          peer.send(encodeWelcome({ version: 1, server: 'stand-in', connectionId: peers.length, maxFrame: 1024 * 1024, heartbeatMs: 5000, idleTimeoutMs: 30000, ...opts.welcome }))
          continue
        }
        if (opts.onFrame) opts.onFrame(peer, seen)
        else peer.reply(seen)
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, '127.0.0.1', resolve)
  })
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `skiff://127.0.0.1:${port}`,
    port,
    peers,
    frames,
    close: async () => {
      for (const p of peers) p.socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

function decodeBody(opcode: number, body: Buffer): any {
  if (opcode === Op.PUBLISH) return decodePublish(body)
  if (opcode === Op.ACK) return decodeAck(body)
  if (opcode === Op.HELLO) return decodeHello(body)
  return body.length === 0 ? {} : unpack(body)
}

/** Poll `check` every 5 ms until it returns true; fails after `ms` (bounded). */
export async function waitFor(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(5)
  }
}

/** One turn of the event loop (setImmediate), so batched writes go out. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
