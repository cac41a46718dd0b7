# Tests of dist/ (included by tests/CMakeLists.txt when present).
# - test_dist: in-process unit tests (communicator, layouts, every schedule against single-process
#   attention, statistics, errors) — always built, label "dist".
# - mpi_dist_check: one executable that runs a matrix of schedules per mpirun launch, under
#   mpirun --oversubscribe -n 1/2/3/4 (label "mpi"; only with LONGCTX_MPI), plus the
#   `longctx attn --parallel` CLI under mpirun. Every MPI test has a TIMEOUT so a hang fails.
set(LONGCTX_DIST_TEST_DIR ${PROJECT_SOURCE_DIR}/dist/tests)
add_library(longctx_dist_test_case STATIC ${LONGCTX_DIST_TEST_DIR}/dist_case.cpp)
target_include_directories(longctx_dist_test_case PUBLIC ${LONGCTX_DIST_TEST_DIR})
target_link_libraries(longctx_dist_test_case PUBLIC longctx::longctx)

add_executable(test_dist ${LONGCTX_DIST_TEST_DIR}/test_dist_units.cpp
                         ${LONGCTX_DIST_TEST_DIR}/test_dist_schedules.cpp)
target_include_directories(test_dist PRIVATE ${PROJECT_SOURCE_DIR}/dist/src)
target_link_libraries(test_dist PRIVATE longctx_dist_test_case longctx_test_util GTest::gtest_main)
gtest_discover_tests(test_dist PROPERTIES LABELS dist DISCOVERY_TIMEOUT 120)

if(LONGCTX_MPI)
  add_executable(mpi_dist_check ${LONGCTX_DIST_TEST_DIR}/mpi_dist_check.cpp)
  target_link_libraries(mpi_dist_check PRIVATE longctx_dist_test_case)
  if(LONGCTX_SANITIZE)
    target_compile_definitions(mpi_dist_check PRIVATE LONGCTX_TEST_SMALL=1)
  endif()
  # Root is refused by OpenMPI unless allowed (CI runs as root); shared memory + self only, so
  # that machines without network interfaces neither warn nor hang; no single-copy (CMA) path,
  # which containers without ptrace rights refuse; OpenMPI's own allocations look like leaks to
  # LeakSanitizer.
  set(LONGCTX_MPI_ENV
      OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
      OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
      ASAN_OPTIONS=detect_leaks=0)
  foreach(np 1 2 3 4)
    add_test(NAME mpi.schedules_np${np}
             COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe ${MPIEXEC_NUMPROC_FLAG} ${np}
                     $<TARGET_FILE:mpi_dist_check>)
    set_tests_properties(mpi.schedules_np${np} PROPERTIES LABELS "mpi;dist" TIMEOUT 300
                         ENVIRONMENT "${LONGCTX_MPI_ENV}" PROCESSORS ${np})
  endforeach()
  add_test(NAME mpi.mismatched_arguments_np3
           COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe ${MPIEXEC_NUMPROC_FLAG} 3
                   $<TARGET_FILE:mpi_dist_check> --mismatch)
  set_tests_properties(mpi.mismatched_arguments_np3 PROPERTIES LABELS "mpi;dist" TIMEOUT 120
                       ENVIRONMENT "${LONGCTX_MPI_ENV}")

  # The CLI under mpirun: exit code, PASS, JSON keys; clear errors (exit 2) on every rank.
  function(longctx_mpi_cli_test name np)
    cmake_parse_arguments(T "" "RC;REGEX" "ARGS;JSON_KEYS" ${ARGN})
    set(defs -DEXPECT_RC=${T_RC})
    if(DEFINED T_REGEX)
      list(APPEND defs "-DEXPECT_REGEX=${T_REGEX}")
    endif()
    if(DEFINED T_JSON_KEYS)
      string(REPLACE ";" "," joined "${T_JSON_KEYS}")
      list(APPEND defs "-DJSON_KEYS=${joined}")
    endif()
    add_test(NAME mpi.cli_${name}
             COMMAND ${CMAKE_COMMAND}
                     "-DCMD=${MPIEXEC_EXECUTABLE};--oversubscribe;${MPIEXEC_NUMPROC_FLAG};${np};$<TARGET_FILE:longctx_cli>;${T_ARGS}"
                     ${defs} -P ${LONGCTX_CLI_EXPECT})
    set_tests_properties(mpi.cli_${name} PROPERTIES LABELS "mpi;cli" TIMEOUT 180
                         ENVIRONMENT "${LONGCTX_MPI_ENV}")
  endfunction()
  set(mpi_small attn --batch 2 --seq 96 --heads 4 --kv-heads 2 --dim 32 --repeat 1 --warmup 0
      --threads 1 --check --backward)
  longctx_mpi_cli_test(zigzag_causal_check 2 RC 0 REGEX "PASS"
    ARGS ${mpi_small} --parallel zigzag --mask causal)
  longctx_mpi_cli_test(usp_window_check_json 4 RC 0
    ARGS ${mpi_small} --parallel usp:2x2 --mask causal --window 20,0 --json
    JSON_KEYS fwd_ms bwd_ms err_out err_lse err_dq err_dk err_dv ranks parallel per_rank)
  longctx_mpi_cli_test(zigzag_bad_seq 3 RC 2 REGEX "multiple of 2"
    ARGS attn --seq 100 --heads 2 --dim 32 --parallel zigzag --repeat 1)
  longctx_mpi_cli_test(ulysses_bad_heads 2 RC 2 REGEX "heads"
    ARGS attn --seq 64 --heads 3 --kv-heads 1 --dim 32 --parallel ulysses --repeat 1)
endif()
