/**
 * UDP telemetry ingest, the gateway's second front door beside TCP: datagrams
 * are read and checked here (datagram.ts, auth.ts, signers.ts), counted in
 * observability's skiff_udp_datagrams_total, and stored through the workers
 * like a fire-and-forget PUBLISH (route.ts). The dependency runs one way: the
 * gateway uses observability's metrics; observability knows nothing of UDP.
 *
 * Lifecycle, driven by startBroker:
 *   start()   once the TCP listener is up (UDP takes its port number)
 *   close()   shutdown begins: no more datagrams
 */
import type { AddressInfo } from 'node:net'
import type { BrokerConfig } from '../../config.js'
import type { Logger } from '../../logger.js'
import type { GatewayContext } from '../context.js'
import { UdpIngest } from './ingest.js'
import { storeInWorkers } from './route.js'
import { udpAuthOf } from './signers.js'

export type { UdpAuth } from './auth.js'

export class UdpTelemetry {
  private constructor(
    private readonly ingest: UdpIngest,
    /** The port datagrams are taken on. */
    readonly port: number,
  ) {}

  /** Bind beside the TCP listener `tcp`; undefined when UDP is off (config.udp false). */
  static async start(ctx: GatewayContext, tcp: AddressInfo): Promise<UdpTelemetry | undefined> {
    const { config, logger } = ctx
    if (!config.udp) return undefined
    const ingest = new UdpIngest({
      maxDatagram: config.udpMaxDatagram,
      metrics: ctx.metrics,
      logger,
      store: storeInWorkers(ctx),
      auth: () => udpAuthOf(ctx.auth),
    })
    return new UdpTelemetry(ingest, await bindUdp(ingest, config, tcp, logger))
  }

  close(): Promise<void> {
    return this.ingest.close()
  }
}

/**
 * UDP takes the TCP port's number unless udpPort says otherwise. When the TCP
 * port was any free port (0) and that number happens to be taken for UDP, any
 * free UDP port will do: the caller asked for "any" in the first place.
 */
async function bindUdp(udp: UdpIngest, config: BrokerConfig, tcp: AddressInfo, logger: Logger): Promise<number> {
  const port = config.udpPort || tcp.port
  try {
    return await udp.bind(port, tcp.address)
  } catch (err) {
    if (config.udpPort !== 0 || config.port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    const other = await udp.bind(0, tcp.address)
    logger.warn({ tcpPort: tcp.port, udpPort: other }, 'udp: the TCP port number is taken for UDP; telemetry listens on another port')
    return other
  }
}
