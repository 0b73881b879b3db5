/* Bad input gets an error code and a message, never a crash: NULL handles and arguments,
 * unknown properties, bad values, misuse (commit without group.id, seek of a partition not
 * assigned), and the error-code helpers. */
#include "test.h"

int main(void) {
    char errstr[256];

    /* --- the configuration --- */
    CHECK_ERR(krafty_conf_set(NULL, "linger.ms", "5", errstr, sizeof errstr), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK(strstr(errstr, "conf is NULL") != NULL);
    krafty_conf_t *conf = krafty_conf_new();
    CHECK_ERR(krafty_conf_set(conf, NULL, "5", errstr, sizeof errstr), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_conf_set(conf, "linger.ms", NULL, NULL, 0), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_conf_set(conf, "lingr.ms", "5", errstr, sizeof errstr), KRAFTY_RESP_ERR__UNKNOWN_PROPERTY);
    CHECK(strstr(errstr, "lingr.ms") != NULL);
    CHECK(strstr(krafty_last_error(), "lingr.ms") != NULL);
    CHECK_ERR(krafty_conf_set(conf, "linger.ms", "soon", errstr, sizeof errstr), KRAFTY_RESP_ERR__INVALID_VALUE);
    CHECK(strstr(errstr, "linger.ms") != NULL && strstr(errstr, "soon") != NULL);
    CHECK_ERR(krafty_conf_set(conf, "acks", "2", errstr, sizeof errstr), KRAFTY_RESP_ERR__INVALID_VALUE);
    CHECK_ERR(krafty_conf_set(conf, "auto.offset.reset", "sometimes", errstr, sizeof errstr), KRAFTY_RESP_ERR__INVALID_VALUE);
    CHECK_ERR(krafty_conf_set(conf, "bootstrap.servers", "no-port", errstr, sizeof errstr), KRAFTY_RESP_ERR__INVALID_VALUE);
    /* a tiny errstr buffer is truncated and NUL-terminated */
    char tiny[4] = {'x', 'x', 'x', 'x'};
    CHECK_ERR(krafty_conf_set(conf, "nope", "1", tiny, sizeof tiny), KRAFTY_RESP_ERR__UNKNOWN_PROPERTY);
    CHECK(tiny[3] == '\0' && strlen(tiny) == 3);
    /* consumer-only and producer-only properties are both accepted */
    CHECK_OK(krafty_conf_set(conf, "group.id", "g", errstr, sizeof errstr));
    CHECK(errstr[0] == '\0');
    CHECK_OK(krafty_conf_set(conf, "linger.ms", "5", errstr, sizeof errstr));
    char val[8];
    size_t size = sizeof val;
    CHECK_OK(krafty_conf_get(conf, "linger.ms", val, &size));
    CHECK(strcmp(val, "5") == 0 && size == 2);
    CHECK_ERR(krafty_conf_get(conf, "acks", val, &size), KRAFTY_RESP_ERR__UNKNOWN_PROPERTY);
    CHECK_ERR(krafty_conf_get(conf, "linger.ms", val, NULL), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_conf_set_dr_cb(NULL, NULL, NULL), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK(krafty_conf_dup(NULL) == NULL);
    krafty_conf_destroy(NULL);

    /* --- clients from bad configurations --- */
    CHECK(krafty_producer_new(NULL, errstr, sizeof errstr) == NULL);
    CHECK(strstr(errstr, "conf is NULL") != NULL);
    CHECK_OK(krafty_conf_set(conf, "bootstrap.servers", "127.0.0.1:1", NULL, 0));
    CHECK(krafty_producer_new(conf, errstr, sizeof errstr) == NULL); /* group.id: not a producer property */
    CHECK(strstr(errstr, "group.id") != NULL);
    krafty_conf_t *empty = krafty_conf_new();
    CHECK(krafty_consumer_new(empty, errstr, sizeof errstr) == NULL);
    CHECK(strstr(errstr, "bootstrap.servers") != NULL);
    /* an inconsistency between properties is found at creation */
    krafty_conf_t *incons = krafty_conf_dup(empty);
    CHECK_OK(krafty_conf_set(incons, "bootstrap.servers", "127.0.0.1:1", NULL, 0));
    CHECK_OK(krafty_conf_set(incons, "delivery.timeout.ms", "1000", errstr, sizeof errstr));
    CHECK(krafty_producer_new(incons, errstr, sizeof errstr) == NULL);
    CHECK(strstr(errstr, "delivery.timeout.ms") != NULL);
    krafty_conf_destroy(incons);
    krafty_conf_destroy(empty);
    krafty_conf_destroy(conf);

    /* --- NULL handles --- */
    CHECK_ERR(krafty_producer_send(NULL, "t", -1, NULL, 0, "v", 1, NULL, NULL), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK(krafty_producer_poll(NULL, 0) == 0);
    CHECK_ERR(krafty_producer_flush(NULL, 0), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK(krafty_producer_outq_len(NULL) == -1);
    krafty_producer_destroy(NULL);
    CHECK(krafty_consumer_poll(NULL, 0) == NULL);
    CHECK_ERR(krafty_consumer_subscribe(NULL, NULL, 0), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_consumer_commit(NULL, NULL, 0), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_consumer_seek(NULL, "t", 0, 0), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_consumer_close(NULL), KRAFTY_RESP_ERR__INVALID_ARG);
    krafty_consumer_destroy(NULL);
    krafty_message_destroy(NULL);
    CHECK(krafty_message_headers(NULL) == NULL);
    CHECK(krafty_headers_count(NULL) == 0);
    CHECK_ERR(krafty_headers_add(NULL, "a", NULL, 0), KRAFTY_RESP_ERR__INVALID_ARG);
    krafty_headers_destroy(NULL);
    CHECK(krafty_topic_partition_list_add(NULL, "t", 0) == NULL);
    krafty_topic_partition_list_destroy(NULL);
    CHECK(krafty_dev_broker_bootstrap(NULL) == NULL);
    CHECK_ERR(krafty_dev_broker_fail_next(NULL, 0, 1, 1, NULL, -1), KRAFTY_RESP_ERR__INVALID_ARG);
    krafty_dev_broker_stop(NULL);

    /* --- the dev broker --- */
    const char *badcfg[] = {"num.partitions=zero", NULL};
    CHECK(krafty_dev_broker_start(NULL, NULL, badcfg, errstr, sizeof errstr) == NULL);
    CHECK(strstr(errstr, "num.partitions") != NULL);
    const char *nokv[] = {"num.partitions", NULL};
    CHECK(krafty_dev_broker_start(NULL, NULL, nokv, errstr, sizeof errstr) == NULL);
    CHECK(krafty_dev_broker_start("127.0.0.1:notaport", NULL, NULL, errstr, sizeof errstr) == NULL);
    krafty_dev_broker_t *broker = start_broker(NULL, NULL, NULL);
    const char *bootstrap = krafty_dev_broker_bootstrap(broker);
    /* the same port twice: an I/O error */
    CHECK(krafty_dev_broker_start(bootstrap, NULL, NULL, errstr, sizeof errstr) == NULL);
    CHECK(strstr(krafty_last_error(), bootstrap) != NULL);

    /* --- bad arguments to live handles --- */
    krafty_conf_t *pc = conf_with(bootstrap, NULL);
    krafty_producer_t *p = krafty_producer_new(pc, errstr, sizeof errstr);
    if (!p) FAIL("producer_new: %s", errstr);
    CHECK_ERR(krafty_producer_send(p, NULL, -1, NULL, 0, "v", 1, NULL, NULL), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK(strstr(krafty_last_error(), "topic") != NULL);
    CHECK_ERR(krafty_producer_send(p, "", -1, NULL, 0, "v", 1, NULL, NULL), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_producer_send(p, "t", -1, NULL, 3, "v", 1, NULL, NULL), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_producer_send(p, "t", -1, "k", 1, NULL, 9, NULL, NULL), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_producer_send(p, "t", -7, NULL, 0, "v", 1, NULL, NULL), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_producer_send(p, "bad topic name!", -1, NULL, 0, "v", 1, NULL, NULL), KRAFTY_RESP_ERR_INVALID_TOPIC_EXCEPTION);
    CHECK(krafty_producer_outq_len(p) == 0);
    /* a successful call clears the last error */
    CHECK_OK(krafty_producer_flush(p, 1000));
    CHECK(strcmp(krafty_last_error(), "") == 0);
    krafty_producer_destroy(p);

    /* a consumer without group.id: commits are refused with _STATE */
    krafty_consumer_t *c = krafty_consumer_new(pc, errstr, sizeof errstr);
    if (!c) FAIL("consumer_new: %s", errstr);
    krafty_conf_destroy(pc);
    CHECK_ERR(krafty_consumer_commit(c, NULL, 0), KRAFTY_RESP_ERR__STATE);
    CHECK(strstr(krafty_last_error(), "group.id") != NULL);
    const char *topics[] = {"t", NULL};
    CHECK_ERR(krafty_consumer_subscribe(c, topics, 2), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_consumer_subscribe(c, NULL, 1), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_consumer_seek(c, "t", 0, 5), KRAFTY_RESP_ERR__STATE); /* not assigned */
    CHECK_ERR(krafty_consumer_seek(c, NULL, 0, 5), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_consumer_pause(c, NULL), KRAFTY_RESP_ERR__INVALID_ARG);
    krafty_topic_partition_list_t *l = krafty_topic_partition_list_new(0);
    krafty_topic_partition_list_add(l, "t", 0)->offset = -5;
    CHECK_ERR(krafty_consumer_commit(c, l, 0), KRAFTY_RESP_ERR__INVALID_ARG);
    CHECK_ERR(krafty_consumer_assignment(c, NULL), KRAFTY_RESP_ERR__INVALID_ARG);
    krafty_topic_partition_list_destroy(l);
    CHECK(krafty_consumer_poll(c, 0) == NULL); /* nothing assigned: nothing, no crash */
    CHECK_OK(krafty_consumer_close(c));
    krafty_message_t *m = krafty_consumer_poll(c, 0);
    CHECK(m && m->err == KRAFTY_RESP_ERR__CLOSED && m->errstr && strlen(m->errstr) > 0);
    krafty_message_destroy(m);
    krafty_consumer_destroy(c);
    krafty_dev_broker_stop(broker);

    /* --- error codes --- */
    CHECK(strcmp(krafty_err2str(0), "Success") == 0);
    CHECK(strcmp(krafty_err2name(KRAFTY_RESP_ERR_UNKNOWN_TOPIC_OR_PARTITION), "UNKNOWN_TOPIC_OR_PARTITION") == 0);
    CHECK(strcmp(krafty_err2str(KRAFTY_RESP_ERR__TIMED_OUT), "Local: timed out") == 0);
    CHECK(strcmp(krafty_err2name(KRAFTY_RESP_ERR__UNKNOWN_PROPERTY), "_UNKNOWN_PROPERTY") == 0);
    CHECK(strcmp(krafty_err2str(123456), "Unknown error code") == 0);
    CHECK(krafty_err_retriable(KRAFTY_RESP_ERR__TIMED_OUT) == 1);
    CHECK(krafty_err_retriable(KRAFTY_RESP_ERR__TRANSPORT) == 1);
    CHECK(krafty_err_retriable(KRAFTY_RESP_ERR__INVALID_ARG) == 0);
    CHECK(krafty_err_retriable(KRAFTY_RESP_ERR_NO_ERROR) == 0);
    CHECK(krafty_err_retriable(KRAFTY_RESP_ERR_LEADER_NOT_AVAILABLE) == 1);
    CHECK(krafty_err_retriable(KRAFTY_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) == 0);
    CHECK(strlen(krafty_version_str()) > 0);
    PASS();
}
