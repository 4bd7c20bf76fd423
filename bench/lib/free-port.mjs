/**
 * TCP ports nobody listens on right now, for a server that must be started
 * (and restarted) on a port named in advance (bench and test scaffolding).
 *
 * Decision: the ports come from below the kernel's ephemeral range, picked at
 * random and checked by binding them. A port the kernel hands out (listen on
 * port 0) lies inside that range, and so does the local port of every
 * outgoing connection: a port picked that way and closed can be taken again by
 * any connection on the machine before its server binds it, or while that
 * server is down for a restart, and a client reconnecting to a stopped server
 * on such a port can even connect to itself (TCP self-connect) and hold it. A
 * port outside the range is taken only by another explicit bind.
 *
 * Decision: a port handed out is also reserved on this machine for the life
 * of the process it was handed to, by a file named after it in a shared
 * directory (created exclusively, holding the owner's pid). Test files run in
 * parallel processes, each picking ports: without it, two could pick the same
 * free port in the moment between one's check and its server's bind, or one
 * could take a port another's broker is restarting on. A reservation whose
 * owner is gone (killed before its exit handler ran) is taken over.
 */
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { atExit } from './at-exit.mjs'

/** The lowest port picked: above the ports servers are commonly configured on. */
const LOWEST = 10_000
/** Ports picked in this process: never handed out twice. */
const handedOut = new Set()

/** Ports outside the kernel's ephemeral range, [from, to]; undefined when there is no room. */
function pickRange() {
  let low = 32_768
  let high = 60_999
  try {
    const [l, h] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    if (Number.isInteger(l) && Number.isInteger(h) && l <= h) [low, high] = [l, h]
  } catch {
    // Not Linux: the usual range.
  }
  if (low - LOWEST >= 1000) return [LOWEST, low - 1]
  if (65_535 - high >= 1000) return [high + 1, 65_535]
  return undefined
}
const range = pickRange()

const RESERVED = path.join(os.tmpdir(), 'skiff-ports')
/** Reservation files this process made, removed when it exits. */
const reservations = []

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

/** Reserve `port` for this process (until it exits); false when another live process holds it. */
export function reserve(port) {
  const file = path.join(RESERVED, String(port))
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' })
      if (reservations.length === 0) atExit(() => reservations.forEach((f) => fs.rmSync(f, { force: true })))
      reservations.push(file)
      return true
    } catch (err) {
      if (err.code === 'ENOENT') {
        fs.mkdirSync(RESERVED, { recursive: true })
        continue
      }
      if (err.code !== 'EEXIST') return true // no shared directory to reserve in: the bind check alone
      // Empty: its owner is between creating and writing it.
      const owner = Number(fs.readFileSync(file, 'utf8') || process.pid)
      if (owner === process.pid || alive(owner)) return false
      fs.rmSync(file, { force: true })
    }
  }
  return false
}

export async function freePort() {
  return (await freePorts(1))[0]
}

/**
 * `n` such ports, all different: each is held open until all are picked.
 * Where the ephemeral range leaves no room outside it, the kernel picks them.
 */
export async function freePorts(n) {
  const servers = []
  try {
    for (let tries = 0; servers.length < n; tries++) {
      if (tries > 1000) throw new Error(`no free port found in ${tries} tries`)
      const port = range === undefined ? 0 : range[0] + Math.floor(Math.random() * (range[1] - range[0] + 1))
      if (handedOut.has(port)) continue
      const server = net.createServer()
      const bound = await new Promise((resolve) => {
        server.once('error', () => resolve(false))
        server.listen(port, '127.0.0.1', () => resolve(true))
      })
      if (!bound) continue
      if (range === undefined || reserve(port)) servers.push(server)
      else await new Promise((resolve) => server.close(resolve))
    }
    const ports = servers.map((s) => s.address().port)
    for (const p of ports) handedOut.add(p)
    return ports
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  }
}
