/* A consumer group of two with rebalance callbacks: the first member gets both partitions,
 * reads everything, and commits from its revoke callback when the second joins; afterwards
 * the partitions are split one each, the commits made in the callback are the group's
 * committed offsets, and each member reads exactly the new records of its own partition.
 * A commit inside the callback is synchronous: one the broker refuses returns its error code,
 * and one it accepts is already the group's committed offset before the callback returns. */
#include "test.h"

#define TOPIC "c-group"
#define GROUP "c-group-g"

typedef struct {
    const char *name;
    int assigned[2];       /* partitions held now */
    int assign_events, revoke_events, lost_events;
    int commit_in_revoke;  /* commit from the revoke callback */
    krafty_resp_err_t commit_err;
    krafty_consumer_t *checker;  /* same group, not subscribed: reads committed offsets */
    krafty_resp_err_t refused_err;  /* first revoke: a commit the broker refuses */
    char refused_errstr[256];
    int64_t committed_in_cb[2];  /* first revoke: the group's offsets right after the commit */
    int consumed[2];       /* records read per partition */
    int64_t next[2];       /* next expected offset per partition */
} member_t;

static void rebalance_cb(krafty_consumer_t *c, krafty_resp_err_t ev,
                         const krafty_topic_partition_list_t *parts, void *opaque) {
    member_t *m = opaque;
    for (int i = 0; i < parts->cnt; i++) {
        if (strcmp(parts->elems[i].topic, TOPIC) != 0) FAIL("%s: topic %s", m->name, parts->elems[i].topic);
        int p = parts->elems[i].partition;
        if (p < 0 || p > 1) FAIL("%s: partition %d", m->name, p);
        m->assigned[p] = ev == KRAFTY_RESP_ERR__ASSIGN_PARTITIONS;
    }
    if (ev == KRAFTY_RESP_ERR__ASSIGN_PARTITIONS) m->assign_events++;
    else if (ev == KRAFTY_RESP_ERR__REVOKE_PARTITIONS) {
        m->revoke_events++;
        if (m->commit_in_revoke && parts->cnt > 0 && m->revoke_events == 1) {
            /* Partition 7 of a two-partition topic: the broker refuses it
             * (UNKNOWN_TOPIC_OR_PARTITION), and the commit says so, async or not. */
            krafty_topic_partition_list_t *bad = krafty_topic_partition_list_new(1);
            krafty_topic_partition_list_add(bad, TOPIC, 7)->offset = 1;
            m->refused_err = krafty_consumer_commit(c, bad, 1);
            snprintf(m->refused_errstr, sizeof m->refused_errstr, "%s", krafty_last_error());
            krafty_topic_partition_list_destroy(bad);
        }
        if (m->commit_in_revoke && parts->cnt > 0) {
            /* the positions are in the list: commit them before the partitions move */
            m->commit_err = krafty_consumer_commit(c, NULL, 0);
        }
        if (m->checker && m->revoke_events == 1) {
            /* the commit was made before it returned: the group has these offsets now */
            krafty_topic_partition_list_t *q = krafty_topic_partition_list_new(2);
            krafty_topic_partition_list_add(q, TOPIC, 0);
            krafty_topic_partition_list_add(q, TOPIC, 1);
            CHECK_OK(krafty_consumer_committed(m->checker, q));
            m->committed_in_cb[0] = q->elems[0].offset;
            m->committed_in_cb[1] = q->elems[1].offset;
            krafty_topic_partition_list_destroy(q);
        }
    } else if (ev == KRAFTY_RESP_ERR__LOST_PARTITIONS) m->lost_events++;
    else FAIL("%s: rebalance event %d", m->name, ev);
    /* only commit, seek and position are allowed in here: poll reports _STATE */
    krafty_message_t *inner = krafty_consumer_poll(c, 0);
    CHECK(inner && inner->err == KRAFTY_RESP_ERR__STATE);
    krafty_message_destroy(inner);
}

static krafty_consumer_t *member(const char *bootstrap, member_t *m) {
    const char *cp[] = {"group.id", GROUP, "enable.auto.commit", "false",
                        "auto.offset.reset", "earliest", "session.timeout.ms", "6000",
                        "heartbeat.interval.ms", "500", "partition.assignment.strategy", "range",
                        NULL};
    krafty_conf_t *conf = conf_with(bootstrap, cp);
    CHECK_OK(krafty_conf_set_rebalance_cb(conf, rebalance_cb, m));
    char errstr[512];
    krafty_consumer_t *c = krafty_consumer_new(conf, errstr, sizeof errstr);
    if (!c) FAIL("consumer_new: %s", errstr);
    krafty_conf_destroy(conf);
    const char *topics[] = {TOPIC};
    CHECK_OK(krafty_consumer_subscribe(c, topics, 1));
    return c;
}

static void consume(krafty_consumer_t *c, member_t *m, int timeout_ms) {
    krafty_message_t *msg = krafty_consumer_poll(c, timeout_ms);
    if (!msg) return;
    if (msg->err) FAIL("%s: poll error %d: %s", m->name, msg->err, msg->errstr);
    int p = msg->partition;
    if (!m->assigned[p]) FAIL("%s: record from partition %d it does not hold", m->name, p);
    if (msg->offset != m->next[p])
        FAIL("%s: partition %d offset %ld, expected %ld", m->name, p, (long)msg->offset, (long)m->next[p]);
    char expect[32];
    int n = snprintf(expect, sizeof expect, "p%d-%ld", p, (long)msg->offset);
    if (msg->value_len != (size_t)n || memcmp(msg->value, expect, n) != 0)
        FAIL("%s: value of %d/%ld", m->name, p, (long)msg->offset);
    m->next[p]++;
    m->consumed[p]++;
    krafty_message_destroy(msg);
}

static void produce(krafty_producer_t *p, int from, int to) {
    for (int part = 0; part < 2; part++)
        for (int i = from; i < to; i++) {
            char v[32];
            int n = snprintf(v, sizeof v, "p%d-%d", part, i);
            CHECK_OK(krafty_producer_send(p, TOPIC, part, NULL, 0, v, n, NULL, NULL));
        }
    CHECK_OK(krafty_producer_flush(p, 10000));
}

int main(void) {
    const char *bcfg[] = {"num.partitions=2", "group.initial.rebalance.delay.ms=0", NULL};
    krafty_dev_broker_t *broker = start_broker(NULL, NULL, bcfg);
    const char *bootstrap = krafty_dev_broker_bootstrap(broker);
    char errstr[512];
    krafty_conf_t *pc = conf_with(bootstrap, NULL);
    krafty_producer_t *p = krafty_producer_new(pc, errstr, sizeof errstr);
    if (!p) FAIL("producer_new: %s", errstr);
    krafty_conf_destroy(pc);
    produce(p, 0, 10);

    const char *checker_cp[] = {"group.id", GROUP, "enable.auto.commit", "false", NULL};
    krafty_conf_t *kc = conf_with(bootstrap, checker_cp);
    krafty_consumer_t *checker = krafty_consumer_new(kc, errstr, sizeof errstr);
    if (!checker) FAIL("consumer_new (checker): %s", errstr);
    krafty_conf_destroy(kc);

    member_t a = {.name = "A", .commit_in_revoke = 1, .commit_err = -1, .checker = checker,
                  .refused_err = -1, .committed_in_cb = {-1, -1}};
    member_t b = {.name = "B"};
    krafty_consumer_t *ca = member(bootstrap, &a);
    double until = now_s() + 30;
    while ((a.consumed[0] < 10 || a.consumed[1] < 10) && now_s() < until) consume(ca, &a, 200);
    CHECK(a.assign_events >= 1);
    CHECK(a.assigned[0] && a.assigned[1]);
    CHECK(a.consumed[0] == 10 && a.consumed[1] == 10);

    /* B joins: A revokes (committing 10 and 10 from its callback), then each holds one. */
    krafty_consumer_t *cb = member(bootstrap, &b);
    until = now_s() + 60;
    while (!(a.assigned[0] + a.assigned[1] == 1 && b.assigned[0] + b.assigned[1] == 1) &&
           now_s() < until) {
        consume(ca, &a, 100);
        consume(cb, &b, 100);
    }
    CHECK(a.revoke_events >= 1);
    CHECK_OK(a.commit_err);
    /* Inside the callback: the refused commit returned the broker's code and set the error
     * message; the accepted one was the group's offset before the callback returned. */
    CHECK_ERR(a.refused_err, KRAFTY_RESP_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    if (!strstr(a.refused_errstr, "UNKNOWN_TOPIC_OR_PARTITION"))
        FAIL("krafty_last_error() after the refused commit: \"%s\"", a.refused_errstr);
    CHECK(a.committed_in_cb[0] == 10 && a.committed_in_cb[1] == 10);
    CHECK(b.assign_events >= 1);
    CHECK(a.assigned[0] + a.assigned[1] == 1);
    CHECK(b.assigned[0] + b.assigned[1] == 1);
    CHECK(a.assigned[0] != b.assigned[0]);
    CHECK(a.lost_events == 0 && b.lost_events == 0);

    /* The commits made in A's revoke callback are the group's offsets. */
    krafty_topic_partition_list_t *q = krafty_topic_partition_list_new(2);
    krafty_topic_partition_list_add(q, TOPIC, 0);
    krafty_topic_partition_list_add(q, TOPIC, 1);
    CHECK_OK(krafty_consumer_committed(cb, q));
    CHECK(q->elems[0].offset == 10 && q->elems[1].offset == 10);
    krafty_topic_partition_list_destroy(q);

    /* B starts from the committed offset of its partition. */
    int pb = b.assigned[0] ? 0 : 1;
    b.next[pb] = 10;
    produce(p, 10, 15);
    until = now_s() + 30;
    while ((a.consumed[1 - pb] < 15 || b.consumed[pb] < 5) && now_s() < until) {
        consume(ca, &a, 100);
        consume(cb, &b, 100);
    }
    CHECK(a.consumed[1 - pb] == 15 && a.consumed[pb] == 10);
    CHECK(b.consumed[pb] == 5 && b.consumed[1 - pb] == 0);

    krafty_consumer_destroy(cb);
    krafty_consumer_destroy(ca);
    krafty_consumer_destroy(checker);
    krafty_producer_destroy(p);
    krafty_dev_broker_stop(broker);
    PASS();
}
