/**
 * A TCP proxy between the client and a real broker that can break the
 * network in controlled ways: cut every connection, swallow the broker's
 * next PUBLISH_ACK and cut the connection right after (the broker stored the
 * batch; the client never heard), or hold what the broker sends for a while
 * (the client's requests time out while the broker carried them out). It
 * decodes frames only to find those; all bytes are passed through unchanged
 * otherwise.
 */
import net from 'node:net'
import { FrameDecoder, Op, decodePublish, encodeRawFrame, type Publish } from '../../protocol/index.js'

export interface FaultyLink {
  url: string
  /** Every PUBLISH the client sent through the link, in order. */
  publishes: Publish[]
  /** The opcode of every frame the client sent through the link, in order. */
  sent: number[]
  /** Connections made through the link so far. */
  connections: number
  /** Cut every connection now. */
  cutAll(): void
  /** Swallow the next PUBLISH_ACK from the broker and cut that connection. */
  loseNextPublishAck(): void
  /** Hold everything the broker sends for `ms` (a stalled broker, as the client sees it), then pass it on in order. */
  holdFromBroker(ms: number): void
  close(): Promise<void>
}

export async function startFaultyLink(brokerPort: number): Promise<FaultyLink> {
  const pairs = new Set<[net.Socket, net.Socket]>()
  let loseAck = false
  let holdUntil = 0
  const link: FaultyLink = {
    url: '',
    publishes: [],
    sent: [],
    connections: 0,
    cutAll: () => {
      for (const [a, b] of pairs) {
        a.destroy()
        b.destroy()
      }
    },
    loseNextPublishAck: () => {
      loseAck = true
    },
    holdFromBroker: (ms) => {
      holdUntil = Date.now() + ms
    },
    close: async () => {
      link.cutAll()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  const server = net.createServer((client) => {
    link.connections++
    const broker = net.connect({ host: '127.0.0.1', port: brokerPort })
    const pair: [net.Socket, net.Socket] = [client, broker]
    pairs.add(pair)
    const end = () => {
      pairs.delete(pair)
      client.destroy()
      broker.destroy()
    }
    client.on('error', end).on('close', end)
    broker.on('error', end).on('close', end)
    const up = new FrameDecoder(16 * 1024 * 1024)
    client.on('data', (chunk: Buffer) => {
      up.push(chunk)
      for (let f = up.next(); f; f = up.next()) {
        link.sent.push(f.opcode)
        if (f.opcode === Op.PUBLISH) link.publishes.push(decodePublish(f.body))
      }
      broker.write(chunk)
    })
    const down = new FrameDecoder(16 * 1024 * 1024)
    const held: Buffer[] = []
    const release = () => {
      for (const frame of held.splice(0)) client.write(frame)
    }
    broker.on('data', (chunk: Buffer) => {
      down.push(chunk)
      for (let f = down.next(); f; f = down.next()) {
        if (f.opcode === Op.PUBLISH_ACK && loseAck) {
          loseAck = false
          return end()
        }
        const frame = encodeRawFrame(f.opcode, f.body)
        const wait = holdUntil - Date.now()
        if (wait > 0 || held.length > 0) {
          if (held.length === 0) setTimeout(release, Math.max(0, wait))
          held.push(frame)
        } else client.write(frame)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  link.url = `skiff://127.0.0.1:${(server.address() as net.AddressInfo).port}`
  return link
}
