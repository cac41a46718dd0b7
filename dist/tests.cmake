# Tests of dist/ (included by tests/CMakeLists.txt when present).
# - test_dist: in-process unit tests (communicator, layouts, every schedule against single-process
#   attention, statistics, errors) — always built, label "dist".
# - mpi_dist_check: one executable that runs a matrix of schedules per mpirun launch, under
#   mpirun --oversubscribe -n 1/2/3/4 (label "mpi"; only with LONGCTX_MPI), plus the
#   `longctx attn --parallel` CLI under mpirun. Every MPI test has a TIMEOUT so a hang fails.
# - with LONGCTX_CUDA too (label "gpu"): the GPU schedules against the single-GPU backend, P = 1
#   over NCCL and P = 1, 2, 3, 4 over MPI with host staging on one GPU, bad GPU inputs, and the
#   `--device cuda --parallel` CLI; skipped (exit 77) without a device or, for NCCL, without NCCL.
set(LONGCTX_DIST_TEST_DIR ${PROJECT_SOURCE_DIR}/dist/tests)
add_library(longctx_dist_test_case STATIC ${LONGCTX_DIST_TEST_DIR}/dist_case.cpp
                                          ${LONGCTX_DIST_TEST_DIR}/device_call.cpp)
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

  # The GPU schedules (issue 9). With P = #GPUs, bench/gpu/dist_run.sh runs the same checks with
  # a GPU per rank (LONGCTX_GPU_RANKS).
  if(LONGCTX_CUDA)
    set(gpu_np 1 2 3 4)
    if(DEFINED ENV{LONGCTX_GPU_RANKS})
      list(APPEND gpu_np $ENV{LONGCTX_GPU_RANKS})
      list(REMOVE_DUPLICATES gpu_np)
    endif()
    foreach(np ${gpu_np})
      add_test(NAME mpi.cuda_schedules_np${np}_staged
               COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe ${MPIEXEC_NUMPROC_FLAG} ${np}
                       $<TARGET_FILE:mpi_dist_check> --device cuda --comm mpi)
      add_test(NAME mpi.cuda_schedules_np${np}_nccl
               COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe ${MPIEXEC_NUMPROC_FLAG} ${np}
                       $<TARGET_FILE:mpi_dist_check> --device cuda --comm nccl)
      set_tests_properties(mpi.cuda_schedules_np${np}_staged mpi.cuda_schedules_np${np}_nccl
                           PROPERTIES LABELS "gpu;mpi;dist" TIMEOUT 300 SKIP_RETURN_CODE 77
                           ENVIRONMENT "${LONGCTX_MPI_ENV};NCCL_NVLS_ENABLE=0")
    endforeach()
    # NCCL needs a GPU per rank: only up to the GPUs there are (LONGCTX_GPU_RANKS, else 1).
    set(gpu_ranks 1)
    if(DEFINED ENV{LONGCTX_GPU_RANKS})
      set(gpu_ranks $ENV{LONGCTX_GPU_RANKS})
    endif()
    foreach(np ${gpu_np})
      if(np GREATER gpu_ranks)
        set_tests_properties(mpi.cuda_schedules_np${np}_nccl PROPERTIES DISABLED TRUE)
      endif()
    endforeach()
    add_test(NAME mpi.cuda_errors_np2
             COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe ${MPIEXEC_NUMPROC_FLAG} 2
                     $<TARGET_FILE:mpi_dist_check> --device cuda --comm mpi --errors)
    set_tests_properties(mpi.cuda_errors_np2 PROPERTIES LABELS "gpu;mpi;dist" TIMEOUT 120
                         SKIP_RETURN_CODE 77 ENVIRONMENT "${LONGCTX_MPI_ENV}")

    # `longctx attn --device cuda --parallel ...`: --check against the float64 oracle; ranks
    # share the machine's GPU over MPI with staging. Skipped without a GPU (the CLI says "no
    # CUDA device").
    set(cuda_small attn --batch 2 --dim 64 --dtype bf16 --device cuda --repeat 1 --warmup 0
        --check --backward)
    longctx_mpi_cli_test(cuda_zigzag_causal_check 2 RC 0 REGEX "PASS"
      ARGS ${cuda_small} --seq 200 --heads 4 --kv-heads 2 --parallel zigzag --mask causal
      --comm mpi)
    longctx_mpi_cli_test(cuda_usp_window_check_json 3 RC 0
      ARGS ${cuda_small} --seq 187 --heads 6 --kv-heads 3 --parallel usp:3x1 --mask causal
      --window 40,0 --comm mpi --json
      JSON_KEYS fwd_ms bwd_ms err_out err_lse err_dq err_dk err_dv comm device per_rank)
    longctx_mpi_cli_test(cuda_striped_auto_np1 1 RC 0 REGEX "PASS"
      ARGS ${cuda_small} --seq 131 --heads 4 --kv-heads 1 --parallel striped --mask causal)
    # One rank more than there are GPUs: NCCL is refused (the GPUs would be shared).
    set(shared_np 2)
    if(DEFINED ENV{LONGCTX_GPU_RANKS})
      math(EXPR shared_np "$ENV{LONGCTX_GPU_RANKS} + 1")
    endif()
    longctx_mpi_cli_test(cuda_nccl_shared_gpu ${shared_np} RC 2 REGEX "argument '--comm'"
      ARGS attn --seq 64 --heads 2 --dim 64 --dtype bf16 --device cuda --parallel ring
      --comm nccl --repeat 1)
    set(cli_gpu_tests cuda_zigzag_causal_check cuda_usp_window_check_json cuda_striped_auto_np1
        cuda_nccl_shared_gpu)
    if(DEFINED ENV{LONGCTX_GPU_RANKS})  # a GPU per rank: the CLI over NCCL, every schedule family
      longctx_mpi_cli_test(cuda_zigzag_nccl_check $ENV{LONGCTX_GPU_RANKS} RC 0 REGEX "PASS"
        ARGS ${cuda_small} --seq 1024 --heads 8 --kv-heads 8 --parallel zigzag --mask causal
        --comm nccl)
      longctx_mpi_cli_test(cuda_ulysses_nccl_check $ENV{LONGCTX_GPU_RANKS} RC 0 REGEX "PASS"
        ARGS ${cuda_small} --seq 1000 --heads 8 --kv-heads 8 --parallel ulysses --comm nccl)
      list(APPEND cli_gpu_tests cuda_zigzag_nccl_check cuda_ulysses_nccl_check)
    endif()
    foreach(t ${cli_gpu_tests})
      set_tests_properties(mpi.cli_${t} PROPERTIES LABELS "mpi;cli;gpu"
        SKIP_REGULAR_EXPRESSION "no CUDA device|no CUDA backend|CUDA driver version is insufficient")
    endforeach()
  endif()
endif()
