// Every Rust client API method exists on the JS Client, in the generated index.d.ts and in the parity table.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { it } from 'node:test'

import { REPO, sdk } from '../test-support/helpers.mjs'

const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase())

it('every Rust client method is bound and declared', () => {
  const methods = sdk.apiMethods()
  assert.ok(methods.length >= 14)
  const dts = readFileSync(join(REPO, 'bindings-node', 'index.d.ts'), 'utf8')
  for (const name of methods) {
    assert.equal(typeof sdk.Client.prototype[camel(name)], 'function', `Client.${camel(name)} missing`)
    assert.match(dts, new RegExp(`\\n  ${camel(name)}\\(`), `index.d.ts lacks ${camel(name)}`)
  }
})

it('the parity table lists every method with its TypeScript name', () => {
  const table = readFileSync(join(REPO, 'docs', 'dev', 'sdk-parity.md'), 'utf8')
  const rows = [...table.matchAll(/^\| `(\w+)` \| [^|]+ \| `(\w+)\(/gm)].map((m) => [m[1], m[2]])
  assert.deepEqual(rows.map((r) => r[0]).sort(), [...sdk.apiMethods()].sort())
  for (const [rust, ts] of rows) assert.equal(ts, camel(rust))
})
