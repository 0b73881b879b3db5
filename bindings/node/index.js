'use strict'
// krafty: a Kafka client with a Rust core. The Krafty API (KafkaProducer, KafkaConsumer,
// AdminClient, DevBroker, KraftyError) and a kafkajs-shaped one (Kafka, CompressionTypes).
const client = require('./lib/client.js')
const kafkajs = require('./lib/kafkajs.js')

module.exports = {
  KafkaProducer: client.KafkaProducer,
  KafkaConsumer: client.KafkaConsumer,
  AdminClient: client.AdminClient,
  DevBroker: client.DevBroker,
  ApiKeys: client.ApiKeys,
  KraftyError: client.KraftyError,
  murmur2Partition: client.murmur2Partition,
  version: client.version,
  Kafka: kafkajs.Kafka,
  CompressionTypes: kafkajs.CompressionTypes
}
