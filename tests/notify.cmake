# Webhook notifier: real HTTP(S) receivers on 127.0.0.1.
sekisho_unit_test(unit_notifier unit/broker/access/notifier_test.cpp)
