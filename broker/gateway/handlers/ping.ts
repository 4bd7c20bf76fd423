/** PING: answer PONG. Any frame already counted as a sign of life. */
import { encodePong } from '../../../protocol/index.js'
import type { Connection } from '../connection.js'

const PONG = encodePong()

export function onPing(conn: Connection): void {
  conn.send(PONG)
}
