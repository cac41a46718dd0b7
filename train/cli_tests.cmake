# `longctx passkey` flag checks (label "cli"), included at the end of train/tests.cmake: exit 2
# with the flag named for bad input, the JSON contract ({"accuracy", "grid": [...]} first), the
# table, and the heatmap files. The fixture model is random, so accuracies are not checked.
if(NOT TARGET longctx_cli)
  return()
endif()
set(LONGCTX_PASSKEY_MODEL ${PROJECT_SOURCE_DIR}/model/fixtures/models/llama3_rope)
set(pk passkey --model ${LONGCTX_PASSKEY_MODEL} --threads 2)
longctx_cli_test(passkey_help RC 0 REGEX "--lengths.*--depths" ARGS passkey --help)
longctx_cli_test(passkey_needs_model RC 2 REGEX "--model" ARGS passkey --lengths 1k)
longctx_cli_test(passkey_needs_lengths RC 2 REGEX "--lengths" ARGS ${pk})
longctx_cli_test(passkey_bad_lengths RC 2 REGEX "--lengths.*'2x'" ARGS ${pk} --lengths 1k,2x)
longctx_cli_test(passkey_empty_length RC 2 REGEX "--lengths" ARGS ${pk} --lengths 1k,,2k)
longctx_cli_test(passkey_lengths_too_short RC 2 REGEX "--lengths.*at least [0-9]+ tokens"
                 ARGS ${pk} --lengths 100)
longctx_cli_test(passkey_bad_depths RC 2 REGEX "--depths.*'101'" ARGS ${pk} --lengths 1k --depths 0,101)
longctx_cli_test(passkey_bad_trials RC 2 REGEX "--trials" ARGS ${pk} --lengths 1k --trials 0)
longctx_cli_test(passkey_bad_needles RC 2 REGEX "--needles" ARGS ${pk} --lengths 1k --needles 9)
longctx_cli_test(passkey_bad_key_digits RC 2 REGEX "--key-digits" ARGS ${pk} --lengths 1k --key-digits 19)
longctx_cli_test(passkey_bad_schedule RC 2 REGEX "--attention" ARGS ${pk} --lengths 1k --attention windw:4)
longctx_cli_test(passkey_bad_rope RC 2 REGEX "--rope-scaling" ARGS ${pk} --lengths 1k --rope-scaling yarn:abc)
longctx_cli_test(passkey_bad_heatmap RC 2 REGEX "--heatmap.*[.]svg or [.]png"
                 ARGS ${pk} --lengths 1k --heatmap grid.jpg)
longctx_cli_test(passkey_missing_model RC 2 REGEX "config.json" ARGS passkey --model /nonexistent/model --lengths 1k)
longctx_cli_test(passkey_table RC 0 REGEX "depth . length +256 +300.*100% .*overall accuracy"
                 ARGS ${pk} --lengths 256,300 --depths 0,100)
longctx_cli_test(passkey_json RC 0 JSON_KEYS accuracy grid trials attention seconds
                 JSON_EQUALS trials=2 needles=3 key_digits=4 "attention=window:64 x2" rope_scaling=linear:2
                 ARGS ${pk} --lengths 600,700 --depths 0,100 --trials 2 --needles 3 --key-digits 4
                      --attention window:64 --rope-scaling linear:2 --json)

# The grid's shape and keys, and both heatmap files (PNG signature, SVG root), from one run.
set(LONGCTX_PASSKEY_OUT ${CMAKE_CURRENT_BINARY_DIR}/passkey_cli)
add_test(NAME cli.passkey_grid_and_heatmap
         COMMAND ${CMAKE_COMMAND}
                 "-DCMD=$<TARGET_FILE:longctx_cli>;${pk};--lengths;1k,300;--depths;0,50,100;--json;--heatmap;${LONGCTX_PASSKEY_OUT}/grid"
                 -DEXPECT_CELLS=6 "-DEXPECT_FILES=${LONGCTX_PASSKEY_OUT}/grid.svg;${LONGCTX_PASSKEY_OUT}/grid.png"
                 -DOUT_DIR=${LONGCTX_PASSKEY_OUT} -P ${CMAKE_CURRENT_LIST_DIR}/passkey_cli_check.cmake)
set_tests_properties(cli.passkey_grid_and_heatmap PROPERTIES LABELS cli TIMEOUT 600)

# `longctx train`: flag errors name the flag; a short run writes a checkpoint, the loss log and
# the command, and --resume continues it (label "cli"). Output under the build tree.
set(tr_out ${CMAKE_BINARY_DIR}/cli_train_run)
set(tr train --threads 2 --hidden 32 --layers 1 --intermediate 32 --batch 2 --log-every 2)
longctx_cli_test(train_help RC 0 REGEX "--resume.*--attention" ARGS train --help)
longctx_cli_test(train_needs_out RC 2 REGEX "--out" ARGS train --steps 2)
longctx_cli_test(train_bad_kv_heads RC 2 REGEX "--kv-heads" ARGS ${tr} --out ${tr_out}_x --heads 3 --kv-heads 2 --seq-len 280)
longctx_cli_test(train_bad_head_dim RC 2 REGEX "--head-dim" ARGS ${tr} --out ${tr_out}_x --head-dim 20 --seq-len 280)
longctx_cli_test(train_bad_schedule RC 2 REGEX "--attention" ARGS ${tr} --out ${tr_out}_x --attention dence --seq-len 280)
longctx_cli_test(train_bad_min_seq RC 2 REGEX "min_seq_len" ARGS ${tr} --out ${tr_out}_x --min-seq-len 999 --seq-len 280)
longctx_cli_test(train_seq_too_short RC 2 REGEX "seq_len" ARGS ${tr} --out ${tr_out}_x --seq-len 100)
longctx_cli_test(train_resume_missing RC 2 REGEX "--resume" ARGS train --out ${tr_out}_none --resume)
longctx_cli_test(train_run RC 0 JSON_KEYS steps steps_run final_loss seconds parameters
                 JSON_EQUALS steps=4 steps_run=2
                 ARGS ${tr} --out ${tr_out} --seq-len 280 --heads 1 --kv-heads 1 --steps 4 --stop-after 2 --json)
longctx_cli_test(train_resume RC 0 JSON_EQUALS steps=4 steps_run=2
                 ARGS train --out ${tr_out} --resume --threads 2 --json)
set_tests_properties(cli.train_resume PROPERTIES DEPENDS cli.train_run)
