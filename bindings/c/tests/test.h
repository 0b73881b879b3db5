/* A tiny harness for libkrafty's C tests: CHECK macros that report the line and exit 1. */
#ifndef KRAFTY_TEST_H
#define KRAFTY_TEST_H

#include <krafty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int test_checks = 0;

#define FAIL(...)                                                          \
    do {                                                                   \
        fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);            \
        fprintf(stderr, __VA_ARGS__);                                      \
        fprintf(stderr, " (last error: %s)\n", krafty_last_error());       \
        exit(1);                                                           \
    } while (0)

#define CHECK(cond)                                                        \
    do {                                                                   \
        test_checks++;                                                     \
        if (!(cond)) FAIL("%s", #cond);                                    \
    } while (0)

#define CHECK_ERR(expr, expected)                                          \
    do {                                                                   \
        krafty_resp_err_t err_ = (expr);                                   \
        test_checks++;                                                     \
        if (err_ != (expected))                                            \
            FAIL("%s returned %d (%s), expected %d (%s)", #expr, err_,     \
                 krafty_err2name(err_), (int)(expected),                   \
                 krafty_err2name(expected));                               \
    } while (0)

#define CHECK_OK(expr) CHECK_ERR(expr, KRAFTY_RESP_ERR_NO_ERROR)

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A dev broker in this process (in memory unless data_dir), with `config` NULL-terminated. */
static inline krafty_dev_broker_t *start_broker(const char *listen, const char *data_dir,
                                                const char **config) {
    char errstr[512];
    krafty_dev_broker_t *b = krafty_dev_broker_start(listen, data_dir, config, errstr, sizeof errstr);
    if (!b) FAIL("krafty_dev_broker_start: %s", errstr);
    return b;
}

static inline krafty_conf_t *conf_with(const char *bootstrap, const char **pairs) {
    char errstr[512];
    krafty_conf_t *conf = krafty_conf_new();
    CHECK(conf != NULL);
    if (krafty_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr))
        FAIL("bootstrap.servers: %s", errstr);
    for (int i = 0; pairs && pairs[i]; i += 2)
        if (krafty_conf_set(conf, pairs[i], pairs[i + 1], errstr, sizeof errstr))
            FAIL("%s=%s: %s", pairs[i], pairs[i + 1], errstr);
    return conf;
}

#define PASS()                                                             \
    do {                                                                   \
        printf("PASS %s (%d checks)\n", __FILE__, test_checks);            \
        return 0;                                                          \
    } while (0)

#endif
