/* Delivery errors through the dev broker's fault injection: a non-retriable produce error
 * reaches the delivery report with its Kafka code and message; a retriable one is retried
 * and the record is delivered; a record refused before sending gets no report. */
#include "test.h"

#define TOPIC "c-faults"

static int n_reports = 0;
static krafty_resp_err_t last_err = -999;
static char last_errstr[512];
static int64_t last_offset = -5;
static void *last_opaque = NULL;

static void dr_cb(krafty_producer_t *p, const krafty_delivery_report_t *r, void *o) {
    (void)p; (void)o;
    n_reports++;
    last_err = r->err;
    last_offset = r->offset;
    last_opaque = r->msg_opaque;
    snprintf(last_errstr, sizeof last_errstr, "%s", r->errstr ? r->errstr : "");
    if (!r->err && r->errstr) FAIL("errstr on success");
}

static void wait_report(krafty_producer_t *p, int n) {
    double until = now_s() + 20;
    while (n_reports < n && now_s() < until) krafty_producer_poll(p, 100);
    if (n_reports < n) FAIL("%d reports, expected %d", n_reports, n);
}

int main(void) {
    krafty_dev_broker_t *broker = start_broker(NULL, NULL, NULL);
    const char *bootstrap = krafty_dev_broker_bootstrap(broker);
    const char *pp[] = {"enable.idempotence", "false", "retry.backoff.ms", "10", "linger.ms", "0", NULL};
    krafty_conf_t *conf = conf_with(bootstrap, pp);
    CHECK_OK(krafty_conf_set_dr_cb(conf, dr_cb, NULL));
    char errstr[512];
    krafty_producer_t *p = krafty_producer_new(conf, errstr, sizeof errstr);
    if (!p) FAIL("producer_new: %s", errstr);
    krafty_conf_destroy(conf);

    /* Warm up: the topic exists, metadata is known. */
    CHECK_OK(krafty_producer_send(p, TOPIC, 0, NULL, 0, "ok", 2, NULL, (void *)1));
    wait_report(p, 1);
    CHECK(last_err == 0 && last_offset == 0 && last_opaque == (void *)1);

    /* INVALID_RECORD (87) is not retriable: the report carries it. */
    CHECK_OK(krafty_dev_broker_fail_next(broker, 0 /* Produce */, KRAFTY_RESP_ERR_INVALID_RECORD, 1, TOPIC, -1));
    CHECK_OK(krafty_producer_send(p, TOPIC, 0, NULL, 0, "bad", 3, NULL, (void *)2));
    wait_report(p, 2);
    CHECK(last_opaque == (void *)2);
    CHECK_ERR(last_err, KRAFTY_RESP_ERR_INVALID_RECORD);
    CHECK(last_offset == -1);
    CHECK(strstr(last_errstr, "INVALID_RECORD") != NULL);
    CHECK(krafty_err_retriable(last_err) == 0);
    CHECK(strcmp(krafty_err2name(last_err), "INVALID_RECORD") == 0);
    CHECK(krafty_dev_broker_errors_fired(broker) == 1);

    /* NOT_LEADER_OR_FOLLOWER (6) twice is retriable: retried, then delivered at offset 1. */
    CHECK(krafty_err_retriable(KRAFTY_RESP_ERR_NOT_LEADER_OR_FOLLOWER) == 1);
    CHECK_OK(krafty_dev_broker_fail_next(broker, 0, KRAFTY_RESP_ERR_NOT_LEADER_OR_FOLLOWER, 2, TOPIC, -1));
    CHECK_OK(krafty_producer_send(p, TOPIC, 0, NULL, 0, "retry", 5, NULL, (void *)3));
    wait_report(p, 3);
    CHECK(last_opaque == (void *)3);
    CHECK_OK(last_err);
    CHECK(last_offset == 1);
    CHECK(krafty_dev_broker_errors_fired(broker) == 3);

    /* With retries=0 a retriable error fails the record too. */
    krafty_producer_destroy(p);
    const char *pp0[] = {"enable.idempotence", "false", "retries", "0", "linger.ms", "0", NULL};
    conf = conf_with(bootstrap, pp0);
    CHECK_OK(krafty_conf_set_dr_cb(conf, dr_cb, NULL));
    p = krafty_producer_new(conf, errstr, sizeof errstr);
    if (!p) FAIL("producer_new: %s", errstr);
    krafty_conf_destroy(conf);
    CHECK_OK(krafty_dev_broker_fail_next(broker, 0, KRAFTY_RESP_ERR_NOT_LEADER_OR_FOLLOWER, 1, TOPIC, -1));
    CHECK_OK(krafty_producer_send(p, TOPIC, 0, NULL, 0, "x", 1, NULL, (void *)4));
    CHECK_OK(krafty_producer_flush(p, 10000));
    CHECK(n_reports == 4 && last_opaque == (void *)4);
    CHECK_ERR(last_err, KRAFTY_RESP_ERR_NOT_LEADER_OR_FOLLOWER);

    /* Refused before sending (partition out of range): an error now, no report later. */
    CHECK_ERR(krafty_producer_send(p, TOPIC, 7, NULL, 0, "x", 1, NULL, (void *)5),
              KRAFTY_RESP_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    CHECK(strstr(krafty_last_error(), "partition 7") != NULL);
    CHECK_OK(krafty_producer_flush(p, 1000));
    CHECK(n_reports == 4);

    /* A record over max.request.size: MESSAGE_TOO_LARGE at once. */
    static char big[2 * 1024 * 1024];
    CHECK_ERR(krafty_producer_send(p, TOPIC, 0, NULL, 0, big, sizeof big, NULL, NULL),
              KRAFTY_RESP_ERR_MESSAGE_TOO_LARGE);

    /* Closed: later sends fail with _CLOSED. */
    CHECK_OK(krafty_producer_close(p, 5000));
    CHECK_ERR(krafty_producer_send(p, TOPIC, 0, NULL, 0, "x", 1, NULL, NULL), KRAFTY_RESP_ERR__CLOSED);
    krafty_producer_destroy(p);
    krafty_dev_broker_stop(broker);
    PASS();
}
