// Shared test helpers: the addon, repository paths, a scripted loopback HTTP server, a real vectorizer.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const require = createRequire(import.meta.url)
export const sdk = require('../index.js')
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export function fixture(name) {
  return readFileSync(join(REPO, 'tests', 'fixtures', 'replication', name), 'utf8')
}

/** Loopback HTTP server answering each request with `handler({method, url, body})` -> [status, text]. */
export async function stubServer(handler) {
  const seen = []
  const server = createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', async () => {
      const request = { method: req.method, url: req.url, body: Buffer.concat(chunks).toString() }
      seen.push(request)
      const [status, text] = await handler(request)
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${server.address().port}`
  return {
    url,
    seen,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }),
  }
}

/** A real `vectorizer serve` on an ephemeral port, or null when VECTORIZER_BIN is unset. */
export async function startVectorizer() {
  const bin = process.env.VECTORIZER_BIN
  if (!bin) return null
  const dir = mkdtempSync(join(tmpdir(), 'vectorizer-node-'))
  const child = spawn(bin, ['serve', '--data-dir', dir, '--http-addr', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('vectorizer did not print its ready line within 60 s')), 60_000)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`vectorizer exited with ${code}`)) })
    lines.on('line', (line) => {
      try {
        const event = JSON.parse(line)
        if (event.event === 'ready') { clearTimeout(timer); resolve(event.http_addr) }
      } catch { /* not a JSON line */ }
    })
  })
  return {
    url: `http://${addr}`,
    stop: async () => {
      child.kill('SIGKILL')
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
