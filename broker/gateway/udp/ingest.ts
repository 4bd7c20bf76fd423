/**
 * The UDP telemetry socket. Each datagram is checked (size, layout, auth) and
 * handed to `store`, which appends its records at-most-once; every datagram is
 * counted once in skiff_udp_datagrams_total by its outcome. The broker never
 * answers a datagram (no reply can be used to amplify traffic or to probe).
 *
 * Decision: only a bounded number of datagrams may be on their way to the
 * workers at once; past it datagrams are dropped as `overloaded`, so a flood
 * costs dropped readings, not gateway memory.
 */
import dgram from 'node:dgram'
import net from 'node:net'
import type { Logger } from '../../logger.js'
import { decodeDatagram, type Datagram } from './datagram.js'
import { checkDatagramAuth, type UdpAuth } from './auth.js'
import type { BrokerMetrics, UdpResult } from '../../observability/metrics.js'

export const MAX_DATAGRAMS_IN_FLIGHT = 4096

/** Append a checked datagram's records; call `done` once with the outcome. */
export type StoreDatagram = (d: Datagram, done: (result: UdpResult) => void) => void

export interface UdpIngestOptions {
  maxDatagram: number
  metrics: BrokerMetrics
  logger: Logger
  store: StoreDatagram
  /** The current auth (undefined = none configured); asked per datagram so reloads apply at once. */
  auth(): UdpAuth | undefined
}

/** Receive buffer asked of the kernel for the telemetry socket. */
const UDP_RECV_BUFFER_BYTES = 4 * 1024 * 1024

export class UdpIngest {
  private socket: dgram.Socket | undefined
  private inFlight = 0
  private closed = false

  constructor(private readonly opts: UdpIngestOptions) {}

  /** Bind to `host:port` (an IP address); resolves with the port bound. */
  async bind(port: number, host: string): Promise<number> {
    const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(port, host, () => {
        socket.off('error', reject)
        resolve()
      })
    })
    // The kernel's default receive buffer (~208 KiB) overflows in a burst of a
    // few thousand readings while the event loop is busy, and overflowing
    // datagrams vanish uncounted. Ask for more; Linux caps it at
    // net.core.rmem_max (4 MiB on most distributions) without an error.
    try {
      socket.setRecvBufferSize(UDP_RECV_BUFFER_BYTES)
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'udp receive buffer not enlarged')
    }
    socket.on('error', (err) => this.opts.logger.warn({ err: err.message }, 'udp socket error'))
    socket.on('message', (msg) => this.receive(msg))
    this.socket = socket
    return socket.address().port
  }

  /** Take one datagram (the socket's handler; tests may call it with bytes too). */
  receive(msg: Buffer): void {
    const { metrics } = this.opts
    if (this.closed) return metrics.udpDatagram('shutting_down')
    if (msg.length > this.opts.maxDatagram) return metrics.udpDatagram('oversize')
    const decoded = decodeDatagram(msg)
    if (!decoded.ok) return metrics.udpDatagram(decoded.reason)
    const verdict = checkDatagramAuth(decoded.datagram, this.opts.auth())
    if (verdict !== 'ok') return metrics.udpDatagram(verdict)
    if (this.inFlight >= MAX_DATAGRAMS_IN_FLIGHT) return metrics.udpDatagram('overloaded')
    this.inFlight++
    let answered = false
    this.opts.store(decoded.datagram, (result) => {
      if (answered) return
      answered = true
      this.inFlight--
      metrics.udpDatagram(result)
    })
  }

  close(): Promise<void> {
    this.closed = true
    const socket = this.socket
    this.socket = undefined
    if (!socket) return Promise.resolve()
    return new Promise((resolve) => socket.close(() => resolve()))
  }
}
