# CLI checks of `longctx plan` (exit codes, error messages naming the flag, JSON keys). Include
# from tests/CMakeLists.txt after the test_plan executable: include(${PROJECT_SOURCE_DIR}/plan/tests.cmake)
function(longctx_plan_cli_test name rc regex)
  add_test(NAME plan_cli_${name}
           COMMAND ${CMAKE_COMMAND} "-DCMD=$<TARGET_FILE:longctx_cli>;${ARGN}"
                   -DEXPECT_RC=${rc} "-DEXPECT_REGEX=${regex}"
                   -P ${PROJECT_SOURCE_DIR}/apps/longctx/cli_test_expect.cmake)
  set_tests_properties(plan_cli_${name} PROPERTIES LABELS plan)
endfunction()

if(TARGET longctx_cli AND TARGET longctx_plan)
  longctx_plan_cli_test(json_keys 0
    "\"per_device\".*\"activations\".*\"comm_buffers\".*\"grads\".*\"kv_cache\".*\"optimizer\".*\"params\".*\"total\".*\"workspace\""
    plan --model llama-3.1-8b --seq 65536 --gpus 8 --tp 2 --sp --cp 4 --cp-kind zigzag --zero 1
    --recompute full --json)
  longctx_plan_cli_test(max_context 0 "\"fits\": true.*\"max_context\": [0-9]+"
    plan --model llama-2-7b --seq 8192 --gpus 8 --cp 8 --cp-kind ring --zero 3 --json --max-context)
  longctx_plan_cli_test(table 0 "per device.*total.*fits: yes"
    plan --model mistral-7b --seq 32768 --gpus 8 --cp 8 --cp-kind zigzag --zero 3 --recompute full)
  longctx_plan_cli_test(search 0 "feasible layouts"
    plan --model llama-2-7b --seq 32768 --gpus 8 --search --top 5)
  longctx_plan_cli_test(bad_tp 2 "argument '--tp': expected a divisor of num_attention_heads = 32"
    plan --model llama-2-7b --seq 4096 --tp 3)
  longctx_plan_cli_test(bad_ulysses 2 "argument '--cp': expected a Ulysses degree"
    plan --model llama-2-7b --seq 4096 --cp 64 --cp-kind ulysses)
  longctx_plan_cli_test(bad_gpus 2 "argument '--gpus': expected a multiple of tp·cp = 8"
    plan --model llama-2-7b --seq 4096 --tp 2 --cp 4 --gpus 12)
  longctx_plan_cli_test(bad_model 2 "argument '--model'"
    plan --model gpt-17 --seq 4096)
  longctx_plan_cli_test(bad_kind 2 "argument '--cp-kind'"
    plan --model llama-2-7b --seq 4096 --cp 2 --cp-kind spiral)
  longctx_plan_cli_test(bad_zero 2 "argument '--zero'"
    plan --model llama-2-7b --seq 4096 --zero 5)
  longctx_plan_cli_test(unknown_flag 2 "--frobnicate"
    plan --model llama-2-7b --seq 4096 --frobnicate)
endif()
