/* libkrafty example: a consumer group member that prints records and commits what it read.
 *
 *   cc consumer.c $(pkg-config --cflags --libs krafty) -o consumer
 *   ./consumer [bootstrap.servers] [topic] [group]
 *
 * Without bootstrap.servers it starts a dev broker in this process, writes a few records to
 * it and reads them back (no Kafka needed). Stops after 5 s without records. */
#include <krafty.h>
#include <stdio.h>
#include <string.h>

/* Runs on the thread calling krafty_consumer_poll. */
static void on_rebalance(krafty_consumer_t *consumer, krafty_resp_err_t event,
                         const krafty_topic_partition_list_t *partitions, void *opaque) {
    (void)opaque;
    for (int i = 0; i < partitions->cnt; i++)
        printf("%s %s [%d] at %ld\n",
               event == KRAFTY_RESP_ERR__ASSIGN_PARTITIONS ? "assigned" : "revoked",
               partitions->elems[i].topic, partitions->elems[i].partition,
               (long)partitions->elems[i].offset);
    if (event == KRAFTY_RESP_ERR__REVOKE_PARTITIONS)
        krafty_consumer_commit(consumer, NULL, 0); /* commit before they move */
}

static int seed(const char *bootstrap, const char *topic) {
    char errstr[512];
    krafty_conf_t *conf = krafty_conf_new();
    krafty_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr);
    krafty_producer_t *p = krafty_producer_new(conf, errstr, sizeof errstr);
    krafty_conf_destroy(conf);
    if (!p) return fprintf(stderr, "producer: %s\n", errstr), 1;
    for (int i = 0; i < 5; i++) {
        char v[32];
        int n = snprintf(v, sizeof v, "hello %d", i);
        krafty_producer_send(p, topic, KRAFTY_PARTITION_UA, NULL, 0, v, n, NULL, NULL);
    }
    krafty_resp_err_t err = krafty_producer_flush(p, 10000);
    krafty_producer_destroy(p);
    return err != 0;
}

int main(int argc, char **argv) {
    char errstr[512];
    krafty_dev_broker_t *broker = NULL;
    const char *bootstrap = argc > 1 ? argv[1] : NULL;
    const char *topic = argc > 2 ? argv[2] : "example";
    const char *group = argc > 3 ? argv[3] : "example-group";
    if (!bootstrap) {
        broker = krafty_dev_broker_start(NULL, NULL, NULL, errstr, sizeof errstr);
        if (!broker) return fprintf(stderr, "dev broker: %s\n", errstr), 1;
        bootstrap = krafty_dev_broker_bootstrap(broker);
        if (seed(bootstrap, topic)) return 1;
    }

    krafty_conf_t *conf = krafty_conf_new();
    const char *props[][2] = {{"bootstrap.servers", bootstrap}, {"group.id", group},
                              {"auto.offset.reset", "earliest"}, {"enable.auto.commit", "false"}};
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (krafty_conf_set(conf, props[i][0], props[i][1], errstr, sizeof errstr))
            return fprintf(stderr, "config: %s\n", errstr), 1;
    krafty_conf_set_rebalance_cb(conf, on_rebalance, NULL);
    krafty_consumer_t *consumer = krafty_consumer_new(conf, errstr, sizeof errstr);
    krafty_conf_destroy(conf);
    if (!consumer) return fprintf(stderr, "consumer: %s\n", errstr), 1;
    const char *topics[] = {topic};
    if (krafty_consumer_subscribe(consumer, topics, 1))
        return fprintf(stderr, "subscribe: %s\n", krafty_last_error()), 1;

    long read = 0;
    int idle_ms = 0;
    while (idle_ms < 5000) {
        krafty_message_t *m = krafty_consumer_poll(consumer, 100);
        if (!m) {
            idle_ms += 100;
            continue;
        }
        idle_ms = 0;
        if (m->err) {
            fprintf(stderr, "poll: %s\n", m->errstr);
        } else {
            printf("%s [%d] @%ld: %.*s\n", m->topic, m->partition, (long)m->offset,
                   (int)m->value_len, m->value ? (const char *)m->value : "");
            read++;
        }
        krafty_message_destroy(m);
        if (read % 100 == 0) krafty_consumer_commit(consumer, NULL, 1); /* async */
    }
    krafty_consumer_commit(consumer, NULL, 0);
    printf("%ld records\n", read);
    krafty_consumer_destroy(consumer); /* leaves the group */
    krafty_dev_broker_stop(broker);
    return broker && read != 5;
}
