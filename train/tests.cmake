# Tests of train/ (issue 8), included by tests/CMakeLists.txt: every train/tests/test_*.cpp is
# one executable labelled "train".
if(NOT TARGET longctx_train)
  return()
endif()
file(GLOB LONGCTX_TRAIN_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/tests/test_*.cpp)
foreach(test_source ${LONGCTX_TRAIN_TESTS})
  get_filename_component(test_name ${test_source} NAME_WE)
  add_executable(${test_name} ${test_source})
  target_include_directories(${test_name} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/src
    ${CMAKE_CURRENT_LIST_DIR}/tests)
  target_link_libraries(${test_name} PRIVATE longctx_train longctx_test_util
    nlohmann_json::nlohmann_json GTest::gtest_main)
  target_compile_definitions(${test_name} PRIVATE
    LONGCTX_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${test_name} PROPERTIES LABELS "train" DISCOVERY_TIMEOUT 120)
endforeach()
# `longctx passkey` flag tests (label "cli").
include(${CMAKE_CURRENT_LIST_DIR}/cli_tests.cmake)
