# Tests of model/ (issue 7), included by tests/CMakeLists.txt: every model/tests/test_*.cpp is one
# executable labelled "model". They read the fixtures made by model/fixtures/make_fixtures.py
# (manifest.json, checkpoints, tokenizers) from LONGCTX_MODEL_FIXTURES.
if(NOT TARGET longctx_model)
  return()
endif()
file(GLOB LONGCTX_MODEL_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/tests/test_*.cpp)
foreach(test_source ${LONGCTX_MODEL_TESTS})
  get_filename_component(test_name ${test_source} NAME_WE)
  add_executable(${test_name} ${test_source})
  target_include_directories(${test_name} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/src)
  target_link_libraries(${test_name} PRIVATE longctx_model longctx_test_util
    nlohmann_json::nlohmann_json GTest::gtest_main)
  target_compile_definitions(${test_name} PRIVATE
    LONGCTX_MODEL_FIXTURES="${CMAKE_CURRENT_LIST_DIR}/fixtures")
  gtest_discover_tests(${test_name} PROPERTIES LABELS "model" DISCOVERY_TIMEOUT 120)
endforeach()
# The end-to-end test runs the longctx binary (`longctx run --logits`) and compares the file.
if(TARGET test_run_cli)
  add_dependencies(test_run_cli longctx_cli)
  target_compile_definitions(test_run_cli PRIVATE LONGCTX_CLI_BINARY="$<TARGET_FILE:longctx_cli>")
endif()

# `longctx run` flag checks (label "cli"): exit 2 with the flag named, help, JSON keys.
set(LONGCTX_FIXTURE_MODEL ${CMAKE_CURRENT_LIST_DIR}/fixtures/models/llama3_rope)
longctx_cli_test(run_help RC 0 REGEX "--attention" ARGS run --help)
longctx_cli_test(run_needs_model RC 2 REGEX "--model" ARGS run --tokens 1,2)
longctx_cli_test(run_needs_prompt RC 2 REGEX "--prompt/--tokens" ARGS run --model ${LONGCTX_FIXTURE_MODEL})
longctx_cli_test(run_bad_tokens RC 2 REGEX "--tokens" ARGS run --model ${LONGCTX_FIXTURE_MODEL} --tokens 1,x)
longctx_cli_test(run_token_out_of_vocab RC 2 REGEX "tokens.*320" ARGS run --model ${LONGCTX_FIXTURE_MODEL} --tokens 1,999)
longctx_cli_test(run_bad_schedule RC 2 REGEX "--attention" ARGS run --model ${LONGCTX_FIXTURE_MODEL} --tokens 1,2 --attention windw:4)
longctx_cli_test(run_bad_rope RC 2 REGEX "--rope-scaling" ARGS run --model ${LONGCTX_FIXTURE_MODEL} --tokens 1,2 --rope-scaling yarn:abc)
longctx_cli_test(run_missing_model RC 2 REGEX "config.json" ARGS run --model /nonexistent/model --tokens 1,2)
longctx_cli_test(run_json RC 0 JSON_KEYS prompt_tokens new_tokens text prefill_tokens_per_second
                 decode_tokens_per_second kv_cache_bytes attention
                 ARGS run --model ${LONGCTX_FIXTURE_MODEL} --prompt "Hello world" --max-new-tokens 4
                      --attention local-global:2:8 --json)
