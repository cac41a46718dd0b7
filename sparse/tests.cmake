# Tests of sparse/ (issue 3), included by tests/CMakeLists.txt: the masks helper's
# test_sparse_masks (local + global, block-sparse, dilated, their layouts; label "sparse") and the
# CLI checks of the sparse masks (label "cli"). Other sparse tests register themselves below.
set(LONGCTX_SPARSE_MASK_TESTS
  ${CMAKE_CURRENT_LIST_DIR}/tests/test_local_global.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tests/test_block_sparse.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tests/test_dilated.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tests/test_mask_layouts.cpp)
add_executable(test_sparse_masks ${LONGCTX_SPARSE_MASK_TESTS})
target_link_libraries(test_sparse_masks PRIVATE longctx_test_util GTest::gtest_main)
gtest_discover_tests(test_sparse_masks PROPERTIES LABELS "sparse" DISCOVERY_TIMEOUT 120)

include(${CMAKE_CURRENT_LIST_DIR}/tests/cli_tests.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/tests_dsa.cmake)
