/** PING: answer PONG. Any frame already counted as a sign of life. */
import { encodePong } from '../../../protocol/index.js'
import type { HandlerConnection } from '../handler-connection.js'

const PONG = encodePong()

export function onPing(conn: HandlerConnection): void {
  conn.send(PONG)
}
