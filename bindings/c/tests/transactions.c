/* Transactions on the in-process dev broker: a committed and an aborted transaction
 * (read_committed sees exactly the committed records, read_uncommitted every data record);
 * consume-transform-produce with the group's offsets committed in the transaction (an aborted
 * attempt commits none); fencing by a second instance (PRODUCER_FENCED, fatal); an abortable
 * failure (abort, then go on); a commit that times out and is resumed; calls in the wrong
 * state, and a producer without transactional.id. */
#include "test.h"

#define MAXREC 16

typedef struct {
    int n;
    int64_t offset[MAXREC];
    char value[MAXREC][32];
} records_t;

/* Delivery reports of the producers below: outcome and offset by the record's opaque. */
typedef struct {
    int reports;
    krafty_resp_err_t err[MAXREC];
    int64_t offset[MAXREC];
} reports_t;

static void dr_cb(krafty_producer_t *p, const krafty_delivery_report_t *r, void *opaque) {
    (void)p;
    reports_t *rs = opaque;
    intptr_t i = (intptr_t)r->msg_opaque;
    if (i < 0 || i >= MAXREC) FAIL("delivery report with opaque %ld", (long)i);
    rs->err[i] = r->err;
    rs->offset[i] = r->offset;
    rs->reports++;
}

/* A producer; transactional when txn_id is not NULL. */
static krafty_producer_t *producer(const char *bootstrap, const char *txn_id, reports_t *rs) {
    const char *pp[] = {"transactional.id", txn_id, NULL};
    krafty_conf_t *conf = conf_with(bootstrap, txn_id ? pp : NULL);
    if (rs) CHECK_OK(krafty_conf_set_dr_cb(conf, dr_cb, rs));
    char errstr[512];
    krafty_producer_t *p = krafty_producer_new(conf, errstr, sizeof errstr);
    if (!p) FAIL("producer_new: %s", errstr);
    krafty_conf_destroy(conf);
    return p;
}

static void send(krafty_producer_t *p, const char *topic, const char *value, intptr_t opaque) {
    CHECK_OK(krafty_producer_send(p, topic, 0, NULL, 0, value, strlen(value), NULL, (void *)opaque));
}

/* Every record of partition 0 of `topic` from the beginning, read with `isolation`: polls until
 * `expect` records came (or 20 s), then 500 ms more to catch any extra one. */
static void read_topic(const char *bootstrap, const char *topic, const char *isolation, int expect,
                       records_t *out) {
    const char *cp[] = {"isolation.level", isolation, NULL};
    krafty_conf_t *conf = conf_with(bootstrap, cp);
    char errstr[512];
    krafty_consumer_t *c = krafty_consumer_new(conf, errstr, sizeof errstr);
    if (!c) FAIL("consumer_new: %s", errstr);
    krafty_conf_destroy(conf);
    krafty_topic_partition_list_t *tp = krafty_topic_partition_list_new(1);
    krafty_topic_partition_list_add(tp, topic, 0)->offset = KRAFTY_OFFSET_BEGINNING;
    CHECK_OK(krafty_consumer_assign(c, tp));
    krafty_topic_partition_list_destroy(tp);
    out->n = 0;
    double until = now_s() + 20, quiet = 0;
    while (now_s() < until && (out->n < expect || now_s() < quiet)) {
        krafty_message_t *m = krafty_consumer_poll(c, 100);
        if (m) {
            if (m->err) FAIL("%s (%s): poll error %d: %s", topic, isolation, m->err, m->errstr);
            if (out->n >= MAXREC) FAIL("%s (%s): more than %d records", topic, isolation, MAXREC);
            out->offset[out->n] = m->offset;
            snprintf(out->value[out->n], sizeof out->value[0], "%.*s", (int)m->value_len,
                     (const char *)m->value);
            out->n++;
            krafty_message_destroy(m);
        }
        if (out->n >= expect && quiet == 0) quiet = now_s() + 0.5;
    }
    krafty_consumer_destroy(c);
}

/* `got` holds exactly `n` records: values[i] at offsets[i]. */
static void check_records(const char *what, const records_t *got, int n, const char **values,
                          const int64_t *offsets) {
    if (got->n != n) {
        for (int i = 0; i < got->n; i++)
            fprintf(stderr, "  %s[%d] = %s @%ld\n", what, i, got->value[i], (long)got->offset[i]);
        FAIL("%s: %d records, expected %d", what, got->n, n);
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(got->value[i], values[i]) != 0)
            FAIL("%s: record %d is \"%s\", expected \"%s\"", what, i, got->value[i], values[i]);
        if (offsets && got->offset[i] != offsets[i])
            FAIL("%s: record %d at offset %ld, expected %ld", what, i, (long)got->offset[i],
                 (long)offsets[i]);
    }
}

/* (1) One transaction of 3 records committed, one of 2 aborted. */
static void commit_and_abort(const char *bootstrap) {
    const char *topic = "c-txn-commit-abort";
    reports_t rs = {0};
    krafty_producer_t *p = producer(bootstrap, "c-txn-commit-abort", &rs);
    CHECK_OK(krafty_producer_init_transactions(p, 30000));

    CHECK_OK(krafty_producer_begin_transaction(p));
    send(p, topic, "c1", 0);
    send(p, topic, "c2", 1);
    send(p, topic, "c3", 2);
    CHECK_OK(krafty_producer_commit_transaction(p, 30000));
    CHECK_OK(krafty_producer_flush(p, 10000)); /* serves the reports */
    CHECK(rs.reports == 3);
    for (int i = 0; i < 3; i++) CHECK(rs.err[i] == 0 && rs.offset[i] == i);

    CHECK_OK(krafty_producer_begin_transaction(p));
    send(p, topic, "a1", 3);
    send(p, topic, "a2", 4);
    CHECK_OK(krafty_producer_flush(p, 10000)); /* written, so read_uncommitted sees them */
    CHECK(rs.reports == 5);
    /* offset 3 is the commit marker */
    CHECK(rs.err[3] == 0 && rs.offset[3] == 4 && rs.err[4] == 0 && rs.offset[4] == 5);
    CHECK_OK(krafty_producer_abort_transaction(p, 30000));
    CHECK(strcmp(krafty_last_error(), "") == 0);
    krafty_producer_destroy(p);

    records_t got;
    const char *committed[] = {"c1", "c2", "c3"};
    const int64_t committed_at[] = {0, 1, 2};
    read_topic(bootstrap, topic, "read_committed", 3, &got);
    check_records("read_committed", &got, 3, committed, committed_at);
    const char *all[] = {"c1", "c2", "c3", "a1", "a2"};
    const int64_t all_at[] = {0, 1, 2, 4, 5};
    read_topic(bootstrap, topic, "read_uncommitted", 5, &got);
    check_records("read_uncommitted", &got, 5, all, all_at);
}

/* Polls the group's consumer until it returned `n` records of IN: in0..in<n-1> at 0..n-1. */
static void consume_input(krafty_consumer_t *c, const char *in, int n) {
    int got = 0;
    double until = now_s() + 30;
    while (got < n && now_s() < until) {
        krafty_message_t *m = krafty_consumer_poll(c, 100);
        if (!m) continue;
        if (m->err) FAIL("poll error %d: %s", m->err, m->errstr);
        char expect[16];
        int len = snprintf(expect, sizeof expect, "in%d", got);
        CHECK(strcmp(m->topic, in) == 0 && m->partition == 0);
        if (m->offset != got || m->value_len != (size_t)len || memcmp(m->value, expect, len) != 0)
            FAIL("input record %d: offset %ld", got, (long)m->offset);
        got++;
        krafty_message_destroy(m);
    }
    if (got != n) FAIL("read %d of %d input records", got, n);
}

/* The transformed records of the inputs and the group's offset (the input's end), in one
 * transaction: committed when `commit`, else aborted. */
static void transform(krafty_producer_t *p, krafty_consumer_t *c, const char *in, const char *out,
                      const char *prefix, int n, int commit) {
    CHECK_OK(krafty_producer_begin_transaction(p));
    for (int i = 0; i < n; i++) {
        char v[32];
        snprintf(v, sizeof v, "%s-in%d", prefix, i);
        send(p, out, v, i);
    }
    krafty_topic_partition_list_t *offsets = krafty_topic_partition_list_new(1);
    krafty_topic_partition_list_add(offsets, in, 0)->offset = n;
    krafty_consumer_group_metadata_t *gm = krafty_consumer_group_metadata(c);
    CHECK(gm != NULL);
    CHECK_OK(krafty_producer_send_offsets_to_transaction(p, offsets, gm, 30000));
    krafty_consumer_group_metadata_destroy(gm);
    krafty_topic_partition_list_destroy(offsets);
    CHECK_OK(krafty_producer_flush(p, 10000));
    if (commit) CHECK_OK(krafty_producer_commit_transaction(p, 30000));
    else CHECK_OK(krafty_producer_abort_transaction(p, 30000));
}

/* (2) Consume-transform-produce: the group's offsets commit with the transaction. */
static void consume_transform_produce(const char *bootstrap) {
    const char *in = "c-txn-ctp-in", *out = "c-txn-ctp-out", *group = "c-txn-ctp-g";
    enum { N = 4 };
    krafty_producer_t *seed = producer(bootstrap, NULL, NULL);
    for (int i = 0; i < N; i++) {
        char v[16];
        snprintf(v, sizeof v, "in%d", i);
        send(seed, in, v, i);
    }
    CHECK_OK(krafty_producer_flush(seed, 10000));
    krafty_producer_destroy(seed);

    const char *cp[] = {"group.id", group, "enable.auto.commit", "false",
                        "auto.offset.reset", "earliest", "isolation.level", "read_committed",
                        NULL};
    krafty_conf_t *conf = conf_with(bootstrap, cp);
    char errstr[512];
    krafty_consumer_t *c = krafty_consumer_new(conf, errstr, sizeof errstr);
    if (!c) FAIL("consumer_new: %s", errstr);
    krafty_conf_destroy(conf);
    const char *topics[] = {in};
    CHECK_OK(krafty_consumer_subscribe(c, topics, 1));
    reports_t rs = {0};
    krafty_producer_t *p = producer(bootstrap, "c-txn-ctp", &rs);
    CHECK_OK(krafty_producer_init_transactions(p, 30000));
    krafty_topic_partition_list_t *q = krafty_topic_partition_list_new(1);
    krafty_topic_partition_list_add(q, in, 0);

    /* An aborted attempt commits no offset ... */
    consume_input(c, in, N);
    transform(p, c, in, out, "aborted", N, 0);
    CHECK_OK(krafty_consumer_committed(c, q));
    CHECK(q->elems[0].offset == KRAFTY_OFFSET_INVALID);

    /* ... the input is read again, and the committed attempt commits the input's end. */
    CHECK_OK(krafty_consumer_seek(c, in, 0, 0));
    consume_input(c, in, N);
    transform(p, c, in, out, "out", N, 1);
    CHECK_OK(krafty_consumer_committed(c, q));
    CHECK(q->elems[0].offset == N);
    krafty_topic_partition_list_destroy(q);
    krafty_producer_destroy(p);
    krafty_consumer_destroy(c);

    /* The output: the aborted attempt at 0..3 (abort marker at 4), the committed at 5..8. */
    records_t got;
    const char *values[] = {"out-in0", "out-in1", "out-in2", "out-in3"};
    const int64_t offsets[] = {5, 6, 7, 8};
    read_topic(bootstrap, out, "read_committed", N, &got);
    check_records("output (read_committed)", &got, N, values, offsets);
}

/* (3) A second instance with the same transactional.id fences the first. */
static void fencing(const char *bootstrap) {
    const char *topic = "c-txn-fence";
    reports_t rs = {0};
    krafty_producer_t *old = producer(bootstrap, "c-txn-fenced", &rs);
    CHECK_OK(krafty_producer_init_transactions(old, 30000));
    CHECK_OK(krafty_producer_begin_transaction(old));
    send(old, topic, "zombie", 0);
    CHECK_OK(krafty_producer_flush(old, 10000));
    CHECK(rs.reports == 1 && rs.err[0] == 0);

    krafty_producer_t *new = producer(bootstrap, "c-txn-fenced", NULL);
    CHECK_OK(krafty_producer_init_transactions(new, 30000));

    CHECK_ERR(krafty_producer_commit_transaction(old, 30000), KRAFTY_RESP_ERR_PRODUCER_FENCED);
    CHECK(krafty_last_error_is_fatal() == 1);
    CHECK(krafty_last_error_txn_requires_abort() == 0);
    CHECK(strstr(krafty_last_error(), "PRODUCER_FENCED") != NULL);
    /* fenced for good: every later call says so */
    CHECK_ERR(krafty_producer_begin_transaction(old), KRAFTY_RESP_ERR_PRODUCER_FENCED);
    CHECK(krafty_last_error_is_fatal() == 1);
    CHECK_ERR(krafty_producer_abort_transaction(old, 30000), KRAFTY_RESP_ERR_PRODUCER_FENCED);
    CHECK(krafty_last_error_is_fatal() == 1);
    krafty_producer_destroy(old);

    CHECK_OK(krafty_producer_begin_transaction(new));
    send(new, topic, "new", 0);
    CHECK_OK(krafty_producer_commit_transaction(new, 30000));
    CHECK(krafty_last_error_is_fatal() == 0);
    krafty_producer_destroy(new);

    records_t got;
    const char *values[] = {"new"};
    read_topic(bootstrap, topic, "read_committed", 1, &got);
    check_records("after fencing (read_committed)", &got, 1, values, NULL);
}

/* (4a) A failed batch makes the transaction abortable: commit fails, abort recovers. */
static void abortable(const char *bootstrap, krafty_dev_broker_t *broker) {
    const char *topic = "c-txn-abortable";
    reports_t rs = {0};
    krafty_producer_t *p = producer(bootstrap, "c-txn-abortable", &rs);
    CHECK_OK(krafty_producer_init_transactions(p, 30000));
    /* Make sure the topic exists before injecting faults on its records. */
    CHECK_OK(krafty_producer_begin_transaction(p));
    send(p, topic, "first", 0);
    CHECK_OK(krafty_producer_commit_transaction(p, 30000));

    /* The batch fails (INVALID_RECORD) while the commit waits for it: the commit fails with
     * the batch's error, and the transaction must be aborted. */
    CHECK_OK(krafty_dev_broker_add_latency(broker, 0 /* Produce */, 300));
    CHECK_OK(krafty_dev_broker_fail_next(broker, 0, KRAFTY_RESP_ERR_INVALID_RECORD, 1, topic, -1));
    CHECK_OK(krafty_producer_begin_transaction(p));
    send(p, topic, "bad", 1);
    CHECK_ERR(krafty_producer_commit_transaction(p, 30000), KRAFTY_RESP_ERR_INVALID_RECORD);
    CHECK(krafty_last_error_txn_requires_abort() == 1);
    CHECK(krafty_last_error_is_fatal() == 0);
    CHECK_OK(krafty_dev_broker_add_latency(broker, 0, 0));
    CHECK_OK(krafty_producer_abort_transaction(p, 30000));
    CHECK(krafty_last_error_txn_requires_abort() == 0);
    CHECK_OK(krafty_producer_flush(p, 10000));
    CHECK(rs.reports == 2 && rs.err[1] == KRAFTY_RESP_ERR_INVALID_RECORD);

    /* The batch fails before the commit: sends and the commit are refused until the abort. */
    CHECK_OK(krafty_dev_broker_fail_next(broker, 0, KRAFTY_RESP_ERR_INVALID_RECORD, 1, topic, -1));
    CHECK_OK(krafty_producer_begin_transaction(p));
    send(p, topic, "bad again", 2);
    CHECK_OK(krafty_producer_flush(p, 10000));
    CHECK(rs.reports == 3 && rs.err[2] == KRAFTY_RESP_ERR_INVALID_RECORD);
    CHECK_ERR(krafty_producer_send(p, topic, 0, NULL, 0, "x", 1, NULL, (void *)3),
              KRAFTY_RESP_ERR__STATE);
    CHECK(krafty_last_error_txn_requires_abort() == 1);
    CHECK_ERR(krafty_producer_commit_transaction(p, 30000), KRAFTY_RESP_ERR__STATE);
    CHECK(krafty_last_error_txn_requires_abort() == 1);
    CHECK(krafty_last_error_is_fatal() == 0);
    CHECK(strstr(krafty_last_error(), "abort_transaction") != NULL);
    CHECK_OK(krafty_producer_abort_transaction(p, 30000));

    /* and the producer goes on */
    CHECK_OK(krafty_producer_begin_transaction(p));
    send(p, topic, "good", 4);
    CHECK_OK(krafty_producer_commit_transaction(p, 30000));
    krafty_producer_destroy(p);

    records_t got;
    const char *values[] = {"first", "good"};
    read_topic(bootstrap, topic, "read_committed", 2, &got);
    check_records("after the aborts (read_committed)", &got, 2, values, NULL);
}

/* (4b) A commit that does not finish in time returns _TIMED_OUT on time; it goes on, and the
 * same call again waits for its outcome. */
static void commit_timeout(const char *bootstrap, krafty_dev_broker_t *broker) {
    const char *topic = "c-txn-timeout";
    krafty_producer_t *p = producer(bootstrap, "c-txn-timeout", NULL);
    CHECK_OK(krafty_producer_init_transactions(p, 30000));
    CHECK_OK(krafty_producer_begin_transaction(p));
    send(p, topic, "slow", 0);
    CHECK_OK(krafty_producer_flush(p, 10000));
    CHECK_OK(krafty_dev_broker_add_latency(broker, 26 /* EndTxn */, 3000));
    double t0 = now_s();
    CHECK_ERR(krafty_producer_commit_transaction(p, 200), KRAFTY_RESP_ERR__TIMED_OUT);
    double took = now_s() - t0;
    if (took < 0.19 || took > 2.0) FAIL("a commit with a 200 ms timeout took %.3f s", took);
    CHECK(krafty_err_retriable(KRAFTY_RESP_ERR__TIMED_OUT) == 1);
    CHECK(krafty_last_error_is_fatal() == 0 && krafty_last_error_txn_requires_abort() == 0);
    CHECK(strstr(krafty_last_error(), "commit_transaction") != NULL);
    /* other transactional calls wait for the commit's outcome to be collected */
    CHECK_ERR(krafty_producer_begin_transaction(p), KRAFTY_RESP_ERR__STATE);
    CHECK(strstr(krafty_last_error(), "krafty_producer_commit_transaction") != NULL);
    CHECK_ERR(krafty_producer_abort_transaction(p, 1000), KRAFTY_RESP_ERR__STATE);
    CHECK_OK(krafty_producer_commit_transaction(p, 30000));
    CHECK_OK(krafty_dev_broker_add_latency(broker, 26, 0));
    CHECK_OK(krafty_producer_begin_transaction(p));
    CHECK_OK(krafty_producer_abort_transaction(p, 30000));
    krafty_producer_destroy(p);

    records_t got;
    const char *values[] = {"slow"};
    read_topic(bootstrap, topic, "read_committed", 1, &got);
    check_records("after the resumed commit (read_committed)", &got, 1, values, NULL);
}

/* (4c) Calls in the wrong state fail with _STATE and say why; bad arguments, _INVALID_ARG. */
static void wrong_state(const char *bootstrap) {
    const char *topic = "c-txn-state";
    /* no transactional.id: transactions are refused */
    krafty_producer_t *plain = producer(bootstrap, NULL, NULL);
    CHECK_ERR(krafty_producer_init_transactions(plain, 1000), KRAFTY_RESP_ERR__STATE);
    CHECK(strstr(krafty_last_error(), "transactional.id") != NULL);
    CHECK(krafty_last_error_is_fatal() == 0 && krafty_last_error_txn_requires_abort() == 0);
    CHECK_ERR(krafty_producer_begin_transaction(plain), KRAFTY_RESP_ERR__STATE);
    CHECK_ERR(krafty_producer_commit_transaction(plain, 1000), KRAFTY_RESP_ERR__STATE);
    CHECK_ERR(krafty_producer_abort_transaction(plain, 1000), KRAFTY_RESP_ERR__STATE);
    krafty_producer_destroy(plain);

    krafty_producer_t *p = producer(bootstrap, "c-txn-state", NULL);
    /* before init_transactions */
    CHECK_ERR(krafty_producer_begin_transaction(p), KRAFTY_RESP_ERR__STATE);
    CHECK(strstr(krafty_last_error(), "begin_transaction") != NULL);
    CHECK(krafty_last_error_is_fatal() == 0 && krafty_last_error_txn_requires_abort() == 0);
    CHECK_ERR(krafty_producer_send(p, topic, 0, NULL, 0, "v", 1, NULL, NULL), KRAFTY_RESP_ERR__STATE);
    CHECK(strstr(krafty_last_error(), "begin_transaction") != NULL);
    CHECK_ERR(krafty_producer_commit_transaction(p, 1000), KRAFTY_RESP_ERR__STATE);
    CHECK(strstr(krafty_last_error(), "commit_transaction") != NULL);
    CHECK_OK(krafty_producer_init_transactions(p, 30000));
    CHECK_ERR(krafty_producer_init_transactions(p, 30000), KRAFTY_RESP_ERR__STATE);
    CHECK(strstr(krafty_last_error(), "init_transactions") != NULL);
    /* outside a transaction */
    CHECK_ERR(krafty_producer_commit_transaction(p, 1000), KRAFTY_RESP_ERR__STATE);
    CHECK(strstr(krafty_last_error(), "commit_transaction") != NULL);
    CHECK(krafty_last_error_is_fatal() == 0 && krafty_last_error_txn_requires_abort() == 0);
    CHECK_ERR(krafty_producer_abort_transaction(p, 1000), KRAFTY_RESP_ERR__STATE);
    CHECK_ERR(krafty_producer_send(p, topic, 0, NULL, 0, "v", 1, NULL, NULL), KRAFTY_RESP_ERR__STATE);
    CHECK(krafty_producer_outq_len(p) == 0);

    /* group metadata: NULL without a group */
    const char *gp[] = {"group.id", "c-txn-state-g", NULL};
    krafty_conf_t *conf = conf_with(bootstrap, gp);
    char errstr[512];
    krafty_consumer_t *c = krafty_consumer_new(conf, errstr, sizeof errstr);
    if (!c) FAIL("consumer_new: %s", errstr);
    krafty_conf_destroy(conf);
    conf = conf_with(bootstrap, NULL);
    krafty_consumer_t *groupless = krafty_consumer_new(conf, errstr, sizeof errstr);
    if (!groupless) FAIL("consumer_new: %s", errstr);
    krafty_conf_destroy(conf);
    CHECK(krafty_consumer_group_metadata(groupless) == NULL);
    CHECK(strstr(krafty_last_error(), "group.id") != NULL);
    CHECK(krafty_consumer_group_metadata(NULL) == NULL);
    CHECK(strstr(krafty_last_error(), "consumer is NULL") != NULL);
    krafty_consumer_group_metadata_destroy(NULL);
    krafty_consumer_group_metadata_t *gm = krafty_consumer_group_metadata(c);
    CHECK(gm != NULL);

    krafty_topic_partition_list_t *offsets = krafty_topic_partition_list_new(1);
    krafty_topic_partition_list_add(offsets, topic, 0)->offset = 1;
    CHECK_ERR(krafty_producer_send_offsets_to_transaction(p, offsets, gm, 1000), KRAFTY_RESP_ERR__STATE);
    CHECK(strstr(krafty_last_error(), "send_offsets_to_transaction") != NULL);
    CHECK_ERR(krafty_producer_send_offsets_to_transaction(NULL, offsets, gm, 1000), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_producer_send_offsets_to_transaction(p, NULL, gm, 1000), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_producer_send_offsets_to_transaction(p, offsets, NULL, 1000), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK(strstr(krafty_last_error(), "metadata is NULL") != NULL);
    offsets->elems[0].offset = KRAFTY_OFFSET_INVALID;
    CHECK_OK(krafty_producer_begin_transaction(p));
    CHECK_ERR(krafty_producer_send_offsets_to_transaction(p, offsets, gm, 1000), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_producer_begin_transaction(p), KRAFTY_RESP_ERR__STATE); /* already in one */
    CHECK_OK(krafty_producer_abort_transaction(p, 30000));
    krafty_topic_partition_list_destroy(offsets);
    krafty_consumer_group_metadata_destroy(gm);

    /* NULL producers */
    CHECK_ERR(krafty_producer_init_transactions(NULL, 0), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_producer_begin_transaction(NULL), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_producer_commit_transaction(NULL, 0), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_producer_abort_transaction(NULL, 0), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK(strstr(krafty_last_error(), "producer is NULL") != NULL);

    /* a closed producer: fatal */
    CHECK_OK(krafty_producer_close(p, 1000));
    CHECK_ERR(krafty_producer_send(p, topic, 0, NULL, 0, "v", 1, NULL, NULL), KRAFTY_RESP_ERR__CLOSED);
    CHECK(krafty_last_error_is_fatal() == 1);
    krafty_producer_destroy(p);
    krafty_consumer_destroy(groupless);
    krafty_consumer_destroy(c);
}

int main(void) {
    const char *bcfg[] = {"num.partitions=1", "group.initial.rebalance.delay.ms=0", NULL};
    krafty_dev_broker_t *broker = start_broker(NULL, NULL, bcfg);
    const char *bootstrap = krafty_dev_broker_bootstrap(broker);
    commit_and_abort(bootstrap);
    consume_transform_produce(bootstrap);
    fencing(bootstrap);
    abortable(bootstrap, broker);
    commit_timeout(bootstrap, broker);
    wrong_state(bootstrap);
    krafty_dev_broker_stop(broker);
    PASS();
}
