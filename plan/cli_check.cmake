# Runs one `longctx plan` command line and checks its exit code and output.
# cmake -DCLI=<longctx> -DARGS="plan;--model;..." -DEXPECT_RC=2 -DEXPECT_REGEX=<regex> -P cli_check.cmake
execute_process(COMMAND ${CLI} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL EXPECT_RC)
  message(FATAL_ERROR "exit code ${rc}, expected ${EXPECT_RC}\nstdout: ${out}\nstderr: ${err}")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT_REGEX}")
  message(FATAL_ERROR "output does not match '${EXPECT_REGEX}'\nstdout: ${out}\nstderr: ${err}")
endif()
