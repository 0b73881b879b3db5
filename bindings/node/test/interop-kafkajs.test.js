'use strict'
// Interop with kafkajs 2.2.4 (the real one, from npm): each produces what the other consumes,
// on the dev broker (or the Kafka of KRAFTY_TEST_BOOTSTRAP).
const test = require('node:test')
const assert = require('node:assert/strict')
const kafkajs = require('kafkajs')
const { krafty, cluster, createTopic, topicName, pollN, until } = require('./helpers.js')

let c, kjs
test.before(async () => {
  c = await cluster()
  kjs = new kafkajs.Kafka({ clientId: 'kafkajs-interop', brokers: [c.bootstrap], logLevel: kafkajs.logLevel.NOTHING })
})
test.after(async () => { await c.stop() })

const N = 20
const expected = (topic) => Array.from({ length: N }, (_, i) => ({
  key: i % 5 === 0 ? null : `key-${i}`,
  value: `value-${i}`,
  header: `h-${i}`
}))

test('kafkajs produces, Krafty consumes: exact keys, values, headers, partitions and order', async () => {
  const topic = await createTopic(c.bootstrap, 3)
  const producer = kjs.producer()
  await producer.connect()
  const msgs = expected(topic)
  await producer.send({
    topic,
    acks: -1,
    messages: msgs.map((m, i) => ({ key: m.key, value: m.value, headers: { h: m.header }, partition: i % 3 }))
  })
  await producer.disconnect()
  const consumer = new krafty.KafkaConsumer({ 'bootstrap.servers': c.bootstrap, 'group.id': topicName('g'), 'auto.offset.reset': 'earliest' })
  try {
    await consumer.subscribe([topic])
    const got = await pollN(consumer, N)
    assert.equal(got.length, N)
    for (let p = 0; p < 3; p++) {
      const inPartition = got.filter(r => r.partition === p)
      const want = msgs.map((m, i) => ({ m, i })).filter(({ i }) => i % 3 === p)
      assert.deepEqual(inPartition.map(r => r.offset), want.map((_, j) => j))
      assert.deepEqual(inPartition.map(r => [r.key === null ? null : r.key.toString(), r.value.toString(), r.headers[0].value.toString()]),
        want.map(({ m }) => [m.key, m.value, m.header]))
    }
  } finally {
    await consumer.close()
  }
})

test('Krafty produces, kafkajs consumes (eachMessage, committed offsets): exact records', async () => {
  const topic = await createTopic(c.bootstrap, 2)
  const producer = new krafty.KafkaProducer({ 'bootstrap.servers': c.bootstrap, acks: 'all' })
  const msgs = expected(topic)
  const metas = await producer.sendBatch(msgs.map((m, i) => ({ topic, key: m.key, value: m.value, headers: [{ key: 'h', value: m.header }], partition: i % 2 })))
  await producer.close()
  assert.deepEqual(metas.filter(m => m.partition === 0).map(m => m.offset), Array.from({ length: N / 2 }, (_, i) => i))

  const groupId = topicName('g')
  const consumer = kjs.consumer({ groupId })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got = []
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      got.push({ partition, offset: Number(message.offset), key: message.key === null ? null : message.key.toString(), value: message.value.toString(), header: message.headers.h.toString() })
    }
  })
  try {
    await until(() => got.length >= N, 30000, 'kafkajs receives every record')
  } finally {
    await consumer.disconnect()
  }
  for (let p = 0; p < 2; p++) {
    const want = msgs.map((m, i) => ({ m, i })).filter(({ i }) => i % 2 === p)
    assert.deepEqual(got.filter(r => r.partition === p), want.map(({ m }, j) => ({ partition: p, offset: j, key: m.key, value: m.value, header: m.header })))
  }
  // kafkajs's commits are read back by Krafty's admin client.
  const admin = new krafty.AdminClient({ 'bootstrap.servers': c.bootstrap })
  const offsets = await admin.listGroupOffsets(groupId)
  await admin.close()
  assert.deepEqual(offsets.sort((a, b) => a.partition - b.partition).map(o => [o.partition, o.offset]), [[0, N / 2], [1, N / 2]])
})

test('the kafkajs-shaped Krafty API and kafkajs share a consumer group\'s offsets', async () => {
  const topic = await createTopic(c.bootstrap, 1)
  const groupId = topicName('g')
  const kproducer = kjs.producer()
  await kproducer.connect()
  await kproducer.send({ topic, messages: Array.from({ length: 6 }, (_, i) => ({ value: `m${i}` })) })
  await kproducer.disconnect()
  // kafkajs reads 3 and commits 3.
  const kc = kjs.consumer({ groupId })
  await kc.connect()
  await kc.subscribe({ topics: [topic], fromBeginning: true })
  let n = 0
  await kc.run({ autoCommit: false, eachMessage: async () => { n++ } })
  await until(() => n >= 6, 20000, 'kafkajs reads')
  await kc.commitOffsets([{ topic, partition: 0, offset: '3' }])
  await kc.disconnect()
  // Krafty's kafkajs-shaped consumer in the same group continues at 3.
  const kafka = new krafty.Kafka({ clientId: 'krafty', brokers: [c.bootstrap] })
  const consumer = kafka.consumer({ groupId })
  const values = []
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => { values.push(message.value.toString()) } })
  await until(() => values.length >= 3, 20000, 'Krafty reads the rest')
  await consumer.disconnect()
  assert.deepEqual(values, ['m3', 'm4', 'm5'])
})
