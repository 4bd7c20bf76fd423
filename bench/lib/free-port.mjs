/** TCP ports nobody listens on right now (bench and demo scaffolding). */
import net from 'node:net'

export async function freePort() {
  return (await freePorts(1))[0]
}

/**
 * `n` such ports, all different: each is held open until all are picked
 * (picked one by one and closed at once, the kernel may hand one out twice).
 */
export async function freePorts(n) {
  const servers = []
  try {
    for (let i = 0; i < n; i++) {
      const server = net.createServer()
      servers.push(server)
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    }
    return servers.map((s) => s.address().port)
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  }
}
