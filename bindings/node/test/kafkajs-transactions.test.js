'use strict'
// kafkajs's transactions through the kafkajs-shaped API, on the DevBroker and on Apache Kafka
// (KRAFTY_TEST_BOOTSTRAP): producer({ transactionalId }).transaction() with send, sendOffsets
// and commit or abort, as kafkajs applications write them; a second producer with the same
// transactionalId fences the first.
const test = require('node:test')
const assert = require('node:assert/strict')
const { krafty, cluster, createTopic, pollN, topicName } = require('./helpers')

async function readCommitted (bootstrap, topic, n) {
  const reader = new krafty.KafkaConsumer({
    'bootstrap.servers': bootstrap,
    'group.id': topicName('g-read'),
    'auto.offset.reset': 'earliest',
    'isolation.level': 'read_committed'
  })
  await reader.subscribe([topic])
  const out = await pollN(reader, n, 5000)
  await reader.close()
  return out.map(r => r.value.toString())
}

test('a kafkajs transaction commits its records and offsets; an aborted one is invisible', async () => {
  const c = await cluster()
  try {
    const output = await createTopic(c.bootstrap, 1, 'kjs-txn-out')
    const input = await createTopic(c.bootstrap, 1, 'kjs-txn-in')
    const kafka = new krafty.Kafka({ brokers: [c.bootstrap] })
    const producer = kafka.producer({ transactionalId: topicName('kjs-tx') })
    await producer.connect()
    const group = topicName('kjs-g')

    const aborted = await producer.transaction()
    await aborted.send({ topic: output, messages: [{ value: 'lost' }] })
    await aborted.abort()
    assert.equal(aborted.isActive(), false)

    const t = await producer.transaction()
    assert.equal(t.isActive(), true)
    await t.send({ topic: output, messages: [{ value: 'a' }, { value: 'b' }] })
    await t.sendOffsets({ consumerGroupId: group, topics: [{ topic: input, partitions: [{ partition: 0, offset: '7' }] }] })
    await t.commit()
    assert.equal(t.isActive(), false)

    assert.deepEqual(await readCommitted(c.bootstrap, output, 3), ['a', 'b'])
    const admin = kafka.admin()
    await admin.connect()
    const offsets = await admin.fetchOffsets({ groupId: group, topics: [input] })
    await admin.disconnect()
    assert.deepEqual(offsets, [{ topic: input, partitions: [{ partition: 0, offset: '7', metadata: null }] }])
    await producer.disconnect()
  } finally {
    await c.stop()
  }
})

test('a second kafkajs producer with the same transactionalId fences the first', async () => {
  const c = await cluster()
  try {
    const topic = await createTopic(c.bootstrap, 1, 'kjs-fence')
    const kafka = new krafty.Kafka({ brokers: [c.bootstrap] })
    const id = topicName('kjs-zombie')
    const old = kafka.producer({ transactionalId: id })
    await old.connect()
    const zombie = await old.transaction()
    await zombie.send({ topic, messages: [{ value: 'zombie' }] })
    const fresh = kafka.producer({ transactionalId: id })
    await fresh.connect()
    await assert.rejects(zombie.commit(), (e) => {
      assert.ok(e instanceof krafty.KraftyError)
      assert.equal(e.code, 90) // PRODUCER_FENCED
      return true
    })
    const t = await fresh.transaction()
    await t.send({ topic, messages: [{ value: 'fresh' }] })
    await t.commit()
    assert.deepEqual(await readCommitted(c.bootstrap, topic, 2), ['fresh'])
    await fresh.disconnect()
    await old.disconnect().catch(() => {})
  } finally {
    await c.stop()
  }
})

test('transaction() without a transactionalId is refused', async () => {
  const kafka = new krafty.Kafka({ brokers: ['127.0.0.1:1'] })
  await assert.rejects(kafka.producer().transaction(), (e) => e.type === 'ILLEGAL_STATE')
})
