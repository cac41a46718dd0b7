# CLI checks of the sparse masks of issue 3 (label "cli"): `longctx attn --mask local-global |
# dilated | block-sparse` with --check (float64 oracle) forward and backward, their JSON keys,
# and exit code 2 with the flag named for bad input. Uses longctx_cli_test from
# apps/longctx/cli_tests.cmake (included before this file).
set(sp attn --batch 2 --seq 97 --heads 4 --kv-heads 2 --dim 64 --repeat 1 --warmup 0)

longctx_cli_test(sparse_local_global_check RC 0 REGEX "PASS"
  ARGS ${sp} --mask local-global --window 8,8 --global 5 --check --backward)
longctx_cli_test(sparse_causal_sinks_bf16_check RC 0 REGEX "PASS"
  ARGS ${sp} --seq-k 131 --mask causal --window 16,0 --global 4 --dtype bf16 --check --backward)
longctx_cli_test(sparse_dilated_check RC 0 REGEX "PASS"
  ARGS ${sp} --mask dilated --segments 16:1,32:2,64:4 --check --backward --threads 2)
longctx_cli_test(sparse_dilated_default_longnet RC 0 REGEX "PASS"
  ARGS attn --seq 300 --heads 12 --kv-heads 4 --dim 32 --mask dilated --repeat 1 --warmup 0 --check)
longctx_cli_test(sparse_block_sparse_check RC 0 REGEX "PASS"
  ARGS ${sp} --mask block-sparse --block 16 --density 0.3 --seed 11 --check --backward)
longctx_cli_test(sparse_block_sparse_file_check RC 0 REGEX "PASS"
  ARGS attn --seq 100 --heads 2 --dim 32 --mask block-sparse --repeat 1 --warmup 0 --check --backward
       --layout-file ${CMAKE_CURRENT_LIST_DIR}/data/layout_band_4x32.txt)

longctx_cli_test(sparse_json_keys RC 0
  JSON_KEYS fwd_ms bwd_ms err_out err_dq global_tokens window
  JSON_EQUALS mask=local-global global_tokens=5 check_passed=ON
  ARGS ${sp} --mask local-global --window 8,8 --global 5 --check --backward --json)
longctx_cli_test(sparse_json_dilated RC 0
  JSON_KEYS fwd_ms segments visible_pairs
  JSON_EQUALS mask=dilated
  ARGS ${sp} --mask dilated --segments 16:1,32:2 --json)
longctx_cli_test(sparse_json_block_sparse RC 0
  JSON_KEYS fwd_ms block_sparse block density
  JSON_EQUALS mask=block-sparse block=16
  ARGS ${sp} --mask block-sparse --block 16 --density 0.2 --json)

# Bad input: exit code 2 and the flag named.
longctx_cli_test(sparse_bad_global_without_window RC 2 REGEX "--global"
  ARGS ${sp} --mask local-global --global 4)
longctx_cli_test(sparse_bad_local_global_no_window RC 2 REGEX "--window"
  ARGS ${sp} --mask local-global)
longctx_cli_test(sparse_bad_negative_global RC 2 REGEX "--global" ARGS ${sp} --window 4,4 --global -3)
longctx_cli_test(sparse_bad_segments_not_growing RC 2 REGEX "--segments"
  ARGS ${sp} --mask dilated --segments 64:1,32:2)
longctx_cli_test(sparse_bad_segments_syntax RC 2 REGEX "--segments"
  ARGS ${sp} --mask dilated --segments 64-1)
longctx_cli_test(sparse_bad_dilation RC 2 REGEX "--segments" ARGS ${sp} --mask dilated --segments 8:0)
longctx_cli_test(sparse_bad_segments_without_dilated RC 2 REGEX "--segments"
  ARGS ${sp} --mask causal --segments 64:1)
longctx_cli_test(sparse_bad_dilated_cross RC 2 REGEX "--seq-k"
  ARGS ${sp} --seq-k 120 --mask dilated --segments 16:1)
longctx_cli_test(sparse_bad_block RC 2 REGEX "--block" ARGS ${sp} --mask block-sparse --block 12)
longctx_cli_test(sparse_bad_density RC 2 REGEX "--density"
  ARGS ${sp} --mask block-sparse --density 1.5)
longctx_cli_test(sparse_bad_block_without_mask RC 2 REGEX "--block" ARGS ${sp} --mask causal --block 64)
longctx_cli_test(sparse_bad_layout_file_missing RC 2 REGEX "--layout-file"
  ARGS ${sp} --mask block-sparse --layout-file /nonexistent/layout.txt)
longctx_cli_test(sparse_bad_layout_file_too_small RC 2 REGEX "--layout-file"
  ARGS attn --seq 200 --heads 2 --dim 32 --mask block-sparse
       --layout-file ${CMAKE_CURRENT_LIST_DIR}/data/layout_band_4x32.txt)
longctx_cli_test(sparse_bad_layout_file_with_density RC 2 REGEX "--density"
  ARGS attn --seq 100 --heads 2 --dim 32 --mask block-sparse --density 0.5
       --layout-file ${CMAKE_CURRENT_LIST_DIR}/data/layout_band_4x32.txt)
longctx_cli_test(sparse_bad_block_sparse_n_gt_m RC 2 REGEX "--seq"
  ARGS ${sp} --seq-k 50 --mask block-sparse)
