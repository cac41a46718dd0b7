# Tests of DeepSeek Sparse Attention (issue 3, item 4), included from sparse/tests.cmake: top-k
# selection, the lightning indexer (f32 and int8), sparse attention against the float64 oracle
# and dense causal attention, and the indexer's KL loss. Label "sparse".
add_executable(test_dsa
  ${CMAKE_CURRENT_LIST_DIR}/tests/test_dsa_topk.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tests/test_dsa_indexer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tests/test_dsa_attention.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tests/test_dsa_loss.cpp)
target_include_directories(test_dsa PRIVATE ${CMAKE_CURRENT_LIST_DIR}/tests)
target_link_libraries(test_dsa PRIVATE longctx_test_util GTest::gtest_main)
gtest_discover_tests(test_dsa PROPERTIES LABELS "sparse" DISCOVERY_TIMEOUT 120)

# `longctx attn --mask dsa`: --check against the float64 oracle on the selected keys (odd sizes,
# N != M, GQA, both selection modes, bf16, the other layout, the int8 indexer), the JSON keys, and
# exit code 2 with the flag named for bad DSA flags (label "cli").
set(dsa_small attn --batch 2 --seq 157 --seq-k 201 --heads 4 --kv-heads 2 --dim 64 --mask dsa
    --indexer-heads 3 --indexer-dim 32 --repeat 1 --warmup 0 --threads 2)
longctx_cli_test(attn_dsa_check RC 0 REGEX "PASS" ARGS ${dsa_small} --topk 33 --check --backward)
longctx_cli_test(attn_dsa_check_groups_bf16 RC 0 REGEX "PASS"
  ARGS ${dsa_small} --topk 20 --indexer-groups 2 --dtype bf16 --layout bhnd --check --backward)
longctx_cli_test(attn_dsa_check_topk_covers_all RC 0 REGEX "PASS"
  ARGS ${dsa_small} --topk 5000 --check --backward)
longctx_cli_test(attn_dsa_json RC 0
  JSON_KEYS fwd_ms indexer_ms topk_ms attention_ms select_ms bwd_ms recall selected_pairs err_out
            err_lse err_dq err_dk err_dv peak_rss_bytes
  JSON_EQUALS mask=dsa topk=40 indexer_heads=3 indexer_dim=32 quantized=ON check_passed=ON
  ARGS ${dsa_small} --topk 40 --quantized --check --backward --json)
longctx_cli_test(bad_dsa_topk RC 2 REGEX "--topk" ARGS attn --seq 64 --mask dsa --topk 0)
longctx_cli_test(bad_dsa_topk_negative RC 2 REGEX "--topk" ARGS attn --seq 64 --mask dsa --topk -4)
longctx_cli_test(bad_dsa_indexer_heads RC 2 REGEX "--indexer-heads"
  ARGS attn --seq 64 --mask dsa --indexer-heads 0)
longctx_cli_test(bad_dsa_indexer_dim RC 2 REGEX "--indexer-dim"
  ARGS attn --seq 64 --mask dsa --indexer-dim 48)
longctx_cli_test(bad_dsa_indexer_groups RC 2 REGEX "--indexer-groups"
  ARGS attn --seq 64 --heads 4 --kv-heads 2 --mask dsa --indexer-groups 3)
longctx_cli_test(bad_dsa_flag_without_dsa RC 2 REGEX "--topk" ARGS attn --seq 64 --mask causal --topk 8)
