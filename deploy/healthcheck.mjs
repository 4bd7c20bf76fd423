// Container health check: exit 0 when the broker's /readyz answers 200, else 1.
//
// The runtime image has no curl or wget (slim base, nothing to patch), and node
// is already there, so the check is a few lines of node with a hard timeout:
// Docker's own --timeout kills a hung check, but a check that ends by itself
// reports a clearer reason in `docker inspect`.
//
// Port: SKIFF_HTTP_PORT (the broker's own variable), default 9600.
const port = Number(process.env.SKIFF_HTTP_PORT || 9600)
const url = `http://127.0.0.1:${port}/readyz`

try {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) })
  if (res.status === 200) {
    process.exit(0)
  }
  console.error(`${url} answered ${res.status}`)
} catch (err) {
  console.error(`${url}: ${err instanceof Error ? err.message : String(err)}`)
}
process.exit(1)
