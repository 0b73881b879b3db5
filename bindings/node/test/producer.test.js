'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { krafty, cluster, createTopic, pollN } = require('./helpers.js')

let c
test.before(async () => { c = await cluster() })
test.after(async () => { await c.stop() })

test('send resolves with topic, partition, consecutive offsets and the timestamp given', async () => {
  const topic = await createTopic(c.bootstrap, 1)
  const p = new krafty.KafkaProducer({ 'bootstrap.servers': c.bootstrap, 'linger.ms': 0 })
  try {
    const metas = []
    for (let i = 0; i < 3; i++) metas.push(await p.send({ topic, value: `v${i}`, timestamp: 1700000000000 + i }))
    assert.deepEqual(metas, [0, 1, 2].map(i => ({ topic, partition: 0, offset: i, timestamp: 1700000000000 + i })))
  } finally {
    await p.close()
  }
})

test('keys pick the murmur2 partition; an explicit partition wins; null keys are allowed', async () => {
  const topic = await createTopic(c.bootstrap, 4)
  const p = new krafty.KafkaProducer({ 'bootstrap.servers': c.bootstrap })
  try {
    for (const key of ['alpha', 'beta', 'gamma', 'delta']) {
      const m = await p.send({ topic, key, value: 'x' })
      assert.equal(m.partition, krafty.murmur2Partition(key, 4), key)
    }
    assert.equal((await p.send({ topic, key: 'alpha', value: 'x', partition: 3 })).partition, 3)
    const m = await p.send({ topic, key: null, value: null, partition: 2 })
    assert.equal(m.partition, 2)
  } finally {
    await p.close()
  }
})

test('sendBatch keeps order and a consumer reads back exact keys, values and headers', async () => {
  const topic = await createTopic(c.bootstrap, 1)
  const p = new krafty.KafkaProducer({ 'bootstrap.servers': c.bootstrap, 'linger.ms': 5 })
  const records = [
    { topic, key: Buffer.from([0, 1, 2]), value: Buffer.from('bytes'), headers: [{ key: 'h', value: Buffer.from([255]) }] },
    { topic, key: 'text-key', value: 'text-value', headers: { a: 'x', b: ['y', 'z'] } },
    { topic, key: null, value: new Uint8Array([7, 8]) },
    { topic, key: 'tombstone', value: null, headers: [{ key: 'n', value: null }] }
  ]
  const metas = await p.sendBatch(records)
  assert.deepEqual(metas.map(m => m.offset), [0, 1, 2, 3])
  await p.flush()
  await p.close()
  const cons = new krafty.KafkaConsumer({ 'bootstrap.servers': c.bootstrap })
  try {
    await cons.assign([{ topic, partition: 0 }])
    await cons.seekToBeginning([{ topic, partition: 0 }])
    const got = await pollN(cons, 4)
    assert.deepEqual(got.map(r => r.offset), [0, 1, 2, 3])
    assert.deepEqual(got[0].key, Buffer.from([0, 1, 2]))
    assert.deepEqual(got[0].value, Buffer.from('bytes'))
    assert.deepEqual(got[0].headers, [{ key: 'h', value: Buffer.from([255]) }])
    assert.equal(got[1].key.toString(), 'text-key')
    assert.equal(got[1].value.toString(), 'text-value')
    assert.deepEqual(got[1].headers.map(h => [h.key, h.value.toString()]), [['a', 'x'], ['b', 'y'], ['b', 'z']])
    assert.equal(got[2].key, null)
    assert.deepEqual(got[2].value, Buffer.from([7, 8]))
    assert.equal(got[3].value, null)
    assert.deepEqual(got[3].headers, [{ key: 'n', value: null }])
    assert.equal(got[0].timestampType, 'CreateTime')
  } finally {
    await cons.close()
  }
})

test('an invalid config throws at construction, naming the property', () => {
  assert.throws(() => new krafty.KafkaProducer({ 'bootstrap.servers': c.bootstrap, acks: 'maybe' }), (e) => {
    assert.ok(e instanceof krafty.KraftyError)
    assert.equal(e.code, -2)
    assert.equal(e.type, 'INVALID_CONFIG')
    assert.equal(e.property, 'acks')
    assert.equal(e.retriable, false)
    return true
  })
  assert.throws(() => new krafty.KafkaConsumer({ 'bootstrap.servers': c.bootstrap, 'no.such.property': 1 }),
    (e) => e instanceof krafty.KraftyError && e.property === 'no.such.property')
  assert.throws(() => new krafty.KafkaProducer({ 'bootstrap.servers': c.bootstrap, 'linger.ms': {} }), TypeError)
})

test('a closed producer rejects sends with CLIENT_CLOSED', async () => {
  const topic = await createTopic(c.bootstrap, 1)
  const p = new krafty.KafkaProducer({ 'bootstrap.servers': c.bootstrap })
  await p.send({ topic, value: 'x' })
  await p.close()
  await assert.rejects(p.send({ topic, value: 'y' }), (e) => e instanceof krafty.KraftyError && e.type === 'CLIENT_CLOSED' && e.code === -3)
})
