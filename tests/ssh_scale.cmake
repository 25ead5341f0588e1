# integration.ssh_scale_test (registered by the *_test.sh glob): 2 x 100 concurrent sessions with
# recording on 2 cores need more than the default 300 s when the machine is busy or under ASan.
if(TEST integration.ssh_scale_test)
  set_tests_properties(integration.ssh_scale_test PROPERTIES TIMEOUT 900 RUN_SERIAL TRUE)
endif()
