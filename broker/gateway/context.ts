/** What every connection and handler of the gateway shares. */
import type { Connection } from './connection.js'
import type { HandlerContext } from './handler-connection.js'

/** The handlers' view (handler-connection.ts), with the connections themselves for the gateway's own housekeeping. */
export interface GatewayContext extends HandlerContext {
  readonly connections: Map<number, Connection>
}
