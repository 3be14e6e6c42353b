// Type-checks (tsc --strict) and runs (against a real server) every ```ts block of docs/sdk-typescript.md.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { it } from 'node:test'

import { REPO, require, startVectorizer } from '../test-support/helpers.mjs'

const DOC_URL = 'http://127.0.0.1:7001'
const out = join(REPO, 'bindings-node', 'test-support', 'docs-out')
const doc = readFileSync(join(REPO, 'docs', 'sdk-typescript.md'), 'utf8')
const code = [...doc.matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((m) => m[1]).join('\n')
mkdirSync(out, { recursive: true })

it('the documentation examples type-check under tsc --strict', () => {
  assert.ok(code.includes('getReplicationStatus'))
  const file = join(out, 'docs.mts')
  writeFileSync(file, code)
  const tsc = join(REPO, 'bindings-node', 'node_modules', 'typescript', 'bin', 'tsc')
  const args = ['--strict', '--noEmit', '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--types', 'node', file]
  const run = spawnSync(process.execPath, [tsc, ...args], { encoding: 'utf8' })
  assert.equal(run.status, 0, run.stdout + run.stderr)
})

it('the documentation examples run against a real server', async (t) => {
  const node = await startVectorizer()
  if (node === null) return t.skip('VECTORIZER_BIN is not set')
  try {
    const ts = require('typescript')
    const js = ts.transpileModule(code.replaceAll(DOC_URL, node.url), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText
    const file = join(out, 'docs.mjs')
    writeFileSync(file, js)
    await import(pathToFileURL(file).href)
  } finally {
    await node.stop()
  }
})
