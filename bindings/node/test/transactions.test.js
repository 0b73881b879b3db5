'use strict'
// Transactions through the Node package, on the DevBroker and on Apache Kafka
// (KRAFTY_TEST_BOOTSTRAP): a committed transaction is seen by a read_committed consumer, an
// aborted one is not, and the group's offsets commit with it.
const test = require('node:test')
const assert = require('node:assert/strict')
const { krafty, cluster, createTopic, pollN, topicName } = require('./helpers')

test('transactions commit, abort and carry the group offsets', async () => {
  const c = await cluster()
  try {
    const producer = new krafty.KafkaProducer({
      'bootstrap.servers': c.bootstrap,
      'transactional.id': topicName('txn')
    })
    const input = await createTopic(c.bootstrap, 1, 'txn-in')
    const output = await createTopic(c.bootstrap, 1, 'txn-out')
    const seed = new krafty.KafkaProducer({ 'bootstrap.servers': c.bootstrap })
    await seed.sendBatch([0, 1, 2].map(i => ({ topic: input, value: `in${i}` })))
    await seed.close()
    const group = topicName('g')
    const consumer = new krafty.KafkaConsumer({
      'bootstrap.servers': c.bootstrap,
      'group.id': group,
      'auto.offset.reset': 'earliest',
      'enable.auto.commit': false,
      'isolation.level': 'read_committed'
    })
    await consumer.subscribe([input])
    const records = await pollN(consumer, 3)
    assert.equal(records.length, 3)
    const meta = await consumer.groupMetadata()
    const offsets = [{ topic: input, partition: 0, offset: 3 }]

    await producer.initTransactions()
    await producer.beginTransaction()
    await producer.send({ topic: output, value: 'aborted' })
    await producer.abortTransaction()
    await producer.beginTransaction()
    for (const r of records) {
      await producer.send({ topic: output, value: r.value.toString().toUpperCase() })
    }
    await producer.sendOffsetsToTransaction(offsets, meta)
    await producer.commitTransaction()
    await producer.close()

    const committed = await consumer.committed([{ topic: input, partition: 0 }])
    assert.deepEqual(committed.map(o => o.offset), [3])
    await consumer.close()

    const reader = new krafty.KafkaConsumer({
      'bootstrap.servers': c.bootstrap,
      'group.id': topicName('g-read'),
      'auto.offset.reset': 'earliest',
      'isolation.level': 'read_committed'
    })
    await reader.subscribe([output])
    const out = await pollN(reader, 3)
    await reader.close()
    assert.deepEqual(out.map(r => r.value.toString()), ['IN0', 'IN1', 'IN2'])
  } finally {
    await c.stop()
  }
})
