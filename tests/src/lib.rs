//! Helpers shared by the integration tests: pick the broker (embedded or `KRAFTY_TEST_BOOTSTRAP`).
